package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// /healthz and /readyz are served on both listeners without a token;
// /metrics on the admin listener only, without a token, in the Prometheus
// text format, with the provider's metrics and no secret.
func TestDemoProbesAndMetrics(t *testing.T) {
	d := startDemoAdmin(t)
	for _, base := range []string{d.issuer, d.admin} {
		for _, path := range []string{"/healthz", "/readyz"} {
			status, body := get(t, base+path)
			assert.Equal(t, http.StatusOK, status, "%s%s", base, path)
			assert.Equal(t, "ok\n", body)
		}
	}
	status, _ := get(t, d.issuer+"/metrics")
	assert.Equal(t, http.StatusNotFound, status, "no /metrics on the OAuth listener")

	status, tok := postForm(t, d.issuer+"/oauth2/token", "demo-service", "demo-service-secret", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}})
	require.Equal(t, http.StatusOK, status)
	status, _ = postForm(t, d.issuer+"/oauth2/token", "demo-service", "not-the-secret", url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusUnauthorized, status)

	status, metrics := get(t, d.admin+"/metrics")
	require.Equal(t, http.StatusOK, status)
	for _, want := range []string{
		`gatehouse_tokens_issued_total{oauth_client_id="demo-service",oauth_grant_type="client_credentials"`,
		`gatehouse_client_authentication_failures_total{gatehouse_reason="invalid_credentials",oauth_client_id="demo-service"`,
		`gatehouse_server_request_duration_seconds_bucket{gatehouse_endpoint="token"`,
		`gatehouse_signing_keys{gatehouse_key_state="active"`,
		`gatehouse_housekeeping_runs_total{gatehouse_housekeeping_task="delete_expired",gatehouse_outcome="done"`,
		"go_goroutines",
	} {
		assert.Contains(t, metrics, want)
	}
	for _, secret := range []string{"demo-service-secret", "not-the-secret", tok["access_token"].(string), d.adminToken} {
		assert.NotContains(t, metrics, secret)
	}
}

// collector is a fake OTLP/HTTP trace receiver.
type collector struct {
	mu    sync.Mutex
	spans []string
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				c.spans = append(c.spans, sp.Name)
			}
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	_, _ = w.Write(out)
}

// -otlp-endpoint sends the provider's spans over OTLP/HTTP; those still
// buffered are sent when the demo stops.
func TestDemoOTLPTraces(t *testing.T) {
	c := &collector{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	issuer, stop := startDemoStoppable(t, "-otlp-endpoint", srv.URL)
	status, _ := postForm(t, issuer+"/oauth2/token", "demo-service", "demo-service-secret", url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusOK, status)
	stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Contains(t, c.spans, "gatehouse.token.client_credentials")
	assert.Contains(t, c.spans, "gatehouse.store.CreateToken")

	err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-admin-addr", "", "-otlp-endpoint", "127.0.0.1:4318"}, io.Discard)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "-otlp-endpoint"), "%v", err)
}

// Without an admin listener there is no /metrics to read measurements
// from, so none are taken: the provider keeps the no-op meter provider.
func TestNoMetricsWithoutAdminListener(t *testing.T) {
	tel, err := newTelemetry(t.Context(), false, "", 1)
	require.NoError(t, err)
	var cfg provider.Config
	tel.configure(&cfg)
	assert.Nil(t, cfg.MeterProvider, "the global (no-op) meter provider")
	assert.Nil(t, tel.metrics)
	require.NoError(t, tel.shutdown(t.Context()))

	tel, err = newTelemetry(t.Context(), true, "", 1)
	require.NoError(t, err)
	tel.configure(&cfg)
	assert.NotNil(t, cfg.MeterProvider)
	assert.NotNil(t, tel.metrics)
	require.NoError(t, tel.shutdown(t.Context()))
}
