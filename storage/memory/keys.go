package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateSigningKey implements [storage.KeyStore].
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	return s.tx(ctx, func() error {
		if _, ok := s.keys[k.ID]; ok {
			return fmt.Errorf("memory: create signing key %q: %w", k.ID, storage.ErrAlreadyExists)
		}
		s.keys[k.ID] = copySigningKey(k)
		return nil
	})
}

// ListSigningKeys implements [storage.KeyStore]. The keys are ordered by
// CreatedAt, compared as instants, then by ID.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	var out []storage.SigningKey
	err := s.tx(ctx, func() error {
		out = make([]storage.SigningKey, 0, len(s.keys))
		for _, k := range s.keys {
			out = append(out, copySigningKey(k))
		}
		slices.SortFunc(out, func(a, b storage.SigningKey) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		return nil
	})
	return out, err
}

// UpdateSigningKey implements [storage.KeyStore]. update is called exactly
// once, with a copy of the stored key, while the store is locked: it must
// not call back into the store. The key keeps its ID whatever ID update
// returns.
func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(storage.SigningKey) (storage.SigningKey, error)) error {
	return s.tx(ctx, func() error {
		got, ok := s.keys[id]
		if !ok {
			return fmt.Errorf("memory: update signing key %q: %w", id, storage.ErrNotFound)
		}
		next, err := update(copySigningKey(got))
		if err != nil {
			return err
		}
		next.ID = id
		s.keys[id] = copySigningKey(next)
		return nil
	})
}

// DeleteSigningKey implements [storage.KeyStore].
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.keys[id]; !ok {
			return fmt.Errorf("memory: delete signing key %q: %w", id, storage.ErrNotFound)
		}
		delete(s.keys, id)
		return nil
	})
}
