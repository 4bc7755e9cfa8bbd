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

const tokenColumns = `kind, signature, request_id, requested_at, client_id, subject,
	requested_scopes, granted_scopes, requested_audience, granted_audience, form, session,
	access_signature, expires_at, active, rotated_at, login_sid, created_at`

// tokenArgs returns t's column values, in the order of tokenColumns.
func tokenArgs(t storage.Token) []any {
	r := t.Request
	return []any{
		string(t.Kind), t.Signature, r.ID, ts(r.RequestedAt), r.ClientID, r.Subject,
		r.RequestedScopes, r.GrantedScopes, r.RequestedAudience, r.GrantedAudience, encodeForm(r.Form), r.Session,
		t.AccessSignature, ts(t.ExpiresAt), t.Active, ts(t.RotatedAt), r.LoginSID, ts(t.CreatedAt),
	}
}

// scanToken reads a row of tokenColumns.
func scanToken(row pgx.Row) (storage.Token, error) {
	var (
		t                                 storage.Token
		kind                              string
		requestedAt, expiresAt, rotatedAt pgtype.Timestamptz
		createdAt                         pgtype.Timestamptz
		form                              *string
	)
	r := &t.Request
	err := row.Scan(
		&kind, &t.Signature, &r.ID, &requestedAt, &r.ClientID, &r.Subject,
		&r.RequestedScopes, &r.GrantedScopes, &r.RequestedAudience, &r.GrantedAudience, &form, &r.Session,
		&t.AccessSignature, &expiresAt, &t.Active, &rotatedAt, &r.LoginSID, &createdAt,
	)
	if err != nil {
		return storage.Token{}, err
	}
	if r.Form, err = decodeForm(form); err != nil {
		return storage.Token{}, err
	}
	t.Kind = storage.TokenKind(kind)
	r.RequestedAt, t.ExpiresAt, t.RotatedAt, t.CreatedAt = fromTS(requestedAt), fromTS(expiresAt), fromTS(rotatedAt), fromTS(createdAt)
	return t, nil
}

// CreateToken implements [storage.TokenStore].
// Outside a transaction the insert is committed with those of concurrent
// calls (see batch.go); it returns once its own row is committed.
func (s *Store) CreateToken(ctx context.Context, t storage.Token) error {
	var err error
	st := txFrom(ctx, s.pool)
	switch {
	case st == nil:
		if err = ctx.Err(); err == nil {
			err = s.createGrouped(ctx, t)
		}
	case storage.InsertsDeferrable(ctx):
		if err = ctx.Err(); err == nil {
			err = s.deferInsert(st, t)
		}
	default:
		err = s.run(ctx, func(q querier) error { return s.insertToken(ctx, q, t) })
	}
	if err != nil {
		return s.fail(ctx, err, "create %s %q", t.Kind, t.Signature)
	}
	return nil
}

// insertTokenSQL inserts a token, inactive if its sign-in has ended
// (RevokeLoginGrants) or its grant was revoked (RevokeUserClientGrants),
// and nothing if its key is taken.
const insertTokenSQL = `INSERT INTO {p}tokens (` + tokenColumns + `)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
		$15 AND ($17 = '' OR NOT EXISTS (SELECT 1 FROM {p}ended_logins WHERE sid = $17))
			AND NOT EXISTS (SELECT 1 FROM {p}revoked_grants WHERE request_id = $3), $16, $17, $18
	ON CONFLICT (kind, signature) DO NOTHING`

// insertToken inserts t with q.
func (s *Store) insertToken(ctx context.Context, q querier, t storage.Token) error {
	tag, err := q.Exec(ctx, s.sql(insertTokenSQL), tokenArgs(t)...)
	if err == nil && tag.RowsAffected() == 0 {
		err = storage.ErrAlreadyExists
	}
	return err
}

// GetToken implements [storage.TokenStore].
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error) {
	var t storage.Token
	err := s.run(ctx, func(q querier) error {
		var err error
		t, err = s.getToken(ctx, q, kind, signature)
		return err
	})
	if err != nil {
		return storage.Token{}, s.fail(ctx, err, "get %s %q", kind, signature)
	}
	return t, nil
}

func (s *Store) getToken(ctx context.Context, q querier, kind storage.TokenKind, signature string) (storage.Token, error) {
	return scanToken(q.QueryRow(ctx, s.sql(`SELECT `+tokenColumns+` FROM {p}tokens WHERE kind = $1 AND signature = $2`),
		string(kind), signature))
}

// GetTokenSet implements [storage.TokenSetGetter] with one query.
func (s *Store) GetTokenSet(ctx context.Context, signature string, kinds ...storage.TokenKind) ([]storage.Token, error) {
	out := make([]storage.Token, len(kinds))
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	err := s.run(ctx, func(q querier) error {
		clear(out)
		rows, err := q.Query(ctx, s.sql(`SELECT `+tokenColumns+` FROM {p}tokens WHERE signature = $1 AND kind = ANY($2)`), signature, names)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanToken(rows)
			if err != nil {
				return err
			}
			for i, k := range kinds {
				if k == t.Kind {
					out[i] = t
				}
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.fail(ctx, err, "get the tokens of %q", signature)
	}
	return out, nil
}

// DeleteToken implements [storage.TokenStore].
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	err := s.run(ctx, func(q querier) error {
		return execOne(ctx, q, s.sql(`DELETE FROM {p}tokens WHERE kind = $1 AND signature = $2`), string(kind), signature)
	})
	if err != nil {
		return s.fail(ctx, err, "delete %s %q", kind, signature)
	}
	return nil
}

// ConsumeAuthCode implements [storage.TokenStore]. One conditional UPDATE
// decides the winner: the row lock it takes makes concurrent consumers (in
// any process, and in transactions until they end) wait and then find the
// code inactive. The code it returns, to the winner and with
// [storage.ErrAlreadyUsed] alike, is inactive.
func (s *Store) ConsumeAuthCode(ctx context.Context, signature string) (storage.Token, error) {
	var t storage.Token
	err := s.run(ctx, func(q querier) error {
		var err error
		t, err = scanToken(q.QueryRow(ctx, s.sql(`UPDATE {p}tokens SET active = false
			WHERE kind = 'authorization_code' AND signature = $1 AND active
			RETURNING `+tokenColumns), signature))
		if !isNoRows(err) {
			return err
		}
		// Not consumed now: used before, or unknown.
		t, err = s.getToken(ctx, q, storage.KindAuthCode, signature)
		if err != nil {
			return err
		}
		return storage.ErrAlreadyUsed
	})
	switch {
	case err == nil:
		return t, nil
	case err == storage.ErrAlreadyUsed:
		return t, s.fail(ctx, err, "consume authorization code %q", signature)
	}
	return storage.Token{}, s.fail(ctx, err, "consume authorization code %q", signature)
}

// RotateRefreshToken implements [storage.TokenStore]. One statement marks
// the refresh token inactive, if it is active, records when (rotated_at),
// and deletes the access token linked to it, so all of it happens or none.
// A linked access token that no longer exists is not an error.
func (s *Store) RotateRefreshToken(ctx context.Context, signature string, now time.Time) error {
	err := s.run(ctx, func(q querier) error {
		var rotated bool
		err := q.QueryRow(ctx, s.sql(`WITH rotated AS (
				UPDATE {p}tokens SET active = false, rotated_at = $2
				WHERE kind = 'refresh_token' AND signature = $1 AND active
				RETURNING access_signature
			), deleted AS (
				DELETE FROM {p}tokens
				WHERE kind = 'access_token' AND signature IN (SELECT access_signature FROM rotated WHERE access_signature <> '')
			)
			SELECT EXISTS (SELECT 1 FROM rotated)`), signature, ts(now)).Scan(&rotated)
		if err != nil || rotated {
			return err
		}
		var exists bool
		err = q.QueryRow(ctx, s.sql(`SELECT EXISTS (SELECT 1 FROM {p}tokens WHERE kind = 'refresh_token' AND signature = $1)`),
			signature).Scan(&exists)
		switch {
		case err != nil:
			return err
		case exists:
			return storage.ErrAlreadyUsed
		}
		return pgx.ErrNoRows
	})
	if err != nil {
		return s.fail(ctx, err, "rotate refresh token %q", signature)
	}
	return nil
}

// RevokeFamily implements [storage.TokenStore].
func (s *Store) RevokeFamily(ctx context.Context, kind storage.TokenKind, requestID string) error {
	err := s.run(ctx, func(q querier) error {
		_, err := q.Exec(ctx, s.sql(`UPDATE {p}tokens SET active = false WHERE request_id = $1 AND kind = $2 AND active`),
			requestID, string(kind))
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "revoke %s family %q", kind, requestID)
	}
	return nil
}

// RevokeLoginGrants implements [storage.TokenStore] in three statements,
// each with its own snapshot (in READ COMMITTED, even inside a
// transaction; call it outside one, as the provider does, so that the
// record of the ended sign-in is committed before the UPDATEs run):
//
//  1. it records the sign-in in ended_logins. A token INSERT that starts
//     after this committed stores the token inactive (CreateToken).
//     Then it takes the sign-in's advisory lock, which waits for the
//     token inserts made outside a transaction that began before: they
//     hold it shared until they commit (see sidLock).
//  2. it revokes the sign-in's refresh tokens and codes. A code exchange
//     or refresh that inserted active tokens before 1 holds the row of
//     the code it consumed or the refresh token it rotated, locked from
//     before its inserts until it ends: this UPDATE waits on that row,
//     so once it returns every such transaction has ended.
//  3. it revokes every token of the sign-in, including those the
//     transactions that 2 waited for committed, which 2's snapshot,
//     taken before, did not hold.
//
// 2 locks only refresh token and code rows, the rows such transactions
// lock first (a refresh locks its refresh token, then deletes the linked
// access token), so that it does not deadlock with them. A deadlock with
// another multi-row update (PostgreSQL aborts one of the two) makes it
// start again, at most three times, outside a transaction.
func (s *Store) RevokeLoginGrants(ctx context.Context, sid string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, err, "revoke the grants of sign-in %q", sid)
	}
	if sid == "" {
		return nil
	}
	var err error
	for range 3 {
		err = s.run(ctx, func(q querier) error {
			if _, err := q.Exec(ctx, s.sql(`INSERT INTO {p}ended_logins AS e (sid, expires_at) VALUES ($1, $2)
				ON CONFLICT (sid) DO UPDATE SET expires_at = GREATEST(e.expires_at, EXCLUDED.expires_at)`), sid, ts(until)); err != nil {
				return err
			}
			// Wait for the token batches that locked the sign-in before it
			// was recorded (see sidLock); a batch that locks later stores
			// its tokens inactive.
			if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, int32(sidLockClass), sidLock(sid)); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, s.sql(`UPDATE {p}tokens SET active = false
				WHERE login_sid = $1 AND login_sid <> '' AND active AND kind IN ('refresh_token', 'authorization_code')`), sid); err != nil {
				return err
			}
			_, err := q.Exec(ctx, s.sql(`UPDATE {p}tokens SET active = false WHERE login_sid = $1 AND login_sid <> '' AND active`), sid)
			return err
		})
		if !isDeadlock(err) || txFrom(ctx, s.pool) != nil {
			break
		}
	}
	if err != nil {
		return s.fail(ctx, err, "revoke the grants of sign-in %q", sid)
	}
	return nil
}

// RevokeUserClientGrants implements [storage.TokenStore] as
// [Store.RevokeLoginGrants] does, with the grants' families in
// revoked_grants in the place of the sign-in in ended_logins: it records
// the families of subject's tokens for clientID (a token INSERT of one of
// them that starts after this committed stores the token inactive), then
// revokes their refresh tokens and codes (waiting for a code exchange or
// refresh that holds one), then every token of them, the tokens such a
// transaction committed included. Call it outside a transaction.
func (s *Store) RevokeUserClientGrants(ctx context.Context, subject, clientID string, until time.Time) error {
	if err := ctx.Err(); err != nil {
		return s.fail(ctx, err, "revoke the grants of %q to %q", subject, clientID)
	}
	if subject == "" || clientID == "" {
		return nil
	}
	var err error
	for range 3 {
		err = s.run(ctx, func(q querier) error {
			if _, err := q.Exec(ctx, s.sql(`INSERT INTO {p}revoked_grants AS g (request_id, expires_at)
				SELECT DISTINCT request_id, $3::timestamptz FROM {p}tokens WHERE subject = $1 AND client_id = $2 AND subject <> ''
				ON CONFLICT (request_id) DO UPDATE SET expires_at = GREATEST(g.expires_at, EXCLUDED.expires_at)`),
				subject, clientID, ts(until)); err != nil {
				return err
			}
			if _, err := q.Exec(ctx, s.sql(`UPDATE {p}tokens SET active = false
				WHERE subject = $1 AND client_id = $2 AND subject <> '' AND active AND kind IN ('refresh_token', 'authorization_code')`),
				subject, clientID); err != nil {
				return err
			}
			_, err := q.Exec(ctx, s.sql(`UPDATE {p}tokens SET active = false WHERE subject = $1 AND client_id = $2 AND subject <> '' AND active`),
				subject, clientID)
			return err
		})
		if !isDeadlock(err) || txFrom(ctx, s.pool) != nil {
			break
		}
	}
	if err != nil {
		return s.fail(ctx, err, "revoke the grants of %q to %q", subject, clientID)
	}
	return nil
}

// ListGrants implements [storage.TokenStore] with one query: of subject's
// active, unexpired access and refresh tokens, the newest of each client.
func (s *Store) ListGrants(ctx context.Context, subject string, now time.Time) ([]storage.Token, error) {
	out := []storage.Token{}
	if subject == "" {
		if err := ctx.Err(); err != nil {
			return nil, s.fail(ctx, err, "list the grants of %q", subject)
		}
		return out, nil
	}
	err := s.run(ctx, func(q querier) error {
		out = out[:0] // f may run again after a lost connection
		rows, err := q.Query(ctx, s.sql(`SELECT DISTINCT ON (client_id COLLATE "C") `+tokenColumns+` FROM {p}tokens
			WHERE subject = $1 AND subject <> '' AND active AND expires_at > $2 AND kind IN ('access_token', 'refresh_token')
			ORDER BY client_id COLLATE "C", created_at DESC NULLS LAST, signature DESC, kind DESC`), subject, ts(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanToken(rows)
			if err != nil {
				return err
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, s.fail(ctx, err, "list the grants of %q", subject)
	}
	return out, nil
}

// isDeadlock reports whether err is PostgreSQL's deadlock_detected.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// UseJTI implements [storage.TokenStore]. One INSERT ... ON CONFLICT decides:
// it records the ID, or records it again if its expiry is not after now,
// and otherwise writes nothing and the ID is used. A JWT ID recorded until
// expiresAt is used while now is before expiresAt, and free again from
// expiresAt on.
func (s *Store) UseJTI(ctx context.Context, jti string, expiresAt, now time.Time) error {
	err := s.run(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, s.sql(`INSERT INTO {p}jtis AS j (jti, expires_at) VALUES ($1, $2)
			ON CONFLICT (jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
			WHERE j.expires_at IS NULL OR j.expires_at <= $3`), jti, ts(expiresAt), now)
		if err == nil && tag.RowsAffected() == 0 {
			err = storage.ErrAlreadyUsed
		}
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "use JWT ID %q", jti)
	}
	return nil
}
