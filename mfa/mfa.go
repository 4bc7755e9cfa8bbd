// Package mfa adds multi-factor authentication to the provider's
// authorization flow.
//
// A [Factor] is one kind of second factor the provider can ask for after the
// password. The package provides [TOTP]: time-based one-time passwords (RFC
// 6238, the codes of authenticator apps) with single-use recovery codes and
// a lockout after repeated wrong codes. Hosts add other factors (WebAuthn,
// SMS, push) by implementing [Factor].
//
// The TOTP factor keeps all its state in a [storage.MFAStore] and decides
// every acceptance inside one atomic [storage.MFAStore.UpdateMFA], so a code
// is accepted at most once and no failure is lost, however many provider
// replicas share the store. It never logs secrets or codes.
//
// The pure functions ([Code], [Validate], [KeyURI], ...) implement RFC 6238
// with HMAC-SHA-1, 6 digits and a 30 second step, the parameters every
// authenticator app supports.
package mfa

import (
	"context"
	"errors"
	"time"
)

// Factor is one kind of second factor the provider can ask for during
// authorization. Hosts implement it to add factors (WebAuthn, SMS, push).
// Implementations must be safe for concurrent use.
type Factor interface {
	// Name identifies the factor, e.g. "totp". Unique per provider.
	Name() string
	// Method is the RFC 8176 "amr" value a successful verification adds,
	// e.g. "otp".
	Method() string
	// Enrolled reports whether subject has this factor set up and
	// confirmed.
	Enrolled(ctx context.Context, subject string) (bool, error)
	// Verify checks the code the user typed. It returns nil on success; an
	// error wrapping [ErrInvalidCode] for a wrong, malformed or reused code;
	// a [*LockedError] (found with [errors.As]) for a locked-out user; any
	// other error is a backend failure.
	Verify(ctx context.Context, subject, code string) error
}

// Errors of the factors. They may be wrapped: test with [errors.Is].
var (
	// ErrInvalidCode is returned for a wrong, malformed or already used code.
	ErrInvalidCode = errors.New("mfa: invalid or already used code")
	// ErrNotEnrolled is returned when the subject has no confirmed factor
	// (or, for Confirm, no pending enrollment).
	ErrNotEnrolled = errors.New("mfa: factor not enrolled")
	// ErrAlreadyEnrolled is returned by [TOTP.Enroll] and [TOTP.Confirm]
	// when the subject already has a confirmed factor; unenroll it first.
	ErrAlreadyEnrolled = errors.New("mfa: factor already enrolled")
)

// LockedError is returned when a user has entered too many wrong codes; the
// user may try again at Until. The failure that starts a lockout returns an
// error that matches both [ErrInvalidCode] and *LockedError.
type LockedError struct {
	// Until is when the lockout ends.
	Until time.Time
}

// Error implements error.
func (e *LockedError) Error() string {
	return "mfa: too many wrong codes; locked until " + e.Until.UTC().Format(time.RFC3339)
}

var _ Factor = (*TOTP)(nil)
