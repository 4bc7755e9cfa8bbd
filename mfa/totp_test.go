package mfa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// t0 is the start of a 30 second step.
var t0 = time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC)

// rfcBase32 is rfcSecret in base32.
const rfcBase32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

// fakeClock is a clock the test moves; safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newTestTOTP returns a TOTP factor on a new memory store with a fake
// clock 10 s into the step t0.
func newTestTOTP(t *testing.T, opts TOTPOptions) (*TOTP, *memory.Store, *fakeClock) {
	t.Helper()
	store := memory.New()
	clock := &fakeClock{now: t0.Add(10 * time.Second)}
	if opts.Issuer == "" {
		opts.Issuer = "Gatehouse Test"
	}
	opts.Now = clock.Now
	f, err := NewTOTP(store, opts)
	require.NoError(t, err)
	return f, store, clock
}

// enrollRFC enrolls alice with rfcSecret.
func enrollRFC(t *testing.T, f *TOTP) Enrollment {
	t.Helper()
	e, err := f.EnrollSecret(t.Context(), "alice", "alice@example.com", rfcBase32)
	require.NoError(t, err)
	return e
}

// wrongCode returns a 6-digit code that is none of the window's codes at now.
func wrongCode(secret []byte, now time.Time, i int) string {
	c := Counter(now)
	valid := map[string]bool{}
	for s := c - 1; s <= c+1; s++ {
		valid[hotp(secret, uint64(s), 6)] = true
	}
	for n := i; ; n++ {
		code := fmt.Sprintf("%06d", n%1000000)
		if !valid[code] {
			return code
		}
	}
}

func getRecord(t *testing.T, s storage.MFAStore, subject string) storage.MFARecord {
	t.Helper()
	r, err := s.GetMFA(t.Context(), subject)
	require.NoError(t, err)
	return r
}

func TestNewTOTPValidates(t *testing.T) {
	s := memory.New()
	for name, opts := range map[string]TOTPOptions{
		"no issuer":         {},
		"colon in issuer":   {Issuer: "a:b"},
		"short key":         {Issuer: "x", Key: make([]byte, 16)},
		"long key":          {Issuer: "x", Key: make([]byte, 33)},
		"negative failures": {Issuer: "x", MaxFailures: -1},
		"negative base":     {Issuer: "x", BaseDelay: -time.Second},
		"negative max":      {Issuer: "x", MaxDelay: -time.Second},
		"negative codes":    {Issuer: "x", RecoveryCodes: -1},
		"max below base":    {Issuer: "x", BaseDelay: time.Hour, MaxDelay: time.Minute},
	} {
		_, err := NewTOTP(s, opts)
		assert.Error(t, err, name)
	}
	_, err := NewTOTP(nil, TOTPOptions{Issuer: "x"})
	assert.Error(t, err, "nil store")
	f, err := NewTOTP(s, TOTPOptions{Issuer: "x", Key: make([]byte, 32)})
	require.NoError(t, err)
	assert.Equal(t, 5, f.maxFailures)
	assert.Equal(t, 30*time.Second, f.baseDelay)
	assert.Equal(t, 15*time.Minute, f.maxDelay)
	assert.Equal(t, 10, f.recoveryCodes)
	assert.Equal(t, "totp", f.Name())
	assert.Equal(t, "otp", f.Method())
}

func TestVerifyWindowAndSingleUse(t *testing.T) {
	f, _, clock := newTestTOTP(t, TOTPOptions{MaxFailures: 100})
	ctx := t.Context()
	enrollRFC(t, f)
	now := clock.Now()
	c := Counter(now)
	at := func(step int64) string { return hotp(rfcSecret, uint64(step), 6) }

	assert.ErrorIs(t, f.Verify(ctx, "alice", at(c-2)), ErrInvalidCode, "two steps back refused")
	assert.ErrorIs(t, f.Verify(ctx, "alice", at(c+2)), ErrInvalidCode, "two steps ahead refused")
	require.NoError(t, f.Verify(ctx, "alice", at(c-1)), "one step back accepted")
	assert.ErrorIs(t, f.Verify(ctx, "alice", at(c-1)), ErrInvalidCode, "the same code again refused")
	require.NoError(t, f.Verify(ctx, "alice", at(c)), "the current step accepted after the previous one")
	assert.ErrorIs(t, f.Verify(ctx, "alice", at(c)), ErrInvalidCode, "reuse in the same step refused")
	require.NoError(t, f.Verify(ctx, "alice", at(c+1)), "one step ahead accepted")
	clock.Advance(30 * time.Second)
	assert.ErrorIs(t, f.Verify(ctx, "alice", at(c+1)), ErrInvalidCode, "used code refused in its own step too")
	assert.ErrorIs(t, f.Verify(ctx, "alice", at(c)), ErrInvalidCode, "the previous step refused after a later one was used")
	require.NoError(t, f.Verify(ctx, "alice", at(c+2)), "the next step is fine")
}

func TestVerifyMalformed(t *testing.T) {
	f, store, clock := newTestTOTP(t, TOTPOptions{MaxFailures: 1000})
	enrollRFC(t, f)
	codes := malformedCodes(Code(rfcSecret, clock.Now()))
	for _, code := range codes {
		assert.NotPanics(t, func() {
			assert.ErrorIs(t, f.Verify(t.Context(), "alice", code), ErrInvalidCode, "%.20q", code)
		})
	}
	assert.Equal(t, len(codes), getRecord(t, store, "alice").Failures, "malformed codes count as wrong")
	require.NoError(t, f.Verify(t.Context(), "alice", Code(rfcSecret, clock.Now())))
}

func TestVerifyNotEnrolled(t *testing.T) {
	f, _, clock := newTestTOTP(t, TOTPOptions{})
	code := Code(rfcSecret, clock.Now())
	assert.ErrorIs(t, f.Verify(t.Context(), "nobody", code), ErrNotEnrolled)
	ok, err := f.Enrolled(t.Context(), "nobody")
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestRecoveryCodes(t *testing.T) {
	f, store, _ := newTestTOTP(t, TOTPOptions{})
	ctx := t.Context()
	e := enrollRFC(t, f)
	require.Len(t, e.RecoveryCodes, 10)
	format := regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}$`)
	seen := map[string]bool{}
	rec := getRecord(t, store, "alice")
	require.Len(t, rec.RecoveryCodes, 10)
	for _, code := range e.RecoveryCodes {
		assert.Regexp(t, format, code)
		assert.False(t, seen[code], "unique")
		seen[code] = true
		for _, h := range rec.RecoveryCodes {
			assert.NotContains(t, h, code, "stored hashed only")
			assert.NotContains(t, h, code[:4]+code[5:9])
		}
	}

	require.NoError(t, f.Verify(ctx, "alice", e.RecoveryCodes[0]))
	assert.ErrorIs(t, f.Verify(ctx, "alice", e.RecoveryCodes[0]), ErrInvalidCode, "single use")
	assert.Len(t, getRecord(t, store, "alice").RecoveryCodes, 9)
	// Typed loosely: upper case, spaces instead of hyphens.
	loose := bytes.ToUpper([]byte(e.RecoveryCodes[1]))
	loose[4], loose[9] = ' ', ' '
	require.NoError(t, f.Verify(ctx, "alice", string(loose)))
	assert.Len(t, getRecord(t, store, "alice").RecoveryCodes, 8)

	// Another user's code does not work.
	e2, err := f.EnrollSecret(ctx, "bob", "bob", rfcBase32)
	require.NoError(t, err)
	assert.ErrorIs(t, f.Verify(ctx, "alice", e2.RecoveryCodes[0]), ErrInvalidCode)

	// Regenerated: old codes stop working, new ones work.
	fresh, err := f.RegenerateRecoveryCodes(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, fresh, 10)
	assert.ErrorIs(t, f.Verify(ctx, "alice", e.RecoveryCodes[2]), ErrInvalidCode)
	require.NoError(t, f.Verify(ctx, "alice", fresh[0]))
	_, err = f.RegenerateRecoveryCodes(ctx, "nobody")
	assert.ErrorIs(t, err, ErrNotEnrolled)
}

func TestSealing(t *testing.T) {
	key := bytes.Repeat([]byte{0x42}, 32)
	f, store, clock := newTestTOTP(t, TOTPOptions{Key: key})
	ctx := t.Context()
	enrollRFC(t, f)
	rec := getRecord(t, store, "alice")
	assert.NotEqual(t, rfcSecret, rec.TOTPSecret)
	assert.False(t, bytes.Contains(rec.TOTPSecret, rfcSecret), "the stored secret is sealed")
	require.NoError(t, f.Verify(ctx, "alice", Code(rfcSecret, clock.Now())))

	// Two seals of one secret differ (random nonce).
	enrollRFC(t, f)
	assert.NotEqual(t, rec.TOTPSecret, getRecord(t, store, "alice").TOTPSecret)

	// A sealed record moved to another subject does not open.
	rec = getRecord(t, store, "alice")
	moved := rec
	moved.Subject = "mallory"
	require.NoError(t, store.CreateMFA(ctx, moved))
	clock.Advance(30 * time.Second)
	err := f.Verify(ctx, "mallory", Code(rfcSecret, clock.Now()))
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrInvalidCode, "a server-side failure, not a wrong code")
	assert.Equal(t, 0, getRecord(t, store, "mallory").Failures, "and not counted")

	// Another key does not open it either, nor does no key.
	other, err := NewTOTP(store, TOTPOptions{Issuer: "x", Key: bytes.Repeat([]byte{0x43}, 32), Now: clock.Now})
	require.NoError(t, err)
	assert.Error(t, other.Verify(ctx, "alice", Code(rfcSecret, clock.Now())))
	plain, err := NewTOTP(store, TOTPOptions{Issuer: "x", Now: clock.Now})
	require.NoError(t, err)
	assert.Error(t, plain.Verify(ctx, "alice", Code(rfcSecret, clock.Now())))
	// The right key still does.
	require.NoError(t, f.Verify(ctx, "alice", Code(rfcSecret, clock.Now())))

	// Without a key the secret is stored in the clear, and a keyed factor
	// refuses it (no planting of known plain secrets).
	_, err = plain.EnrollSecret(ctx, "carol", "carol", rfcBase32)
	require.NoError(t, err)
	assert.True(t, bytes.Contains(getRecord(t, store, "carol").TOTPSecret, rfcSecret))
	assert.Error(t, f.Verify(ctx, "carol", Code(rfcSecret, clock.Now())))
	assert.NotErrorIs(t, f.Verify(ctx, "carol", Code(rfcSecret, clock.Now())), ErrInvalidCode)
}

func TestLockout(t *testing.T) {
	f, store, clock := newTestTOTP(t, TOTPOptions{MaxFailures: 3, BaseDelay: 30 * time.Second, MaxDelay: 2 * time.Minute})
	ctx := t.Context()
	enrollRFC(t, f)
	wrong := func() error { return f.Verify(ctx, "alice", wrongCode(rfcSecret, clock.Now(), 0)) }
	valid := func() string { return Code(rfcSecret, clock.Now()) }
	var locked *LockedError

	for i := 1; i <= 2; i++ {
		err := wrong()
		assert.ErrorIs(t, err, ErrInvalidCode)
		assert.False(t, errors.As(err, &locked), "failure %d does not lock", i)
	}
	// The 3rd failure locks for BaseDelay, then each doubles, up to MaxDelay.
	for i, want := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute} {
		start := clock.Now()
		err := wrong()
		assert.ErrorIs(t, err, ErrInvalidCode, "failure %d is a wrong code", 3+i)
		require.ErrorAs(t, err, &locked, "failure %d locks", 3+i)
		assert.Equal(t, start.Add(want), locked.Until, "failure %d locks for %v", 3+i, want)
		rec := getRecord(t, store, "alice")
		assert.Equal(t, 3+i, rec.Failures)
		assert.True(t, rec.LockedUntil.Equal(start.Add(want)))

		// While locked even a valid code is refused, and nothing counts.
		clock.Advance(want - time.Second)
		for range 3 {
			err = f.Verify(ctx, "alice", valid())
			require.ErrorAs(t, err, &locked)
			assert.NotErrorIs(t, err, ErrInvalidCode)
			assert.Equal(t, start.Add(want), locked.Until)
			assert.ErrorAs(t, wrong(), &locked)
		}
		assert.Equal(t, 3+i, getRecord(t, store, "alice").Failures, "locked attempts are not counted")
		clock.Advance(time.Second) // exactly Until: free again
	}

	// A success resets the count and the lockout.
	clock.Advance(30 * time.Second)
	require.NoError(t, f.Verify(ctx, "alice", valid()))
	rec := getRecord(t, store, "alice")
	assert.Equal(t, 0, rec.Failures)
	assert.True(t, rec.LockedUntil.IsZero())
	for i := 1; i <= 2; i++ {
		err := wrong()
		assert.ErrorIs(t, err, ErrInvalidCode)
		assert.False(t, errors.As(err, &locked), "after a reset failure %d does not lock", i)
	}
	require.ErrorAs(t, wrong(), &locked)
	assert.Equal(t, clock.Now().Add(30*time.Second), locked.Until, "the lockout starts at BaseDelay again")
}

func TestLifecycle(t *testing.T) {
	f, store, clock := newTestTOTP(t, TOTPOptions{Issuer: "Acme", RecoveryCodes: 4})
	ctx := t.Context()
	enrolled := func() bool {
		ok, err := f.Enrolled(ctx, "alice")
		require.NoError(t, err)
		return ok
	}
	assert.False(t, enrolled())
	assert.ErrorIs(t, f.Confirm(ctx, "alice", "123456"), ErrNotEnrolled)
	assert.ErrorIs(t, f.Unenroll(ctx, "alice"), ErrNotEnrolled)

	first, err := f.Enroll(ctx, "alice", "alice@example.com")
	require.NoError(t, err)
	assert.Len(t, first.RecoveryCodes, 4)
	secret1, err := DecodeSecret(first.Secret)
	require.NoError(t, err)
	assert.Len(t, secret1, 20)
	assert.Equal(t, KeyURI("Acme", "alice@example.com", secret1), first.URI)
	assert.False(t, enrolled(), "pending until confirmed")
	assert.ErrorIs(t, f.Verify(ctx, "alice", Code(secret1, clock.Now())), ErrNotEnrolled, "a pending factor does not verify")
	assert.ErrorIs(t, f.Verify(ctx, "alice", first.RecoveryCodes[0]), ErrNotEnrolled)

	// Enrolling again replaces the pending secret.
	second, err := f.Enroll(ctx, "alice", "alice@example.com")
	require.NoError(t, err)
	assert.NotEqual(t, first.Secret, second.Secret)
	secret2, err := DecodeSecret(second.Secret)
	require.NoError(t, err)
	assert.ErrorIs(t, f.Confirm(ctx, "alice", Code(secret1, clock.Now())), ErrInvalidCode, "the replaced secret")
	assert.ErrorIs(t, f.Confirm(ctx, "alice", first.RecoveryCodes[0]), ErrInvalidCode, "recovery codes do not confirm")
	code := Code(secret2, clock.Now())
	require.NoError(t, f.Confirm(ctx, "alice", code))
	assert.True(t, enrolled())
	rec := getRecord(t, store, "alice")
	assert.Equal(t, 0, rec.Failures, "success resets the failures")
	assert.Equal(t, Counter(clock.Now()), rec.TOTPLastCounter)
	assert.ErrorIs(t, f.Verify(ctx, "alice", code), ErrInvalidCode, "the confirming code is used")
	assert.ErrorIs(t, f.Confirm(ctx, "alice", code), ErrAlreadyEnrolled)
	_, err = f.Enroll(ctx, "alice", "alice@example.com")
	assert.ErrorIs(t, err, ErrAlreadyEnrolled)
	clock.Advance(30 * time.Second)
	require.NoError(t, f.Verify(ctx, "alice", Code(secret2, clock.Now())))
	require.NoError(t, f.Verify(ctx, "alice", second.RecoveryCodes[0]))

	// EnrollSecret replaces a confirmed factor.
	imported, err := f.EnrollSecret(ctx, "alice", "alice@example.com", " gezd gnbv gy3t qojq gezd gnbv gy3t qojq ")
	require.NoError(t, err)
	assert.Equal(t, rfcBase32, imported.Secret)
	assert.Len(t, imported.RecoveryCodes, 4)
	assert.True(t, enrolled())
	assert.ErrorIs(t, f.Verify(ctx, "alice", second.RecoveryCodes[1]), ErrInvalidCode, "old recovery codes replaced")
	clock.Advance(30 * time.Second)
	assert.ErrorIs(t, f.Verify(ctx, "alice", Code(secret2, clock.Now())), ErrInvalidCode, "old secret replaced")
	require.NoError(t, f.Verify(ctx, "alice", Code(rfcSecret, clock.Now())))
	assert.True(t, getRecord(t, store, "alice").CreatedAt.Equal(t0.Add(10*time.Second)), "CreatedAt kept")
	_, err = f.EnrollSecret(ctx, "alice", "a", "too short")
	assert.Error(t, err)

	require.NoError(t, f.Unenroll(ctx, "alice"))
	assert.False(t, enrolled())
	assert.ErrorIs(t, f.Verify(ctx, "alice", Code(rfcSecret, clock.Now())), ErrNotEnrolled)
	assert.ErrorIs(t, f.Unenroll(ctx, "alice"), ErrNotEnrolled)
	_, err = f.Enroll(ctx, "alice", "alice@example.com")
	require.NoError(t, err, "enroll again after unenroll")

	_, err = f.Enroll(ctx, "", "x")
	assert.Error(t, err, "empty subject")
}

func TestEnrollSecretKeepsUsedStep(t *testing.T) {
	f, _, clock := newTestTOTP(t, TOTPOptions{})
	ctx := t.Context()
	enrollRFC(t, f)
	code := Code(rfcSecret, clock.Now())
	require.NoError(t, f.Verify(ctx, "alice", code))
	enrollRFC(t, f)
	assert.ErrorIs(t, f.Verify(ctx, "alice", code), ErrInvalidCode, "re-importing the same secret does not make a used code usable")
	other := EncodeSecret(bytes.Repeat([]byte{7}, 20))
	_, err := f.EnrollSecret(ctx, "alice", "alice", other)
	require.NoError(t, err)
	require.NoError(t, f.Verify(ctx, "alice", Code(bytes.Repeat([]byte{7}, 20), clock.Now())), "a new secret starts afresh")
}

// errStore fails every call.
type errStore struct{ storage.MFAStore }

var errBackend = errors.New("backend down")

func (errStore) GetMFA(context.Context, string) (storage.MFARecord, error) {
	return storage.MFARecord{}, errBackend
}

func (errStore) UpdateMFA(context.Context, string, func(storage.MFARecord) (storage.MFARecord, error)) error {
	return errBackend
}

func TestBackendErrors(t *testing.T) {
	f, err := NewTOTP(errStore{}, TOTPOptions{Issuer: "x"})
	require.NoError(t, err)
	err = f.Verify(t.Context(), "alice", "123456")
	assert.ErrorIs(t, err, errBackend)
	assert.NotErrorIs(t, err, ErrInvalidCode)
	assert.NotErrorIs(t, err, ErrNotEnrolled)
	_, err = f.Enrolled(t.Context(), "alice")
	assert.ErrorIs(t, err, errBackend)
}

// TestReplace: a confirmed factor is replaced only after a current code
// (or a recovery code), and stays in force until a code of the new secret
// confirms the replacement; the pending secret is never accepted by
// Verify (a pending enrollment is not a factor).
func TestReplace(t *testing.T) {
	f, store, clock := newTestTOTP(t, TOTPOptions{MaxFailures: 100})
	ctx := t.Context()
	enr := enrollRFC(t, f)
	now := clock.Now()
	c := Counter(now)

	_, err := f.BeginReplace(ctx, "alice", "alice@example.com", wrongCode(rfcSecret, now, 1))
	assert.ErrorIs(t, err, ErrInvalidCode, "a wrong current code starts nothing")
	assert.Equal(t, 1, getRecord(t, store, "alice").Failures, "and counts as a failure")
	_, err = f.BeginReplace(ctx, "bob", "bob@example.com", "123456")
	assert.ErrorIs(t, err, ErrNotEnrolled, "nothing to replace")

	repl, err := f.BeginReplace(ctx, "alice", "alice@example.com", hotp(rfcSecret, uint64(c), 6))
	require.NoError(t, err)
	assert.Empty(t, repl.RecoveryCodes)
	assert.NotEqual(t, rfcBase32, repl.Secret)
	newSecret, err := DecodeSecret(repl.Secret)
	require.NoError(t, err)
	again, err := f.PendingEnrollment(ctx, "alice", "alice@example.com")
	require.NoError(t, err)
	assert.Equal(t, repl, again, "the pending replacement can be shown again")
	st, err := f.Status(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, TOTPStatus{Confirmed: true, Pending: true, RecoveryCodes: 10}, st)

	assert.ErrorIs(t, f.Verify(ctx, "alice", hotp(newSecret, uint64(c+1), 6)), ErrInvalidCode, "the pending secret is not a factor")
	require.NoError(t, f.Verify(ctx, "alice", hotp(rfcSecret, uint64(c+1), 6)), "the factor stays in force meanwhile")
	assert.ErrorIs(t, f.Confirm(ctx, "alice", hotp(rfcSecret, uint64(c+1), 6)), ErrInvalidCode, "the old secret does not confirm the new one")
	require.NoError(t, f.Confirm(ctx, "alice", hotp(newSecret, uint64(c), 6)))
	assert.ErrorIs(t, f.Verify(ctx, "alice", hotp(newSecret, uint64(c), 6)), ErrInvalidCode, "the confirming code is used")
	clock.Advance(30 * time.Second)
	assert.ErrorIs(t, f.Verify(ctx, "alice", hotp(rfcSecret, uint64(c+1), 6)), ErrInvalidCode, "the old secret is gone")
	require.NoError(t, f.Verify(ctx, "alice", hotp(newSecret, uint64(c+1), 6)), "the new secret is the factor")
	require.NoError(t, f.Verify(ctx, "alice", enr.RecoveryCodes[0]), "recovery codes are kept")
	st, err = f.Status(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, TOTPStatus{Confirmed: true, RecoveryCodes: 9}, st)
	assert.ErrorIs(t, f.Confirm(ctx, "alice", hotp(newSecret, uint64(c+2), 6)), ErrAlreadyEnrolled, "nothing pending any more")

	// A recovery code starts a replacement too (a lost phone), and
	// CancelPending drops it, keeping the factor.
	_, err = f.BeginReplace(ctx, "alice", "alice@example.com", enr.RecoveryCodes[1])
	require.NoError(t, err)
	require.NoError(t, f.CancelPending(ctx, "alice"))
	_, err = f.PendingEnrollment(ctx, "alice", "alice@example.com")
	assert.ErrorIs(t, err, ErrNotEnrolled)
	require.NoError(t, f.Verify(ctx, "alice", hotp(newSecret, uint64(c+2), 6)))
}

// TestPendingEnrollment: a first enrollment can be shown again until it is
// confirmed, is no factor meanwhile, and CancelPending drops it while the
// failures it counted stay.
func TestPendingEnrollment(t *testing.T) {
	f, store, clock := newTestTOTP(t, TOTPOptions{MaxFailures: 100})
	ctx := t.Context()
	st, err := f.Status(ctx, "alice")
	require.NoError(t, err)
	assert.Zero(t, st, "no record")
	require.NoError(t, f.CancelPending(ctx, "alice"), "nothing to cancel is fine")
	enr, err := f.Enroll(ctx, "alice", "alice@example.com")
	require.NoError(t, err)
	shown, err := f.PendingEnrollment(ctx, "alice", "alice@example.com")
	require.NoError(t, err)
	assert.Equal(t, enr.Secret, shown.Secret)
	assert.Equal(t, enr.URI, shown.URI)
	st, err = f.Status(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, TOTPStatus{Pending: true}, st)
	secret, err := DecodeSecret(enr.Secret)
	require.NoError(t, err)
	ok, err := f.Enrolled(ctx, "alice")
	require.NoError(t, err)
	assert.False(t, ok, "pending is not enrolled")
	assert.ErrorIs(t, f.Verify(ctx, "alice", Code(secret, clock.Now())), ErrNotEnrolled, "a pending enrollment's code signs nobody in")
	assert.ErrorIs(t, f.Confirm(ctx, "alice", wrongCode(secret, clock.Now(), 3)), ErrInvalidCode)
	require.NoError(t, f.CancelPending(ctx, "alice"))
	_, err = f.PendingEnrollment(ctx, "alice", "alice@example.com")
	assert.ErrorIs(t, err, ErrNotEnrolled)
	assert.ErrorIs(t, f.Confirm(ctx, "alice", Code(secret, clock.Now())), ErrNotEnrolled, "a cancelled enrollment cannot be confirmed")
	assert.Equal(t, 1, getRecord(t, store, "alice").Failures, "cancelling keeps the failures")
}
