package provider_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// With Config.TracerProvider unset, the provider traces with the global
// TracerProvider. While the host has installed neither a TracerProvider
// nor a propagator, a request skips its span (it would record nothing and
// carry nothing); once the host installs both, however long after New,
// requests are traced again, continuing the trace their traceparent
// carries. Global providers cannot be uninstalled, so the test runs in a
// process of its own.
func TestGlobalTracerInstalledAfterNew(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_GLOBAL_OTEL") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGlobalTracerInstalledAfterNew$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_GLOBAL_OTEL=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "--- PASS: TestGlobalTracerInstalledAfterNew", "%s", out)
		return
	}
	e := newEnv(t) // no TracerProvider in the Config
	h := e.p.Handler()
	const parentTrace, parentSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	post := func() {
		req := httptest.NewRequest(http.MethodPost, e.issuer+"/oauth2/token", strings.NewReader(ccBody))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Traceparent", "00-"+parentTrace+"-"+parentSpan+"-01")
		req.SetBasicAuth(e.svc.ID, e.svcSecret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	post() // untraced: nothing is installed

	spans := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	post()
	var names []string
	for _, sp := range spans.Ended() {
		names = append(names, sp.Name())
		if strings.HasPrefix(sp.Name(), "gatehouse.token") {
			assert.Equal(t, parentTrace, sp.SpanContext().TraceID().String(), "the request's trace continues")
			assert.Equal(t, parentSpan, sp.Parent().SpanID().String())
			return
		}
	}
	t.Fatalf("no gatehouse.token span once an SDK is installed; spans: %v", names)
}
