package storetrace_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse/gatehouse/provider/internal/storetrace"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// txStore is a memory store with a fake storage.Transactor, whose
// BeginTx returns a context carrying txKey.
type txStore struct {
	*memory.Store
	fail error // returned by GetClient when set
}

type txKey struct{}

func (s *txStore) BeginTx(ctx context.Context) (context.Context, error) {
	return context.WithValue(ctx, txKey{}, true), nil
}
func (s *txStore) Commit(context.Context) error   { return nil }
func (s *txStore) Rollback(context.Context) error { return nil }

func (s *txStore) GetClient(ctx context.Context, id string) (storage.Client, error) {
	if s.fail != nil {
		return storage.Client{}, s.fail
	}
	return s.Store.GetClient(ctx, id)
}

type sdk struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	obs    *storetrace.Observer
}

func newSDK(t *testing.T) *sdk {
	s := &sdk{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	errs, err := mp.Meter("test").Int64Counter("gatehouse.store.errors")
	require.NoError(t, err)
	s.obs = storetrace.NewObserver(s.tp.Tracer("test"), errs)
	return s
}

// errorPoints returns the store error counter's points: value by
// (operation, error type).
func (s *sdk) errorPoints(t *testing.T) map[[2]string]int64 {
	var rm metricdata.ResourceMetrics
	require.NoError(t, s.reader.Collect(context.Background(), &rm))
	out := map[[2]string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				op, _ := dp.Attributes.Value(storetrace.AttrOperation)
				et, _ := dp.Attributes.Value(storetrace.AttrErrorType)
				out[[2]string{op.AsString(), et.AsString()}] += dp.Value
			}
		}
	}
	return out
}

func TestOptionalInterfacesAreForwarded(t *testing.T) {
	s := newSDK(t)
	plain := memory.New()
	w := storetrace.Wrap(plain, s.obs)
	_, ok := w.(storage.Transactor)
	assert.False(t, ok, "a store without Transactor must not seem to have one through the decorator")
	assert.Same(t, plain, storetrace.Unwrap(w))

	tx := &txStore{Store: memory.New()}
	w = storetrace.Wrap(tx, s.obs)
	tr, ok := w.(storage.Transactor)
	require.True(t, ok, "the decorator hides the store's Transactor")
	ctx, err := tr.BeginTx(context.Background())
	require.NoError(t, err)
	assert.Equal(t, true, ctx.Value(txKey{}), "BeginTx's context is not the store's")
	assert.Same(t, storage.Store(tx), storetrace.Unwrap(w))
	assert.Same(t, plain, storetrace.Unwrap(plain), "Unwrap of an undecorated store")
}

func TestSpansOnlyInsideRecordingSpans(t *testing.T) {
	s := newSDK(t)
	tx := &txStore{Store: memory.New()}
	w := storetrace.Wrap(tx, s.obs)

	// No span in the context: no child span.
	_, err := w.GetClient(context.Background(), "nobody")
	require.ErrorIs(t, err, storage.ErrNotFound)
	assert.Empty(t, s.spans.Ended())

	// Inside a span that is not sampled: none either.
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(s.spans))
	ctx, parent := never.Tracer("test").Start(context.Background(), "parent")
	_, err = w.GetClient(ctx, "nobody")
	require.ErrorIs(t, err, storage.ErrNotFound)
	parent.End()
	assert.Empty(t, s.spans.Ended())

	// Inside a recording span: a child per call; BeginTx's span is not the
	// parent of the calls made in the transaction.
	ctx, parent = s.tp.Tracer("test").Start(context.Background(), "parent")
	txCtx, err := w.(storage.Transactor).BeginTx(ctx)
	require.NoError(t, err)
	_, err = w.GetClient(txCtx, "nobody")
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, w.(storage.Transactor).Commit(txCtx))
	parent.End()
	ended := s.spans.Ended()
	require.Len(t, ended, 4)
	names := []string{}
	for _, sp := range ended[:3] {
		names = append(names, sp.Name())
		assert.Equal(t, parent.SpanContext().SpanID(), sp.Parent().SpanID(), "%s's parent", sp.Name())
	}
	assert.Equal(t, []string{"gatehouse.store.BeginTx", "gatehouse.store.GetClient", "gatehouse.store.Commit"}, names)
	get := ended[1]
	assert.NotContains(t, get.Attributes(), storetrace.AttrOperation.String("GetClient"), "the name says it")
	assert.Contains(t, get.Attributes(), storetrace.AttrResult.String("not_found"))
	assert.Equal(t, codes.Unset, get.Status().Code, "not found is an answer, not a failure")
	assert.Empty(t, s.errorPoints(t), "sentinels are not counted as store errors")
}

func TestFailuresAreCounted(t *testing.T) {
	s := newSDK(t)
	tx := &txStore{Store: memory.New(), fail: errors.New("postgres: connection refused")}
	w := storetrace.Wrap(tx, s.obs)

	_, err := w.GetClient(context.Background(), "a")
	require.Error(t, err)
	ctx, parent := s.tp.Tracer("test").Start(context.Background(), "parent")
	_, err = w.GetClient(ctx, "a")
	require.Error(t, err)
	tx.fail = context.Canceled
	_, err = w.GetClient(ctx, "a")
	require.Error(t, err)
	parent.End()

	assert.Equal(t, map[[2]string]int64{
		{"GetClient", storetrace.ErrorBackend}:  2,
		{"GetClient", storetrace.ErrorCanceled}: 1,
	}, s.errorPoints(t))
	ended := s.spans.Ended()
	require.Len(t, ended, 3)
	assert.Equal(t, codes.Error, ended[0].Status().Code)
	for _, sp := range ended[:2] {
		for _, kv := range sp.Attributes() {
			assert.NotContains(t, kv.Value.Emit(), "connection refused", "the error's text is recorded in %s", kv.Key)
		}
		assert.Empty(t, sp.Events(), "no error event (its text could quote what the store was given)")
	}
	assert.Contains(t, ended[1].Attributes(), attribute.String("error.type", storetrace.ErrorCanceled))
}

// Outside a recording span the decorator allocates nothing of its own: a
// call costs what the store's costs.
func TestNoAllocationsOutsideSpans(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	s := newSDK(t)
	plain := memory.New()
	ctx := context.Background()
	require.NoError(t, plain.CreateClient(ctx, storage.Client{ID: "c"}))
	w := storetrace.Wrap(plain, s.obs)
	direct := testing.AllocsPerRun(200, func() { _, _ = plain.GetClient(ctx, "c") })
	wrapped := testing.AllocsPerRun(200, func() { _, _ = w.GetClient(ctx, "c") })
	assert.Equal(t, direct, wrapped)
	missing := testing.AllocsPerRun(200, func() { _, _ = plain.GetClient(ctx, "nobody") })
	wrappedMissing := testing.AllocsPerRun(200, func() { _, _ = w.GetClient(ctx, "nobody") })
	assert.Equal(t, missing, wrappedMissing, "a sentinel is not counted")
}
