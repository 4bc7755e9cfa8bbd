package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// This file is where the store takes connections from the pool, and the
// one place that decides whether a failed call may be made again.
//
// A backend that went away while its connection sat idle in the pool
// (pg_terminate_backend, a server restart, idle_session_timeout, a
// failover) has sent its last words, a FATAL error, and closed the socket;
// pgx finds out only when it next uses the connection, and then it has
// already sent the statement, so the error it gets (FATAL 57P01) does not
// say whether the statement ran. acquire therefore looks at the socket
// before lending a connection: if the server has sent anything while the
// connection was idle, it pings the connection (which reads what was sent)
// and, if that fails, closes it and takes another. The caller's statement
// is never sent on a connection found broken this way.
//
// A statement that fails anyway is retried only when it provably never
// reached the server (pgconn.SafeToRetry: pgx had sent nothing, for example
// a write to a socket already reset; but not pgconn.ErrConnClosed, see
// retryOnce), and only if it was the first statement of the call, so that
// nothing the call did before is replayed. It is retried once, on another
// connection. A BEGIN that failed that way is retried like any first
// statement; once BEGIN has succeeded, nothing of the transaction is
// retried, neither a statement alone (its transaction is gone with its
// connection) nor the whole transaction (its COMMIT may have reached the
// server). Any other failure, above all a write whose answer was lost, is
// returned: a committed consumption of a code must not be replayed.
//
// (The socket is looked at on Linux, macOS and the BSDs; elsewhere a
// connection whose backend went away fails its next statement, as pgx
// reports it.)

// conn is a connection of the pool lent to one call of onConn's f. It
// counts the statements f sends, so that onConn knows whether a failure
// came from f's first one.
type conn struct {
	c     *pgxpool.Conn
	sent  int  // statements started on c
	began bool // a BEGIN on c succeeded: no retry from then on
	keep  bool // f keeps c (an open transaction of BeginTx): onConn does not release it
}

var _ querier = (*conn)(nil)

func (c *conn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.sent++
	return c.c.Exec(ctx, sql, args...)
}

func (c *conn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.sent++
	return c.c.Query(ctx, sql, args...)
}

func (c *conn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.sent++
	return c.c.QueryRow(ctx, sql, args...)
}

// begin starts a READ COMMITTED transaction on c.
func (c *conn) begin(ctx context.Context) (pgx.Tx, error) {
	c.sent++
	tx, err := c.c.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err == nil {
		c.began = true
	}
	return tx, err
}

// retryOnce reports whether a call that failed with err on c may be made
// again on another connection: err says that nothing was sent (and ctx is
// not done), and nothing else of the call had been sent before.
//
// pgconn.SafeToRetry is also true of pgconn.ErrConnClosed, an operation
// refused because the connection was already closed; but pgx (v5.12) also
// returns that error for a statement without arguments (BEGIN, COMMIT) whose
// answer was lost after it was sent. acquire lends only open connections
// and only a call's first statement is retried, so here ErrConnClosed
// means that the connection broke during the statement, which may have
// reached the server: it is not retried.
func (c *conn) retryOnce(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && c.sent <= 1 && !c.began &&
		pgconn.SafeToRetry(err) && !errors.Is(err, pgconn.ErrConnClosed)
}

// retryStale reports whether a call that failed with err on c may be made
// again on c: err is PostgreSQL's refusal of a cached prepared statement
// whose table a migration changed while this process ran (pgx has then
// dropped the statement, so the next call prepares it again), the
// statement refused did nothing, and nothing the call did before it
// stays: it was the call's first statement, or the call was one
// transaction, which failed and was rolled back.
func (c *conn) retryStale(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() == nil && (c.sent <= 1 || c.began) && isStalePlan(err)
}

// onConn calls f with a connection of the pool (see acquire) and releases
// it afterwards, unless f set keep. If f fails in a way retryOnce accepts,
// the connection is closed and f is called once more, on another one; if
// retryStale accepts the failure, f is called once more on the same
// connection. f must not keep the connection when it fails.
func (s *Store) onConn(ctx context.Context, f func(c *conn) error) error {
	for attempt := 0; ; attempt++ {
		pc, err := s.acquire(ctx)
		if err != nil {
			return err
		}
		c := &conn{c: pc}
		err = f(c)
		if c.retryStale(ctx, err) {
			*c = conn{c: pc}
			err = f(c)
		}
		if attempt == 0 && c.retryOnce(ctx, err) {
			discard(pc)
			continue
		}
		if !c.keep {
			pc.Release()
		}
		return err
	}
}

// acquire takes a connection from the pool. A connection on which the
// server has sent something while it was idle in the pool is pinged first,
// which reads what was sent: a notice leaves it usable, the FATAL error of
// a terminated backend (or an end of stream) fails the ping, and the
// connection is then closed and another taken. Nothing of the caller's is
// sent on a connection that fails the ping.
func (s *Store) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	// Each failed check closes a connection, so the pool soon has to dial
	// new ones; a server that kills every new connection at once still
	// ends the loop.
	var lastErr error
	for range s.maxConns + 1 {
		pc, err := s.pool.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		pg := pc.Conn().PgConn()
		// SyncConn costs nothing on a connection pgx has finished reading
		// from. After a slow write pgx may still have a read of its own
		// pending on the socket, or unread bytes in its buffer; SyncConn
		// then pings, which reads them, and fails if they were the end.
		if lastErr = pg.SyncConn(ctx); lastErr == nil {
			if !serverSpoke(pg.Conn()) {
				return pc, nil
			}
			if lastErr = pc.Ping(ctx); lastErr == nil {
				return pc, nil
			}
		}
		discard(pc)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("every connection taken from the pool was broken; check that the database server keeps new connections open: %w", lastErr)
}

// discard takes a connection out of the pool and closes it.
func discard(pc *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = pc.Hijack().Close(ctx) // a broken connection: nothing to do about an error
}
