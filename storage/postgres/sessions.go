package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

const loginSessionColumns = `id, subject, auth_time, amr, claims, expires_at`

func scanLoginSession(row pgx.Row) (storage.LoginSession, error) {
	var (
		ls                  storage.LoginSession
		authTime, expiresAt pgtype.Timestamptz
	)
	if err := row.Scan(&ls.ID, &ls.Subject, &authTime, &ls.AMR, &ls.Claims, &expiresAt); err != nil {
		return storage.LoginSession{}, err
	}
	ls.AuthTime, ls.ExpiresAt = fromTS(authTime), fromTS(expiresAt)
	return ls, nil
}

// CreateLoginSession implements [storage.SessionStore].
func (s *Store) CreateLoginSession(ctx context.Context, ls storage.LoginSession) error {
	err := s.run(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, s.sql(`INSERT INTO {p}login_sessions (`+loginSessionColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`),
			ls.ID, ls.Subject, ts(ls.AuthTime), ls.AMR, ls.Claims, ts(ls.ExpiresAt))
		if err == nil && tag.RowsAffected() == 0 {
			err = storage.ErrAlreadyExists
		}
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "create login session %q", ls.ID)
	}
	return nil
}

// GetLoginSession implements [storage.SessionStore].
func (s *Store) GetLoginSession(ctx context.Context, id string) (storage.LoginSession, error) {
	var ls storage.LoginSession
	err := s.run(ctx, func(q querier) error {
		var err error
		ls, err = scanLoginSession(q.QueryRow(ctx, s.sql(`SELECT `+loginSessionColumns+` FROM {p}login_sessions WHERE id = $1`), id))
		return err
	})
	if err != nil {
		return storage.LoginSession{}, s.fail(ctx, err, "get login session %q", id)
	}
	return ls, nil
}

// DeleteLoginSession implements [storage.SessionStore].
func (s *Store) DeleteLoginSession(ctx context.Context, id string) error {
	err := s.run(ctx, func(q querier) error {
		return execOne(ctx, q, s.sql(`DELETE FROM {p}login_sessions WHERE id = $1`), id)
	})
	if err != nil {
		return s.fail(ctx, err, "delete login session %q", id)
	}
	return nil
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

const authFlowColumns = `id, query, client_id, subject, auth_time, amr, done, data, csrf, expires_at`

func authFlowArgs(f storage.AuthFlow) []any {
	return []any{f.ID, f.Query, f.ClientID, f.Subject, ts(f.AuthTime), f.AMR, f.Done, encodeData(f.Data), f.CSRF, ts(f.ExpiresAt)}
}

func scanAuthFlow(row pgx.Row) (storage.AuthFlow, error) {
	var (
		f                   storage.AuthFlow
		authTime, expiresAt pgtype.Timestamptz
		data                *string
	)
	err := row.Scan(&f.ID, &f.Query, &f.ClientID, &f.Subject, &authTime, &f.AMR, &f.Done, &data, &f.CSRF, &expiresAt)
	if err != nil {
		return storage.AuthFlow{}, err
	}
	if f.Data, err = decodeData(data); err != nil {
		return storage.AuthFlow{}, err
	}
	f.AuthTime, f.ExpiresAt = fromTS(authTime), fromTS(expiresAt)
	return f, nil
}

// CreateAuthFlow implements [storage.SessionStore].
func (s *Store) CreateAuthFlow(ctx context.Context, f storage.AuthFlow) error {
	err := s.run(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, s.sql(`INSERT INTO {p}auth_flows (`+authFlowColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`), authFlowArgs(f)...)
		if err == nil && tag.RowsAffected() == 0 {
			err = storage.ErrAlreadyExists
		}
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "create auth flow %q", f.ID)
	}
	return nil
}

// GetAuthFlow implements [storage.SessionStore].
func (s *Store) GetAuthFlow(ctx context.Context, id string) (storage.AuthFlow, error) {
	var f storage.AuthFlow
	err := s.run(ctx, func(q querier) error {
		var err error
		f, err = scanAuthFlow(q.QueryRow(ctx, s.sql(`SELECT `+authFlowColumns+` FROM {p}auth_flows WHERE id = $1`), id))
		return err
	})
	if err != nil {
		return storage.AuthFlow{}, s.fail(ctx, err, "get auth flow %q", id)
	}
	return f, nil
}

// UpdateAuthFlow implements [storage.SessionStore]. The row is locked
// (SELECT ... FOR UPDATE) while update runs, so update is called exactly
// once; it must not call back into the store with the same context. The
// flow keeps its ID whatever ID update returns.
func (s *Store) UpdateAuthFlow(ctx context.Context, id string, update func(storage.AuthFlow) (storage.AuthFlow, error)) error {
	updateFailed := false
	err := s.inTx(ctx, func(q querier) error {
		cur, err := scanAuthFlow(q.QueryRow(ctx, s.sql(`SELECT `+authFlowColumns+` FROM {p}auth_flows WHERE id = $1 FOR UPDATE`), id))
		if err != nil {
			return err
		}
		next, err := update(cur)
		if err != nil {
			updateFailed = true
			return err
		}
		next.ID = id
		_, err = q.Exec(ctx, s.sql(`UPDATE {p}auth_flows SET (`+authFlowColumns+`) =
			($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) WHERE id = $1`), authFlowArgs(next)...)
		return err
	})
	if err == nil || updateFailed {
		return err // update's error as it is
	}
	return s.fail(ctx, err, "update auth flow %q", id)
}

// DeleteAuthFlow implements [storage.SessionStore].
func (s *Store) DeleteAuthFlow(ctx context.Context, id string) error {
	err := s.run(ctx, func(q querier) error {
		return execOne(ctx, q, s.sql(`DELETE FROM {p}auth_flows WHERE id = $1`), id)
	})
	if err != nil {
		return s.fail(ctx, err, "delete auth flow %q", id)
	}
	return nil
}
