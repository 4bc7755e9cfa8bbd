package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse/gatehouse/storage/postgres"
)

// testDSN returns the DSN of the test database from
// GATEHOUSE_TEST_POSTGRES_DSN, and skips the test when it is unset.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES_DSN is not set; skipping PostgreSQL tests (for a local server: export GATEHOUSE_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable')")
	}
	return dsn
}

// newTestPool returns a pool on the test database, closed when the test
// ends. Unless the DSN says otherwise it has at most 10 connections, so that
// many parallel tests fit in the server's max_connections.
func newTestPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := testDSN(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("parse GATEHOUSE_TEST_POSTGRES_DSN: %v", err)
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

// newTestPrefix returns a table prefix no other test uses: "t", 10 random
// hex digits, "_". Its tables are dropped when the test ends, before pool
// is closed.
func newTestPrefix(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	prefix := "t" + hex.EncodeToString(b) + "_"
	t.Cleanup(func() { dropPrefix(t, pool, prefix) })
	return prefix
}

// dropPrefix drops every table whose name starts with prefix.
func dropPrefix(t testing.TB, pool *pgxpool.Pool, prefix string) {
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

// newTestStore returns a migrated store on its own random prefix ("t" + 10
// hex digits + "_"), the pool it uses and the prefix. When the test ends
// every table of the prefix is dropped and the pool closed. opts come
// before the prefix option, so they cannot change the prefix.
func newTestStore(t testing.TB, opts ...postgres.Option) (*postgres.Store, *pgxpool.Pool, string) {
	t.Helper()
	pool := newTestPool(t)
	prefix := newTestPrefix(t, pool)
	opts = append(append([]postgres.Option{}, opts...), postgres.WithTablePrefix(prefix), postgres.WithMigrate())
	s, err := postgres.New(context.Background(), pool, opts...)
	if err != nil {
		t.Fatalf("postgres.New: %v", err)
	}
	t.Cleanup(s.Close)
	return s, pool, prefix
}
