package provider

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse/gatehouse/provider/internal/storetrace"
)

// instrumentationName is the OpenTelemetry instrumentation scope of the
// provider's spans and metrics.
const instrumentationName = "github.com/gatehouse/gatehouse/provider"

// Metric names. They follow the OpenTelemetry semantic conventions' style:
// dotted lower-case names under the gatehouse namespace, UCUM units (s, or
// an annotation such as {token}); a Prometheus exporter turns
// gatehouse.tokens.issued into gatehouse_tokens_issued_total.
const (
	// MetricRequestDuration is a histogram of endpoint request durations
	// (s), by gatehouse.endpoint, oauth.grant_type (token endpoint),
	// http.route (admin API), http.response.status_code and, for a
	// request that failed, error.type (its OAuth error code).
	MetricRequestDuration = "gatehouse.server.request.duration"
	// MetricTokensIssued counts successful token responses, each with one
	// access token, by oauth.grant_type and oauth.client_id.
	MetricTokensIssued = "gatehouse.tokens.issued"
	// MetricClientAuthFailures counts failed client authentications, by
	// gatehouse.reason and, for a registered client, oauth.client_id.
	MetricClientAuthFailures = "gatehouse.client.authentication.failures"
	// MetricSignInFailures counts refused passwords (login page and
	// password grant), by gatehouse.signin.method and gatehouse.reason
	// (invalid_credentials, locked).
	MetricSignInFailures = "gatehouse.signin.failures"
	// MetricLockouts counts the failures that locked a count: a username's
	// passwords (gatehouse.signin.method), or a user's second factor
	// (gatehouse.signin.method "mfa").
	MetricLockouts = "gatehouse.signin.lockouts"
	// MetricMFAVerifications counts second-factor checks, by
	// gatehouse.mfa.factor and gatehouse.outcome (success, invalid_code,
	// locked).
	MetricMFAVerifications = "gatehouse.mfa.verifications"
	// MetricReuseDetections counts refresh tokens and authorization codes
	// presented again after use (the grant is revoked), by
	// oauth.grant_type and oauth.client_id.
	MetricReuseDetections = "gatehouse.token.reuse_detections"
	// MetricIPRefusals counts requests refused because the client's IP
	// ranges do not include the caller's address, by gatehouse.endpoint
	// and oauth.client_id.
	MetricIPRefusals = "gatehouse.client.ip_refusals"
	// MetricStoreErrors counts failed store calls, by db.operation.name
	// and error.type (canceled, deadline_exceeded, backend_error). The
	// storage sentinels (not found, already exists, already used) are
	// answers and not counted.
	MetricStoreErrors = "gatehouse.store.errors"
	// MetricSigningKeys is the number of signing keys by
	// gatehouse.key.state: pending (published, signing later), active
	// (signing) and retired (published until the tokens they signed
	// expire), as this replica last read them.
	MetricSigningKeys = "gatehouse.signing_keys"
	// MetricAuditQueueDepth is the number of audit events waiting to be
	// written, when the host's audit trail reports it.
	MetricAuditQueueDepth = "gatehouse.audit.queue.depth"
	// MetricAuditUnwritten counts the audit events that could not be
	// written, when the host's audit trail reports it.
	MetricAuditUnwritten = "gatehouse.audit.unwritten"
	// MetricHousekeepingRuns counts housekeeping tasks, by
	// gatehouse.housekeeping.task (delete_expired, key_rotation) and
	// gatehouse.outcome (done, skipped: another replica held the lease,
	// failed).
	MetricHousekeepingRuns = "gatehouse.housekeeping.runs"
	// MetricHousekeepingDeleted counts the expired records housekeeping
	// deleted.
	MetricHousekeepingDeleted = "gatehouse.housekeeping.deleted"
	// MetricKeyRotations counts the signing keys housekeeping created.
	MetricKeyRotations = "gatehouse.signing_key.rotations"
)

// Attribute keys of the provider's spans and metrics. They never hold a
// token, secret, password, code, one-time code or any free text from a
// request: client IDs only once the client is known to the store, and
// error codes, never descriptions.
const (
	attrClientID  = attribute.Key("oauth.client_id")
	attrGrantType = attribute.Key("oauth.grant_type")
	attrErrorType = attribute.Key("error.type")
	attrStatus    = attribute.Key("http.response.status_code")
	attrRoute     = attribute.Key("http.route")
	attrEndpoint  = attribute.Key("gatehouse.endpoint")
	attrStep      = attribute.Key("gatehouse.step")
	attrReason    = attribute.Key("gatehouse.reason")
	attrMethod    = attribute.Key("gatehouse.signin.method")
	attrFactor    = attribute.Key("gatehouse.mfa.factor")
	attrOutcome   = attribute.Key("gatehouse.outcome")
	attrKeyState  = attribute.Key("gatehouse.key.state")
	attrTask      = attribute.Key("gatehouse.housekeeping.task")
)

// durationBuckets are the histogram boundaries of request durations (s):
// the semantic conventions' HTTP server buckets, with finer ones below
// 5 ms, where requests on the memory store and cached secrets fall.
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// telemetry is the provider's OpenTelemetry instrumentation: its tracer,
// its instruments, and attribute sets built once and reused.
type telemetry struct {
	tracer trace.Tracer
	meter  metric.Meter
	// global: the tracer is the global TracerProvider's
	// (Config.TracerProvider unset), which traces nothing until the host
	// installs one (otelUntouched).
	global bool

	duration        metric.Float64Histogram
	issued          metric.Int64Counter
	clientAuthFails metric.Int64Counter
	signInFails     metric.Int64Counter
	lockouts        metric.Int64Counter
	mfa             metric.Int64Counter
	reuse           metric.Int64Counter
	ipRefusals      metric.Int64Counter
	storeErrors     metric.Int64Counter
	hkRuns          metric.Int64Counter
	hkDeleted       metric.Int64Counter
	rotations       metric.Int64Counter

	store *storetrace.Observer
	sets  attrCache

	// audit reports the audit trail's queue depth and unwritten events;
	// nil until setAuditSource.
	audit atomic.Pointer[func() (queued, unwritten int64)]
}

// newTelemetry makes the instruments on the providers of cfg (the global
// ones when unset).
func newTelemetry(cfg *Config) (*telemetry, error) {
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentationName)
	t := &telemetry{tracer: tp.Tracer(instrumentationName), meter: m, global: cfg.TracerProvider == nil}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	var err error
	t.duration, err = m.Float64Histogram(MetricRequestDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of the provider's endpoint requests."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	errs = append(errs, err)
	t.issued = counter(MetricTokensIssued, "{token}", "Access tokens issued by the token endpoint.")
	t.clientAuthFails = counter(MetricClientAuthFailures, "{failure}", "Failed client authentications.")
	t.signInFails = counter(MetricSignInFailures, "{failure}", "Refused sign-in passwords.")
	t.lockouts = counter(MetricLockouts, "{lockout}", "Failures that locked a username's passwords or a user's second factor.")
	t.mfa = counter(MetricMFAVerifications, "{verification}", "Second-factor verifications.")
	t.reuse = counter(MetricReuseDetections, "{detection}", "Refresh tokens and authorization codes presented again after use.")
	t.ipRefusals = counter(MetricIPRefusals, "{request}", "Requests refused by a client's IP ranges.")
	t.storeErrors = counter(MetricStoreErrors, "{error}", "Failed store calls.")
	t.hkRuns = counter(MetricHousekeepingRuns, "{run}", "Housekeeping tasks run, skipped or failed.")
	t.hkDeleted = counter(MetricHousekeepingDeleted, "{record}", "Expired records deleted by housekeeping.")
	t.rotations = counter(MetricKeyRotations, "{key}", "Signing keys created by housekeeping.")
	queue, err := m.Int64ObservableGauge(MetricAuditQueueDepth, metric.WithUnit("{event}"),
		metric.WithDescription("Audit events waiting to be written."))
	errs = append(errs, err)
	unwritten, err := m.Int64ObservableCounter(MetricAuditUnwritten, metric.WithUnit("{event}"),
		metric.WithDescription("Audit events that could not be written."))
	errs = append(errs, err)
	if err := firstErr(errs); err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if f := t.audit.Load(); f != nil {
			q, u := (*f)()
			o.ObserveInt64(queue, q)
			o.ObserveInt64(unwritten, u)
		}
		return nil
	}, queue, unwritten)
	if err != nil {
		return nil, err
	}
	t.store = storetrace.NewObserver(t.tracer, t.storeErrors)
	return t, nil
}

func firstErr(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// setAuditSource makes the audit metrics report f's counts: the events
// waiting to be written and those that could not be written (a running
// total). f is called at each collection and must be cheap and safe for
// concurrent use.
func (t *telemetry) setAuditSource(f func() (queued, unwritten int64)) {
	t.audit.Store(&f)
}

// observeSigningKeys registers the signing-key gauge, reading counts.
func (t *telemetry) observeSigningKeys(counts func() (pending, active, retired int)) error {
	m := t.meter
	g, err := m.Int64ObservableGauge(MetricSigningKeys, metric.WithUnit("{key}"),
		metric.WithDescription("Signing keys by state, as this replica last read them."))
	if err != nil {
		return err
	}
	states := [3]metric.ObserveOption{
		metric.WithAttributeSet(attribute.NewSet(attrKeyState.String("pending"))),
		metric.WithAttributeSet(attribute.NewSet(attrKeyState.String("active"))),
		metric.WithAttributeSet(attribute.NewSet(attrKeyState.String("retired"))),
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		p, a, r := counts()
		o.ObserveInt64(g, int64(p), states[0])
		o.ObserveInt64(g, int64(a), states[1])
		o.ObserveInt64(g, int64(r), states[2])
		return nil
	}, g)
	return err
}

// Instrument kinds of attrKey: which attribute keys its values are for.
const (
	kindDuration = iota
	kindIssued
	kindClientAuth
	kindSignIn
	kindLockout
	kindMFA
	kindReuse
	kindIPRefusal
	kindHousekeeping
	numKinds
)

var kindKeys = [numKinds][4]attribute.Key{
	kindDuration:     {attrEndpoint, attrGrantType, attrErrorType, attrRoute},
	kindIssued:       {attrGrantType, attrClientID},
	kindClientAuth:   {attrReason, attrClientID},
	kindSignIn:       {attrMethod, attrReason},
	kindLockout:      {attrMethod},
	kindMFA:          {attrFactor, attrOutcome},
	kindReuse:        {attrGrantType, attrClientID},
	kindIPRefusal:    {attrEndpoint, attrClientID},
	kindHousekeeping: {attrTask, attrOutcome},
}

// attrKey names an attribute set: an instrument kind, the values of its
// keys (kindKeys; "" leaves a key out) and a status code (0: none).
type attrKey struct {
	kind   uint8
	v      [4]string
	status int
}

// measureOpts are the options that give a measurement an attribute set.
type measureOpts struct {
	add    []metric.AddOption
	record []metric.RecordOption
}

// maxCachedSets bounds attrCache: the sets are made of a few fixed values
// and client IDs, so this is reached only with more clients than that.
const maxCachedSets = 8192

// attrCache keeps the attribute sets of measurements, built once each, so
// that a measurement allocates nothing.
type attrCache struct {
	mu sync.RWMutex
	m  map[attrKey]*measureOpts
}

func (c *attrCache) get(k attrKey) *measureOpts {
	c.mu.RLock()
	o := c.m[k]
	c.mu.RUnlock()
	if o != nil {
		return o
	}
	kvs := make([]attribute.KeyValue, 0, 5)
	for i, key := range kindKeys[k.kind] {
		if key != "" && k.v[i] != "" {
			kvs = append(kvs, key.String(k.v[i]))
		}
	}
	if k.status != 0 {
		kvs = append(kvs, attrStatus.Int(k.status))
	}
	opt := metric.WithAttributeSet(attribute.NewSet(kvs...))
	o = &measureOpts{add: []metric.AddOption{opt}, record: []metric.RecordOption{opt}}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[attrKey]*measureOpts{}
	}
	if len(c.m) < maxCachedSets {
		c.m[k] = o
	}
	c.mu.Unlock()
	return o
}

// add adds n to counter with the attribute set of kind and values.
// Without an SDK (the instrument not enabled) the attribute set is not
// even looked up.
func (t *telemetry) add(ctx context.Context, counter metric.Int64Counter, kind uint8, n int64, v ...string) {
	if !counter.Enabled(ctx) {
		return
	}
	k := attrKey{kind: kind}
	copy(k.v[:], v)
	counter.Add(ctx, n, t.sets.get(k).add...)
}

// tokenIssued counts a successful token response.
func (t *telemetry) tokenIssued(ctx context.Context, grant, clientID string) {
	t.add(ctx, t.issued, kindIssued, 1, grant, clientID)
}

// clientAuthFailed counts a failed client authentication; clientID is
// that of a registered client, or "".
func (t *telemetry) clientAuthFailed(ctx context.Context, reason, clientID string) {
	t.add(ctx, t.clientAuthFails, kindClientAuth, 1, reason, clientID)
}

// signInFailed counts a refused password.
func (t *telemetry) signInFailed(ctx context.Context, method, reason string) {
	t.add(ctx, t.signInFails, kindSignIn, 1, method, reason)
}

// lockedOut counts a failure that locked a count.
func (t *telemetry) lockedOut(ctx context.Context, method string) {
	t.add(ctx, t.lockouts, kindLockout, 1, method)
}

// mfaVerified counts a second-factor check.
func (t *telemetry) mfaVerified(ctx context.Context, factor, outcome string) {
	t.add(ctx, t.mfa, kindMFA, 1, factor, outcome)
}

// reuseDetected counts a refresh token or code presented again.
func (t *telemetry) reuseDetected(ctx context.Context, grant, clientID string) {
	t.add(ctx, t.reuse, kindReuse, 1, grant, clientID)
}

// ipRefused counts a request refused by the client's IP ranges.
func (t *telemetry) ipRefused(ctx context.Context, endpoint, clientID string) {
	t.add(ctx, t.ipRefusals, kindIPRefusal, 1, endpoint, clientID)
}

// housekept counts a housekeeping task's run.
func (t *telemetry) housekept(ctx context.Context, task, outcome string) {
	t.add(ctx, t.hkRuns, kindHousekeeping, 1, task, outcome)
}

// instrumented is one instrumented endpoint: its names and span options,
// built once.
type instrumented struct {
	name      string // gatehouse.endpoint: "token"
	spanName  string // "gatehouse.token"
	server    []trace.SpanStartOption
	internal  []trace.SpanStartOption
	subNames  map[string]string // sub-operation (grant type, step) -> span name, made once
	withRoute bool              // the http.route of the request is an attribute
}

// endpoint returns the instrumentation of the endpoint name, whose
// sub-operations (grant types, steps) are subs. Its spans start without
// attributes (the name says which endpoint); finish sets them all at once.
func (t *telemetry) endpoint(name string, subs ...string) *instrumented {
	e := &instrumented{
		name:     name,
		spanName: "gatehouse." + name,
		server:   []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)},
		internal: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)},
		subNames: map[string]string{},
	}
	for _, s := range subs {
		e.subNames[s] = e.spanName + "." + s
	}
	return e
}

// subName returns the span name of a sub-operation of the endpoint, such
// as a grant type: "gatehouse.token.client_credentials". The names of the
// subs given to endpoint are made once; another's is made each time.
func (e *instrumented) subName(sub string) string {
	if n, ok := e.subNames[sub]; ok {
		return n
	}
	return e.spanName + "." + sub
}

// reqTel is the telemetry of one endpoint request: its span, and what the
// handlers learn about it for the span's and the duration's attributes.
// It is also the request's ResponseWriter, to see the status written.
type reqTel struct {
	http.ResponseWriter
	ep     *instrumented
	span   trace.Span
	status int

	grant    string // the grant type (token endpoint), one of the enabled ones
	clientID string // a client known to the store
	code     string // the OAuth error code answered
	step     string // the interaction step
	pattern  string // the admin API's route pattern: "POST /clients/{id}"
}

func (rt *reqTel) WriteHeader(status int) {
	if rt.status == 0 {
		rt.status = status
	}
	rt.ResponseWriter.WriteHeader(status)
}

func (rt *reqTel) Write(b []byte) (int, error) {
	if rt.status == 0 {
		rt.status = http.StatusOK
	}
	return rt.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (rt *reqTel) Unwrap() http.ResponseWriter { return rt.ResponseWriter }

// telOf returns the telemetry of the instrumented request whose writer w
// is, or nil (a handler not reached through instrument). Its methods are
// safe on nil. The handlers reach it through their writer rather than the
// context, which costs a request no context of its own when there is no
// span to carry.
func telOf(w http.ResponseWriter) *reqTel {
	rt, _ := w.(*reqTel)
	return rt
}

// rawWriter returns the writer an instrumented handler was given, for
// net/http features that look for the server's own writer
// (http.MaxBytesReader closes the connection after an oversized body
// through it).
func rawWriter(w http.ResponseWriter) http.ResponseWriter {
	if rt, ok := w.(*reqTel); ok {
		return rt.ResponseWriter
	}
	return w
}

// noteError records the OAuth error code an answer carries, if w is an
// instrumented request's writer.
func noteError(w http.ResponseWriter, code string) {
	if rt, ok := w.(*reqTel); ok {
		rt.code = code
	}
}

// endpointName returns the name of the request's endpoint, or "".
func (rt *reqTel) endpointName() string {
	if rt == nil {
		return ""
	}
	return rt.ep.name
}

func (rt *reqTel) setGrant(grant string) {
	if rt != nil {
		rt.grant = grant
	}
}

func (rt *reqTel) setClient(id string) {
	if rt != nil {
		rt.clientID = id
	}
}

func (rt *reqTel) setError(code string) {
	if rt != nil {
		rt.code = code
	}
}

func (rt *reqTel) setPattern(pattern string) {
	if rt != nil {
		rt.pattern = pattern
	}
}

func (rt *reqTel) setStep(step string) {
	if rt != nil {
		rt.step = step
	}
}

// statusStrings are the error.type values of failures without an OAuth
// error code: the status code, as the HTTP semantic conventions say.
var statusStrings = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusString(status int) string {
	if status >= 0 && status < len(statusStrings) {
		return statusStrings[status]
	}
	return strconv.Itoa(status)
}

// instrument wraps h, the handler of endpoint ep: a span per request
// (gatehouse.<endpoint>, a server span unless the host's instrumentation
// already started one, continuing a trace the request's headers carry
// when the host installed a propagator), and the duration histogram.
func (t *telemetry) instrument(ep *instrumented, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := r.Context()
		opts := ep.internal
		var span trace.Span
		switch {
		case trace.SpanContextFromContext(ctx).IsValid():
		case t.global && otelUntouched():
			// Start would return a span that records nothing, in the
			// context it was given (the default propagator extracts
			// nothing): a request pays for neither.
			span = noSpan
		default:
			ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(r.Header))
			opts = ep.server
		}
		sctx := ctx
		if span == nil {
			sctx, span = t.tracer.Start(ctx, ep.spanName, opts...)
		}
		if span.SpanContext().IsValid() {
			// A span to carry (sampled or not): the request's context
			// is the span's. A no-op span needs none.
			ctx = sctx
			r = r.WithContext(ctx)
		}
		rt := &reqTel{ResponseWriter: w, ep: ep, span: span}
		defer t.finish(ctx, ep, rt, start)
		h.ServeHTTP(rt, r)
	})
}

// finish ends a request's span and records its duration.
func (t *telemetry) finish(ctx context.Context, ep *instrumented, rt *reqTel, start time.Time) {
	status := rt.status
	if status == 0 {
		status = http.StatusOK
	}
	errType := rt.code
	if errType == "" && status >= 400 {
		errType = statusString(status)
	}
	route := ""
	if ep.withRoute && rt.pattern != "" {
		route = rt.pattern[strings.IndexByte(rt.pattern, ' ')+1:] // the path of "METHOD /path"
	}
	if t.duration.Enabled(ctx) { // without an SDK, no attribute set to look up
		k := attrKey{kind: kindDuration, v: [4]string{ep.name, rt.grant, errType, route}, status: status}
		t.duration.Record(ctx, time.Since(start).Seconds(), t.sets.get(k).record...)
	}

	span := rt.span
	if span.IsRecording() {
		switch {
		case rt.step != "" && ep.name == "interaction":
			span.SetName(ep.subName(rt.step))
		case rt.grant != "":
			span.SetName(ep.subName(rt.grant))
		case rt.pattern != "":
			span.SetName(ep.spanName + " " + rt.pattern)
		}
		var kvs [6]attribute.KeyValue
		n := 0
		kvs[n] = attrStatus.Int(status)
		n++
		if rt.grant != "" {
			kvs[n] = attrGrantType.String(rt.grant)
			n++
		}
		if rt.clientID != "" {
			kvs[n] = attrClientID.String(rt.clientID)
			n++
		}
		if errType != "" {
			kvs[n] = attrErrorType.String(errType)
			n++
		}
		if rt.step != "" {
			kvs[n] = attrStep.String(rt.step)
			n++
		}
		if route != "" {
			kvs[n] = attrRoute.String(route)
			n++
		}
		span.SetAttributes(kvs[:n]...)
		if status >= 500 {
			span.SetStatus(codes.Error, errType)
		}
	}
	span.End()
}

// Instrument wraps h with the provider's instrumentation, as the
// provider's own endpoints are: a span named "gatehouse.<name>" per request
// (a server span, or an internal one under the host's), and
// gatehouse.server.request.duration with gatehouse.endpoint=<name>, the
// status and error.type (the status code, for a failure). name must be a
// fixed, low-cardinality name such as "account" (never taken from a
// request). Use it for routes a host adds around the provider, such as
// pages of its own, so that they are measured alike.
func (p *Provider) Instrument(name string, h http.Handler) http.Handler {
	return p.instrument(p.tel.endpoint(name), h)
}

// instrument wraps h, the handler of endpoint ep, with the telemetry and,
// inside it, the request's identity for the audit trail (traced).
func (p *Provider) instrument(ep *instrumented, h http.Handler) http.Handler {
	return p.tel.instrument(ep, p.traced(h))
}

// OpenTelemetry's global TracerProvider and TextMapPropagator as they are
// before a host installs its own (otel.SetTracerProvider,
// otel.SetTextMapPropagator): the package's own delegating types, which
// trace and extract nothing until then. Each is nil if it was installed
// before this package's initialisation (it is then not the default), so
// that otelUntouched never mistakes a host's provider for the default.
var (
	defaultTracerProvider = ifType(otel.GetTracerProvider(), "*global.tracerProvider")
	defaultPropagator     = ifType(otel.GetTextMapPropagator(), "*global.textMapPropagator")
)

// ifType returns v if its dynamic type is named name, and nil otherwise.
func ifType(v any, name string) any {
	if t := reflect.TypeOf(v); t != nil && t.String() == name {
		return v
	}
	return nil
}

// otelUntouched reports whether the global TracerProvider and
// TextMapPropagator are still OpenTelemetry's defaults: no host has
// installed either, so a span of the global tracer records nothing and
// carries no context of its own.
func otelUntouched() bool {
	return defaultTracerProvider != nil && defaultPropagator != nil &&
		any(otel.GetTracerProvider()) == defaultTracerProvider && any(otel.GetTextMapPropagator()) == defaultPropagator
}

// noSpan is the span of a request that otelUntouched lets go untraced:
// one that records nothing.
var noSpan = trace.SpanFromContext(context.Background())
