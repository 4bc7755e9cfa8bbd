package memory

import (
	"context"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateLoginSession implements [storage.SessionStore].
func (s *Store) CreateLoginSession(ctx context.Context, ls storage.LoginSession) error {
	return s.logins.create(ctx, s, ls)
}

// GetLoginSession implements [storage.SessionStore].
func (s *Store) GetLoginSession(ctx context.Context, id string) (storage.LoginSession, error) {
	return s.logins.get(ctx, s, id)
}

// DeleteLoginSession implements [storage.SessionStore].
func (s *Store) DeleteLoginSession(ctx context.Context, id string) error {
	return s.logins.delete(ctx, s, id)
}

// LoginSessionsBySubject implements [storage.SessionStore].
func (s *Store) LoginSessionsBySubject(ctx context.Context, subject string) ([]storage.LoginSession, error) {
	return s.logins.where(ctx, s, func(ls storage.LoginSession) bool { return ls.Subject == subject })
}

// DeleteLoginSessionsBySubject implements [storage.SessionStore].
func (s *Store) DeleteLoginSessionsBySubject(ctx context.Context, subject string) (int64, error) {
	var n int64
	err := s.tx(ctx, func() error {
		n = s.logins.deleteWhere(func(ls storage.LoginSession) bool { return ls.Subject == subject })
		return nil
	})
	return n, err
}

// CreateAuthFlow implements [storage.SessionStore].
func (s *Store) CreateAuthFlow(ctx context.Context, f storage.AuthFlow) error {
	return s.flows.create(ctx, s, f)
}

// GetAuthFlow implements [storage.SessionStore].
func (s *Store) GetAuthFlow(ctx context.Context, id string) (storage.AuthFlow, error) {
	return s.flows.get(ctx, s, id)
}

// UpdateAuthFlow implements [storage.SessionStore]. update is called exactly
// once, with a copy of the stored flow, while the store is locked: it must
// not call back into the store. The flow keeps its ID whatever ID update
// returns.
func (s *Store) UpdateAuthFlow(ctx context.Context, id string, update func(storage.AuthFlow) (storage.AuthFlow, error)) error {
	return s.flows.update(ctx, s, id, update)
}

// DeleteAuthFlow implements [storage.SessionStore].
func (s *Store) DeleteAuthFlow(ctx context.Context, id string) error {
	return s.flows.delete(ctx, s, id)
}
