package postgres

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

var _ storage.DenyListStore = (*Store)(nil)

// AddDenials implements [storage.DenyListStore] in one statement.
func (s *Store) AddDenials(ctx context.Context, entries ...storage.Deny) error {
	if len(entries) == 0 {
		return s.run(ctx, func(querier) error { return nil })
	}
	kinds := make([]string, len(entries))
	keys := make([]string, len(entries))
	before := make([]*time.Time, len(entries))
	expires := make([]time.Time, len(entries))
	for i, d := range entries {
		kinds[i], keys[i], expires[i] = string(d.Kind), d.Key, d.ExpiresAt.UTC()
		if !d.IssuedBefore.IsZero() {
			t := d.IssuedBefore.UTC()
			before[i] = &t
		}
	}
	err := s.run(ctx, func(q querier) error {
		_, err := q.Exec(ctx, s.sql(`INSERT INTO {p}deny_list AS d (kind, key, issued_before, expires_at)
			SELECT kind, key, CASE WHEN bool_or(issued_before IS NULL) THEN NULL ELSE max(issued_before) END, max(expires_at) FROM (
				SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS e (kind, key, issued_before, expires_at)
			) e GROUP BY kind, key
			ON CONFLICT (kind, key) DO UPDATE SET
				issued_before = CASE WHEN d.issued_before IS NULL OR EXCLUDED.issued_before IS NULL THEN NULL
					ELSE GREATEST(d.issued_before, EXCLUDED.issued_before) END,
				expires_at = GREATEST(d.expires_at, EXCLUDED.expires_at)`),
			kinds, keys, before, expires)
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "add %d deny-list entries", len(entries))
	}
	return nil
}

// Denied implements [storage.DenyListStore] in one query.
func (s *Store) Denied(ctx context.Context, issuedAt time.Time, keys ...storage.DenyKey) (bool, error) {
	if len(keys) == 0 {
		return false, s.run(ctx, func(querier) error { return nil })
	}
	kinds := make([]string, len(keys))
	names := make([]string, len(keys))
	for i, k := range keys {
		kinds[i], names[i] = string(k.Kind), k.Key
	}
	var denied bool
	err := s.run(ctx, func(q querier) error {
		return q.QueryRow(ctx, s.sql(`SELECT EXISTS (SELECT 1 FROM {p}deny_list d
			JOIN unnest($1::text[], $2::text[]) AS k (kind, key) ON d.kind = k.kind AND d.key = k.key
			WHERE d.issued_before IS NULL OR d.issued_before > $3)`), kinds, names, issuedAt.UTC()).Scan(&denied)
	})
	if err != nil {
		return false, s.fail(ctx, err, "check the deny list")
	}
	return denied, nil
}
