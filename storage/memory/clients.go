package memory

import (
	"context"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateClient implements [storage.ClientStore].
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	return s.clients.create(ctx, s, c)
}

// GetClient implements [storage.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	return s.clients.get(ctx, s, id)
}

// UpdateClient implements [storage.ClientStore]. update is called exactly
// once, with a copy of the stored client, while the store is locked: it must
// not call back into the store. The client keeps its ID whatever ID update
// returns.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(storage.Client) (storage.Client, error)) error {
	return s.clients.update(ctx, s, id, update)
}

// DeleteClient implements [storage.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.clients.delete(ctx, s, id)
}

// ListClients implements [storage.ClientStore]. The clients are ordered by
// ID, compared byte by byte.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	return s.clients.list(ctx, s, nil)
}
