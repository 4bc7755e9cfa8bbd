package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/gatehouse/gatehouse/provider"
)

// telemetry is the demo's OpenTelemetry SDK: the provider's metrics, read
// by the Prometheus exporter for /metrics on the admin listener, and, with
// -otlp-endpoint, its traces sent over OTLP/HTTP.
//
// The metrics go through OpenTelemetry's own Prometheus exporter rather
// than prometheus/client_golang instruments: the library measures through
// the OpenTelemetry API only, so a host chooses its exporter (Prometheus,
// OTLP to a collector, ...) without the library changing, and the demo
// needs no second set of instruments.
type telemetry struct {
	meter   *sdkmetric.MeterProvider // nil without an admin listener
	tracer  *sdktrace.TracerProvider // nil without -otlp-endpoint
	metrics http.Handler
}

// newTelemetry sets up the SDK. otlpEndpoint is "" (no traces) or an
// http(s) URL of an OTLP/HTTP receiver; a URL without a path gets the
// standard /v1/traces. sample is the share of traces kept (0 to 1), for
// requests that do not carry a sampled parent. Without metrics (no admin
// listener, so no /metrics to read them from) the provider keeps the
// global, no-op meter provider and pays nothing for measurements no one
// can read.
func newTelemetry(ctx context.Context, metrics bool, otlpEndpoint string, sample float64) (*telemetry, error) {
	res := resource.NewSchemaless(attribute.String("service.name", "gatehouse-demo"))
	t := &telemetry{}
	if metrics {
		var err error
		if t.meter, t.metrics, err = newMetrics(res); err != nil {
			return nil, err
		}
	}
	if otlpEndpoint == "" {
		return t, nil
	}
	u, err := url.Parse(otlpEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-otlp-endpoint: want an http or https URL such as http://127.0.0.1:4318, got %q", otlpEndpoint)
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/v1/traces"
	}
	if sample < 0 || sample > 1 {
		return nil, fmt.Errorf("-trace-sample: want a share between 0 and 1, got %v", sample)
	}
	spans, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	t.tracer = sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(spans),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(sample))),
	)
	// Continue the traces that requests carry (W3C traceparent).
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return t, nil
}

// newMetrics returns the metrics SDK, exported in the Prometheus format by
// the handler returned with it (with the Go runtime's and the process's
// collectors).
func newMetrics(res *resource.Resource) (*sdkmetric.MeterProvider, http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	return sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter), sdkmetric.WithResource(res)),
		promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

// configure gives the provider the SDK's providers.
func (t *telemetry) configure(cfg *provider.Config) {
	if t.meter != nil {
		cfg.MeterProvider = t.meter
	}
	if t.tracer != nil {
		cfg.TracerProvider = t.tracer
	}
}

// shutdown sends the spans still buffered and stops the SDK.
func (t *telemetry) shutdown(ctx context.Context) error {
	var errs []error
	if t.tracer != nil {
		errs = append(errs, t.tracer.Shutdown(ctx))
	}
	if t.meter != nil {
		errs = append(errs, t.meter.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// probes mounts /healthz and /readyz on mux, without any token (a kubelet
// has none; they reveal nothing). While draining is set, /readyz answers
// 503, so that load balancers stop sending requests before the listeners
// close.
func probes(mux *http.ServeMux, p *provider.Provider, draining *atomic.Bool) {
	ready := p.ReadyzHandler()
	mux.Handle("GET /healthz", p.HealthzHandler())
	mux.Handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if draining.Load() {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("shutting down\n"))
			return
		}
		ready.ServeHTTP(w, r)
	}))
}
