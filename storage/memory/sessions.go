package memory

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateLoginSession implements [storage.SessionStore].
func (s *Store) CreateLoginSession(ctx context.Context, ls storage.LoginSession) error {
	return s.tx(ctx, func() error {
		if _, ok := s.logins[ls.ID]; ok {
			return fmt.Errorf("memory: create login session %q: %w", ls.ID, storage.ErrAlreadyExists)
		}
		s.logins[ls.ID] = copyLoginSession(ls)
		return nil
	})
}

// GetLoginSession implements [storage.SessionStore].
func (s *Store) GetLoginSession(ctx context.Context, id string) (storage.LoginSession, error) {
	var ls storage.LoginSession
	err := s.tx(ctx, func() error {
		got, ok := s.logins[id]
		if !ok {
			return fmt.Errorf("memory: get login session %q: %w", id, storage.ErrNotFound)
		}
		ls = copyLoginSession(got)
		return nil
	})
	return ls, err
}

// DeleteLoginSession implements [storage.SessionStore].
func (s *Store) DeleteLoginSession(ctx context.Context, id string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.logins[id]; !ok {
			return fmt.Errorf("memory: delete login session %q: %w", id, storage.ErrNotFound)
		}
		delete(s.logins, id)
		return nil
	})
}

// DeleteLoginSessionsBySubject implements [storage.SessionStore].
func (s *Store) DeleteLoginSessionsBySubject(ctx context.Context, subject string) (int64, error) {
	var n int64
	err := s.tx(ctx, func() error {
		for id, ls := range s.logins {
			if ls.Subject == subject {
				delete(s.logins, id)
				n++
			}
		}
		return nil
	})
	return n, err
}

// CreateAuthFlow implements [storage.SessionStore].
func (s *Store) CreateAuthFlow(ctx context.Context, f storage.AuthFlow) error {
	return s.tx(ctx, func() error {
		if _, ok := s.flows[f.ID]; ok {
			return fmt.Errorf("memory: create auth flow %q: %w", f.ID, storage.ErrAlreadyExists)
		}
		s.flows[f.ID] = copyAuthFlow(f)
		return nil
	})
}

// GetAuthFlow implements [storage.SessionStore].
func (s *Store) GetAuthFlow(ctx context.Context, id string) (storage.AuthFlow, error) {
	var f storage.AuthFlow
	err := s.tx(ctx, func() error {
		got, ok := s.flows[id]
		if !ok {
			return fmt.Errorf("memory: get auth flow %q: %w", id, storage.ErrNotFound)
		}
		f = copyAuthFlow(got)
		return nil
	})
	return f, err
}

// UpdateAuthFlow implements [storage.SessionStore]. update is called exactly
// once, with a copy of the stored flow, while the store is locked: it must
// not call back into the store. The flow keeps its ID whatever ID update
// returns.
func (s *Store) UpdateAuthFlow(ctx context.Context, id string, update func(storage.AuthFlow) (storage.AuthFlow, error)) error {
	return s.tx(ctx, func() error {
		got, ok := s.flows[id]
		if !ok {
			return fmt.Errorf("memory: update auth flow %q: %w", id, storage.ErrNotFound)
		}
		next, err := update(copyAuthFlow(got))
		if err != nil {
			return err
		}
		next.ID = id
		s.flows[id] = copyAuthFlow(next)
		return nil
	})
}

// DeleteAuthFlow implements [storage.SessionStore].
func (s *Store) DeleteAuthFlow(ctx context.Context, id string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.flows[id]; !ok {
			return fmt.Errorf("memory: delete auth flow %q: %w", id, storage.ErrNotFound)
		}
		delete(s.flows, id)
		return nil
	})
}
