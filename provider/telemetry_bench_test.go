//go:build unix

package provider_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// discardExporter is a span exporter that counts what the batch processor
// hands it and drops it: the SDK's whole path to an exporter, without the
// network.
type discardExporter struct{ spans atomic.Int64 }

func (d *discardExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	d.spans.Add(int64(len(spans)))
	return nil
}
func (d *discardExporter) Shutdown(context.Context) error { return nil }

// cpuTime is the CPU time the process has used, all threads together:
// the requests, the garbage collector and the span exporter's goroutine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation since start ("cpu-ns/op"):
// on a shared machine, where other processes stretch wall time, the CPU a
// request costs is the steadier measure of throughput (a dedicated server
// serves cores / cpu-ns requests per ns).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// telemetrySetups are the OpenTelemetry setups the cost benchmarks compare,
// side by side in one run: the no-op providers (what a host gets without an
// SDK), the metrics SDK alone, and the metrics SDK with the tracing SDK
// behind a real batch span processor whose exporter drops the spans, at
// four sampling settings (0 %: what a request that is not sampled costs).
func telemetrySetups() []struct {
	name  string
	setup func(b *testing.B) (trace.TracerProvider, metric.MeterProvider)
} {
	meter := func(b *testing.B) metric.MeterProvider {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		return mp
	}
	traced := func(sampler sdktrace.Sampler) func(b *testing.B) (trace.TracerProvider, metric.MeterProvider) {
		return func(b *testing.B) (trace.TracerProvider, metric.MeterProvider) {
			exp := &discardExporter{}
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sampler))
			b.Cleanup(func() {
				_ = tp.Shutdown(context.Background())
				b.ReportMetric(float64(exp.spans.Load())/float64(b.N), "spans/op")
			})
			return tp, meter(b)
		}
	}
	return []struct {
		name  string
		setup func(b *testing.B) (trace.TracerProvider, metric.MeterProvider)
	}{
		{"noop", func(*testing.B) (trace.TracerProvider, metric.MeterProvider) {
			return tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()
		}},
		{"metrics", func(b *testing.B) (trace.TracerProvider, metric.MeterProvider) {
			return tracenoop.NewTracerProvider(), meter(b)
		}},
		{"traces-0pct", traced(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0)))},
		{"traces-1pct", traced(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)))},
		{"traces-10pct", traced(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1)))},
		{"traces-all", traced(sdktrace.AlwaysSample())},
	}
}

// serialClientCredentials sends client_credentials requests one at a time.
func serialClientCredentials(b *testing.B, e *env) {
	h := e.p.Handler()
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if rec := postClientCredentials(h, e.issuer, e.svc.ID, e.svcSecret); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	reportCPU(b, start)
}

// BenchmarkTelemetryClientCredentials measures what OpenTelemetry costs a
// client_credentials token request on the memory store (the cheapest
// request, so the largest share), with each setup of telemetrySetups:
// serial (ns per request on one goroutine, the exporter's goroutine free to
// use the other core) and parallel (all cores busy, the exporter's work
// included: the throughput figure).
//
// The PostgreSQL variant (serial only, when GATEHOUSE_TEST_POSTGRES_DSN is
// set) shows the share on a store whose requests cost round trips.
//
//	go test -run '^$' -bench TelemetryClientCredentials -count 6 ./provider | benchstat -col /otel -
func BenchmarkTelemetryClientCredentials(b *testing.B) {
	for _, s := range telemetrySetups() {
		b.Run("mode=serial-postgres/otel="+s.name, func(b *testing.B) {
			store, _, _ := pgtest.Store(b)
			tp, mp := s.setup(b)
			e := newEnvOn(b, store, func(c *provider.Config) { c.TracerProvider, c.MeterProvider = tp, mp })
			serialClientCredentials(b, e)
		})
	}
	for _, s := range telemetrySetups() {
		b.Run("mode=serial/otel="+s.name, func(b *testing.B) {
			tp, mp := s.setup(b)
			e := newEnv(b, func(c *provider.Config) { c.TracerProvider, c.MeterProvider = tp, mp })
			serialClientCredentials(b, e)
		})
		b.Run("mode=parallel/otel="+s.name, func(b *testing.B) {
			tp, mp := s.setup(b)
			e := newEnv(b, func(c *provider.Config) { c.TracerProvider, c.MeterProvider = tp, mp })
			h := e.p.Handler()
			b.ReportAllocs()
			start := cpuTime()
			defer reportCPU(b, start)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if rec := postClientCredentials(h, e.issuer, e.svc.ID, e.svcSecret); rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
	}
}

// BenchmarkTelemetryPaired compares, for each SDK setup of
// telemetrySetups, a provider with the no-op providers (first) and one
// with that setup (second), in turns of client_credentials requests
// (pairedRounds: the medians of the rounds' ratios, wall-clock and CPU),
// on the memory store (turns of 1000) and on PostgreSQL (turns of 200,
// when GATEHOUSE_TEST_POSTGRES_DSN is set). The batch span processor
// exports as it does in production, every 512 spans or 5 seconds: a turn
// does not wait for it (ForceFlush, whose wait is far longer than the
// processor's work, made 1 % sampling look dearer than 0 % by 8 %), so a
// little of its work may fall into the next turn, of either side. The
// noop variant compares two no-op providers: how far from 1 its ratios
// stray is the harness's own noise.
//
//	go test -run '^$' -bench 'TelemetryPaired/store=memory' -benchtime 30000x -count 6 ./provider
//	go test -run '^$' -bench 'TelemetryPaired/store=postgres' -benchtime 2000x -count 6 ./provider
func BenchmarkTelemetryPaired(b *testing.B) {
	stores := []struct {
		name string
		turn int
		open func(b *testing.B) storage.Store
	}{
		{"memory", 1000, func(*testing.B) storage.Store { return memory.New() }},
		{"postgres", 200, func(b *testing.B) storage.Store { s, _, _ := pgtest.Store(b); return s }},
	}
	setups := telemetrySetups()
	for _, st := range stores {
		for _, s := range setups {
			b.Run("store="+st.name+"/otel="+s.name, func(b *testing.B) {
				var sides [2]pairSide
				for i, setup := range []func(*testing.B) (trace.TracerProvider, metric.MeterProvider){setups[0].setup, s.setup} {
					tp, mp := setup(b)
					sides[i].e = newEnvOn(b, st.open(b), func(c *provider.Config) {
						c.TracerProvider, c.MeterProvider = tp, mp
						c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
					})
				}
				pairedRounds(b, sides, st.turn)
			})
		}
	}
}
