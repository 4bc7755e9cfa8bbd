// Package storetrace decorates a storage.Store for OpenTelemetry: each call
// made inside a recording span gets a child span named
// "gatehouse.store.<Method>", and each failed call is counted by operation.
//
// The decorated store implements exactly the optional interfaces of package
// storage (storage.Transactor, ...) that the store it wraps implements, so
// that the provider's type assertions find the same capabilities through
// it. The methods and the combinations are generated from package storage
// (storetrace_gen.go, by go generate); a test fails when they are not up to
// date.
//
// Cost: outside a recording span (no SDK installed, or a trace not sampled)
// a call costs one context lookup more, and nothing is allocated. The
// attribute sets of the error counter are built once, in NewObserver.
package storetrace

//go:generate go run ./gen

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse/gatehouse/storage"
)

// op is the index of a store method in opNames.
type op int

// Attribute keys of the spans and of the error counter.
const (
	// AttrOperation is the store method ("GetClient", "CreateToken", ...)
	// on the error counter. A span has it in its name,
	// "gatehouse.store.GetClient".
	AttrOperation = attribute.Key("db.operation.name")
	// AttrErrorType classifies a failed call: ErrorCanceled,
	// ErrorDeadline or ErrorBackend.
	AttrErrorType = attribute.Key("error.type")
	// AttrResult is set on the span of a call that returned one of the
	// storage sentinels, which are answers, not failures: "not_found",
	// "already_exists", "already_used".
	AttrResult = attribute.Key("gatehouse.store.result")
)

// The values of AttrErrorType.
const (
	ErrorCanceled = "canceled"          // the caller's context was cancelled
	ErrorDeadline = "deadline_exceeded" // the caller's deadline passed
	ErrorBackend  = "backend_error"     // any other failure of the backend
)

// errorClasses are the values of AttrErrorType, by class index.
var errorClasses = [...]string{ErrorCanceled, ErrorDeadline, ErrorBackend}

// Observer holds what the decorator reports to: a tracer and a counter of
// failed calls, with every span name and attribute set built once.
type Observer struct {
	tracer    trace.Tracer
	errors    metric.Int64Counter
	names     [len(opNames)]string
	startOpts [len(opNames)][]trace.SpanStartOption
	errOpts   [len(opNames)][len(errorClasses)][]metric.AddOption
	results   [3]attribute.KeyValue
}

// NewObserver returns an Observer that starts spans with tracer and
// counts failed calls on errors (attributes AttrOperation and
// AttrErrorType). The storage sentinels ErrNotFound, ErrAlreadyExists and
// ErrAlreadyUsed are answers, not failures: they are not counted.
func NewObserver(tracer trace.Tracer, errors metric.Int64Counter) *Observer {
	o := &Observer{tracer: tracer, errors: errors}
	for i, name := range opNames {
		o.names[i] = "gatehouse.store." + name
		// The name says which operation: no attribute to copy into
		// every span.
		o.startOpts[i] = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
		for c, class := range errorClasses {
			o.errOpts[i][c] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
				AttrOperation.String(name), AttrErrorType.String(class)))}
		}
	}
	o.results = [3]attribute.KeyValue{
		AttrResult.String("not_found"), AttrResult.String("already_exists"), AttrResult.String("already_used"),
	}
	return o
}

// Wrap returns s decorated for o. The result implements every optional
// interface of package storage that s implements, and no other.
func Wrap(s storage.Store, o *Observer) storage.Store {
	return wrap(s, o)
}

// Unwrap returns the store a decorated store wraps, or s itself.
func Unwrap(s storage.Store) storage.Store {
	if u, ok := s.(interface{ unwrap() storage.Store }); ok {
		return u.unwrap()
	}
	return s
}

// base decorates the methods of storage.Store; every method the generator
// does not know yet is forwarded undecorated by the embedded store.
type base struct {
	storage.Store
	o *Observer
}

func (w base) unwrap() storage.Store { return w.Store }

// recording reports whether ctx carries a span that records: only then
// does a store call get its own span.
func recording(ctx context.Context) bool {
	return trace.SpanFromContext(ctx).IsRecording()
}

// sentinel returns the index in o.results of the storage sentinel err is,
// or -1.
func sentinel(err error) int {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return 0
	case errors.Is(err, storage.ErrAlreadyExists):
		return 1
	case errors.Is(err, storage.ErrAlreadyUsed):
		return 2
	}
	return -1
}

// class returns the index in errorClasses of a failure.
func class(err error) int {
	switch {
	case errors.Is(err, context.Canceled):
		return 0
	case errors.Is(err, context.DeadlineExceeded):
		return 1
	}
	return 2
}

// count counts err if it is a failure.
func (o *Observer) count(ctx context.Context, op op, err error) {
	if err == nil || sentinel(err) >= 0 {
		return
	}
	o.errors.Add(ctx, 1, o.errOpts[op][class(err)]...)
}

// start starts the span of a call.
func (o *Observer) start(ctx context.Context, op op) (context.Context, trace.Span) {
	return o.tracer.Start(ctx, o.names[op], o.startOpts[op]...)
}

// end ends the span of a call that returned err, and counts a failure.
// The error's text is never recorded: a backend's message may quote what
// it was given.
func (o *Observer) end(ctx context.Context, span trace.Span, op op, err error) {
	if err != nil {
		if s := sentinel(err); s >= 0 {
			span.SetAttributes(o.results[s])
		} else {
			c := class(err)
			span.SetAttributes(AttrErrorType.String(errorClasses[c]))
			span.SetStatus(codes.Error, errorClasses[c])
			o.errors.Add(ctx, 1, o.errOpts[op][c]...)
		}
	}
	span.End()
}
