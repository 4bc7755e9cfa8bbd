package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/postgres"
)

// What the store does when it loses a connection: a statement that never
// reached the server is sent again, once, on another connection; one that
// may have reached it is not. See conn.go.

// storeOnPool returns a migrated store on its own prefix on a new pool made
// from cfg.
func storeOnPool(t *testing.T, cfg *pgxpool.Config) (*postgres.Store, *pgxpool.Pool) {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	prefix := pgtest.Prefix(t, pool)
	s, err := postgres.New(context.Background(), pool, postgres.WithTablePrefix(prefix), postgres.WithMigrate())
	require.NoError(t, err)
	return s, pool
}

func poolConfig(t *testing.T, maxConns int32) *pgxpool.Config {
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	return cfg
}

// terminateIdle makes the pool open n connections, terminates the backend
// of every idle connection of the pool from admin (pg_terminate_backend),
// waits until those backends are gone, and returns their PIDs.
func terminateIdle(t *testing.T, pool, admin *pgxpool.Pool, n int) []uint32 {
	t.Helper()
	ctx := t.Context()
	held := make([]*pgxpool.Conn, n)
	for i := range held {
		c, err := pool.Acquire(ctx)
		require.NoError(t, err)
		held[i] = c
	}
	for _, c := range held {
		c.Release()
	}
	var pids []uint32
	for _, c := range pool.AcquireAllIdle(ctx) {
		pids = append(pids, c.Conn().PgConn().PID())
		c.Release()
	}
	require.Len(t, pids, n)
	var killed int
	require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM unnest($1::int4[]) AS pid`, pids).Scan(&killed))
	require.Equal(t, n, killed)
	// A backend sends its FATAL error before it leaves pg_stat_activity.
	require.Eventually(t, func() bool {
		var left int
		require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int4[])`, pids).Scan(&left))
		return left == 0
	}, 30*time.Second, 10*time.Millisecond, "the terminated backends exit")
	return pids
}

func testToken(kind storage.TokenKind, sig string) storage.Token {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return storage.Token{Kind: kind, Signature: sig, Active: true, ExpiresAt: now.Add(time.Hour),
		Request: storage.Request{ID: "req-" + sig, RequestedAt: now, ClientID: "c", GrantedScopes: []string{"assets:read"}}}
}

// A backend that went away while its connection sat idle in the pool
// (pg_terminate_backend, a server restart, idle_session_timeout) costs no
// call anything: the store sees that the server closed the connection
// before it sends anything on it, and takes another. Every kind of call
// runs right after every idle connection of the store's pool was
// terminated, and succeeds.
func TestTerminatedIdleConnectionsAreNotUsed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg := poolConfig(t, 4)
	// As in a busy pool: pgxpool pings a connection that was idle for more
	// than a second before lending it, and a busy pool's never are.
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	s, pool := storeOnPool(t, cfg)
	admin := pgtest.Pool(t)

	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c", Name: "client"}))
	require.NoError(t, s.CreateToken(ctx, testToken(storage.KindAuthCode, "code")))
	require.NoError(t, s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "flow", ClientID: "c", ExpiresAt: time.Now().Add(time.Hour)}))
	web := newFaultEnv(t, s)

	steps := []struct {
		name string
		call func(t *testing.T)
	}{
		{"read", func(t *testing.T) {
			c, err := s.GetClient(ctx, "c")
			require.NoError(t, err)
			assert.Equal(t, "client", c.Name)
		}},
		{"list", func(t *testing.T) {
			cs, err := s.ListClients(ctx)
			require.NoError(t, err)
			assert.Len(t, cs, 2) // c and the token endpoint's client
		}},
		{"write", func(t *testing.T) {
			require.NoError(t, s.CreateToken(ctx, testToken(storage.KindAccessToken, "access")))
			got, err := s.GetToken(ctx, storage.KindAccessToken, "access")
			require.NoError(t, err)
			assert.True(t, got.Active)
		}},
		{"consume a code", func(t *testing.T) {
			got, err := s.ConsumeAuthCode(ctx, "code")
			require.NoError(t, err)
			assert.Equal(t, "req-code", got.Request.ID)
		}},
		{"update in a transaction", func(t *testing.T) {
			calls := 0
			require.NoError(t, s.UpdateAuthFlow(ctx, "flow", func(f storage.AuthFlow) (storage.AuthFlow, error) {
				calls++
				f.Done = append(f.Done, "login")
				return f, nil
			}))
			assert.Equal(t, 1, calls)
			got, err := s.GetAuthFlow(ctx, "flow")
			require.NoError(t, err)
			assert.Equal(t, []string{"login"}, got.Done)
		}},
		{"BeginTx", func(t *testing.T) {
			txCtx, err := s.BeginTx(ctx)
			require.NoError(t, err)
			require.NoError(t, s.CreateToken(txCtx, testToken(storage.KindRefreshToken, "refresh")))
			require.NoError(t, s.Commit(txCtx))
			_, err = s.GetToken(ctx, storage.KindRefreshToken, "refresh")
			require.NoError(t, err)
		}},
		{"token request", func(t *testing.T) {
			status, body := web.token(t)
			require.Equal(t, http.StatusOK, status, "%v", body)
			assert.NotEmpty(t, body["access_token"])
		}},
	}
	for _, step := range steps {
		killed := terminateIdle(t, pool, admin, 4)
		t.Run(step.name, step.call)
		for _, c := range pool.AcquireAllIdle(ctx) {
			assert.NotContains(t, killed, c.Conn().PgConn().PID(), "%s: a broken connection went back to the pool", step.name)
			c.Release()
		}
	}
}

// wire sits between a pool and PostgreSQL and breaks connections on
// demand, at the writes that contain match (lower case), after letting
// skip of them through: refuse makes that many such writes fail with
// nothing sent (pgx then reports an error that pgconn.SafeToRetry
// accepts); lose lets the next one through and cuts the connection once
// the server's answer has arrived, so that the statement ran (and
// committed) but its answer is lost.
type wire struct {
	mu sync.Mutex
	wireState
}

type wireState struct {
	match   string
	skip    int
	refuse  int
	lose    bool
	hits    int // writes that matched
	refused int
	lost    int
}

// arm sets the next faults and zeroes the counts.
func (w *wire) arm(match string, refuse int, lose bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.wireState = wireState{match: match, refuse: refuse, lose: lose}
}

// letThrough lets the next n matching writes through.
func (w *wire) letThrough(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.skip = n
}

// counts returns the writes that matched, and those refused and lost.
func (w *wire) counts() (hits, refused, lost int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hits, w.refused, w.lost
}

type wireConn struct {
	net.Conn
	w    *wire
	lose atomic.Bool
}

func (c *wireConn) Write(b []byte) (int, error) {
	w := c.w
	w.mu.Lock()
	hit := w.match != "" && bytes.Contains(bytes.ToLower(b), []byte(w.match))
	if hit {
		w.hits++
		if w.skip > 0 {
			w.skip--
			hit = false
		}
	}
	if hit && w.refuse > 0 {
		w.refuse--
		w.refused++
		w.mu.Unlock()
		c.Conn.Close()
		return 0, errors.New("wire: connection reset, nothing sent")
	}
	if hit && w.lose {
		w.lose = false
		w.lost++
		c.lose.Store(true)
	}
	w.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *wireConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && c.lose.Load() {
		c.Conn.Close()
		return 0, errors.New("wire: connection reset, the answer lost")
	}
	return n, err
}

// wireStore returns a store whose connections go through a wire.
func wireStore(t *testing.T) (*postgres.Store, *wire) {
	cfg := poolConfig(t, 4)
	w := &wire{}
	// Plain text, so that the wire can see the statements (the test
	// database is on loopback).
	cfg.ConnConfig.TLSConfig, cfg.ConnConfig.Fallbacks = nil, nil
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &wireConn{Conn: c, w: w}, nil
	}
	s, _ := storeOnPool(t, cfg)
	return s, w
}

// A statement that never reached the server (the write failed with
// nothing sent) is sent again on another connection, and only once.
func TestRetryOnceWhatNeverReachedTheServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, w := wireStore(t)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c", Name: "client"}))

	// The statements' arguments are on the wire whether pgx has prepared
	// them on that connection already or not.
	w.arm("sig-once", 1, false)
	require.NoError(t, s.CreateToken(ctx, testToken(storage.KindAccessToken, "sig-once")))
	hits, refused, _ := w.counts()
	assert.Equal(t, 1, refused)
	assert.Equal(t, 2, hits, "sent again once")
	got, err := s.GetToken(ctx, storage.KindAccessToken, "sig-once")
	require.NoError(t, err)
	assert.True(t, got.Active)

	w.arm("sig-twice", 2, false)
	err = s.CreateToken(ctx, testToken(storage.KindAccessToken, "sig-twice"))
	require.Error(t, err, "refused twice: retried once only")
	assert.True(t, pgconn.SafeToRetry(err), "the failure was one that may be retried: %v", err)
	assert.False(t, errors.Is(err, storage.ErrAlreadyExists), "%v", err)
	hits, refused, _ = w.counts()
	assert.Equal(t, 2, refused)
	assert.Equal(t, 2, hits, "no third attempt")
	_, err = s.GetToken(ctx, storage.KindAccessToken, "sig-twice")
	assert.ErrorIs(t, err, storage.ErrNotFound)

	// Only a call's first statement: consuming a used code is an UPDATE
	// that changes nothing, then a SELECT, which is refused here.
	require.NoError(t, s.CreateToken(ctx, testToken(storage.KindAuthCode, "sig-second")))
	_, err = s.ConsumeAuthCode(ctx, "sig-second")
	require.NoError(t, err)
	w.arm("sig-second", 1, false)
	w.letThrough(1)
	_, err = s.ConsumeAuthCode(ctx, "sig-second")
	require.Error(t, err)
	assert.True(t, pgconn.SafeToRetry(err), "the failure was one that may be retried alone: %v", err)
	assert.False(t, errors.Is(err, storage.ErrAlreadyUsed), "%v", err)
	hits, refused, _ = w.counts()
	assert.Equal(t, 1, refused)
	assert.Equal(t, 2, hits, "the UPDATE is not sent again")

	w.arm("", 0, false)
	require.NoError(t, s.CreateToken(ctx, testToken(storage.KindAccessToken, "sig-read")))
	w.arm("sig-read", 1, false)
	got, err = s.GetToken(ctx, storage.KindAccessToken, "sig-read")
	require.NoError(t, err, "a read is retried too")
	assert.Equal(t, "sig-read", got.Signature)
	_, refused, _ = w.counts()
	assert.Equal(t, 1, refused)
}

// A statement whose answer was lost may have run: it is not sent again.
// Here it did run: the code was consumed. Sent again, the consumption
// would find the code used and report a replay (which revokes the
// grant's tokens); the caller gets an error instead (503 at the token
// endpoint), and the client retries with the same code... which is then
// used, as it should be.
func TestNoRetryOfWhatMayHaveRun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, w := wireStore(t)

	require.NoError(t, s.CreateToken(ctx, testToken(storage.KindAuthCode, "sig-lost")))
	w.arm("sig-lost", 0, true)
	_, err := s.ConsumeAuthCode(ctx, "sig-lost")
	require.Error(t, err)
	assert.False(t, errors.Is(err, storage.ErrAlreadyUsed), "not sent again: %v", err)
	assert.False(t, pgconn.SafeToRetry(err), "%v", err)
	hits, _, lost := w.counts()
	assert.Equal(t, 1, lost)
	assert.Equal(t, 1, hits, "sent once")
	got, err := s.GetToken(ctx, storage.KindAuthCode, "sig-lost")
	require.NoError(t, err)
	assert.False(t, got.Active, "the statement did run and commit")

	// The same for a write that creates a record.
	w.arm("sig-created", 0, true)
	err = s.CreateToken(ctx, testToken(storage.KindAccessToken, "sig-created"))
	require.Error(t, err)
	assert.False(t, errors.Is(err, storage.ErrAlreadyExists), "not sent again: %v", err)
	hits, _, _ = w.counts()
	assert.Equal(t, 1, hits, "sent once")
	_, err = s.GetToken(ctx, storage.KindAccessToken, "sig-created")
	require.NoError(t, err, "the statement did run and commit")

	// And for a transaction whose COMMIT's answer was lost.
	require.NoError(t, s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "flow-lost-answer", ExpiresAt: time.Now().Add(time.Hour)}))
	w.arm("commit\x00", 0, true) // COMMIT, not BEGIN ... READ COMMITTED
	calls := 0
	err = s.UpdateAuthFlow(ctx, "flow-lost-answer", func(f storage.AuthFlow) (storage.AuthFlow, error) {
		calls++
		f.Done = append(f.Done, "login")
		return f, nil
	})
	require.Error(t, err)
	assert.Equal(t, 1, calls, "the transaction is not run again")
	_, _, lost = w.counts()
	assert.Equal(t, 1, lost)
	f, err := s.GetAuthFlow(ctx, "flow-lost-answer")
	require.NoError(t, err)
	assert.Equal(t, []string{"login"}, f.Done, "the transaction did commit")
}

// A transaction whose BEGIN never reached the server is begun again on
// another connection (the update function still runs once); a statement
// inside a transaction is never sent again, alone or with its transaction,
// even when it never reached the server.
func TestRetryOfTransactions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, w := wireStore(t)
	require.NoError(t, s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "flow-begin", ExpiresAt: time.Now().Add(time.Hour)}))
	require.NoError(t, s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "flow-inside", ExpiresAt: time.Now().Add(time.Hour)}))
	done := func(calls *int) func(storage.AuthFlow) (storage.AuthFlow, error) {
		return func(f storage.AuthFlow) (storage.AuthFlow, error) {
			*calls++
			f.Done = append(f.Done, "login")
			return f, nil
		}
	}

	w.arm("begin isolation level", 1, false)
	calls := 0
	require.NoError(t, s.UpdateAuthFlow(ctx, "flow-begin", done(&calls)))
	assert.Equal(t, 1, calls)
	_, refused, _ := w.counts()
	assert.Equal(t, 1, refused)
	f, err := s.GetAuthFlow(ctx, "flow-begin")
	require.NoError(t, err)
	assert.Equal(t, []string{"login"}, f.Done)

	w.arm("begin isolation level", 1, false)
	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err, "BeginTx begins again")
	require.NoError(t, s.CreateToken(txCtx, testToken(storage.KindAccessToken, "sig-tx")))
	require.NoError(t, s.Commit(txCtx))
	_, refused, _ = w.counts()
	assert.Equal(t, 1, refused)
	_, err = s.GetToken(ctx, storage.KindAccessToken, "sig-tx")
	require.NoError(t, err)

	// A BEGIN whose answer was lost is not sent again either (pgx reports
	// it as "conn closed", which pgconn.SafeToRetry accepts).
	w.arm("begin isolation level", 0, true)
	calls = 0
	err = s.UpdateAuthFlow(ctx, "flow-inside", done(&calls))
	require.Error(t, err)
	assert.ErrorIs(t, err, pgconn.ErrConnClosed)
	assert.Equal(t, 0, calls)
	hits, _, lost := w.counts()
	assert.Equal(t, 1, lost)
	assert.Equal(t, 1, hits, "not sent again")

	// The first statement after BEGIN (SELECT ... FOR UPDATE, with the
	// flow's ID) is refused.
	w.arm("flow-inside", 1, false)
	calls = 0
	err = s.UpdateAuthFlow(ctx, "flow-inside", done(&calls))
	require.Error(t, err)
	assert.True(t, pgconn.SafeToRetry(err), "the failure was one that may be retried alone: %v", err)
	assert.Equal(t, 0, calls)
	hits, refused, _ = w.counts()
	assert.Equal(t, 1, refused)
	assert.Equal(t, 1, hits, "not sent again")
	f, err = s.GetAuthFlow(ctx, "flow-inside")
	require.NoError(t, err)
	assert.Empty(t, f.Done)

	// Inside a BeginTx transaction the same.
	txCtx, err = s.BeginTx(ctx)
	require.NoError(t, err)
	w.arm("sig-in-tx", 1, false)
	err = s.CreateToken(txCtx, testToken(storage.KindAccessToken, "sig-in-tx"))
	require.Error(t, err)
	hits, _, _ = w.counts()
	assert.Equal(t, 1, hits, "not sent again")
	require.NoError(t, s.Rollback(txCtx), "the transaction ended with its connection: nothing to roll back")
	_, err = s.GetToken(ctx, storage.KindAccessToken, "sig-in-tx")
	assert.ErrorIs(t, err, storage.ErrNotFound)
}
