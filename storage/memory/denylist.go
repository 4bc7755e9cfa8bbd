package memory

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

var _ storage.DenyListStore = (*Store)(nil)

// AddDenials implements [storage.DenyListStore].
func (s *Store) AddDenials(ctx context.Context, entries ...storage.Deny) error {
	return s.tx(ctx, func() error {
		for _, d := range entries {
			k := storage.DenyKey{Kind: d.Kind, Key: d.Key}
			if old, ok := s.denied[k]; ok {
				if old.ExpiresAt.After(d.ExpiresAt) {
					d.ExpiresAt = old.ExpiresAt
				}
				if old.IssuedBefore.IsZero() || (!d.IssuedBefore.IsZero() && old.IssuedBefore.After(d.IssuedBefore)) {
					d.IssuedBefore = old.IssuedBefore
				}
			}
			s.denied[k] = d
		}
		return nil
	})
}

// Denied implements [storage.DenyListStore].
func (s *Store) Denied(ctx context.Context, issuedAt time.Time, keys ...storage.DenyKey) (bool, error) {
	denied := false
	err := s.tx(ctx, func() error {
		for _, k := range keys {
			if d, ok := s.denied[k]; ok && (d.IssuedBefore.IsZero() || issuedAt.Before(d.IssuedBefore)) {
				denied = true
				return nil
			}
		}
		return nil
	})
	return denied, err
}
