// Package pgtest gives tests a PostgreSQL database of their own: a store on
// a random table prefix whose tables are dropped when the test ends. Tests
// that use it skip, saying how to run them, when GATEHOUSE_TEST_POSTGRES_DSN
// is unset.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse/gatehouse/storage/postgres"
)

// EnvDSN is the environment variable that names the test database.
const EnvDSN = "GATEHOUSE_TEST_POSTGRES_DSN"

// DSN returns the DSN of the test database, and skips the test when it is
// unset.
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		t.Skip(EnvDSN + " is not set; skipping PostgreSQL tests (for a local server: export " + EnvDSN + "='postgres://postgres@127.0.0.1:5432/test?sslmode=disable')")
	}
	return dsn
}

// Pool returns a pool on the test database, closed when the test ends.
// Unless the DSN says otherwise it has at most 10 connections, so that many
// parallel tests fit in the server's max_connections.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := DSN(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDSN, err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = 10
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("create pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Prefix returns a table prefix no other test uses: "t", 10 random hex
// digits, "_". Its tables are dropped when the test ends, before pool is
// closed.
func Prefix(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	prefix := "t" + hex.EncodeToString(b) + "_"
	t.Cleanup(func() { Drop(t, pool, prefix) })
	return prefix
}

// Drop drops every table whose name starts with prefix.
func Drop(t testing.TB, pool *pgxpool.Pool, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := pool.Query(ctx, `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
		WHERE left(tablename, length($1)) = $1`, prefix)
	if err != nil {
		t.Errorf("list the tables of prefix %s: %v", prefix, err)
		return
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Errorf("list the tables of prefix %s: %v", prefix, err)
			return
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Errorf("list the tables of prefix %s: %v", prefix, err)
		return
	}
	if len(tables) == 0 {
		return
	}
	if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS `+strings.Join(tables, ", ")+` CASCADE`); err != nil {
		t.Errorf("drop the tables of prefix %s: %v", prefix, err)
	}
}

// Store returns a migrated store on its own random prefix, the pool it uses
// and the prefix. When the test ends every table of the prefix is dropped
// and the pool closed. opts come before the prefix option, so they cannot
// change the prefix.
func Store(t testing.TB, opts ...postgres.Option) (*postgres.Store, *pgxpool.Pool, string) {
	t.Helper()
	pool := Pool(t)
	prefix := Prefix(t, pool)
	opts = append(append([]postgres.Option{}, opts...), postgres.WithTablePrefix(prefix), postgres.WithMigrate())
	s, err := postgres.New(context.Background(), pool, opts...)
	if err != nil {
		t.Fatalf("postgres.New: %v", err)
	}
	t.Cleanup(s.Close)
	return s, pool, prefix
}

// RoundTrips counts the round trips a pool makes to the server: every
// statement sent on its own (a COMMIT included) and every batch; and the
// COMMITs, alone or in a batch. Install it
// with [CountedStore].
type RoundTrips struct {
	statements, batches, commits atomic.Int64
}

// TraceQueryStart implements pgx.QueryTracer.
func (c *RoundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.statements.Add(1)
	if strings.EqualFold(strings.TrimSpace(data.SQL), "commit") {
		c.commits.Add(1)
	}
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (*RoundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart implements pgx.BatchTracer.
func (c *RoundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.batches.Add(1)
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer: a COMMIT sent in a batch
// counts as a commit, not as a round trip of its own.
func (c *RoundTrips) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	if strings.EqualFold(strings.TrimSpace(data.SQL), "commit") {
		c.commits.Add(1)
	}
}

// TraceBatchEnd implements pgx.BatchTracer.
func (*RoundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// Counts returns the round trips so far (statements sent alone plus
// batches) and, of the statements, the COMMITs.
func (c *RoundTrips) Counts() (roundTrips, commits int64) {
	return c.statements.Load() + c.batches.Load(), c.commits.Load()
}

// CountedStore is [Store] on a pool whose round trips rt counts.
func CountedStore(t testing.TB, rt *RoundTrips, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(DSN(t))
	if err != nil {
		t.Fatalf("parse %s: %v", EnvDSN, err)
	}
	cfg.ConnConfig.Tracer = rt
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("create pool: %v", err)
	}
	t.Cleanup(pool.Close)
	prefix := Prefix(t, pool)
	opts = append(append([]postgres.Option{}, opts...), postgres.WithTablePrefix(prefix), postgres.WithMigrate())
	s, err := postgres.New(context.Background(), pool, opts...)
	if err != nil {
		t.Fatalf("postgres.New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}
