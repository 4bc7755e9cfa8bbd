package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateClient implements [storage.ClientStore].
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	return s.tx(ctx, func() error {
		if _, ok := s.clients[c.ID]; ok {
			return fmt.Errorf("memory: create client %q: %w", c.ID, storage.ErrAlreadyExists)
		}
		s.clients[c.ID] = copyClient(c)
		return nil
	})
}

// GetClient implements [storage.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var c storage.Client
	err := s.tx(ctx, func() error {
		got, ok := s.clients[id]
		if !ok {
			return fmt.Errorf("memory: get client %q: %w", id, storage.ErrNotFound)
		}
		c = copyClient(got)
		return nil
	})
	return c, err
}

// UpdateClient implements [storage.ClientStore]. update is called exactly
// once, with a copy of the stored client, while the store is locked: it must
// not call back into the store. The client keeps its ID whatever ID update
// returns.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(storage.Client) (storage.Client, error)) error {
	return s.tx(ctx, func() error {
		got, ok := s.clients[id]
		if !ok {
			return fmt.Errorf("memory: update client %q: %w", id, storage.ErrNotFound)
		}
		next, err := update(copyClient(got))
		if err != nil {
			return err
		}
		next.ID = id
		s.clients[id] = copyClient(next)
		return nil
	})
}

// DeleteClient implements [storage.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.clients[id]; !ok {
			return fmt.Errorf("memory: delete client %q: %w", id, storage.ErrNotFound)
		}
		delete(s.clients, id)
		return nil
	})
}

// ListClients implements [storage.ClientStore]. The clients are ordered by
// ID, compared byte by byte.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	var out []storage.Client
	err := s.tx(ctx, func() error {
		out = make([]storage.Client, 0, len(s.clients))
		for _, id := range slices.Sorted(maps.Keys(s.clients)) {
			out = append(out, copyClient(s.clients[id]))
		}
		return nil
	})
	return out, err
}
