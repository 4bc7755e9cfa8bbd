package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse/gatehouse/storage"
)

// txKey is the context key of the transaction BeginTx started.
type txKey struct{}

// txState is a transaction riding in a context. mu serialises its use: a
// pgx.Tx is one connection and not safe for concurrent use. tx is nil once
// the transaction has ended.
type txState struct {
	mu   sync.Mutex
	pool *pgxpool.Pool
	conn *pgxpool.Conn // tx's connection, released when tx ends
	tx   pgx.Tx
	stop func() bool // stops the rollback when the context is done

	// pending are the arguments of token inserts held back
	// (storage.DeferInserts), sent before the transaction's next statement
	// or with its COMMIT.
	pending [][]any
}

// end releases the connection of the ended transaction. st.mu is held.
func (st *txState) end() {
	st.tx, st.pending = nil, nil
	st.conn.Release()
}

var (
	errTxEnded = errors.New("postgres: the context's transaction has already been committed or rolled back")
	errNoTx    = errors.New("postgres: the context carries no transaction (call BeginTx first)")
)

// txFrom returns the context's transaction if it is one on pool.
func txFrom(ctx context.Context, pool *pgxpool.Pool) *txState {
	st, _ := ctx.Value(txKey{}).(*txState)
	if st == nil || st.pool != pool {
		return nil
	}
	return st
}

// BeginTx implements [storage.Transactor]. It starts a READ COMMITTED
// transaction on a connection of the pool and returns a context that
// carries it: every method of the store (and of any store on the same pool)
// called with that context or one derived from it runs inside the
// transaction. The single-use primitives lock the rows they change until the
// transaction ends, so of two transactions consuming the same code one
// waits for the other and then gets [storage.ErrAlreadyUsed] (or wins, if
// the other rolled back).
//
// The transaction must be ended with [Store.Commit] or [Store.Rollback]; if
// ctx is done first it is rolled back and its connection returned to the
// pool. After a statement fails inside the transaction (other than with
// [storage.ErrNotFound], [storage.ErrAlreadyExists] or
// [storage.ErrAlreadyUsed], which leave it usable) PostgreSQL refuses
// further statements until it is rolled back. BeginTx on a context that
// already carries an open transaction is an error.
func (s *Store) BeginTx(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return ctx, fmt.Errorf("postgres: begin transaction: %w", err)
	}
	if st, _ := ctx.Value(txKey{}).(*txState); st != nil {
		st.mu.Lock()
		open := st.tx != nil
		st.mu.Unlock()
		if open {
			return ctx, errors.New("postgres: begin transaction: the context already carries a transaction")
		}
	}
	st := &txState{pool: s.pool}
	err := s.onConn(ctx, func(c *conn) error {
		tx, err := c.begin(ctx) // retried on another connection if it never reached the server
		if err == nil {
			st.conn, st.tx, c.keep = c.c, tx, true
		}
		return err
	})
	if err != nil {
		return ctx, s.fail(ctx, err, "begin transaction")
	}
	st.stop = context.AfterFunc(ctx, func() {
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.tx != nil {
			// ctx is done: pgx closes the connection, which rolls back.
			_ = st.tx.Rollback(ctx)
			st.end()
		}
	})
	return context.WithValue(ctx, txKey{}, st), nil
}

// Commit implements [storage.Transactor]: it commits the context's
// transaction. If the context is done the transaction is rolled back and
// the context's error returned.
func (s *Store) Commit(ctx context.Context) error {
	st, _ := ctx.Value(txKey{}).(*txState)
	if st == nil {
		return fmt.Errorf("postgres: commit: %w", errNoTx)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.tx == nil {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("postgres: commit: %w (%w)", err, errTxEnded)
		}
		return fmt.Errorf("postgres: commit: %w", errTxEnded)
	}
	tx := st.tx
	defer st.end()
	st.stop()
	if err := ctx.Err(); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("postgres: commit: %w", err)
	}
	if len(st.pending) > 0 {
		return s.commitPending(ctx, st, tx)
	}
	if err := tx.Commit(ctx); err != nil {
		return s.fail(ctx, err, "commit")
	}
	return nil
}

// deferredInsertSQL is insertTokenSQL failing on a taken key, so that the
// COMMIT sent after it in the same batch does not run.
var deferredInsertSQL = strings.TrimSuffix(insertTokenSQL, "\n\tON CONFLICT (kind, signature) DO NOTHING")

// pendingBatch queues the held-back inserts of st, which it forgets.
func (s *Store) pendingBatch(st *txState) *pgx.Batch {
	b := &pgx.Batch{}
	for _, args := range st.pending {
		b.Queue(s.sql(deferredInsertSQL), args...)
	}
	st.pending = nil
	return b
}

// commitPending sends the held-back inserts and the COMMIT in one batch:
// one round trip. If an insert fails, PostgreSQL skips the rest of the
// batch, the COMMIT included, and the transaction is rolled back.
func (s *Store) commitPending(ctx context.Context, st *txState, tx pgx.Tx) error {
	b := s.pendingBatch(st)
	b.Queue("commit")
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx) // a broken connection is closed, which rolls back as well
		return s.fail(ctx, err, "commit")
	}
	// The batch's COMMIT ended the transaction; the connection is idle,
	// and end returns it to the pool.
	return nil
}

// flushPending sends the held-back inserts of st, before another
// statement of its transaction. st.mu is held.
func (s *Store) flushPending(ctx context.Context, st *txState) error {
	if len(st.pending) == 0 {
		return nil
	}
	if err := st.tx.SendBatch(ctx, s.pendingBatch(st)).Close(); err != nil {
		return s.fail(ctx, err, "create the transaction's tokens")
	}
	return nil
}

// deferInsert holds back the insert of t until the next statement of the
// context's transaction or its COMMIT (storage.DeferInserts). t's slices
// are copied: the caller may change them once the call has returned.
func (s *Store) deferInsert(st *txState, t storage.Token) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.tx == nil {
		return errTxEnded
	}
	r := &t.Request
	r.RequestedScopes, r.GrantedScopes = slices.Clone(r.RequestedScopes), slices.Clone(r.GrantedScopes)
	r.RequestedAudience, r.GrantedAudience = slices.Clone(r.RequestedAudience), slices.Clone(r.GrantedAudience)
	r.Session = slices.Clone(r.Session)
	st.pending = append(st.pending, tokenArgs(t)) // the form is encoded here
	return nil
}

// Rollback implements [storage.Transactor]: it rolls back the context's
// transaction. Rolling back a transaction that has already ended (committed,
// rolled back, ended with its context, or ended with its connection, which
// PostgreSQL rolls back) does nothing and returns nil, so a deferred
// Rollback is always safe.
func (s *Store) Rollback(ctx context.Context) error {
	st, _ := ctx.Value(txKey{}).(*txState)
	if st == nil {
		return fmt.Errorf("postgres: rollback: %w", errNoTx)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.tx == nil {
		return nil
	}
	tx := st.tx
	defer st.end()
	st.stop()
	// With a done ctx pgx closes the connection instead, which rolls back
	// as well; so does a connection that broke.
	if err := tx.Rollback(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, pgx.ErrTxClosed) && !errors.Is(err, pgconn.ErrConnClosed) {
		return s.fail(ctx, err, "rollback")
	}
	return nil
}
