package memory

import (
	"context"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateMFA implements [storage.MFAStore].
func (s *Store) CreateMFA(ctx context.Context, r storage.MFARecord) error {
	return s.mfa.create(ctx, s, r)
}

// GetMFA implements [storage.MFAStore].
func (s *Store) GetMFA(ctx context.Context, subject string) (storage.MFARecord, error) {
	return s.mfa.get(ctx, s, subject)
}

// UpdateMFA implements [storage.MFAStore]. update is called exactly once,
// with a copy of the stored record, while the store is locked: it must not
// call back into the store. The record keeps its subject whatever update
// returns.
func (s *Store) UpdateMFA(ctx context.Context, subject string, update func(storage.MFARecord) (storage.MFARecord, error)) error {
	return s.mfa.update(ctx, s, subject, update)
}

// DeleteMFA implements [storage.MFAStore].
func (s *Store) DeleteMFA(ctx context.Context, subject string) error {
	return s.mfa.delete(ctx, s, subject)
}
