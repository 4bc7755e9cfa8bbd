package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateAPIKey implements [storage.APIKeyStore]. A key of an application
// user is created only while that application user exists, under the same
// hold of the lock.
func (s *Store) CreateAPIKey(ctx context.Context, k storage.APIKey) error {
	return s.tx(ctx, func() error {
		if k.OwnerType == storage.PrincipalApplication {
			if _, ok := s.appUsers.rows[k.Owner]; !ok {
				return fmt.Errorf("memory: create API key %q: application user %q: %w", k.ID, k.Owner, storage.ErrNotFound)
			}
		}
		if _, ok := s.apiKeys.rows[k.ID]; ok {
			return fmt.Errorf(s.apiKeys.createErr, k.ID, storage.ErrAlreadyExists)
		}
		s.apiKeys.rows[k.ID] = copyAPIKey(k)
		return nil
	})
}

// GetAPIKey implements [storage.APIKeyStore].
func (s *Store) GetAPIKey(ctx context.Context, id string) (storage.APIKey, error) {
	return s.apiKeys.get(ctx, s, id)
}

// FindAPIKeys implements [storage.APIKeyStore]. The keys are ordered by
// ID, compared byte by byte.
func (s *Store) FindAPIKeys(ctx context.Context, q storage.APIKeyQuery) ([]storage.APIKey, error) {
	var out []storage.APIKey
	err := s.tx(ctx, func() error {
		out = []storage.APIKey{}
		for id, k := range s.apiKeys.rows {
			if (q.OwnerType == "" || k.OwnerType == q.OwnerType) && (q.Owner == "" || k.Owner == q.Owner) && (q.After == "" || id > q.After) {
				out = append(out, k)
			}
		}
		slices.SortFunc(out, func(a, b storage.APIKey) int { return strings.Compare(a.ID, b.ID) })
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
		for i := range out {
			out[i] = copyAPIKey(out[i])
		}
		return nil
	})
	return out, err
}

// UpdateAPIKey implements [storage.APIKeyStore]. update is called exactly
// once, with a copy of the stored key, while the store is locked: it must
// not call back into the store.
func (s *Store) UpdateAPIKey(ctx context.Context, id string, update func(storage.APIKey) (storage.APIKey, error)) error {
	return s.apiKeys.update(ctx, s, id, update)
}

// TouchAPIKey implements [storage.APIKeyStore].
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	return s.tx(ctx, func() error {
		k, ok := s.apiKeys.rows[id]
		if !ok {
			return fmt.Errorf("memory: touch API key %q: %w", id, storage.ErrNotFound)
		}
		if at.After(k.LastUsedAt) {
			k.LastUsedAt = at
			s.apiKeys.rows[id] = k
		}
		return nil
	})
}

// DeleteAPIKey implements [storage.APIKeyStore].
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	return s.apiKeys.delete(ctx, s, id)
}

// CreateApplicationUser implements [storage.ApplicationUserStore].
func (s *Store) CreateApplicationUser(ctx context.Context, u storage.ApplicationUser) error {
	return s.appUsers.create(ctx, s, u)
}

// GetApplicationUser implements [storage.ApplicationUserStore].
func (s *Store) GetApplicationUser(ctx context.Context, id string) (storage.ApplicationUser, error) {
	return s.appUsers.get(ctx, s, id)
}

// ListApplicationUsers implements [storage.ApplicationUserStore]. They are
// ordered by ID, compared byte by byte.
func (s *Store) ListApplicationUsers(ctx context.Context) ([]storage.ApplicationUser, error) {
	return s.appUsers.list(ctx, s, nil)
}

// UpdateApplicationUser implements [storage.ApplicationUserStore]. update
// is called exactly once, with a copy of the stored record, while the
// store is locked: it must not call back into the store.
func (s *Store) UpdateApplicationUser(ctx context.Context, id string, update func(storage.ApplicationUser) (storage.ApplicationUser, error)) error {
	return s.appUsers.update(ctx, s, id, update)
}

// DeleteApplicationUser implements [storage.ApplicationUserStore]: the
// application user and its API keys go under one hold of the lock.
func (s *Store) DeleteApplicationUser(ctx context.Context, id string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.appUsers.rows[id]; !ok {
			return fmt.Errorf(s.appUsers.deleteErr, id, storage.ErrNotFound)
		}
		delete(s.appUsers.rows, id)
		s.apiKeys.deleteWhere(func(k storage.APIKey) bool {
			return k.OwnerType == storage.PrincipalApplication && k.Owner == id
		})
		return nil
	})
}
