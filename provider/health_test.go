package provider_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage/postgres"
)

// probe sends a GET (or method) to h and returns the status and body.
func probe(t *testing.T, h http.Handler, method string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/probe", nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Result().Header
}

func TestHealthzAndReadyz(t *testing.T) {
	e := newEnv(t)
	for name, h := range map[string]http.Handler{"healthz": e.p.HealthzHandler(), "readyz": e.p.ReadyzHandler()} {
		t.Run(name, func(t *testing.T) {
			status, body, hdr := probe(t, h, http.MethodGet)
			assert.Equal(t, http.StatusOK, status)
			assert.Equal(t, "ok\n", body)
			assert.Equal(t, "no-store", hdr.Get("Cache-Control"))
			status, body, _ = probe(t, h, http.MethodHead)
			assert.Equal(t, http.StatusOK, status)
			assert.Empty(t, body)
			status, _, hdr = probe(t, h, http.MethodPost)
			assert.Equal(t, http.StatusMethodNotAllowed, status)
			assert.Equal(t, "GET, HEAD", hdr.Get("Allow"))
		})
	}
	require.NoError(t, e.p.Ready(context.Background()))
}

// /readyz turns unready when PostgreSQL cannot be reached (the connection
// cut at a proxy), says nothing about why, and is ready again once the
// database can be reached; /healthz stays ready throughout.
func TestReadyzFollowsTheStore(t *testing.T) {
	proxy, dsn := pgtest.NewProxy(t)
	pool := pgtest.Pool(t)
	prefix := pgtest.Prefix(t, pool)
	store, err := postgres.Open(context.Background(), dsn, postgres.WithMigrate(), postgres.WithTablePrefix(prefix))
	require.NoError(t, err)
	t.Cleanup(store.Close)
	e := newEnvOn(t, store)
	readyz, healthz := e.p.ReadyzHandler(), e.p.HealthzHandler()

	status, body, _ := probe(t, readyz, http.MethodGet)
	require.Equal(t, http.StatusOK, status, body)

	proxy.Cut()
	status, body, hdr := probe(t, readyz, http.MethodGet)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "not ready\n", body, "the reason is logged, not shown")
	assert.Equal(t, "5", hdr.Get("Retry-After"))
	assert.ErrorContains(t, e.p.Ready(context.Background()), "the store does not answer")
	status, _, _ = probe(t, healthz, http.MethodGet)
	assert.Equal(t, http.StatusOK, status, "liveness does not depend on the database")

	proxy.Restore()
	status, body, _ = probe(t, readyz, http.MethodGet)
	assert.Equal(t, http.StatusOK, status, body)
	require.NoError(t, e.p.Ready(context.Background()))
}
