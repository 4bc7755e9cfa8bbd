package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

var _ storage.ApplicationUserStore = (*Store)(nil)

const apiKeyColumns = `id, name, owner_type, owner, application_user, tenant, hash, permission_scope,
	ip_ranges, forwarded_for_ranges, expires_at, created_at, rotated_at, last_used_at, require_mfa`

// apiKeyArgs returns k's column values, in the order of apiKeyColumns.
// application_user is the owner of an application user's key and NULL
// otherwise: the foreign key to application_users.
func apiKeyArgs(k storage.APIKey) []any {
	var appUser *string
	if k.OwnerType == storage.PrincipalApplication {
		appUser = &k.Owner
	}
	return []any{
		k.ID, k.Name, string(k.OwnerType), k.Owner, appUser, k.Tenant, k.Hash, k.PermissionScope,
		k.IPRanges, k.ForwardedForRanges, ts(k.ExpiresAt), ts(k.CreatedAt), ts(k.RotatedAt), ts(k.LastUsedAt), k.RequireMFA,
	}
}

func scanAPIKey(row pgx.Row) (storage.APIKey, error) {
	var (
		k                                     storage.APIKey
		ownerType                             string
		appUser                               *string
		expiresAt, createdAt, rotated, usedAt pgtype.Timestamptz
	)
	err := row.Scan(&k.ID, &k.Name, &ownerType, &k.Owner, &appUser, &k.Tenant, &k.Hash, &k.PermissionScope,
		&k.IPRanges, &k.ForwardedForRanges, &expiresAt, &createdAt, &rotated, &usedAt, &k.RequireMFA)
	if err != nil {
		return storage.APIKey{}, err
	}
	k.OwnerType = storage.PrincipalType(ownerType)
	k.ExpiresAt, k.CreatedAt, k.RotatedAt, k.LastUsedAt = fromTS(expiresAt), fromTS(createdAt), fromTS(rotated), fromTS(usedAt)
	return k, nil
}

var apiKeys = newTable(table[storage.APIKey]{
	name: "api_keys", columns: apiKeyColumns, key: "id", what: "API key %q",
	args: apiKeyArgs, scan: scanAPIKey,
	keyOf:  func(k storage.APIKey) string { return k.ID },
	setKey: func(k *storage.APIKey, id string) { k.ID = id },
})

// CreateAPIKey implements [storage.APIKeyStore]. The foreign key of
// application_user refuses a key of a missing application user
// ([storage.ErrNotFound]), in the same statement.
func (s *Store) CreateAPIKey(ctx context.Context, k storage.APIKey) error {
	err := apiKeys.create(ctx, s, k)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
		return s.fail(ctx, pgx.ErrNoRows, "create API key %q: application user %q", k.ID, k.Owner)
	}
	return err
}

// GetAPIKey implements [storage.APIKeyStore].
func (s *Store) GetAPIKey(ctx context.Context, id string) (storage.APIKey, error) {
	return apiKeys.get(ctx, s, id)
}

// findAPIKeysSQL is FindAPIKeys' query: $1 the owner type or ”, $2 the
// owner or ”, $3 the ID to start after or ”, $4 the limit or NULL.
const findAPIKeysSQL = `SELECT ` + apiKeyColumns + ` FROM {p}api_keys
	WHERE ($1 = '' OR owner_type = $1)
	AND ($2 = '' OR owner = $2)
	AND ($3 = '' OR id > $3)
	ORDER BY id LIMIT $4`

// FindAPIKeys implements [storage.APIKeyStore]. The keys are ordered by
// ID, compared byte by byte.
func (s *Store) FindAPIKeys(ctx context.Context, q storage.APIKeyQuery) ([]storage.APIKey, error) {
	var limit *int64
	if q.Limit > 0 {
		n := int64(q.Limit)
		limit = &n
	}
	out, err := queryAll(ctx, s, scanAPIKey, findAPIKeysSQL, string(q.OwnerType), q.Owner, q.After, limit)
	if err != nil {
		return nil, s.fail(ctx, err, "find API keys")
	}
	if out == nil {
		out = []storage.APIKey{}
	}
	return out, nil
}

// UpdateAPIKey implements [storage.APIKeyStore]. The row is locked (SELECT
// ... FOR UPDATE) while update runs, so update is called exactly once and
// sees every earlier update: of concurrent rotations that check the hash
// they read, exactly one wins, across every replica. update must not call
// back into the store with the same context.
func (s *Store) UpdateAPIKey(ctx context.Context, id string, update func(storage.APIKey) (storage.APIKey, error)) error {
	return apiKeys.update(ctx, s, id, update)
}

// touchAPIKeySQL moves last_used_at forward to $2 (GREATEST ignores NULL),
// in one statement that touches no other column.
const touchAPIKeySQL = `UPDATE {p}api_keys SET last_used_at = GREATEST(last_used_at, $2::timestamptz) WHERE id = $1`

// TouchAPIKey implements [storage.APIKeyStore] with one UPDATE.
func (s *Store) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	err := s.run(ctx, func(q querier) error {
		return execOne(ctx, q, s.sql(touchAPIKeySQL), id, ts(at))
	})
	if err != nil {
		return s.fail(ctx, err, "touch API key %q", id)
	}
	return nil
}

// DeleteAPIKey implements [storage.APIKeyStore].
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	return apiKeys.delete(ctx, s, id)
}

const appUserColumns = `id, name, description, tenant, roles, permissions, access_token_lifetime, created_at, updated_at`

func appUserArgs(u storage.ApplicationUser) []any {
	return []any{u.ID, u.Name, u.Description, u.Tenant, u.Roles, u.Permissions, int64(u.AccessTokenLifetime), ts(u.CreatedAt), ts(u.UpdatedAt)}
}

func scanAppUser(row pgx.Row) (storage.ApplicationUser, error) {
	var (
		u                    storage.ApplicationUser
		lifetime             int64
		createdAt, updatedAt pgtype.Timestamptz
	)
	if err := row.Scan(&u.ID, &u.Name, &u.Description, &u.Tenant, &u.Roles, &u.Permissions, &lifetime, &createdAt, &updatedAt); err != nil {
		return storage.ApplicationUser{}, err
	}
	u.AccessTokenLifetime = time.Duration(lifetime)
	u.CreatedAt, u.UpdatedAt = fromTS(createdAt), fromTS(updatedAt)
	return u, nil
}

var appUsers = newTable(table[storage.ApplicationUser]{
	name: "application_users", columns: appUserColumns, key: "id", what: "application user %q",
	args: appUserArgs, scan: scanAppUser,
	keyOf:  func(u storage.ApplicationUser) string { return u.ID },
	setKey: func(u *storage.ApplicationUser, id string) { u.ID = id },
})

// CreateApplicationUser implements [storage.ApplicationUserStore].
func (s *Store) CreateApplicationUser(ctx context.Context, u storage.ApplicationUser) error {
	return appUsers.create(ctx, s, u)
}

// GetApplicationUser implements [storage.ApplicationUserStore].
func (s *Store) GetApplicationUser(ctx context.Context, id string) (storage.ApplicationUser, error) {
	return appUsers.get(ctx, s, id)
}

// ListApplicationUsers implements [storage.ApplicationUserStore]. They are
// ordered by ID, compared byte by byte.
func (s *Store) ListApplicationUsers(ctx context.Context) ([]storage.ApplicationUser, error) {
	out, err := queryAll(ctx, s, scanAppUser, `SELECT `+appUserColumns+` FROM {p}application_users ORDER BY id`)
	if err != nil {
		return nil, s.fail(ctx, err, "list application users")
	}
	return out, nil
}

// UpdateApplicationUser implements [storage.ApplicationUserStore]. The row
// is locked while update runs (see UpdateClient).
func (s *Store) UpdateApplicationUser(ctx context.Context, id string, update func(storage.ApplicationUser) (storage.ApplicationUser, error)) error {
	return appUsers.update(ctx, s, id, update)
}

// DeleteApplicationUser implements [storage.ApplicationUserStore]: one
// DELETE, whose foreign key cascade deletes the application user's API
// keys in the same statement.
func (s *Store) DeleteApplicationUser(ctx context.Context, id string) error {
	return appUsers.delete(ctx, s, id)
}
