package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The demo on PostgreSQL keeps working across a restart: a refresh token
// issued before it is honoured after it, and the demo data is seeded once.
func TestDemoOnPostgresSurvivesRestart(t *testing.T) {
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES_DSN is not set; skipping PostgreSQL tests (for a local server: export GATEHOUSE_TEST_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable')")
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	prefix := "tdemo" + hex.EncodeToString(b) + "_"
	t.Cleanup(func() { dropPrefix(t, dsn, prefix) })
	args := []string{"-dsn", dsn, "-table-prefix", prefix}

	issuer, stop := startDemoStoppable(t, args...)
	t.Cleanup(stop)
	tok := demoWebLogin(t, issuer)
	require.NotEmpty(t, tok.RefreshToken)
	stop() // the first server stops

	issuer = startDemo(t, args...) // the same database, a new process state
	status, body := postForm(t, issuer+"/oauth2/token", "demo-web", "demo-web-secret", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	require.Equal(t, http.StatusOK, status, "a refresh token from before the restart: %v", body)
	assert.NotEmpty(t, body["refresh_token"])
	assert.Equal(t, http.StatusOK, getAPI(t, issuer+"/api/v1/widgets/top-vulnerable-clusters", body["access_token"].(string)))
}

// dropPrefix drops the tables a test created.
func dropPrefix(t *testing.T, dsn, prefix string) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND starts_with(tablename, $1)`, prefix)
	if err != nil {
		t.Logf("cleanup: %v", err)
		return
	}
	var names []string
	for rows.Next() {
		var n string
		if rows.Scan(&n) == nil {
			names = append(names, n)
		}
	}
	rows.Close()
	for _, n := range names {
		if _, err := pool.Exec(ctx, `DROP TABLE IF EXISTS "`+n+`" CASCADE`); err != nil {
			t.Logf("cleanup: drop %s: %v", n, err)
		}
	}
}
