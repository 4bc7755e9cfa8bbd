package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

func testMFACreateGetDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// A confirmed record with every field set, and a pending enrollment
	// with its times in another zone.
	alice := newMFA("alice")
	bob := inZone(storage.MFARecord{
		Subject:       "bob",
		TOTPSecret:    binary(20, 0xc3),
		RecoveryCodes: []string{"sha256$only-bob"},
		CreatedAt:     base,
		UpdatedAt:     base,
	}, kolkata)
	require.NoError(t, s.CreateMFA(ctx, alice))
	require.NoError(t, s.CreateMFA(ctx, bob))
	for _, want := range []storage.MFARecord{alice, bob} {
		got, err := s.GetMFA(ctx, want.Subject)
		require.NoError(t, err, want.Subject)
		assertSameRecord(t, want, got, "GetMFA(%q) returns every field as created", want.Subject)
	}

	// A second record for the same subject is refused; the first is kept.
	dup := newMFA("alice")
	dup.TOTPSecret, dup.TOTPConfirmed, dup.RecoveryCodes = []byte("other"), false, nil
	assert.ErrorIs(t, s.CreateMFA(ctx, dup), storage.ErrAlreadyExists, "CreateMFA of an existing subject")
	got, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, alice, got, "a refused CreateMFA keeps the first record")

	// Unknown subjects.
	_, err = s.GetMFA(ctx, "carol")
	assert.ErrorIs(t, err, storage.ErrNotFound, "GetMFA of an unknown subject")
	called := false
	err = s.UpdateMFA(ctx, "carol", func(r storage.MFARecord) (storage.MFARecord, error) {
		called = true
		return newMFA("carol"), nil
	})
	assert.ErrorIs(t, err, storage.ErrNotFound, "UpdateMFA of an unknown subject")
	assert.False(t, called, "UpdateMFA does not call update for an unknown subject")
	_, err = s.GetMFA(ctx, "carol")
	assert.ErrorIs(t, err, storage.ErrNotFound, "UpdateMFA of an unknown subject creates nothing")
	assert.ErrorIs(t, s.DeleteMFA(ctx, "carol"), storage.ErrNotFound, "DeleteMFA of an unknown subject")

	// Delete removes one record only.
	require.NoError(t, s.DeleteMFA(ctx, "alice"))
	_, err = s.GetMFA(ctx, "alice")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a deleted record is gone")
	assert.ErrorIs(t, s.DeleteMFA(ctx, "alice"), storage.ErrNotFound, "a second DeleteMFA")
	got, err = s.GetMFA(ctx, "bob")
	require.NoError(t, err, "deleting one record leaves the others")
	assertSameRecord(t, bob, got)

	require.NoError(t, s.CreateMFA(ctx, alice), "a deleted subject can be enrolled again")
}

func testMFAUpdateAtomic(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateMFA(ctx, newMFA("alice")))

	// update receives the current record, and what it returns is stored.
	var seen storage.MFARecord
	require.NoError(t, s.UpdateMFA(ctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		seen = normalized(r).(storage.MFARecord) // a deep copy: r is changed below
		r.TOTPSecret = binary(20, 0x11)
		r.TOTPConfirmed = false
		r.TOTPLastCounter++
		r.RecoveryCodes = r.RecoveryCodes[1:]
		r.Failures = 0
		r.LockedUntil = time.Time{}
		r.UpdatedAt = at(time.Hour)
		return r, nil
	}))
	assertSameRecord(t, newMFA("alice"), seen, "update receives the current record")
	want := newMFA("alice")
	want.TOTPSecret = binary(20, 0x11)
	want.TOTPConfirmed = false
	want.TOTPLastCounter++
	want.RecoveryCodes = want.RecoveryCodes[1:]
	want.Failures = 0
	want.LockedUntil = time.Time{}
	want.UpdatedAt = at(time.Hour)
	got, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "the record update returned is stored")

	// A second update sees the first one's result.
	require.NoError(t, s.UpdateMFA(ctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		seen = normalized(r).(storage.MFARecord)
		return r, nil
	}))
	assertSameRecord(t, want, seen, "update receives the record the previous update stored")

	// An error from update is returned and nothing is written, even when
	// update changed its argument in place first.
	boom := errors.New("code already used")
	err = s.UpdateMFA(ctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		r.Failures = 99
		r.TOTPSecret[0] ^= 0xff
		r.RecoveryCodes[0] = "not written"
		r.TOTPLastCounter = 1
		return r, boom
	})
	assert.ErrorIs(t, err, boom, "update's error is returned")
	got, err = s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "a failed update writes nothing")

	// Errors of the caller's own types come back too, for errors.As.
	err = s.UpdateMFA(ctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		return r, &lockedError{until: at(time.Minute)}
	})
	var locked *lockedError
	if assert.ErrorAs(t, err, &locked, "update's typed error is returned") {
		assert.True(t, locked.until.Equal(at(time.Minute)))
	}
}

// lockedError is a typed error an UpdateMFA update returns, as the mfa
// package's lockout does.
type lockedError struct{ until time.Time }

func (e *lockedError) Error() string { return "locked until " + e.until.String() }

func testMFAUpdate50Concurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	r := newMFA("alice")
	r.Failures = 0
	require.NoError(t, s.CreateMFA(ctx, r))
	n := raceWidth
	errs := race(n, func(i int) error {
		return s.UpdateMFA(ctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
			dawdle()
			r.Failures++
			return r, nil
		})
	})
	for i, err := range errs {
		require.NoError(t, err, "concurrent UpdateMFA %d", i)
	}
	got, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, n, got.Failures, "no failure lost among %d concurrent increments", n)
	want := r
	want.Failures = n
	assertSameRecord(t, want, got, "nothing else changed")
}

func testMFASingleUseCounter50Concurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	used := errors.New("step already used")
	for round := range raceRounds {
		subject := fmt.Sprintf("alice-%d", round)
		r := newMFA(subject)
		r.TOTPLastCounter = 7
		require.NoError(t, s.CreateMFA(ctx, r))
		errs := race(raceWidth, func(i int) error {
			return s.UpdateMFA(ctx, subject, func(cur storage.MFARecord) (storage.MFARecord, error) {
				if cur.TOTPLastCounter >= 8 {
					return cur, used
				}
				dawdle()
				cur.TOTPLastCounter = 8
				return cur, nil
			})
		})
		require.Equal(t, 1, wins(errs), "round %d: exactly one of %d concurrent updates advances the counter", round, raceWidth)
		for i, err := range errs {
			if err != nil {
				assert.ErrorIs(t, err, used, "round %d: loser %d gets update's error", round, i)
			}
		}
		got, err := s.GetMFA(ctx, subject)
		require.NoError(t, err)
		assert.EqualValues(t, 8, got.TOTPLastCounter, "round %d", round)
	}
}
