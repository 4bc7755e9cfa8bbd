package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

const clientColumns = `id, name, secret_hashes, secret_created_at, secret_expires_at, public,
	redirect_uris, post_logout_redirect_uris, grant_types, response_types, scopes, audience,
	token_endpoint_auth_method, token_endpoint_auth_signing_alg, jwks, require_pkce,
	access_token_format, required_role, customer, permission_scope, ip_ranges, require_mfa,
	access_token_lifetime, refresh_token_lifetime, auth_code_lifetime, id_token_lifetime,
	created_at, updated_at, introspect_audiences, description, logo_uri, client_uri, refresh_bound_to_login,
	accepts_api_keys, application_user`

// clientArgs returns c's column values, in the order of clientColumns.
func clientArgs(c storage.Client) []any {
	var hashes []string
	var created, expires []pgtype.Timestamptz
	if c.Secrets != nil {
		hashes = make([]string, len(c.Secrets))
		created = make([]pgtype.Timestamptz, len(c.Secrets))
		expires = make([]pgtype.Timestamptz, len(c.Secrets))
		for i, sec := range c.Secrets {
			hashes[i], created[i], expires[i] = sec.Hash, ts(sec.CreatedAt), ts(sec.ExpiresAt)
		}
	}
	return []any{
		c.ID, c.Name, hashes, created, expires, c.Public,
		c.RedirectURIs, c.PostLogoutRedirectURIs, c.GrantTypes, c.ResponseTypes, c.Scopes, c.Audience,
		c.TokenEndpointAuthMethod, c.TokenEndpointAuthSigningAlg, c.JWKS, c.RequirePKCE,
		c.AccessTokenFormat, c.RequiredRole, c.Customer, c.PermissionScope, c.IPRanges, c.RequireMFA,
		int64(c.AccessTokenLifetime), int64(c.RefreshTokenLifetime), int64(c.AuthCodeLifetime), int64(c.IDTokenLifetime),
		ts(c.CreatedAt), ts(c.UpdatedAt), c.IntrospectAudiences, c.Description, c.LogoURI, c.ClientURI, c.RefreshBoundToLogin,
		c.AcceptsAPIKeys, c.ApplicationUser,
	}
}

// scanClient reads a row of clientColumns.
func scanClient(row pgx.Row) (storage.Client, error) {
	var (
		c                    storage.Client
		hashes               []string
		created, expires     []pgtype.Timestamptz
		atl, rtl, acl, itl   int64
		createdAt, updatedAt pgtype.Timestamptz
	)
	err := row.Scan(
		&c.ID, &c.Name, &hashes, &created, &expires, &c.Public,
		&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.ResponseTypes, &c.Scopes, &c.Audience,
		&c.TokenEndpointAuthMethod, &c.TokenEndpointAuthSigningAlg, &c.JWKS, &c.RequirePKCE,
		&c.AccessTokenFormat, &c.RequiredRole, &c.Customer, &c.PermissionScope, &c.IPRanges, &c.RequireMFA,
		&atl, &rtl, &acl, &itl,
		&createdAt, &updatedAt, &c.IntrospectAudiences, &c.Description, &c.LogoURI, &c.ClientURI, &c.RefreshBoundToLogin,
		&c.AcceptsAPIKeys, &c.ApplicationUser,
	)
	if err != nil {
		return storage.Client{}, err
	}
	if len(created) != len(hashes) || len(expires) != len(hashes) {
		return storage.Client{}, errors.New("corrupt client secrets: the arrays differ in length")
	}
	if hashes != nil {
		c.Secrets = make([]storage.SecretHash, len(hashes))
		for i := range hashes {
			c.Secrets[i] = storage.SecretHash{Hash: hashes[i], CreatedAt: fromTS(created[i]), ExpiresAt: fromTS(expires[i])}
		}
	}
	c.AccessTokenLifetime, c.RefreshTokenLifetime = time.Duration(atl), time.Duration(rtl)
	c.AuthCodeLifetime, c.IDTokenLifetime = time.Duration(acl), time.Duration(itl)
	c.CreatedAt, c.UpdatedAt = fromTS(createdAt), fromTS(updatedAt)
	return c, nil
}

var clients = newTable(table[storage.Client]{
	name: "clients", columns: clientColumns, key: "id", what: "client %q",
	args: clientArgs, scan: scanClient,
	keyOf:  func(c storage.Client) string { return c.ID },
	setKey: func(c *storage.Client, id string) { c.ID = id },
})

// CreateClient implements [storage.ClientStore].
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	return clients.create(ctx, s, c)
}

// GetClient implements [storage.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	return clients.get(ctx, s, id)
}

// UpdateClient implements [storage.ClientStore]. The row is locked (SELECT
// ... FOR UPDATE) while update runs, so update is called exactly once; it
// must not call back into the store with the same context. The client
// keeps its ID whatever ID update returns.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(storage.Client) (storage.Client, error)) error {
	return clients.update(ctx, s, id, update)
}

// DeleteClient implements [storage.ClientStore]: one transaction deletes
// the client's row, then its tokens, consents and authorization flows
// (found by client_id, which has no index of its own in those tables:
// deleting a client scans them, which suits an administrative action).
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(q querier) error {
		if err := execOne(ctx, q, s.sql(clients.deleteSQL), id); err != nil {
			return err
		}
		for _, del := range []string{
			`DELETE FROM {p}tokens WHERE client_id = $1 COLLATE "C"`,
			`DELETE FROM {p}consents WHERE client_id = $1`,
			`DELETE FROM {p}auth_flows WHERE client_id = $1 COLLATE "C"`,
		} {
			if _, err := q.Exec(ctx, s.sql(del), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.fail(ctx, err, "delete client %q", id)
	}
	return nil
}

// findClientsSQL is FindClients' query: $1 the customer or ”, $2 the
// secret expiry bound or NULL, $3 the ID to start after or ”, $4 the limit
// or NULL (no limit). secret_expires_at[1] is the newest secret's expiry,
// NULL when it never expires or there is no secret.
const findClientsSQL = `SELECT ` + clientColumns + ` FROM {p}clients
	WHERE ($1 = '' OR customer = $1 COLLATE "C")
	AND ($2::timestamptz IS NULL OR secret_expires_at[1] < $2::timestamptz)
	AND ($3 = '' OR id > $3)
	ORDER BY id COLLATE "C" LIMIT $4`

// ListClients implements [storage.ClientStore]. The clients are ordered by
// ID, compared byte by byte.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	out, err := queryAll(ctx, s, scanClient, `SELECT `+clientColumns+` FROM {p}clients ORDER BY id COLLATE "C"`)
	if err != nil {
		return nil, s.fail(ctx, err, "list clients")
	}
	return out, nil
}

// FindClients implements [storage.ClientStore]. The clients are ordered by
// ID, compared byte by byte.
func (s *Store) FindClients(ctx context.Context, q storage.ClientQuery) ([]storage.Client, error) {
	var limit *int64
	if q.Limit > 0 {
		n := int64(q.Limit)
		limit = &n
	}
	out, err := queryAll(ctx, s, scanClient, findClientsSQL, q.Customer, ts(q.SecretExpiresBefore), q.After, limit)
	if err != nil {
		return nil, s.fail(ctx, err, "find clients")
	}
	if out == nil {
		out = []storage.Client{}
	}
	return out, nil
}
