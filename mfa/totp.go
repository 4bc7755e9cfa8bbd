package mfa

import (
	"context"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// TOTP is the TOTP factor (RFC 6238) with recovery codes and lockout. It
// keeps its state in a [storage.MFAStore], one [storage.MFARecord] per
// subject, so every replica that shares the store shares it too; every
// decision to accept a code, and every failure counted, happens inside one
// atomic [storage.MFAStore.UpdateMFA]. It holds no state of its own and is
// safe for concurrent use.
//
// Make one with [NewTOTP].
type TOTP struct {
	store         storage.MFAStore
	issuer        string
	aead          cipher.AEAD
	maxFailures   int
	baseDelay     time.Duration
	maxDelay      time.Duration
	recoveryCodes int
	clock         func() time.Time
}

// TOTPOptions configure a [TOTP] factor. The zero value of every field but
// Issuer selects its default.
type TOTPOptions struct {
	// Issuer is shown in authenticator apps (the otpauth issuer), e.g. the
	// service's name. Required; it may not contain a colon.
	Issuer string
	// Key, if set, must be 32 bytes: TOTP secrets are then sealed with
	// AES-256-GCM (random nonce, subject as additional data) before they are
	// stored, so a copy of the database alone yields no secret, and a sealed
	// secret cannot be planted in or moved to another user's record.
	//
	// Without a Key secrets are stored in the clear: anyone who can read the
	// store (a backup, a replica, an SQL injection) can compute every user's
	// codes, which reduces the second factor to the password. Use a Key in
	// production, kept outside the database.
	//
	// Records written without a Key do not open with one, and the other way
	// round: adding or changing the Key later requires enrolling the users
	// again (for example with [TOTP.EnrollSecret]).
	Key []byte
	// MaxFailures wrong codes in a row lock the user out (default 5). After
	// the MaxFailures-th consecutive failure the user is locked for
	// BaseDelay, and every further failure doubles it (BaseDelay *
	// 2^(failures-MaxFailures)), capped at MaxDelay. A success resets the
	// count. Attempts while locked are refused with [*LockedError] without
	// checking the code and without counting.
	MaxFailures int
	// BaseDelay is the first lockout (default 30s); MaxDelay the longest
	// (default 15m). MaxDelay may not be less than BaseDelay.
	BaseDelay, MaxDelay time.Duration
	// RecoveryCodes is how many recovery codes Enroll makes (default 10).
	RecoveryCodes int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NewTOTP returns the TOTP factor keeping its state in store. It validates
// opts: Issuer non-empty and without a colon, Key of 0 or 32 bytes, no
// negative number or duration.
func NewTOTP(store storage.MFAStore, opts TOTPOptions) (*TOTP, error) {
	switch {
	case store == nil:
		return nil, errors.New("mfa: NewTOTP: nil store")
	case opts.Issuer == "":
		return nil, errors.New("mfa: NewTOTP: Issuer is required")
	case strings.Contains(opts.Issuer, ":"):
		return nil, errors.New("mfa: NewTOTP: Issuer may not contain a colon")
	case len(opts.Key) != 0 && len(opts.Key) != 32:
		return nil, fmt.Errorf("mfa: NewTOTP: Key must be 32 bytes, not %d", len(opts.Key))
	case opts.MaxFailures < 0, opts.BaseDelay < 0, opts.MaxDelay < 0, opts.RecoveryCodes < 0:
		return nil, errors.New("mfa: NewTOTP: MaxFailures, BaseDelay, MaxDelay and RecoveryCodes may not be negative")
	}
	t := &TOTP{
		store:         store,
		issuer:        opts.Issuer,
		maxFailures:   cmpOr(opts.MaxFailures, 5),
		baseDelay:     cmpOr(opts.BaseDelay, 30*time.Second),
		maxDelay:      cmpOr(opts.MaxDelay, 15*time.Minute),
		recoveryCodes: cmpOr(opts.RecoveryCodes, 10),
		clock:         opts.Now,
	}
	if t.clock == nil {
		t.clock = time.Now
	}
	if t.maxDelay < t.baseDelay {
		return nil, fmt.Errorf("mfa: NewTOTP: MaxDelay %v is less than BaseDelay %v", t.maxDelay, t.baseDelay)
	}
	if len(opts.Key) > 0 {
		aead, err := newAEAD(opts.Key) // copies the key
		if err != nil {
			return nil, fmt.Errorf("mfa: NewTOTP: %w", err)
		}
		t.aead = aead
	}
	return t, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Enrollment is what a user needs to set up the factor. Show it once; only
// the (possibly sealed) secret and the hashes of the recovery codes are
// stored.
type Enrollment struct {
	// Secret is the TOTP secret in base32, for typing into an app.
	Secret string
	// URI is the otpauth:// URI of the secret, for a QR code.
	URI string
	// RecoveryCodes are the plain recovery codes, e.g. "k7q2-9xmv-3hpd"
	// (60 bits from crypto/rand each), each good for one sign-in without
	// the authenticator. They are stored only as SHA-256 hashes.
	RecoveryCodes []string
}

// Name returns "totp".
func (t *TOTP) Name() string { return "totp" }

// Method returns "otp", the RFC 8176 amr value of a one-time password.
func (t *TOTP) Method() string { return "otp" }

// now is the clock in UTC, to the microsecond (the finest a backend keeps).
func (t *TOTP) now() time.Time { return t.clock().UTC().Truncate(time.Microsecond) }

// Enrolled reports whether subject has a confirmed TOTP factor; false and
// no error when the subject has no record.
func (t *TOTP) Enrolled(ctx context.Context, subject string) (bool, error) {
	r, err := t.store.GetMFA(ctx, subject)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mfa: totp: %w", err)
	}
	return r.TOTPConfirmed && len(r.TOTPSecret) > 0, nil
}

// Enroll starts an enrollment of subject with a new secret; account is the
// name the authenticator app shows (e.g. the e-mail address). It replaces an
// unconfirmed enrollment, and returns [ErrAlreadyEnrolled] if subject has a
// confirmed factor. The factor is active only after [TOTP.Confirm]; until
// then Verify returns [ErrNotEnrolled].
func (t *TOTP) Enroll(ctx context.Context, subject, account string) (Enrollment, error) {
	if subject == "" {
		return Enrollment{}, errors.New("mfa: totp: enroll: empty subject")
	}
	fresh, enr := t.newEnrollment(subject, account, GenerateSecret(), false)
	err := t.upsert(ctx, fresh, func(r storage.MFARecord) (storage.MFARecord, error) {
		if r.TOTPConfirmed {
			return r, ErrAlreadyEnrolled
		}
		// Failures and a lockout carry over: starting again does not reset
		// them.
		r.TOTPSecret, r.RecoveryCodes, r.TOTPLastCounter, r.UpdatedAt = fresh.TOTPSecret, fresh.RecoveryCodes, 0, fresh.UpdatedAt
		return r, nil
	})
	if err != nil {
		return Enrollment{}, t.wrap("enroll", err)
	}
	return enr, nil
}

// Confirm activates subject's pending enrollment with a first valid TOTP
// code of its secret, which counts as a use of its step: the enrollment
// that [TOTP.Enroll] started, or the replacement that [TOTP.BeginReplace]
// started, whose secret then takes the place of the factor's. Wrong codes
// count towards the lockout as in [TOTP.Verify]. It returns
// [ErrNotEnrolled] if nothing is pending and [ErrAlreadyEnrolled] if
// subject has a confirmed factor and no replacement pending. Recovery
// codes are not accepted here; they are kept (call
// [TOTP.RegenerateRecoveryCodes] for a new set to show).
func (t *TOTP) Confirm(ctx context.Context, subject, code string) error {
	now := t.now()
	var result error
	err := t.store.UpdateMFA(ctx, subject, func(r storage.MFARecord) (storage.MFARecord, error) {
		result = nil
		switch {
		case r.TOTPConfirmed && len(r.TOTPPendingSecret) > 0:
			var err error
			result, err = t.attemptPending(subject, &r, code, now)
			return r, err
		case r.TOTPConfirmed:
			return r, ErrAlreadyEnrolled
		case len(r.TOTPSecret) == 0:
			return r, ErrNotEnrolled
		}
		var err error
		result, err = t.attempt(subject, &r, code, now, false)
		if err == nil && result == nil {
			r.TOTPConfirmed = true
		}
		return r, err
	})
	if err != nil {
		return t.wrap("confirm", err)
	}
	return result
}

// attemptPending checks code against the pending replacement secret of
// subject's record r, as attempt does for the factor's: on success the
// replacement becomes the factor, its step used.
func (t *TOTP) attemptPending(subject string, r *storage.MFARecord, code string, now time.Time) (result, err error) {
	if now.Before(r.LockedUntil) {
		return nil, &LockedError{Until: r.LockedUntil}
	}
	secret, err := t.open(subject, r.TOTPPendingSecret)
	if err != nil {
		return nil, err
	}
	step, ok := Validate(secret, code, now, 0)
	clear(secret)
	if !ok {
		return t.fail(r, now), nil
	}
	r.TOTPSecret, r.TOTPPendingSecret, r.TOTPLastCounter = r.TOTPPendingSecret, nil, step
	t.succeed(r, now)
	return nil, nil
}

// BeginReplace starts replacing subject's confirmed factor with a new
// secret, once code, a current TOTP code or an unused recovery code of the
// factor, checks out as in [TOTP.Verify] (it is used up, and a wrong code
// counts towards the lockout). The factor stays in force, and Verify
// accepts only its codes, until [TOTP.Confirm] confirms the replacement
// with a code of the new secret; [TOTP.CancelPending] drops it. A
// replacement already pending is replaced. The Enrollment returned has no
// recovery codes. It returns Verify's errors, and [ErrNotEnrolled] if
// subject has no confirmed factor.
func (t *TOTP) BeginReplace(ctx context.Context, subject, account, code string) (Enrollment, error) {
	now := t.now()
	secret := GenerateSecret()
	sealed := t.seal(subject, secret)
	var result error
	err := t.store.UpdateMFA(ctx, subject, func(r storage.MFARecord) (storage.MFARecord, error) {
		result = nil
		if !r.TOTPConfirmed || len(r.TOTPSecret) == 0 {
			return r, ErrNotEnrolled
		}
		var err error
		result, err = t.attempt(subject, &r, code, now, true)
		if err == nil && result == nil {
			r.TOTPPendingSecret = sealed
		}
		return r, err
	})
	if err != nil {
		return Enrollment{}, t.wrap("replace", err)
	}
	if result != nil {
		return Enrollment{}, result
	}
	return Enrollment{Secret: EncodeSecret(secret), URI: KeyURI(t.issuer, account, secret)}, nil
}

// TOTPStatus is where a subject stands with the TOTP factor.
type TOTPStatus struct {
	// Confirmed is true when the subject has a factor in force.
	Confirmed bool
	// Pending is true while an enrollment (Confirmed false) or a
	// replacement (Confirmed true) waits for its first code; see
	// [TOTP.PendingEnrollment].
	Pending bool
	// RecoveryCodes is how many unused recovery codes a confirmed factor
	// has left.
	RecoveryCodes int
	// LockedUntil is when a lockout after wrong codes ends; zero when the
	// subject is not locked out.
	LockedUntil time.Time
}

// Status returns where subject stands: the zero TOTPStatus when subject
// has no record.
func (t *TOTP) Status(ctx context.Context, subject string) (TOTPStatus, error) {
	r, err := t.store.GetMFA(ctx, subject)
	if errors.Is(err, storage.ErrNotFound) {
		return TOTPStatus{}, nil
	}
	if err != nil {
		return TOTPStatus{}, fmt.Errorf("mfa: totp: %w", err)
	}
	st := TOTPStatus{Confirmed: r.TOTPConfirmed && len(r.TOTPSecret) > 0}
	st.Pending = (!r.TOTPConfirmed && len(r.TOTPSecret) > 0) || (st.Confirmed && len(r.TOTPPendingSecret) > 0)
	if st.Confirmed {
		st.RecoveryCodes = len(r.RecoveryCodes)
	}
	if t.now().Before(r.LockedUntil) {
		st.LockedUntil = r.LockedUntil
	}
	return st, nil
}

// PendingEnrollment returns the secret (in base32 and as an otpauth URI
// naming account) of subject's pending enrollment or replacement, to show
// it again, without recovery codes. It returns [ErrNotEnrolled] if nothing
// is pending.
func (t *TOTP) PendingEnrollment(ctx context.Context, subject, account string) (Enrollment, error) {
	r, err := t.store.GetMFA(ctx, subject)
	if err != nil {
		return Enrollment{}, t.wrap("pending enrollment", err)
	}
	stored := r.TOTPPendingSecret
	if !r.TOTPConfirmed {
		stored = r.TOTPSecret
	}
	if len(stored) == 0 {
		return Enrollment{}, ErrNotEnrolled
	}
	secret, err := t.open(subject, stored)
	if err != nil {
		return Enrollment{}, t.wrap("pending enrollment", err)
	}
	defer clear(secret)
	return Enrollment{Secret: EncodeSecret(secret), URI: KeyURI(t.issuer, account, secret)}, nil
}

// CancelPending drops subject's pending enrollment (with its recovery
// codes) or replacement; a confirmed factor stays as it is, and failures
// and a lockout are kept. Nothing pending is not an error.
func (t *TOTP) CancelPending(ctx context.Context, subject string) error {
	now := t.now()
	err := t.store.UpdateMFA(ctx, subject, func(r storage.MFARecord) (storage.MFARecord, error) {
		if r.TOTPConfirmed {
			r.TOTPPendingSecret = nil
		} else {
			r.TOTPSecret, r.RecoveryCodes, r.TOTPLastCounter = nil, nil, 0
		}
		r.UpdatedAt = now
		return r, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return t.wrap("cancel", err)
	}
	return nil
}

// EnrollSecret enrolls and confirms the given base32 secret at once, for
// secrets imported from another system and fixed demo secrets, and makes new
// recovery codes. It replaces any existing factor of subject, confirmed or
// not, and clears its failures and lockout; the step last used is kept if
// the secret is the same, so a used code stays used.
func (t *TOTP) EnrollSecret(ctx context.Context, subject, account, base32Secret string) (Enrollment, error) {
	if subject == "" {
		return Enrollment{}, errors.New("mfa: totp: enroll: empty subject")
	}
	secret, err := DecodeSecret(base32Secret)
	if err != nil {
		return Enrollment{}, err
	}
	fresh, enr := t.newEnrollment(subject, account, secret, true)
	err = t.upsert(ctx, fresh, func(r storage.MFARecord) (storage.MFARecord, error) {
		last := int64(0)
		if old, err := t.open(subject, r.TOTPSecret); err == nil && subtle.ConstantTimeCompare(old, secret) == 1 {
			last = r.TOTPLastCounter
		}
		fresh.CreatedAt = r.CreatedAt
		fresh.TOTPLastCounter = last
		return fresh, nil
	})
	if err != nil {
		return Enrollment{}, t.wrap("enroll", err)
	}
	return enr, nil
}

// newEnrollment returns the record of a new enrollment of secret, with new
// recovery codes, and what the user is shown once.
func (t *TOTP) newEnrollment(subject, account string, secret []byte, confirmed bool) (storage.MFARecord, Enrollment) {
	codes, hashes := newRecoveryCodes(subject, t.recoveryCodes)
	now := t.now()
	r := storage.MFARecord{
		Subject:       subject,
		TOTPSecret:    t.seal(subject, secret),
		TOTPConfirmed: confirmed,
		RecoveryCodes: hashes,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	return r, Enrollment{Secret: EncodeSecret(secret), URI: KeyURI(t.issuer, account, secret), RecoveryCodes: codes}
}

// Unenroll removes subject's factor, pending or confirmed, and its recovery
// codes. It returns [ErrNotEnrolled] if there is none.
func (t *TOTP) Unenroll(ctx context.Context, subject string) error {
	if err := t.store.DeleteMFA(ctx, subject); err != nil {
		return t.wrap("unenroll", err)
	}
	return nil
}

// RegenerateRecoveryCodes replaces subject's recovery codes with new ones
// and returns them; the old ones stop working. It returns [ErrNotEnrolled]
// unless subject has a confirmed factor.
func (t *TOTP) RegenerateRecoveryCodes(ctx context.Context, subject string) ([]string, error) {
	codes, hashes := newRecoveryCodes(subject, t.recoveryCodes)
	now := t.now()
	err := t.store.UpdateMFA(ctx, subject, func(r storage.MFARecord) (storage.MFARecord, error) {
		if !r.TOTPConfirmed || len(r.TOTPSecret) == 0 {
			return r, ErrNotEnrolled
		}
		r.RecoveryCodes, r.UpdatedAt = hashes, now
		return r, nil
	})
	if err != nil {
		return nil, t.wrap("regenerate recovery codes", err)
	}
	return codes, nil
}

// Verify checks a code subject typed: a current TOTP code or an unused
// recovery code. A TOTP code is single use: the accepted step is recorded
// in the same atomic update that checks it, so of two requests with the
// same code exactly one succeeds, and no earlier code is accepted after it.
// A recovery code is removed when used. Wrong codes are counted and lock
// the user out as [TOTPOptions] describes, in the same atomic update.
//
// It returns nil on success; an error wrapping [ErrInvalidCode] for a
// wrong, malformed or reused code (the failure that starts a lockout also
// matches [*LockedError]); a [*LockedError] while locked out;
// [ErrNotEnrolled] if subject has no confirmed factor; any other error is a
// backend failure.
func (t *TOTP) Verify(ctx context.Context, subject, code string) error {
	now := t.now()
	var result error
	err := t.store.UpdateMFA(ctx, subject, func(r storage.MFARecord) (storage.MFARecord, error) {
		result = nil
		if !r.TOTPConfirmed || len(r.TOTPSecret) == 0 {
			return r, ErrNotEnrolled
		}
		var err error
		result, err = t.attempt(subject, &r, code, now, true)
		return r, err
	})
	if err != nil {
		return t.wrap("verify", err)
	}
	return result
}

// attempt checks code against subject's record r at now, inside UpdateMFA, and changes r to
// what must be stored: the step used or the recovery code removed on
// success, the failure counted and any lockout otherwise. result is nil on
// success and the error for the caller on a wrong code. A non-nil err
// (locked, secret unusable) means nothing is to be written.
func (t *TOTP) attempt(subject string, r *storage.MFARecord, code string, now time.Time, recovery bool) (result, err error) {
	if now.Before(r.LockedUntil) {
		return nil, &LockedError{Until: r.LockedUntil}
	}
	secret, err := t.open(subject, r.TOTPSecret)
	if err != nil {
		return nil, err
	}
	step, ok := Validate(secret, code, now, r.TOTPLastCounter)
	clear(secret)
	if ok {
		r.TOTPLastCounter = step
		t.succeed(r, now)
		return nil, nil
	}
	if recovery {
		if i := matchRecovery(subject, code, r.RecoveryCodes); i >= 0 {
			r.RecoveryCodes = append(r.RecoveryCodes[:i:i], r.RecoveryCodes[i+1:]...)
			t.succeed(r, now)
			return nil, nil
		}
	}
	return t.fail(r, now), nil
}

func (t *TOTP) succeed(r *storage.MFARecord, now time.Time) {
	r.Failures, r.LockedUntil, r.UpdatedAt = 0, time.Time{}, now
}

// fail counts a failure in r and locks it if that was one too many.
func (t *TOTP) fail(r *storage.MFARecord, now time.Time) error {
	r.Failures++
	r.UpdatedAt = now
	if r.Failures < t.maxFailures {
		return ErrInvalidCode
	}
	r.LockedUntil = now.Add(t.lockout(r.Failures))
	return fmt.Errorf("%w (%w)", ErrInvalidCode, &LockedError{Until: r.LockedUntil})
}

// lockout is how long the failures-th consecutive failure locks the user:
// BaseDelay * 2^(failures-MaxFailures), at most MaxDelay.
func (t *TOTP) lockout(failures int) time.Duration {
	d := t.baseDelay
	for i := t.maxFailures; i < failures && d < t.maxDelay; i++ {
		d *= 2
	}
	return min(d, t.maxDelay)
}

// upsert creates fresh, or replaces the existing record of its subject with
// what replace returns, retrying when the record appears or disappears in
// between.
func (t *TOTP) upsert(ctx context.Context, fresh storage.MFARecord, replace func(storage.MFARecord) (storage.MFARecord, error)) error {
	for range 5 {
		err := t.store.CreateMFA(ctx, fresh)
		if !errors.Is(err, storage.ErrAlreadyExists) {
			return err
		}
		err = t.store.UpdateMFA(ctx, fresh.Subject, replace)
		if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return errors.New("record keeps changing")
}

// wrap turns a store's ErrNotFound into ErrNotEnrolled, returns the
// package's own errors as they are and prefixes backend errors.
func (t *TOTP) wrap(op string, err error) error {
	var locked *LockedError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ErrNotEnrolled
	case errors.Is(err, ErrNotEnrolled), errors.Is(err, ErrAlreadyEnrolled), errors.As(err, &locked):
		return err
	}
	return fmt.Errorf("mfa: totp %s: %w", op, err)
}
