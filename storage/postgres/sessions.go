package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

const loginSessionColumns = `id, subject, auth_time, amr, claims, expires_at, sid`

func loginSessionArgs(ls storage.LoginSession) []any {
	return []any{ls.ID, ls.Subject, ts(ls.AuthTime), ls.AMR, ls.Claims, ts(ls.ExpiresAt), ls.SID}
}

func scanLoginSession(row pgx.Row) (storage.LoginSession, error) {
	var (
		ls                  storage.LoginSession
		authTime, expiresAt pgtype.Timestamptz
	)
	if err := row.Scan(&ls.ID, &ls.Subject, &authTime, &ls.AMR, &ls.Claims, &expiresAt, &ls.SID); err != nil {
		return storage.LoginSession{}, err
	}
	ls.AuthTime, ls.ExpiresAt = fromTS(authTime), fromTS(expiresAt)
	return ls, nil
}

var loginSessions = newTable(table[storage.LoginSession]{
	name: "login_sessions", columns: loginSessionColumns, key: "id", what: "login session %q",
	args: loginSessionArgs, scan: scanLoginSession,
	keyOf:  func(ls storage.LoginSession) string { return ls.ID },
	setKey: func(ls *storage.LoginSession, id string) { ls.ID = id },
})

// CreateLoginSession implements [storage.SessionStore].
func (s *Store) CreateLoginSession(ctx context.Context, ls storage.LoginSession) error {
	return loginSessions.create(ctx, s, ls)
}

// GetLoginSession implements [storage.SessionStore].
func (s *Store) GetLoginSession(ctx context.Context, id string) (storage.LoginSession, error) {
	return loginSessions.get(ctx, s, id)
}

// DeleteLoginSession implements [storage.SessionStore].
func (s *Store) DeleteLoginSession(ctx context.Context, id string) error {
	return loginSessions.delete(ctx, s, id)
}

// LoginSessionsBySubject implements [storage.SessionStore]. The sessions
// are ordered by ID, compared byte by byte.
func (s *Store) LoginSessionsBySubject(ctx context.Context, subject string) ([]storage.LoginSession, error) {
	out, err := queryAll(ctx, s, scanLoginSession, `SELECT `+loginSessionColumns+` FROM {p}login_sessions
		WHERE subject = $1 ORDER BY id COLLATE "C"`, subject)
	if err != nil {
		return nil, s.fail(ctx, err, "list login sessions of %q", subject)
	}
	return out, nil
}

// DeleteLoginSessionsBySubject implements [storage.SessionStore].
func (s *Store) DeleteLoginSessionsBySubject(ctx context.Context, subject string) (int64, error) {
	var n int64
	err := s.run(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, s.sql(`DELETE FROM {p}login_sessions WHERE subject = $1`), subject)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, s.fail(ctx, err, "delete login sessions of %q", subject)
	}
	return n, nil
}

const authFlowColumns = `id, query, client_id, subject, auth_time, amr, done, data, csrf, expires_at,
	requested_at, client_ip, browser, tenant, user_json`

func authFlowArgs(f storage.AuthFlow) []any {
	return []any{
		f.ID, f.Query, f.ClientID, f.Subject, ts(f.AuthTime), f.AMR, f.Done, encodeData(f.Data), f.CSRF, ts(f.ExpiresAt),
		ts(f.RequestedAt), f.ClientIP, f.Browser, f.Tenant, f.User,
	}
}

func scanAuthFlow(row pgx.Row) (storage.AuthFlow, error) {
	var (
		f                                storage.AuthFlow
		authTime, expiresAt, requestedAt pgtype.Timestamptz
		data                             *string
	)
	err := row.Scan(&f.ID, &f.Query, &f.ClientID, &f.Subject, &authTime, &f.AMR, &f.Done, &data, &f.CSRF, &expiresAt,
		&requestedAt, &f.ClientIP, &f.Browser, &f.Tenant, &f.User)
	if err != nil {
		return storage.AuthFlow{}, err
	}
	if f.Data, err = decodeData(data); err != nil {
		return storage.AuthFlow{}, err
	}
	f.AuthTime, f.ExpiresAt, f.RequestedAt = fromTS(authTime), fromTS(expiresAt), fromTS(requestedAt)
	return f, nil
}

var authFlows = newTable(table[storage.AuthFlow]{
	name: "auth_flows", columns: authFlowColumns, key: "id", what: "auth flow %q",
	args: authFlowArgs, scan: scanAuthFlow,
	keyOf:  func(f storage.AuthFlow) string { return f.ID },
	setKey: func(f *storage.AuthFlow, id string) { f.ID = id },
})

// CreateAuthFlow implements [storage.SessionStore].
func (s *Store) CreateAuthFlow(ctx context.Context, f storage.AuthFlow) error {
	return authFlows.create(ctx, s, f)
}

// GetAuthFlow implements [storage.SessionStore].
func (s *Store) GetAuthFlow(ctx context.Context, id string) (storage.AuthFlow, error) {
	return authFlows.get(ctx, s, id)
}

// UpdateAuthFlow implements [storage.SessionStore]. The row is locked
// (SELECT ... FOR UPDATE) while update runs, so update is called exactly
// once; it must not call back into the store with the same context. The
// flow keeps its ID whatever ID update returns.
func (s *Store) UpdateAuthFlow(ctx context.Context, id string, update func(storage.AuthFlow) (storage.AuthFlow, error)) error {
	return authFlows.update(ctx, s, id, update)
}

// DeleteAuthFlow implements [storage.SessionStore].
func (s *Store) DeleteAuthFlow(ctx context.Context, id string) error {
	return authFlows.delete(ctx, s, id)
}
