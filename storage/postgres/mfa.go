package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

const mfaColumns = `subject, totp_secret, totp_confirmed, totp_last_counter, recovery_codes, failures,
	locked_until, created_at, updated_at, totp_pending_secret`

func mfaArgs(r storage.MFARecord) []any {
	return []any{
		r.Subject, r.TOTPSecret, r.TOTPConfirmed, r.TOTPLastCounter, r.RecoveryCodes, int64(r.Failures),
		ts(r.LockedUntil), ts(r.CreatedAt), ts(r.UpdatedAt), r.TOTPPendingSecret,
	}
}

func scanMFA(row pgx.Row) (storage.MFARecord, error) {
	var (
		r                                 storage.MFARecord
		failures                          int64
		lockedUntil, createdAt, updatedAt pgtype.Timestamptz
	)
	err := row.Scan(&r.Subject, &r.TOTPSecret, &r.TOTPConfirmed, &r.TOTPLastCounter, &r.RecoveryCodes, &failures,
		&lockedUntil, &createdAt, &updatedAt, &r.TOTPPendingSecret)
	if err != nil {
		return storage.MFARecord{}, err
	}
	r.Failures = int(failures)
	r.LockedUntil, r.CreatedAt, r.UpdatedAt = fromTS(lockedUntil), fromTS(createdAt), fromTS(updatedAt)
	return r, nil
}

var mfaRecords = newTable(table[storage.MFARecord]{
	name: "mfa", columns: mfaColumns, key: "subject", what: "mfa of %q",
	args: mfaArgs, scan: scanMFA,
	keyOf:  func(r storage.MFARecord) string { return r.Subject },
	setKey: func(r *storage.MFARecord, subject string) { r.Subject = subject },
})

// CreateMFA implements [storage.MFAStore].
func (s *Store) CreateMFA(ctx context.Context, r storage.MFARecord) error {
	return mfaRecords.create(ctx, s, r)
}

// GetMFA implements [storage.MFAStore].
func (s *Store) GetMFA(ctx context.Context, subject string) (storage.MFARecord, error) {
	return mfaRecords.get(ctx, s, subject)
}

// UpdateMFA implements [storage.MFAStore]. The row is locked (SELECT ...
// FOR UPDATE) while update runs, so update is called exactly once and sees
// every earlier update: a TOTP step or recovery code is accepted at most
// once, and no failure is lost, across every replica. update must not call
// back into the store with the same context. The record keeps its subject
// whatever update returns.
func (s *Store) UpdateMFA(ctx context.Context, subject string, update func(storage.MFARecord) (storage.MFARecord, error)) error {
	return mfaRecords.update(ctx, s, subject, update)
}

// DeleteMFA implements [storage.MFAStore].
func (s *Store) DeleteMFA(ctx context.Context, subject string) error {
	return mfaRecords.delete(ctx, s, subject)
}
