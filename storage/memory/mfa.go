package memory

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateMFA implements [storage.MFAStore].
func (s *Store) CreateMFA(ctx context.Context, r storage.MFARecord) error {
	return s.tx(ctx, func() error {
		if _, ok := s.mfa[r.Subject]; ok {
			return fmt.Errorf("memory: create mfa of %q: %w", r.Subject, storage.ErrAlreadyExists)
		}
		s.mfa[r.Subject] = copyMFA(r)
		return nil
	})
}

// GetMFA implements [storage.MFAStore].
func (s *Store) GetMFA(ctx context.Context, subject string) (storage.MFARecord, error) {
	var r storage.MFARecord
	err := s.tx(ctx, func() error {
		got, ok := s.mfa[subject]
		if !ok {
			return fmt.Errorf("memory: get mfa of %q: %w", subject, storage.ErrNotFound)
		}
		r = copyMFA(got)
		return nil
	})
	return r, err
}

// UpdateMFA implements [storage.MFAStore]. update is called exactly once,
// with a copy of the stored record, while the store is locked: it must not
// call back into the store. The record keeps its subject whatever update
// returns.
func (s *Store) UpdateMFA(ctx context.Context, subject string, update func(storage.MFARecord) (storage.MFARecord, error)) error {
	return s.tx(ctx, func() error {
		got, ok := s.mfa[subject]
		if !ok {
			return fmt.Errorf("memory: update mfa of %q: %w", subject, storage.ErrNotFound)
		}
		next, err := update(copyMFA(got))
		if err != nil {
			return err
		}
		next.Subject = subject
		s.mfa[subject] = copyMFA(next)
		return nil
	})
}

// DeleteMFA implements [storage.MFAStore].
func (s *Store) DeleteMFA(ctx context.Context, subject string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.mfa[subject]; !ok {
			return fmt.Errorf("memory: delete mfa of %q: %w", subject, storage.ErrNotFound)
		}
		delete(s.mfa, subject)
		return nil
	})
}
