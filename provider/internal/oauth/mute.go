package oauth

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// muteFosite returns ctx for a call into fosite. fosite v0.49.0 starts
// spans of its own ("Fosite.NewAccessRequest", ...) on the tracer provider
// of the context's span, and records in them every error's text, hint and
// debug message, which may quote the request (a scope, a redirect URI) or
// a backend's error. The provider's spans carry error codes only, so
// fosite's are not made: its calls see the current span behind a mute
// wrapper whose tracer starts nothing and whose mutations do nothing.
// The store's spans (package storetrace) still see the real span as their
// parent and whether it records. A context without a valid span (no SDK)
// is returned as it is, at no cost.
func muteFosite(ctx context.Context) context.Context {
	sp := trace.SpanFromContext(ctx)
	if !sp.SpanContext().IsValid() {
		return ctx
	}
	if _, ok := sp.(mutedSpan); ok {
		return ctx
	}
	return trace.ContextWithSpan(ctx, mutedSpan{sp})
}

// mutedSpan is a span seen through muteFosite: its identity and whether it
// records are the real span's; nothing can be added to it, nor can it be
// ended.
type mutedSpan struct{ trace.Span }

func (mutedSpan) End(...trace.SpanEndOption)              {}
func (mutedSpan) AddEvent(string, ...trace.EventOption)   {}
func (mutedSpan) AddLink(trace.Link)                      {}
func (mutedSpan) RecordError(error, ...trace.EventOption) {}
func (mutedSpan) SetStatus(codes.Code, string)            {}
func (mutedSpan) SetName(string)                          {}
func (mutedSpan) SetAttributes(...attribute.KeyValue)     {}
func (mutedSpan) TracerProvider() trace.TracerProvider    { return mutedProvider{} }

// mutedProvider and mutedTracer start no span: Start returns the context
// and its (muted) span as they are.
type mutedProvider struct{ embedded.TracerProvider }

func (mutedProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return mutedTracer{} }

type mutedTracer struct{ embedded.Tracer }

func (mutedTracer) Start(ctx context.Context, _ string, _ ...trace.SpanStartOption) (context.Context, trace.Span) {
	return ctx, trace.SpanFromContext(ctx)
}
