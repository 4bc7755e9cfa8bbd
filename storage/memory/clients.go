package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateClient implements [storage.ClientStore].
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	defer s.clientWritten()
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
	defer s.clientWritten()
	return s.clients.update(ctx, s, id, update)
}

// ClientsVersion implements [storage.StatusReader]: the count of the
// client writes (creations, updates and deletions, made or tried), added to
// after each write is done and before its call returns.
func (s *Store) ClientsVersion() uint64 { return s.clientWrites.Load() }

// clientWritten counts a client write, once it is done (ClientsVersion).
func (s *Store) clientWritten() { s.clientWrites.Add(1) }

// DeleteClient implements [storage.ClientStore]: the client, its tokens,
// consents and authorization flows go under one hold of the lock.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	defer s.clientWritten()
	return s.tx(ctx, func() error {
		if _, ok := s.clients.rows[id]; !ok {
			return fmt.Errorf(s.clients.deleteErr, id, storage.ErrNotFound)
		}
		delete(s.clients.rows, id)
		for k, t := range s.tokens {
			if s.clientID(t) == id {
				s.deleteToken(k)
			}
		}
		for k := range s.consents {
			if k.clientID == id {
				delete(s.consents, k)
			}
		}
		s.flows.deleteWhere(func(f storage.AuthFlow) bool { return f.ClientID == id })
		return nil
	})
}

// ListClients implements [storage.ClientStore]. The clients are ordered by
// ID, compared byte by byte.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	return s.clients.list(ctx, s, nil)
}

// FindClients implements [storage.ClientStore]. The clients are ordered by
// ID, compared byte by byte.
func (s *Store) FindClients(ctx context.Context, q storage.ClientQuery) ([]storage.Client, error) {
	var out []storage.Client
	err := s.tx(ctx, func() error {
		out = []storage.Client{}
		for id, c := range s.clients.rows {
			if selects(q, c) && (q.After == "" || id > q.After) {
				out = append(out, c)
			}
		}
		slices.SortFunc(out, func(a, b storage.Client) int { return strings.Compare(a.ID, b.ID) })
		if q.Limit > 0 && len(out) > q.Limit {
			out = out[:q.Limit]
		}
		for i := range out {
			out[i] = copyClient(out[i])
		}
		return nil
	})
	return out, err
}

// selects reports whether c meets q's conditions other than After.
func selects(q storage.ClientQuery, c storage.Client) bool {
	if q.Customer != "" && c.Customer != q.Customer {
		return false
	}
	if !q.SecretExpiresBefore.IsZero() {
		if len(c.Secrets) == 0 || c.Secrets[0].ExpiresAt.IsZero() || !c.Secrets[0].ExpiresAt.Before(q.SecretExpiresBefore) {
			return false
		}
	}
	return true
}
