package memory

import (
	"context"
	"strings"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateSigningKey implements [storage.KeyStore].
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	return s.keys.create(ctx, s, k)
}

// ListSigningKeys implements [storage.KeyStore]. The keys are ordered by
// CreatedAt, compared as instants, then by ID.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	return s.keys.list(ctx, s, func(a, b storage.SigningKey) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// UpdateSigningKey implements [storage.KeyStore]. update is called exactly
// once, with a copy of the stored key, while the store is locked: it must
// not call back into the store. The key keeps its ID whatever ID update
// returns.
func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(storage.SigningKey) (storage.SigningKey, error)) error {
	return s.keys.update(ctx, s, id, update)
}

// DeleteSigningKey implements [storage.KeyStore].
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.keys.delete(ctx, s, id)
}
