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

var signingKeys = newTable(table[storage.SigningKey]{
	name: "signing_keys", columns: signingKeyColumns, key: "id", what: "signing key %q",
	args: signingKeyArgs, scan: scanSigningKey,
	keyOf:  func(k storage.SigningKey) string { return k.ID },
	setKey: func(k *storage.SigningKey, id string) { k.ID = id },
})

// CreateSigningKey implements [storage.KeyStore].
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	return signingKeys.create(ctx, s, k)
}

// ListSigningKeys implements [storage.KeyStore]. The keys are ordered by
// CreatedAt, compared as instants (a zero time first), then by ID, compared
// byte by byte.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	out, err := queryAll(ctx, s, scanSigningKey, `SELECT `+signingKeyColumns+` FROM {p}signing_keys
		ORDER BY created_at ASC NULLS FIRST, id COLLATE "C"`)
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
	return signingKeys.update(ctx, s, id, update)
}

// DeleteSigningKey implements [storage.KeyStore].
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return signingKeys.delete(ctx, s, id)
}
