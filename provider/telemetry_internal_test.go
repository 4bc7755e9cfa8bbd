package provider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// The audit metrics report what the audit trail's source says, once one is
// set (the audit trail calls setAuditSource), and nothing before.
func TestAuditMetricsHook(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	cfg := Config{MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))}
	tel, err := newTelemetry(&cfg)
	require.NoError(t, err)
	values := func() map[string]int64 {
		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		out := map[string]int64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch d := m.Data.(type) {
				case metricdata.Gauge[int64]:
					for _, dp := range d.DataPoints {
						out[m.Name] += dp.Value
					}
				case metricdata.Sum[int64]:
					for _, dp := range d.DataPoints {
						out[m.Name] += dp.Value
					}
				}
			}
		}
		return out
	}
	assert.NotContains(t, values(), MetricAuditQueueDepth, "no source, no points")
	queued, unwritten := int64(3), int64(7)
	tel.setAuditSource(func() (int64, int64) { return queued, unwritten })
	v := values()
	assert.Equal(t, int64(3), v[MetricAuditQueueDepth])
	assert.Equal(t, int64(7), v[MetricAuditUnwritten])
	queued, unwritten = 0, 9
	v = values()
	assert.Equal(t, int64(0), v[MetricAuditQueueDepth])
	assert.Equal(t, int64(9), v[MetricAuditUnwritten])
}

// A request's attribute sets are built once: measuring again allocates
// nothing.
func TestAttrCacheAllocatesNothing(t *testing.T) {
	var c attrCache
	k := attrKey{kind: kindIssued, v: [4]string{"client_credentials", "svc"}}
	first := c.get(k)
	allocs := testing.AllocsPerRun(100, func() {
		if c.get(k) != first {
			t.Fatal("another set for the same key")
		}
	})
	assert.Zero(t, allocs)
}

// OpenTelemetry's default global TracerProvider and propagator are
// recognised (by the names of their types, which a new OpenTelemetry
// release could change: this test then fails, and otelUntouched must be
// brought up to date), and nothing in this test binary installs others.
func TestOTelDefaultsRecognised(t *testing.T) {
	require.NotNil(t, defaultTracerProvider, "otel's default TracerProvider is %T", otel.GetTracerProvider())
	require.NotNil(t, defaultPropagator, "otel's default propagator is %T", otel.GetTextMapPropagator())
	assert.True(t, otelUntouched())
}

// While OpenTelemetry is untouched (no SDK, no propagator installed), a
// request's instrumentation allocates one record and starts no span
// (docs/operations.md).
func TestUntouchedTelemetryAllocatesOneRecord(t *testing.T) {
	require.True(t, otelUntouched())
	tel, err := newTelemetry(&Config{})
	require.NoError(t, err)
	h := tel.instrument(tel.endpoint("token"), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9/oauth2/token", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req) // the attribute sets are built once
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { h.ServeHTTP(w, req) }))
}
