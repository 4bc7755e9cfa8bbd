package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

const signingKeyColumns = `id, algorithm, private_key, created_at, active_at, retired_at, expires_at`

func signingKeyArgs(k storage.SigningKey) []any {
	return []any{k.ID, k.Algorithm, k.PrivateKey, ts(k.CreatedAt), ts(k.ActiveAt), ts(k.RetiredAt), ts(k.ExpiresAt)}
}

func scanSigningKey(row pgx.Row) (storage.SigningKey, error) {
	var (
		k                                       storage.SigningKey
		createdAt, activeAt, retiredAt, expires pgtype.Timestamptz
	)
	if err := row.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &createdAt, &activeAt, &retiredAt, &expires); err != nil {
		return storage.SigningKey{}, err
	}
	k.CreatedAt, k.ActiveAt, k.RetiredAt, k.ExpiresAt = fromTS(createdAt), fromTS(activeAt), fromTS(retiredAt), fromTS(expires)
	return k, nil
}

// CreateSigningKey implements [storage.KeyStore].
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	err := s.run(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, s.sql(`INSERT INTO {p}signing_keys (`+signingKeyColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`), signingKeyArgs(k)...)
		if err == nil && tag.RowsAffected() == 0 {
			err = storage.ErrAlreadyExists
		}
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "create signing key %q", k.ID)
	}
	return nil
}

// ListSigningKeys implements [storage.KeyStore]. The keys are ordered by
// CreatedAt, compared as instants (a zero time first), then by ID, compared
// byte by byte.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	var out []storage.SigningKey
	err := s.run(ctx, func(q querier) error {
		rows, err := q.Query(ctx, s.sql(`SELECT `+signingKeyColumns+` FROM {p}signing_keys
			ORDER BY created_at ASC NULLS FIRST, id COLLATE "C"`))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.SigningKey, error) { return scanSigningKey(row) })
		return err
	})
	if err != nil {
		return nil, s.fail(ctx, err, "list signing keys")
	}
	return out, nil
}

// UpdateSigningKey implements [storage.KeyStore]. The row is locked (SELECT
// ... FOR UPDATE) while update runs, so update is called exactly once; it
// must not call back into the store with the same context. The key keeps
// its ID whatever ID update returns.
func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(storage.SigningKey) (storage.SigningKey, error)) error {
	updateFailed := false
	err := s.inTx(ctx, func(q querier) error {
		cur, err := scanSigningKey(q.QueryRow(ctx, s.sql(`SELECT `+signingKeyColumns+` FROM {p}signing_keys WHERE id = $1 FOR UPDATE`), id))
		if err != nil {
			return err
		}
		next, err := update(cur)
		if err != nil {
			updateFailed = true
			return err
		}
		next.ID = id
		_, err = q.Exec(ctx, s.sql(`UPDATE {p}signing_keys SET (`+signingKeyColumns+`) =
			($1, $2, $3, $4, $5, $6, $7) WHERE id = $1`), signingKeyArgs(next)...)
		return err
	})
	if err == nil || updateFailed {
		return err // update's error as it is
	}
	return s.fail(ctx, err, "update signing key %q", id)
}

// DeleteSigningKey implements [storage.KeyStore].
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	err := s.run(ctx, func(q querier) error {
		return execOne(ctx, q, s.sql(`DELETE FROM {p}signing_keys WHERE id = $1`), id)
	})
	if err != nil {
		return s.fail(ctx, err, "delete signing key %q", id)
	}
	return nil
}
