package main

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
)

// The demo on PostgreSQL keeps working across a restart: a refresh token
// issued before it is honoured after it, and the demo data is seeded once.
func TestDemoOnPostgresSurvivesRestart(t *testing.T) {
	dsn := pgtest.DSN(t)
	prefix := pgtest.Prefix(t, pgtest.Pool(t))
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
