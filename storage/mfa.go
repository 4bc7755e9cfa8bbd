package storage

import (
	"context"
	"time"
)

// MFARecord is a user's multi-factor authentication state: the TOTP factor
// and the recovery codes, and the failure counter that locks the user out
// after repeated wrong codes. One record per subject.
//
// Every field that decides whether a code is accepted (TOTPLastCounter,
// RecoveryCodes, Failures, LockedUntil) changes only through
// [MFAStore.UpdateMFA], so a code is accepted at most once and no failure
// is lost even when many replicas verify codes of one user at once.
type MFARecord struct {
	// Subject is the user.
	Subject string
	// TOTPSecret is the TOTP shared secret. Unlike passwords it must be
	// recoverable to compute codes, so it cannot be hashed; the mfa package
	// seals it with AES-256-GCM when given a key. Empty when no TOTP factor
	// is enrolled.
	TOTPSecret []byte
	// TOTPConfirmed is false while an enrollment waits for its first code.
	TOTPConfirmed bool
	// TOTPPendingSecret is the stored secret of a replacement waiting for
	// its first code, while the confirmed factor (TOTPSecret) stays in
	// force; empty when no replacement is pending. It never counts as a
	// factor: codes are checked against TOTPSecret only, until the
	// replacement is confirmed and takes its place.
	TOTPPendingSecret []byte
	// TOTPLastCounter is the time step of the last accepted code; a code of
	// this step or an earlier one is refused (RFC 6238 §5.2, single use).
	TOTPLastCounter int64
	// RecoveryCodes are the hashes of the unused recovery codes.
	RecoveryCodes []string
	// Failures counts wrong codes since the last success.
	Failures int
	// LockedUntil is when the user may try again after too many failures;
	// zero when not locked.
	LockedUntil time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// MFAStore keeps multi-factor state.
type MFAStore interface {
	// CreateMFA stores r; [ErrAlreadyExists] if the subject has a record.
	CreateMFA(ctx context.Context, r MFARecord) error
	// GetMFA returns the subject's record or [ErrNotFound].
	GetMFA(ctx context.Context, subject string) (MFARecord, error)
	// UpdateMFA replaces the subject's record with what update returns,
	// atomically (see [ClientStore.UpdateClient]); [ErrNotFound] if there is
	// none.
	UpdateMFA(ctx context.Context, subject string, update func(MFARecord) (MFARecord, error)) error
	// DeleteMFA removes the record or returns [ErrNotFound].
	DeleteMFA(ctx context.Context, subject string) error
}
