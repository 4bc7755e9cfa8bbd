package postgres_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/postgres"
)

func TestThrottleEveryFieldRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	want := filled[storage.Throttle]()
	require.NoError(t, s.UpdateThrottle(ctx, want.Key, func(storage.Throttle) (storage.Throttle, error) { return want, nil }))
	got, err := s.GetThrottle(ctx, want.Key)
	require.NoError(t, err)
	assert.Equal(t, want, got, "every Throttle field is stored")

	// Zero times are NULL and come back zero.
	require.NoError(t, s.UpdateThrottle(ctx, "k", func(th storage.Throttle) (storage.Throttle, error) {
		th.Failures = 1
		return th, nil
	}))
	got, err = s.GetThrottle(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, storage.Throttle{Key: "k", Failures: 1}, got)
}

func TestThrottleUpdateInTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	inc := func(th storage.Throttle) (storage.Throttle, error) {
		th.Failures++
		return th, nil
	}

	// A rolled-back transaction takes its new throttle with it.
	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	require.NoError(t, s.UpdateThrottle(txCtx, "k", inc))
	require.NoError(t, s.Rollback(txCtx))
	_, err = s.GetThrottle(ctx, "k")
	assert.ErrorIs(t, err, storage.ErrNotFound)

	// A failed update inside a transaction leaves the transaction usable
	// and writes nothing; a good one is committed.
	txCtx, err = s.BeginTx(ctx)
	require.NoError(t, err)
	boom := errors.New("boom")
	assert.ErrorIs(t, s.UpdateThrottle(txCtx, "k", func(storage.Throttle) (storage.Throttle, error) {
		return storage.Throttle{Failures: 9}, boom
	}), boom)
	require.NoError(t, s.UpdateThrottle(txCtx, "k", inc))
	require.NoError(t, s.Commit(txCtx))
	got, err := s.GetThrottle(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, 1, got.Failures)
}

func TestThrottleUpdateRacesWithReset(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	// Increments racing with resets (which delete the row) never fail: an
	// increment that finds its row deleted under it inserts it again.
	const n = 40
	errs := make(chan error, 2*n)
	for i := range 2 * n {
		go func() {
			errs <- s.UpdateThrottle(ctx, "k", func(th storage.Throttle) (storage.Throttle, error) {
				if i%2 == 0 {
					return storage.Throttle{}, nil
				}
				th.Failures++
				return th, nil
			})
		}()
	}
	for range 2 * n {
		require.NoError(t, <-errs)
	}
}

// TestMigrateFromVersion1 sets up a schema at version 1, as a binary from
// before the throttles table left it, and checks that Migrate brings it to
// the current version.
func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.Pool(t)
	prefix := pgtest.Prefix(t, pool)
	initial, err := os.ReadFile("migrations/0001_initial_schema.sql")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `CREATE TABLE `+prefix+`schema_migrations (
		version int PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, strings.ReplaceAll(string(initial), "{{prefix}}", prefix))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO `+prefix+`schema_migrations (version, name) VALUES (1, 'initial_schema')`)
	require.NoError(t, err)
	before := migrationRows(t, pool, prefix)
	require.Len(t, before, 1)

	require.GreaterOrEqual(t, postgres.SchemaVersion(), 2)
	_, err = postgres.New(ctx, pool, postgres.WithTablePrefix(prefix))
	if assert.Error(t, err, "a schema at version 1 is behind") {
		assert.Contains(t, err.Error(), "version 1")
		assert.Contains(t, err.Error(), "Migrate")
	}

	require.NoError(t, postgres.Migrate(ctx, pool, postgres.WithTablePrefix(prefix)))
	after := migrationRows(t, pool, prefix)
	assert.Len(t, after, postgres.SchemaVersion())
	assert.Equal(t, before[1], after[1], "version 1 is not applied again")
	assert.Contains(t, after, 2)

	s, err := postgres.New(ctx, pool, postgres.WithTablePrefix(prefix))
	require.NoError(t, err)
	until := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.UpdateThrottle(ctx, "password:alice", func(th storage.Throttle) (storage.Throttle, error) {
		th.Failures, th.ExpiresAt = 1, until
		return th, nil
	}))
	n, err := s.DeleteExpired(context.Background(), until.Add(time.Second))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}
