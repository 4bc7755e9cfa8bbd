package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse/gatehouse/storage"
)

// Store is a [storage.Store] and [storage.Transactor] on a PostgreSQL
// database. Make one with [New] or [Open]. A Store is safe for concurrent
// use by many goroutines, and any number of Stores, in any number of
// processes, may share one database and prefix: every single-use primitive
// and every update is decided by the database.
type Store struct {
	pool     *pgxpool.Pool
	maxConns int32 // the pool's MaxConns
	owned    bool  // Open made pool; Close closes it
	prefix   string
	queries  sync.Map // query template -> query with the prefix
	groups   insertGroups
}

var (
	_ storage.Store          = (*Store)(nil)
	_ storage.Transactor     = (*Store)(nil)
	_ storage.TokenSetGetter = (*Store)(nil)
)

// Option configures [New], [Open] and [Migrate].
type Option func(*options)

type options struct {
	prefix  string
	migrate bool
}

// DefaultTablePrefix is the table prefix used without [WithTablePrefix].
const DefaultTablePrefix = "gatehouse_"

var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

// WithTablePrefix sets the prefix of every table name (default
// "gatehouse_"), so a host can share its database; it must match
// ^[a-z][a-z0-9_]{0,30}$.
func WithTablePrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}

// WithMigrate makes [New] (and [Open]) apply the migrations first, as
// [Migrate] does.
func WithMigrate() Option {
	return func(o *options) { o.migrate = true }
}

func buildOptions(opts []Option) (options, error) {
	o := options{prefix: DefaultTablePrefix}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if !prefixPattern.MatchString(o.prefix) {
		return o, fmt.Errorf("postgres: invalid table prefix %q: it must match %s", o.prefix, prefixPattern)
	}
	return o, nil
}

// New returns a store on pool. It checks the schema version: if the
// database is behind this package's migrations it returns an error that
// says to call [Migrate] (or use [WithMigrate]); if it is ahead (a newer
// binary migrated it) it returns an error naming both versions. The pool
// stays the caller's: [Store.Close] does not close it.
func New(ctx context.Context, pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("postgres: New: the pool is nil")
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.migrate {
		if err := migrate(ctx, pool, o.prefix); err != nil {
			return nil, err
		}
	}
	if err := checkVersion(ctx, pool, o.prefix); err != nil {
		return nil, err
	}
	return &Store{pool: pool, maxConns: pool.Config().MaxConns, prefix: o.prefix}, nil
}

// Open creates a pool from dsn (a PostgreSQL URL or keyword/value string,
// including pgxpool's pool_* settings) and calls [New]; [Store.Close] then
// closes the pool.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	if _, err := buildOptions(opts); err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included: do not pass it on.
		return nil, errors.New("postgres: Open: cannot parse the connection string or create the pool")
	}
	s, err := New(ctx, pool, opts...)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// Close closes the pool if [Open] created it; otherwise it does nothing.
func (s *Store) Close() {
	if s.owned {
		s.pool.Close()
	}
}

// Pool returns the pool the store uses.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// TablePrefix returns the prefix of the store's tables.
func (s *Store) TablePrefix() string { return s.prefix }

// sql returns query with every "{p}" replaced by the table prefix. Prefixes
// are validated, so the result is safe to run.
func (s *Store) sql(query string) string {
	if q, ok := s.queries.Load(query); ok {
		return q.(string)
	}
	q := strings.ReplaceAll(query, "{p}", s.prefix)
	s.queries.Store(query, q)
	return q
}

// rollbackTimeout bounds a rollback that runs after its context is done.
const rollbackTimeout = 5 * time.Second

// querier is what a connection, a transaction and a savepoint have in
// common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// run calls f with the context's transaction if it carries one of this
// store's pool, and with a connection of the pool otherwise (see onConn,
// which also says when f is called again). The transaction is held for
// the whole of f: pgx transactions are not safe for concurrent use. Inside
// a transaction nothing is retried: after a failure the transaction is
// broken and the caller must roll it back.
func (s *Store) run(ctx context.Context, f func(q querier) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st := txFrom(ctx, s.pool)
	if st == nil {
		return s.onConn(ctx, func(c *conn) error { return f(c) })
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.tx == nil {
		return errTxEnded
	}
	if err := s.flushPending(ctx, st); err != nil {
		return err
	}
	return f(st.tx)
}

// inTx calls f inside a transaction: a savepoint of the context's
// transaction if it carries one, else a new READ COMMITTED transaction. f's
// writes are committed if it returns nil and rolled back otherwise; f's
// error is returned as it is. A new transaction whose BEGIN failed before
// reaching the server is begun again on another connection; nothing after
// a successful BEGIN is retried (see onConn).
func (s *Store) inTx(ctx context.Context, f func(q querier) error) error {
	return s.run(ctx, func(q querier) error {
		var (
			tx  pgx.Tx
			err error
		)
		switch q := q.(type) {
		case pgx.Tx:
			tx, err = q.Begin(ctx) // a savepoint
		case *conn:
			tx, err = q.begin(ctx)
		default:
			return fmt.Errorf("postgres: internal error: a transaction on a %T (please report it)", q)
		}
		if err != nil {
			return err
		}
		if err := f(tx); err != nil {
			// Roll back even when ctx is done: a savepoint left in place
			// would leave f's writes in the outer transaction. (A connection
			// that a cancelled query left broken fails at once.)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			_ = tx.Rollback(rctx)
			return err
		}
		return tx.Commit(ctx)
	})
}

// fail returns the error of one store operation: "postgres: <op>: <cause>",
// where pgx's no-rows becomes [storage.ErrNotFound] and a unique violation
// [storage.ErrAlreadyExists]. If ctx is done the error also wraps ctx.Err(),
// so that errors.Is finds context.Canceled or context.DeadlineExceeded
// whatever pgx reported.
func (s *Store) fail(ctx context.Context, err error, format string, args ...any) error {
	op := fmt.Sprintf(format, args...)
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		err = storage.ErrNotFound
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		err = fmt.Errorf("%w (constraint %s)", storage.ErrAlreadyExists, pgErr.ConstraintName)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		// The context ended while the query ran: pgx's error may not say so.
		return fmt.Errorf("postgres: %s: %w (%w)", op, cerr, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// isStalePlan reports whether err says that a cached prepared statement's
// result type no longer matches its table.
func isStalePlan(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "0A000" && strings.Contains(pgErr.Message, "cached plan must not change result type")
}

// isNoRows reports whether err is pgx's "no rows".
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
