package mfa

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/racetest"
)

// race and nils: n goroutines released at one instant, and their winners.
var (
	race = racetest.Run[error]
	nils = racetest.Nils
)

func TestConcurrentSameCode(t *testing.T) {
	f, _, clock := newTestTOTP(t, TOTPOptions{Key: make([]byte, 32)})
	enrollRFC(t, f)
	code := Code(rfcSecret, clock.Now())
	errs := race(50, func(int) error { return f.Verify(t.Context(), "alice", code) })
	assert.Equal(t, 1, nils(errs), "exactly one of 50 concurrent uses of one code succeeds")
	var locked *LockedError
	for _, err := range errs {
		if err != nil {
			assert.True(t, errors.Is(err, ErrInvalidCode) || errors.As(err, &locked), "%v", err)
		}
	}
}

func TestConcurrentWrongCodes(t *testing.T) {
	f, store, clock := newTestTOTP(t, TOTPOptions{MaxFailures: 50})
	enrollRFC(t, f)
	errs := race(50, func(i int) error {
		return f.Verify(t.Context(), "alice", wrongCode(rfcSecret, clock.Now(), i))
	})
	for _, err := range errs {
		assert.ErrorIs(t, err, ErrInvalidCode)
	}
	assert.Equal(t, 50, getRecord(t, store, "alice").Failures, "no failure lost")
	var locked *LockedError
	require.ErrorAs(t, f.Verify(t.Context(), "alice", Code(rfcSecret, clock.Now())), &locked, "locked after 50 failures")
}

func TestConcurrentRecoveryCode(t *testing.T) {
	f, store, _ := newTestTOTP(t, TOTPOptions{})
	e := enrollRFC(t, f)
	errs := race(20, func(int) error { return f.Verify(t.Context(), "alice", e.RecoveryCodes[3]) })
	assert.Equal(t, 1, nils(errs), "exactly one of 20 concurrent uses of one recovery code succeeds")
	assert.Len(t, getRecord(t, store, "alice").RecoveryCodes, len(e.RecoveryCodes)-1)
}
