package provider_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// otelSDK is an in-memory OpenTelemetry SDK: every span recorded, metrics
// read on demand.
type otelSDK struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

// withSDK installs an in-memory SDK in the provider's config.
func withSDK(s *otelSDK) func(*provider.Config) {
	return func(c *provider.Config) {
		c.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(s.spans))
		c.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	}
}

// newTelEnv is newEnv with an in-memory SDK.
func newTelEnv(t *testing.T, mutate ...func(*provider.Config)) (*env, *otelSDK) {
	s := &otelSDK{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	return newEnv(t, append([]func(*provider.Config){withSDK(s)}, mutate...)...), s
}

// ended returns the ended spans named name (a prefix, with a trailing *).
func (s *otelSDK) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.spans.Ended() {
		if sp.Name() == name || strings.HasSuffix(name, "*") && strings.HasPrefix(sp.Name(), strings.TrimSuffix(name, "*")) {
			out = append(out, sp)
		}
	}
	return out
}

// one returns the only ended span named name.
func (s *otelSDK) one(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := s.ended(name)
	require.Len(t, spans, 1, "spans named %s among %v", name, s.names())
	return spans[0]
}

func (s *otelSDK) names() []string {
	var out []string
	for _, sp := range s.spans.Ended() {
		out = append(out, sp.Name())
	}
	return out
}

// attrs returns a span's attributes as strings.
func attrs(sp sdktrace.ReadOnlySpan) map[string]string {
	out := map[string]string{}
	for _, kv := range sp.Attributes() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// collect reads every metric.
func (s *otelSDK) collect(t *testing.T) []metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, s.reader.Collect(context.Background(), &rm))
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		out = append(out, sm.Metrics...)
	}
	return out
}

// point is a metric data point: its attributes as strings and its value
// (a histogram's count).
type point struct {
	attrs map[string]string
	value int64
}

func setMap(set attribute.Set) map[string]string {
	out := map[string]string{}
	for _, kv := range set.ToSlice() {
		out[string(kv.Key)] = kv.Value.Emit()
	}
	return out
}

// points returns the data points of metric name.
func (s *otelSDK) points(t *testing.T, name string) []point {
	t.Helper()
	var out []point
	for _, m := range s.collect(t) {
		if m.Name != name {
			continue
		}
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, dp := range d.DataPoints {
				out = append(out, point{setMap(dp.Attributes), dp.Value})
			}
		case metricdata.Gauge[int64]:
			for _, dp := range d.DataPoints {
				out = append(out, point{setMap(dp.Attributes), dp.Value})
			}
		case metricdata.Histogram[float64]:
			for _, dp := range d.DataPoints {
				out = append(out, point{setMap(dp.Attributes), int64(dp.Count)})
			}
		default:
			t.Fatalf("metric %s has data of type %T", name, m.Data)
		}
	}
	return out
}

// value sums the points of metric name whose attributes include want.
func (s *otelSDK) value(t *testing.T, name string, want map[string]string) int64 {
	t.Helper()
	var n int64
	for _, p := range s.points(t, name) {
		match := true
		for k, v := range want {
			if p.attrs[k] != v {
				match = false
			}
		}
		if match {
			n += p.value
		}
	}
	return n
}

// assertNoSecrets fails if any span (name, attribute, event, status) or
// metric attribute holds one of secrets.
func (s *otelSDK) assertNoSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	var texts []string
	for _, sp := range s.spans.Ended() {
		texts = append(texts, sp.Name(), sp.Status().Description)
		for _, kv := range sp.Attributes() {
			texts = append(texts, string(kv.Key)+"="+kv.Value.Emit())
		}
		for _, ev := range sp.Events() {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, string(kv.Key)+"="+kv.Value.Emit())
			}
		}
	}
	for _, m := range s.collect(t) {
		texts = append(texts, m.Name)
		for _, name := range []string{m.Name} {
			for _, p := range s.points(t, name) {
				for k, v := range p.attrs {
					texts = append(texts, k+"="+v)
				}
			}
		}
	}
	require.NotEmpty(t, texts)
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		for _, text := range texts {
			assert.NotContains(t, text, secret, "telemetry holds a secret")
		}
	}
}

// signatureOf is the part of an opaque token after its last dot.
func signatureOf(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }

// A code flow: a span per request (authorize, each interaction step, the
// token exchange named by its grant), store calls as their children, the
// tokens issued counted by grant and client, every request's duration, and
// nothing secret anywhere.
func TestTelemetryCodeFlow(t *testing.T) {
	e, s := newTelEnv(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid", "offline_access", "assets:read")
	verifier := oauth2.GenerateVerifier()
	back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)), "alice")
	code := back.Query().Get("code")
	require.NotEmpty(t, code)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	idToken, _ := tok.Extra("id_token").(string)
	refreshed, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.NoError(t, err)
	assert.Zero(t, s.value(t, provider.MetricReuseDetections, nil))
	// The rotated refresh token again, and the code again: reuse.
	_, err = cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	require.ErrorContains(t, err, "invalid_grant")
	_, err = cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.ErrorContains(t, err, "invalid_grant")
	assert.Equal(t, int64(1), s.value(t, provider.MetricReuseDetections, map[string]string{"oauth.grant_type": "refresh_token", "oauth.client_id": "web"}))
	assert.Equal(t, int64(1), s.value(t, provider.MetricReuseDetections, map[string]string{"oauth.grant_type": "authorization_code", "oauth.client_id": "web"}))

	authorize := s.ended("gatehouse.authorize")
	require.NotEmpty(t, authorize)
	assert.Equal(t, "login", attrs(authorize[0])["gatehouse.step"], "the step the authorization goes to")
	for _, name := range []string{"gatehouse.interaction.login", "gatehouse.interaction.consent"} {
		require.NotEmpty(t, s.ended(name), "no %s span among %v", name, s.names())
	}
	login := s.ended("gatehouse.interaction.login")
	assert.Equal(t, "login", attrs(login[len(login)-1])["gatehouse.step"])
	assert.Equal(t, "web", attrs(login[len(login)-1])["oauth.client_id"])

	assert.Empty(t, s.ended("Fosite.*"), "fosite's own spans record error texts; they are muted")
	exchanges := s.ended("gatehouse.token.authorization_code")
	require.Len(t, exchanges, 2, "the exchange and the replay")
	exchange := exchanges[0]
	assert.Equal(t, "invalid_grant", attrs(exchanges[1])["error.type"])
	a := attrs(exchange)
	assert.Equal(t, "web", a["oauth.client_id"])
	assert.Equal(t, "authorization_code", a["oauth.grant_type"])
	assert.Equal(t, "200", a["http.response.status_code"])
	assert.NotContains(t, a, "error.type")
	refreshes := s.ended("gatehouse.token.refresh_token")
	require.Len(t, refreshes, 2)
	assert.Equal(t, "refresh_token", attrs(refreshes[0])["oauth.grant_type"])
	assert.Equal(t, "invalid_grant", attrs(refreshes[1])["error.type"])

	// The exchange's store calls are its children.
	var children []string
	for _, sp := range s.spans.Ended() {
		if sp.Parent().SpanID() == exchange.SpanContext().SpanID() {
			children = append(children, sp.Name())
		}
	}
	// (No GetClient: the memory store is a storage.StatusReader, and the
	// client read at the authorization is kept.)
	for _, want := range []string{"gatehouse.store.GetTokenSet", "gatehouse.store.ConsumeAuthCode", "gatehouse.store.CreateToken"} {
		assert.Contains(t, children, want, "a child of the exchange's span")
	}

	assert.Equal(t, int64(1), s.value(t, provider.MetricTokensIssued, map[string]string{"oauth.grant_type": "authorization_code", "oauth.client_id": "web"}))
	assert.Equal(t, int64(1), s.value(t, provider.MetricTokensIssued, map[string]string{"oauth.grant_type": "refresh_token", "oauth.client_id": "web"}))
	assert.Equal(t, int64(1), s.value(t, provider.MetricRequestDuration, map[string]string{"gatehouse.endpoint": "token", "oauth.grant_type": "authorization_code", "http.response.status_code": "200"}))
	assert.NotZero(t, s.value(t, provider.MetricRequestDuration, map[string]string{"gatehouse.endpoint": "authorize"}))
	assert.NotZero(t, s.value(t, provider.MetricRequestDuration, map[string]string{"gatehouse.endpoint": "interaction"}))
	for _, p := range s.points(t, provider.MetricRequestDuration) {
		if p.attrs["gatehouse.endpoint"] != "token" {
			assert.NotContains(t, p.attrs, "error.type", "a failure in a flow that succeeded: %v", p.attrs)
		}
	}
	assert.Equal(t, int64(2), s.value(t, provider.MetricRequestDuration, map[string]string{"gatehouse.endpoint": "token", "error.type": "invalid_grant", "http.response.status_code": "400"}))
	assert.Equal(t, []point{
		{map[string]string{"gatehouse.key.state": "active"}, 1},
		{map[string]string{"gatehouse.key.state": "pending"}, 0},
		{map[string]string{"gatehouse.key.state": "retired"}, 0},
	}, sortPoints(s.points(t, provider.MetricSigningKeys)))

	s.assertNoSecrets(t, e.webSecret, code, verifier, tok.AccessToken, tok.RefreshToken, idToken,
		signatureOf(tok.AccessToken), signatureOf(tok.RefreshToken), refreshed.AccessToken, refreshed.RefreshToken,
		testUsers["alice"].password, "state-0123456789")
}

func sortPoints(ps []point) []point {
	slices.SortFunc(ps, func(a, b point) int { return strings.Compare(fmt.Sprint(a.attrs), fmt.Sprint(b.attrs)) })
	return ps
}

// Refused clients: a wrong secret, an unknown client and a request from
// outside the client's IP ranges are counted by reason, with the client's
// ID only when the client is registered; the spans carry the error code,
// never the secret or the unknown ID sent.
func TestTelemetryRefusedClient(t *testing.T) {
	e, s := newTelEnv(t)
	ctx := context.Background()
	fenced, fencedSecret, err := e.p.CreateClient(ctx, storage.Client{
		ID: "fenced", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}, IPRanges: []string{"10.0.0.0/8"},
	})
	require.NoError(t, err)
	cc := url.Values{"grant_type": {"client_credentials"}}

	status, body, _ := e.postForm("/oauth2/token", cc, e.svc.ID, "wrong-secret-of-svc")
	require.Equal(t, http.StatusUnauthorized, status, "%v", body)
	status, _, _ = e.postForm("/oauth2/token", cc, "no-such-client-4711", "guessed-secret-0815")
	require.Equal(t, http.StatusUnauthorized, status)
	status, _, _ = e.postForm("/oauth2/token", cc, fenced.ID, fencedSecret)
	require.Equal(t, http.StatusUnauthorized, status)
	status, _, _ = e.postForm("/oauth2/introspect", url.Values{"token": {"whatever"}}, fenced.ID, fencedSecret)
	require.Equal(t, http.StatusUnauthorized, status)

	assert.Equal(t, int64(1), s.value(t, provider.MetricClientAuthFailures, map[string]string{"gatehouse.reason": "invalid_credentials", "oauth.client_id": "svc"}))
	unknown := s.value(t, provider.MetricClientAuthFailures, map[string]string{"gatehouse.reason": "unknown_client"})
	assert.Equal(t, int64(1), unknown)
	for _, p := range s.points(t, provider.MetricClientAuthFailures) {
		if p.attrs["gatehouse.reason"] == "unknown_client" {
			assert.NotContains(t, p.attrs, "oauth.client_id", "an unknown client's ID is the caller's text")
		}
	}
	assert.Equal(t, int64(1), s.value(t, provider.MetricIPRefusals, map[string]string{"gatehouse.endpoint": "token", "oauth.client_id": "fenced"}))
	assert.Equal(t, int64(1), s.value(t, provider.MetricIPRefusals, map[string]string{"gatehouse.endpoint": "introspect", "oauth.client_id": "fenced"}))
	assert.Equal(t, int64(3), s.value(t, provider.MetricRequestDuration, map[string]string{"gatehouse.endpoint": "token", "error.type": "invalid_client", "http.response.status_code": "401"}))
	assert.Zero(t, s.value(t, provider.MetricTokensIssued, nil))

	spans := s.ended("gatehouse.token.client_credentials")
	require.Len(t, spans, 3)
	for _, sp := range spans {
		a := attrs(sp)
		assert.Equal(t, "invalid_client", a["error.type"])
		assert.Equal(t, "401", a["http.response.status_code"])
	}
	assert.NotContains(t, attrs(spans[0]), "oauth.client_id", "a client that failed to authenticate is not named in the span")

	s.assertNoSecrets(t, "wrong-secret-of-svc", "no-such-client-4711", "guessed-secret-0815", fencedSecret, e.svcSecret)
}

// A password lockout at the login page and at the password grant: each
// refused password and each refusal while locked is counted, and the
// failure that locks counts one lockout.
func TestTelemetryLockout(t *testing.T) {
	e, s := newTelEnv(t)
	b, page := e.loginPage(t)
	for range 5 {
		flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"wrong-password-1"}})
	}
	locked := flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
	require.Contains(t, locked.Body, "Too many failed sign-ins")

	assert.Equal(t, int64(5), s.value(t, provider.MetricSignInFailures, map[string]string{"gatehouse.signin.method": "login_page", "gatehouse.reason": "invalid_credentials"}))
	assert.Equal(t, int64(1), s.value(t, provider.MetricSignInFailures, map[string]string{"gatehouse.signin.method": "login_page", "gatehouse.reason": "locked"}))
	assert.Equal(t, int64(1), s.value(t, provider.MetricLockouts, map[string]string{"gatehouse.signin.method": "login_page"}))
	posts := s.ended("gatehouse.interaction.login")
	require.Len(t, posts, 6+1, "the page's GET and six POSTs: %v", s.names())
	s.assertNoSecrets(t, "wrong-password-1", "alice-password")
}

// An MFA lockout: each code checked is counted by outcome, and the wrong
// code that locks counts one lockout; the codes are in no attribute.
func TestTelemetryMFALockout(t *testing.T) {
	s := &otelSDK{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	a := newACEnv(t, withSDK(s))
	b := flowtest.NewBrowser(t)
	page := a.toMFA(b)
	var wrong []string
	for i := 0; len(wrong) < 5; i++ {
		code := fmt.Sprintf("%06d", 100000+i*7919)
		if code == a.code() {
			continue
		}
		wrong = append(wrong, code)
		require.False(t, passed(t, flowtest.Submit(t, b, page, url.Values{"otp": {code}})))
	}
	right := a.code()
	locked := flowtest.Submit(t, b, page, url.Values{"otp": {right}})
	require.Contains(t, locked.Body, "Too many wrong codes")

	assert.Equal(t, int64(len(wrong)), s.value(t, provider.MetricMFAVerifications, map[string]string{"gatehouse.mfa.factor": "totp", "gatehouse.outcome": "invalid_code"}))
	assert.Equal(t, int64(1), s.value(t, provider.MetricMFAVerifications, map[string]string{"gatehouse.outcome": "locked"}))
	assert.Equal(t, int64(1), s.value(t, provider.MetricLockouts, map[string]string{"gatehouse.signin.method": "mfa"}))
	assert.Zero(t, s.value(t, provider.MetricMFAVerifications, map[string]string{"gatehouse.outcome": "success"}))
	assert.NotEmpty(t, s.ended("gatehouse.interaction.mfa"))
	s.assertNoSecrets(t, append(wrong, right, "alice-password", demoTOTPSecret)...)
}

// Every endpoint has its span and its duration: introspection, revocation,
// userinfo, logout, discovery, JWKS, the admin API (named by its route),
// and a host's route through Provider.Instrument.
func TestTelemetryEveryEndpoint(t *testing.T) {
	e, s := newTelEnv(t)
	tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access")
	e.introspect(tok.AccessToken)
	status, _, _ := e.postForm("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}}, e.web.ID, e.webSecret)
	require.Equal(t, http.StatusOK, status)
	status, _ = e.bearer("/userinfo", tok.AccessToken)
	require.Equal(t, http.StatusUnauthorized, status, "revoked with its grant")
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json", "/oauth2/logout"} {
		resp, err := http.Get(e.url(path))
		require.NoError(t, err)
		resp.Body.Close()
	}
	ad := newAdminAPI(t, e.p)
	require.Equal(t, http.StatusOK, ad.call(http.MethodGet, "/clients/web", nil).status)
	require.Equal(t, http.StatusNotFound, ad.call(http.MethodGet, "/clients/nobody", nil).status)
	require.Equal(t, http.StatusUnauthorized, ad.call(http.MethodGet, "/clients", nil, "Authorization", "").status)
	host := httptest.NewServer(e.p.Instrument("account", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "gone", http.StatusGone)
	})))
	defer host.Close()
	resp, err := http.Get(host.URL)
	require.NoError(t, err)
	resp.Body.Close()

	for _, name := range []string{"gatehouse.introspect", "gatehouse.revoke", "gatehouse.userinfo", "gatehouse.logout",
		"gatehouse.discovery", "gatehouse.jwks", "gatehouse.account"} {
		assert.Len(t, s.ended(name), 1, "%s among %v", name, s.names())
	}
	assert.Equal(t, "web", attrs(s.one(t, "gatehouse.introspect"))["oauth.client_id"])
	assert.Equal(t, "invalid_token", attrs(s.one(t, "gatehouse.userinfo"))["error.type"])
	assert.Equal(t, "410", attrs(s.one(t, "gatehouse.account"))["error.type"])
	get := s.ended("gatehouse.admin GET /clients/{id}")
	require.Len(t, get, 2, "%v", s.names())
	assert.Equal(t, "/clients/{id}", attrs(get[0])["http.route"])
	assert.Equal(t, "not_found", attrs(get[1])["error.type"])
	assert.Len(t, s.ended("gatehouse.admin"), 1, "a refused admin call has no route")
	for ep, want := range map[string]int64{"introspect": 1, "revoke": 1, "userinfo": 1, "logout": 1, "discovery": 1, "jwks": 1, "admin": 3, "account": 1} {
		assert.Equal(t, want, s.value(t, provider.MetricRequestDuration, map[string]string{"gatehouse.endpoint": ep}), ep)
	}
	assert.Equal(t, int64(2), s.value(t, provider.MetricRequestDuration, map[string]string{"gatehouse.endpoint": "admin", "http.route": "/clients/{id}"}))
	s.assertNoSecrets(t, tok.AccessToken, tok.RefreshToken, e.webSecret, adminToken)
}

// The audit metrics report the provider's audit writer: an event the
// Auditor refuses is counted in gatehouse.audit.unwritten, as in
// AuditStats, and the queue depth is what still waits.
func TestAuditMetrics(t *testing.T) {
	e, s := newTelEnv(t, func(c *provider.Config) {
		c.Auditor = provider.AuditorFunc(func(_ context.Context, ev storage.AuditEvent) error {
			if ev.Type == provider.AuditTokenIssued {
				return fmt.Errorf("siem down")
			}
			return nil
		})
	})
	assert.Zero(t, s.value(t, provider.MetricAuditUnwritten, nil))
	for range 2 {
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, status, "%v", body)
	}
	require.NoError(t, e.p.Shutdown(context.Background()), "every event handled")
	assert.EqualValues(t, 2, e.p.AuditStats().Unwritten)
	assert.Equal(t, int64(2), s.value(t, provider.MetricAuditUnwritten, nil))
	assert.Equal(t, int64(0), s.value(t, provider.MetricAuditQueueDepth, nil))
}
