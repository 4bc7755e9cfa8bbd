package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

const mfaColumns = `subject, totp_secret, totp_confirmed, totp_last_counter, recovery_codes, failures,
	locked_until, created_at, updated_at`

func mfaArgs(r storage.MFARecord) []any {
	return []any{
		r.Subject, r.TOTPSecret, r.TOTPConfirmed, r.TOTPLastCounter, r.RecoveryCodes, int64(r.Failures),
		ts(r.LockedUntil), ts(r.CreatedAt), ts(r.UpdatedAt),
	}
}

func scanMFA(row pgx.Row) (storage.MFARecord, error) {
	var (
		r                                 storage.MFARecord
		failures                          int64
		lockedUntil, createdAt, updatedAt pgtype.Timestamptz
	)
	err := row.Scan(&r.Subject, &r.TOTPSecret, &r.TOTPConfirmed, &r.TOTPLastCounter, &r.RecoveryCodes, &failures,
		&lockedUntil, &createdAt, &updatedAt)
	if err != nil {
		return storage.MFARecord{}, err
	}
	r.Failures = int(failures)
	r.LockedUntil, r.CreatedAt, r.UpdatedAt = fromTS(lockedUntil), fromTS(createdAt), fromTS(updatedAt)
	return r, nil
}

// CreateMFA implements [storage.MFAStore].
func (s *Store) CreateMFA(ctx context.Context, r storage.MFARecord) error {
	err := s.run(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, s.sql(`INSERT INTO {p}mfa (`+mfaColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (subject) DO NOTHING`), mfaArgs(r)...)
		if err == nil && tag.RowsAffected() == 0 {
			err = storage.ErrAlreadyExists
		}
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "create mfa of %q", r.Subject)
	}
	return nil
}

// GetMFA implements [storage.MFAStore].
func (s *Store) GetMFA(ctx context.Context, subject string) (storage.MFARecord, error) {
	var r storage.MFARecord
	err := s.run(ctx, func(q querier) error {
		var err error
		r, err = scanMFA(q.QueryRow(ctx, s.sql(`SELECT `+mfaColumns+` FROM {p}mfa WHERE subject = $1`), subject))
		return err
	})
	if err != nil {
		return storage.MFARecord{}, s.fail(ctx, err, "get mfa of %q", subject)
	}
	return r, nil
}

// UpdateMFA implements [storage.MFAStore]. The row is locked (SELECT ...
// FOR UPDATE) while update runs, so update is called exactly once and sees
// every earlier update: a TOTP step or recovery code is accepted at most
// once, and no failure is lost, across every replica. update must not call
// back into the store with the same context. The record keeps its subject
// whatever update returns.
func (s *Store) UpdateMFA(ctx context.Context, subject string, update func(storage.MFARecord) (storage.MFARecord, error)) error {
	updateFailed := false
	err := s.inTx(ctx, func(q querier) error {
		cur, err := scanMFA(q.QueryRow(ctx, s.sql(`SELECT `+mfaColumns+` FROM {p}mfa WHERE subject = $1 FOR UPDATE`), subject))
		if err != nil {
			return err
		}
		next, err := update(cur)
		if err != nil {
			updateFailed = true
			return err
		}
		next.Subject = subject
		_, err = q.Exec(ctx, s.sql(`UPDATE {p}mfa SET (`+mfaColumns+`) =
			($1, $2, $3, $4, $5, $6, $7, $8, $9) WHERE subject = $1`), mfaArgs(next)...)
		return err
	})
	if err == nil || updateFailed {
		return err // update's error as it is
	}
	return s.fail(ctx, err, "update mfa of %q", subject)
}

// DeleteMFA implements [storage.MFAStore].
func (s *Store) DeleteMFA(ctx context.Context, subject string) error {
	err := s.run(ctx, func(q querier) error {
		return execOne(ctx, q, s.sql(`DELETE FROM {p}mfa WHERE subject = $1`), subject)
	})
	if err != nil {
		return s.fail(ctx, err, "delete mfa of %q", subject)
	}
	return nil
}
