package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// internalStore is a migrated store on a table prefix of its own (the
// internal tests cannot use internal/pgtest, which imports this package).
func internalStore(t *testing.T) *Store {
	t.Helper()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES_DSN is not set; skipping PostgreSQL tests (for a local server: export GATEHOUSE_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable')")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	prefix := "t" + hex.EncodeToString(b) + "_"
	s, err := New(ctx, pool, WithTablePrefix(prefix), WithMigrate())
	require.NoError(t, err)
	t.Cleanup(func() {
		rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE tablename LIKE $1`, prefix+"%")
		if err == nil {
			var tables []string
			for rows.Next() {
				var n string
				_ = rows.Scan(&n)
				tables = append(tables, n)
			}
			rows.Close()
			for _, n := range tables {
				_, _ = pool.Exec(ctx, `DROP TABLE IF EXISTS `+n+` CASCADE`)
			}
		}
		pool.Close()
	})
	return s
}

func groupToken(i int) storage.Token {
	now := time.Now()
	return storage.Token{
		Signature: fmt.Sprintf("sig-%d", i), Kind: storage.KindAccessToken,
		Request:   storage.Request{ID: fmt.Sprintf("req-%d", i), ClientID: "c", RequestedAt: now, GrantedScopes: []string{"a"}, Session: []byte(`{}`)},
		ExpiresAt: now.Add(time.Hour), Active: true,
	}
}

// TestInsertGroupOneBadRow writes a group in which one row is refused by
// the server (a NUL byte, which a text column cannot hold) and one repeats
// an earlier member's key: the batch rolls back as a whole, each row is
// written again alone, and only those two calls fail, each with its own
// error.
func TestInsertGroupOneBadRow(t *testing.T) {
	s := internalStore(t)
	ctx := context.Background()
	var group []*pendingInsert
	for i := range 6 {
		tok := groupToken(i)
		switch i {
		case 2:
			tok.Request.Subject = "bad\x00subject"
		case 5:
			tok = groupToken(1)
		}
		group = append(group, &pendingInsert{t: tok, done: make(chan error, 1)})
	}
	s.writeGroup(ctx, group)
	for i, p := range group {
		err := <-p.done
		switch i {
		case 2:
			assert.Error(t, err, "the row the server refuses fails its call")
			assert.NotErrorIs(t, err, storage.ErrAlreadyExists)
		case 5:
			assert.ErrorIs(t, err, storage.ErrAlreadyExists, "the repeated key fails its call")
		default:
			assert.NoError(t, err, "row %d is written", i)
			_, err := s.GetToken(ctx, storage.KindAccessToken, p.t.Signature)
			assert.NoError(t, err, "row %d is readable", i)
		}
	}
	_, err := s.GetToken(ctx, storage.KindAccessToken, "sig-2")
	assert.ErrorIs(t, err, storage.ErrNotFound)
}

// TestInsertGroupsUnderConcurrency creates tokens from many goroutines at
// once, every signature twice: each signature is created by exactly one
// call, every other call for it gets ErrAlreadyExists, and no call is
// lost or answered twice. Some calls share a group (asserted by counting
// the groups' batches through the round trips is left to the benchmark).
func TestInsertGroupsUnderConcurrency(t *testing.T) {
	s := internalStore(t)
	ctx := context.Background()
	const n = 200
	results := make([]error, 2*n)
	var wg sync.WaitGroup
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.CreateToken(ctx, groupToken(i%n))
		}()
	}
	wg.Wait()
	for i := range n {
		a, b := results[i], results[i+n]
		won := 0
		for _, err := range []error{a, b} {
			switch {
			case err == nil:
				won++
			case errors.Is(err, storage.ErrAlreadyExists):
			default:
				t.Errorf("signature %d: unexpected error %v", i, err)
			}
		}
		assert.Equal(t, 1, won, "signature %d is created by exactly one call (got %v, %v)", i, a, b)
		_, err := s.GetToken(ctx, storage.KindAccessToken, fmt.Sprintf("sig-%d", i))
		assert.NoError(t, err)
	}
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	assert.False(t, s.groups.writing, "the writer stopped")
	assert.Empty(t, s.groups.queue)
}

// A call whose context ends while its group waits behind another returns
// at once with the context's error; the group is still written, and the
// calls in it that are still waiting get their rows.
func TestInsertGroupCallerGoesAway(t *testing.T) {
	s := internalStore(t)
	// Pretend a group is being written, so that the calls below queue.
	s.groups.mu.Lock()
	s.groups.writing = true
	s.groups.mu.Unlock()

	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() { gone <- s.CreateToken(ctx, groupToken(1)) }()
	stays := make(chan error, 1)
	go func() { stays <- s.CreateToken(context.Background(), groupToken(2)) }()
	require.Eventually(t, func() bool {
		s.groups.mu.Lock()
		defer s.groups.mu.Unlock()
		return len(s.groups.queue) == 2
	}, 10*time.Second, time.Millisecond, "both calls queue behind the writing group")
	cancel()
	select {
	case err := <-gone:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("a call whose context ended kept waiting for its group")
	}

	// The pretended group ends: its writer takes the queue.
	s.writeGroups(context.Background())
	require.NoError(t, <-stays)
	for _, i := range []int{1, 2} {
		_, err := s.GetToken(context.Background(), storage.KindAccessToken, fmt.Sprintf("sig-%d", i))
		assert.NoError(t, err, "row %d is written, its caller gone or not", i)
	}
	s.groups.mu.Lock()
	defer s.groups.mu.Unlock()
	assert.False(t, s.groups.writing)
}

// insertWaiting reports whether a session waits on a lock inside an
// INSERT into s's tokens (s's prefix is its own).
func insertWaiting(t *testing.T, s *Store) bool {
	t.Helper()
	var n int
	require.NoError(t, s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO ' || $1 || 'tokens%'`, s.prefix).Scan(&n))
	return n > 0
}

// sidLockWaiting reports whether a session waits for sign-in sid's lock.
func sidLockWaiting(t *testing.T, s *Store, sid string) bool {
	t.Helper()
	var n int
	require.NoError(t, s.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
		WHERE NOT granted AND locktype = 'advisory' AND objsubid = 2 AND classid::bigint = $1 AND objid::bigint = $2`,
		int64(uint32(sidLockClass)), int64(uint32(sidLock(sid)))).Scan(&n))
	return n > 0
}

// eventually polls cond every 10ms for a minute, and fails with what.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), what)
	}
}

// TestInsertRacesRevokeLoginGrants: a token of a sign-in whose INSERT
// took its snapshot before RevokeLoginGrants recorded the sign-in as ended,
// and commits only after the revocation's UPDATEs would have run, still
// comes out inactive: the revocation waits for it (sidLock). The INSERT is
// held mid-statement by another transaction's uncommitted row with the same
// key, released (rolled back) once the revocation has either finished or
// come to wait.
func TestInsertRacesRevokeLoginGrants(t *testing.T) {
	s := internalStore(t)
	ctx := context.Background()
	tok := groupToken(1)
	tok.Request.LoginSID = "apikey:" + s.prefix + ":gen1" // no other test's
	sid := tok.Request.LoginSID

	blocker, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = blocker.Rollback(ctx) }()
	require.NoError(t, s.insertToken(ctx, blocker, tok))

	inserted := make(chan error, 1)
	go func() { inserted <- s.CreateToken(ctx, tok) }()
	eventually(t, func() bool { return insertWaiting(t, s) }, "the INSERT never came to wait")

	revoked := make(chan error, 1)
	go func() { revoked <- s.RevokeLoginGrants(ctx, sid, time.Now().Add(time.Hour)) }()
	// The revocation either finishes (it did not wait for the INSERT) or
	// comes to wait for it on the sign-in's lock.
	eventually(t, func() bool { return len(revoked) > 0 || sidLockWaiting(t, s, sid) }, "the revocation neither finished nor waited")
	require.NoError(t, blocker.Rollback(ctx))
	require.NoError(t, <-inserted)
	require.NoError(t, <-revoked)
	got, err := s.GetToken(ctx, tok.Kind, tok.Signature)
	require.NoError(t, err)
	assert.False(t, got.Active, "a token of the ended sign-in whose INSERT raced the revocation is inactive")
}

// A held-back insert must fail on a taken key (so that the COMMIT in its
// batch does not run), where insertTokenSQL skips it.
func TestDeferredInsertSQLFailsOnConflict(t *testing.T) {
	require.Contains(t, insertTokenSQL, "ON CONFLICT")
	require.NotContains(t, deferredInsertSQL, "ON CONFLICT")
	require.True(t, strings.HasPrefix(insertTokenSQL, deferredInsertSQL))
}
