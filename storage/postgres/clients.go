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
	created_at, updated_at`

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
		ts(c.CreatedAt), ts(c.UpdatedAt),
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
		&createdAt, &updatedAt,
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

// CreateClient implements [storage.ClientStore].
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	err := s.run(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, s.sql(`INSERT INTO {p}clients (`+clientColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
				$21, $22, $23, $24, $25, $26, $27, $28)
			ON CONFLICT (id) DO NOTHING`), clientArgs(c)...)
		if err == nil && tag.RowsAffected() == 0 {
			err = storage.ErrAlreadyExists
		}
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "create client %q", c.ID)
	}
	return nil
}

// GetClient implements [storage.ClientStore].
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var c storage.Client
	err := s.run(ctx, func(q querier) error {
		var err error
		c, err = scanClient(q.QueryRow(ctx, s.sql(`SELECT `+clientColumns+` FROM {p}clients WHERE id = $1`), id))
		return err
	})
	if err != nil {
		return storage.Client{}, s.fail(ctx, err, "get client %q", id)
	}
	return c, nil
}

// UpdateClient implements [storage.ClientStore]. The row is locked (SELECT
// ... FOR UPDATE) while update runs, so update is called exactly once; it
// must not call back into the store with the same context. The client
// keeps its ID whatever ID update returns.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(storage.Client) (storage.Client, error)) error {
	updateFailed := false
	err := s.inTx(ctx, func(q querier) error {
		cur, err := scanClient(q.QueryRow(ctx, s.sql(`SELECT `+clientColumns+` FROM {p}clients WHERE id = $1 FOR UPDATE`), id))
		if err != nil {
			return err
		}
		next, err := update(cur)
		if err != nil {
			updateFailed = true
			return err
		}
		next.ID = id
		_, err = q.Exec(ctx, s.sql(`UPDATE {p}clients SET (`+clientColumns+`) =
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
				$21, $22, $23, $24, $25, $26, $27, $28)
			WHERE id = $1`), clientArgs(next)...)
		return err
	})
	if err == nil || updateFailed {
		return err // update's error as it is
	}
	return s.fail(ctx, err, "update client %q", id)
}

// DeleteClient implements [storage.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	err := s.run(ctx, func(q querier) error {
		return execOne(ctx, q, s.sql(`DELETE FROM {p}clients WHERE id = $1`), id)
	})
	if err != nil {
		return s.fail(ctx, err, "delete client %q", id)
	}
	return nil
}

// ListClients implements [storage.ClientStore]. The clients are ordered by
// ID, compared byte by byte.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	var out []storage.Client
	err := s.run(ctx, func(q querier) error {
		rows, err := q.Query(ctx, s.sql(`SELECT `+clientColumns+` FROM {p}clients ORDER BY id COLLATE "C"`))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Client, error) { return scanClient(row) })
		return err
	})
	if err != nil {
		return nil, s.fail(ctx, err, "list clients")
	}
	return out, nil
}

// execOne runs a statement that must change one row, and returns
// pgx.ErrNoRows if it changed none.
func execOne(ctx context.Context, q querier, sql string, args ...any) error {
	tag, err := q.Exec(ctx, sql, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return pgx.ErrNoRows
	}
	return err
}
