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

// putThrottle stores th with UpdateThrottle, the only way to write one.
func putThrottle(t *testing.T, s storage.Store, th storage.Throttle) {
	t.Helper()
	require.NoError(t, s.UpdateThrottle(t.Context(), th.Key, func(storage.Throttle) (storage.Throttle, error) {
		return th, nil
	}), "UpdateThrottle(%q)", th.Key)
}

func testThrottlesCreateByUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.GetThrottle(ctx, "password:alice")
	assert.ErrorIs(t, err, storage.ErrNotFound, "GetThrottle of an unknown key")

	// update on a missing key receives Throttle{Key: key}, and what it
	// returns is created, with the key kept whatever update set. The times
	// are given in another zone.
	want := newThrottle("password:alice")
	calls := 0
	var seen storage.Throttle
	require.NoError(t, s.UpdateThrottle(ctx, "password:alice", func(th storage.Throttle) (storage.Throttle, error) {
		calls++
		seen = th
		next := inZone(newThrottle("password:alice"), kolkata)
		next.Key = "password:mallory"
		return next, nil
	}))
	assert.Equal(t, 1, calls, "update is called once")
	assertSameRecord(t, storage.Throttle{Key: "password:alice"}, seen, "update of a missing key receives Throttle{Key: key}")
	got, err := s.GetThrottle(ctx, "password:alice")
	require.NoError(t, err, "UpdateThrottle of a missing key creates it")
	assertSameRecord(t, want, got, "GetThrottle returns every field update returned, under the key")
	_, err = s.GetThrottle(ctx, "password:mallory")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the key update returned is not used")

	// A second update sees the first one's result, and replaces it.
	next := want
	next.Failures++
	next.LockedUntil, next.ExpiresAt = at(time.Hour), at(48*time.Hour)
	require.NoError(t, s.UpdateThrottle(ctx, "password:alice", func(th storage.Throttle) (storage.Throttle, error) {
		seen = th
		return next, nil
	}))
	assertSameRecord(t, want, seen, "update receives the stored throttle")
	got, err = s.GetThrottle(ctx, "password:alice")
	require.NoError(t, err)
	assertSameRecord(t, next, got, "the throttle update returned is stored")

	// Keys are independent.
	bob := newThrottle("password:bob")
	bob.Failures, bob.LockedUntil = 1, time.Time{}
	putThrottle(t, s, bob)
	got, err = s.GetThrottle(ctx, "password:alice")
	require.NoError(t, err)
	assertSameRecord(t, next, got, "another key's update leaves the throttle alone")
	got, err = s.GetThrottle(ctx, "password:bob")
	require.NoError(t, err)
	assertSameRecord(t, bob, got, "a throttle without a lockout is kept")
}

func testThrottlesUpdateErrorWritesNothing(t *testing.T, s storage.Store) {
	ctx := t.Context()
	boom := errors.New("too many attempts")

	// A missing key: nothing is created, not even an empty record.
	err := s.UpdateThrottle(ctx, "password:alice", func(th storage.Throttle) (storage.Throttle, error) {
		return newThrottle("password:alice"), boom
	})
	assert.ErrorIs(t, err, boom, "update's error is returned")
	_, err = s.GetThrottle(ctx, "password:alice")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a failed update of a missing key creates nothing")
	err = s.UpdateThrottle(ctx, "password:alice", func(th storage.Throttle) (storage.Throttle, error) {
		return th, &lockedError{until: at(time.Minute)}
	})
	var locked *lockedError
	if assert.ErrorAs(t, err, &locked, "update's typed error is returned") {
		assert.True(t, locked.until.Equal(at(time.Minute)))
	}
	_, err = s.GetThrottle(ctx, "password:alice")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a failed update of a missing key creates nothing")
	var seen storage.Throttle
	require.NoError(t, s.UpdateThrottle(ctx, "password:alice", func(th storage.Throttle) (storage.Throttle, error) {
		seen = th
		return th, nil
	}))
	assertSameRecord(t, storage.Throttle{Key: "password:alice"}, seen, "after failed updates the key is still new")

	// An existing key keeps what it had.
	want := newThrottle("password:bob")
	putThrottle(t, s, want)
	err = s.UpdateThrottle(ctx, "password:bob", func(th storage.Throttle) (storage.Throttle, error) {
		th.Failures = 99
		th.LockedUntil = at(99 * time.Hour)
		return th, boom
	})
	assert.ErrorIs(t, err, boom, "update's error is returned")
	got, err := s.GetThrottle(ctx, "password:bob")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "a failed update writes nothing")
	err = s.UpdateThrottle(ctx, "password:bob", func(storage.Throttle) (storage.Throttle, error) {
		return storage.Throttle{}, boom // would remove it
	})
	assert.ErrorIs(t, err, boom)
	got, err = s.GetThrottle(ctx, "password:bob")
	require.NoError(t, err, "a failed update removes nothing")
	assertSameRecord(t, want, got)
}

func testThrottlesZeroRemoves(t *testing.T, s storage.Store) {
	ctx := t.Context()

	// A zero result on a missing key creates nothing.
	require.NoError(t, s.UpdateThrottle(ctx, "password:alice", func(th storage.Throttle) (storage.Throttle, error) {
		th.ExpiresAt = at(time.Hour)
		return th, nil
	}))
	_, err := s.GetThrottle(ctx, "password:alice")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a result with zero Failures and LockedUntil creates nothing")

	// Zero Failures and a zero LockedUntil remove the record, whatever its
	// ExpiresAt.
	putThrottle(t, s, newThrottle("password:alice"))
	require.NoError(t, s.UpdateThrottle(ctx, "password:alice", func(th storage.Throttle) (storage.Throttle, error) {
		th.Failures, th.LockedUntil = 0, time.Time{}
		return th, nil
	}))
	_, err = s.GetThrottle(ctx, "password:alice")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a result with zero Failures and LockedUntil removes the record")
	var seen storage.Throttle
	require.NoError(t, s.UpdateThrottle(ctx, "password:alice", func(th storage.Throttle) (storage.Throttle, error) {
		seen = th
		th.Failures = 1
		return th, nil
	}))
	assertSameRecord(t, storage.Throttle{Key: "password:alice"}, seen, "a removed throttle starts again from Throttle{Key: key}")

	// Either one alone keeps it.
	lockedOnly := newThrottle("password:bob")
	lockedOnly.Failures = 0
	failuresOnly := newThrottle("password:carol")
	failuresOnly.LockedUntil = time.Time{}
	for _, want := range []storage.Throttle{lockedOnly, failuresOnly} {
		putThrottle(t, s, want)
		got, err := s.GetThrottle(ctx, want.Key)
		if assert.NoError(t, err, "%s is kept", want.Key) {
			assertSameRecord(t, want, got)
		}
	}
}

func testThrottlesUpdate50Concurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for round := range raceRounds {
		// A new key each round: the first updates race to create it.
		key := fmt.Sprintf("password:alice-%d", round)
		errs := race(raceWidth, func(i int) error {
			return s.UpdateThrottle(ctx, key, func(th storage.Throttle) (storage.Throttle, error) {
				dawdle()
				th.Failures++
				th.ExpiresAt = at(time.Hour)
				return th, nil
			})
		})
		for i, err := range errs {
			require.NoError(t, err, "round %d: concurrent UpdateThrottle %d", round, i)
		}
		got, err := s.GetThrottle(ctx, key)
		require.NoError(t, err, "round %d", round)
		assertSameRecord(t, storage.Throttle{Key: key, Failures: raceWidth, ExpiresAt: at(time.Hour)}, got,
			"round %d: no failure lost among %d concurrent increments of a new key", round, raceWidth)
	}
}
