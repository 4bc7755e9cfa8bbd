package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// Origins of the CORS tests: the spa and web clients' redirect URIs share
// spaOrigin; otherOrigin is the origin of the "other" client's redirect
// URI; trustedOrigin is listed in Config.CORSOrigins; strangerOrigin is
// nobody's.
const (
	spaOrigin      = "http://127.0.0.1:8081"
	otherOrigin    = "https://other.example"
	trustedOrigin  = "https://portal.example"
	strangerOrigin = "https://stranger.example"
)

// corsResponse is what a browser would look at in an answer.
type corsResponse struct {
	status int
	header http.Header
	body   string
}

// allowOrigin is the Access-Control-Allow-Origin of the answer.
func (c corsResponse) allowOrigin() string { return c.header.Get("Access-Control-Allow-Origin") }

// corsHeaders lists the Access-Control-* headers of the answer.
func (c corsResponse) corsHeaders() []string {
	var out []string
	for k := range c.header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			out = append(out, k)
		}
	}
	return out
}

// assertVaryOrigin checks that the answer varies by Origin, whatever it is.
func (c corsResponse) assertVaryOrigin(t *testing.T, msg string) {
	t.Helper()
	assert.Contains(t, strings.Join(c.header.Values("Vary"), ", "), "Origin", "%s: Vary: Origin", msg)
}

// assertNoCredentials checks that the answer never allows credentials.
func (c corsResponse) assertNoCredentials(t *testing.T, msg string) {
	t.Helper()
	assert.Empty(t, c.header.Values("Access-Control-Allow-Credentials"), "%s: never Access-Control-Allow-Credentials", msg)
	assert.NotEqual(t, "*", c.allowOrigin(), "%s: never *", msg)
}

// corsDo sends a request with the given origin ("" for none) and headers.
func (e *env) corsDo(t *testing.T, method, path, origin string, body url.Values, header http.Header) corsResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(body.Encode())
	}
	req, err := http.NewRequest(method, e.url(path), rd)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return corsResponse{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// preflight sends a CORS preflight for method with the Authorization
// header, as a browser does before a fetch with a bearer token.
func (e *env) preflight(t *testing.T, path, origin, method string) corsResponse {
	t.Helper()
	return e.corsDo(t, http.MethodOptions, path, origin, nil, http.Header{
		"Access-Control-Request-Method":  {method},
		"Access-Control-Request-Headers": {"authorization"},
	})
}

// newCORSEnv is an env with trustedOrigin in Config.CORSOrigins, plus a
// confidential client "other" whose redirect URI is at otherOrigin.
func newCORSEnv(t *testing.T, mutate ...func(*provider.Config)) (*env, storage.Client, string) {
	t.Helper()
	e := newEnv(t, append([]func(*provider.Config){func(c *provider.Config) { c.CORSOrigins = []string{trustedOrigin + "/"} }}, mutate...)...)
	other, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "other", GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{otherOrigin + "/cb"}, Scopes: []string{"openid", "offline_access"},
	})
	require.NoError(t, err)
	e.secrets[other.ID] = secret
	return e, other, secret
}

func TestCORSPreflight(t *testing.T) {
	e, _, _ := newCORSEnv(t, func(c *provider.Config) { c.CORSIntrospection = true })
	tests := []struct {
		name    string
		path    string
		origin  string
		method  string
		allowed bool
		methods string
	}{
		// An SPA's own origin: the origin of its registered redirect URI.
		{"token from a redirect URI's origin", "/oauth2/token", spaOrigin, "POST", true, "POST"},
		{"userinfo from a redirect URI's origin", "/userinfo", spaOrigin, "GET", true, "GET, POST"},
		{"revocation from a redirect URI's origin", "/oauth2/revoke", spaOrigin, "POST", true, "POST"},
		{"introspection, enabled, from a redirect URI's origin", "/oauth2/introspect", otherOrigin, "POST", true, "POST"},
		// Any registered client's origin passes the preflight; the actual
		// response decides per client (TestCORSActualResponse).
		{"token from another client's origin", "/oauth2/token", otherOrigin, "POST", true, "POST"},
		{"token from Config.CORSOrigins", "/oauth2/token", trustedOrigin, "POST", true, "POST"},
		// The origin compares as an origin: scheme and host case-folded,
		// the default port dropped.
		{"origin written with case and default port", "/oauth2/token", "HTTPS://Other.Example:443", "POST", true, "POST"},
		// A page anywhere else must not get a preflight through.
		{"unregistered origin", "/oauth2/token", strangerOrigin, "POST", false, ""},
		{"unregistered origin at userinfo", "/userinfo", strangerOrigin, "GET", false, ""},
		{"same host, another port", "/oauth2/token", "http://127.0.0.1:8082", "POST", false, ""},
		{"same host, another scheme", "/oauth2/token", "https://127.0.0.1:8081", "POST", false, ""},
		// Sandboxed iframes and file: pages send the opaque origin.
		{"opaque origin null", "/oauth2/token", "null", "POST", false, ""},
		{"origin with a path", "/oauth2/token", spaOrigin + "/spa", "POST", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.preflight(t, tt.path, tt.origin, tt.method)
			res.assertVaryOrigin(t, tt.name)
			res.assertNoCredentials(t, tt.name)
			if !tt.allowed {
				assert.Equal(t, http.StatusForbidden, res.status, res.body)
				assert.Empty(t, res.corsHeaders(), "a refused preflight has no CORS headers")
				assert.Contains(t, res.body, "not the origin of a registered redirect URI")
				return
			}
			assert.Equal(t, http.StatusNoContent, res.status, res.body)
			assert.Equal(t, tt.origin, res.allowOrigin(), "the origin itself, as sent")
			assert.Equal(t, tt.methods, res.header.Get("Access-Control-Allow-Methods"))
			assert.Equal(t, "Authorization, Content-Type", res.header.Get("Access-Control-Allow-Headers"))
			assert.Equal(t, "600", res.header.Get("Access-Control-Max-Age"))
			assert.Empty(t, res.body)
		})
	}
}

// An OPTIONS request that is not a preflight (no Origin, or no
// Access-Control-Request-Method) is answered as before: 405.
func TestCORSOptionsWithoutPreflight(t *testing.T) {
	e, _, _ := newCORSEnv(t)
	for _, h := range []http.Header{{}, {"Origin": {spaOrigin}}} {
		res := e.corsDo(t, http.MethodOptions, "/oauth2/token", "", nil, h)
		assert.Equal(t, http.StatusMethodNotAllowed, res.status)
		assert.Equal(t, "POST", res.header.Get("Allow"))
		assert.Empty(t, res.corsHeaders())
		res.assertVaryOrigin(t, "405")
	}
}

// Introspection answers CORS only when Config.CORSIntrospection is set.
func TestCORSIntrospectionOff(t *testing.T) {
	e, other, otherSecret := newCORSEnv(t)
	res := e.preflight(t, "/oauth2/introspect", otherOrigin, "POST")
	assert.Equal(t, http.StatusMethodNotAllowed, res.status, "no preflight answer: the endpoint refuses OPTIONS")
	assert.Empty(t, res.corsHeaders())

	tok := e.codeFlow(other, otherSecret, otherOrigin+"/cb", "alice", "openid")
	res = e.corsDo(t, http.MethodPost, "/oauth2/introspect", otherOrigin, url.Values{"token": {tok.AccessToken}},
		http.Header{"Authorization": {basicAuth(other.ID, otherSecret)}})
	require.Equal(t, http.StatusOK, res.status, res.body)
	assert.Contains(t, res.body, `"active":true`)
	assert.Empty(t, res.corsHeaders(), "no CORS headers without Config.CORSIntrospection")
}

func basicAuth(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return r.Header.Get("Authorization")
}

// The actual response names the origin only for the authenticated client's
// origins (its redirect URIs', and Config.CORSOrigins).
func TestCORSActualResponse(t *testing.T) {
	e, other, otherSecret := newCORSEnv(t, func(c *provider.Config) { c.CORSIntrospection = true })
	spaTok := e.codeFlow(e.spa, "", spaRedirect, "alice", "openid", "offline_access", "profile")
	otherTok := e.codeFlow(other, otherSecret, otherOrigin+"/cb", "alice", "openid", "offline_access")
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

	type call struct {
		name   string
		origin string
		do     func(origin string) corsResponse
		status int
		// allowed: the answer names the origin; otherwise it has no CORS
		// headers at all.
		allowed bool
	}
	refresh := func(rt string) func(string) corsResponse {
		return func(origin string) corsResponse {
			return e.corsDo(t, http.MethodPost, "/oauth2/token", origin,
				url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {e.spa.ID}}, nil)
		}
	}
	// spaRefresh and spaAccess are the SPA's tokens after the first call
	// rotated its refresh token (which ends the first access token).
	var spaRefresh, spaAccess string
	calls := []call{
		// The SPA's own page reads its tokens.
		{"token: the client's own origin", spaOrigin, func(o string) corsResponse {
			res := refresh(spaTok.RefreshToken)(o)
			spaRefresh = jsonField(t, res.body, "refresh_token")
			spaAccess = jsonField(t, res.body, "access_token")
			return res
		}, http.StatusOK, true},
		// ...and its errors, once it is known which client asks.
		{"token error for an identified client", spaOrigin, refresh("not-a-refresh-token"), http.StatusBadRequest, true},
		// Another registered client's page passed the preflight but must
		// not read the SPA's answers (a page that learnt a code or refresh
		// token could otherwise redeem it).
		{"token: another client's origin", otherOrigin, func(o string) corsResponse {
			res := refresh(spaRefresh)(o) // the server answers; the browser hides it
			spaRefresh, spaAccess = jsonField(t, res.body, "refresh_token"), jsonField(t, res.body, "access_token")
			return res
		}, http.StatusOK, false},
		{"token: an unregistered origin", strangerOrigin, refresh("not-a-refresh-token"), http.StatusBadRequest, false},
		// The host's own listed origin reads every client's answers.
		{"token: Config.CORSOrigins", trustedOrigin, refresh("not-a-refresh-token"), http.StatusBadRequest, true},
		// No client authenticated: nobody reads the answer.
		{"token: client authentication failed", otherOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodPost, "/oauth2/token", o, url.Values{"grant_type": {"client_credentials"}},
				http.Header{"Authorization": {basicAuth(other.ID, "wrong-secret")}})
		}, http.StatusUnauthorized, false},
		{"token: malformed request", trustedOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodPost, "/oauth2/token", o, url.Values{"client_id": {e.spa.ID}}, nil)
		}, http.StatusBadRequest, false},

		// Userinfo: the client is the access token's.
		{"userinfo: the token's client's origin", spaOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodGet, "/userinfo", o, nil, bearer(spaAccess))
		}, http.StatusOK, true},
		{"userinfo: another client's origin", otherOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodGet, "/userinfo", o, nil, bearer(spaAccess))
		}, http.StatusOK, false},
		{"userinfo: Config.CORSOrigins", trustedOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodPost, "/userinfo", o, url.Values{}, bearer(otherTok.AccessToken))
		}, http.StatusOK, true},
		{"userinfo: invalid token", spaOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodGet, "/userinfo", o, nil, bearer("not-a-token"))
		}, http.StatusUnauthorized, false},
		{"userinfo: token without openid, read by its client", otherOrigin, func(o string) corsResponse {
			cc := e.corsDo(t, http.MethodPost, "/oauth2/token", "", url.Values{"grant_type": {"client_credentials"}},
				http.Header{"Authorization": {basicAuth(e.svc.ID, e.svcSecret)}})
			return e.corsDo(t, http.MethodGet, "/userinfo", o, nil, bearer(jsonField(t, cc.body, "access_token")))
		}, http.StatusForbidden, false},

		// Revocation: the authenticated client.
		{"revoke: the client's own origin", spaOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodPost, "/oauth2/revoke", o, url.Values{"token": {"unknown"}, "client_id": {e.spa.ID}}, nil)
		}, http.StatusOK, true},
		{"revoke: another client's origin", otherOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodPost, "/oauth2/revoke", o, url.Values{"token": {"unknown"}, "client_id": {e.spa.ID}}, nil)
		}, http.StatusOK, false},
		{"revoke: client authentication failed", otherOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodPost, "/oauth2/revoke", o, url.Values{"token": {"unknown"}},
				http.Header{"Authorization": {basicAuth(other.ID, "wrong-secret")}})
		}, http.StatusUnauthorized, false},

		// Introspection (Config.CORSIntrospection): the calling client.
		{"introspect: the caller's origin", otherOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodPost, "/oauth2/introspect", o, url.Values{"token": {otherTok.AccessToken}},
				http.Header{"Authorization": {basicAuth(other.ID, otherSecret)}})
		}, http.StatusOK, true},
		{"introspect: another client's origin", spaOrigin, func(o string) corsResponse {
			return e.corsDo(t, http.MethodPost, "/oauth2/introspect", o, url.Values{"token": {otherTok.AccessToken}},
				http.Header{"Authorization": {basicAuth(other.ID, otherSecret)}})
		}, http.StatusOK, false},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			res := c.do(c.origin)
			require.Equal(t, c.status, res.status, res.body)
			res.assertVaryOrigin(t, c.name)
			res.assertNoCredentials(t, c.name)
			if c.allowed {
				assert.Equal(t, c.origin, res.allowOrigin())
				assert.Equal(t, "WWW-Authenticate, Retry-After", res.header.Get("Access-Control-Expose-Headers"))
				assert.ElementsMatch(t, []string{"Access-Control-Allow-Origin", "Access-Control-Expose-Headers"}, res.corsHeaders())
			} else {
				assert.Empty(t, res.corsHeaders(), "no CORS headers")
			}
		})
	}

	t.Run("no Origin header", func(t *testing.T) {
		res := e.corsDo(t, http.MethodGet, "/userinfo", "", nil, bearer(spaAccess))
		require.Equal(t, http.StatusOK, res.status)
		assert.Empty(t, res.corsHeaders())
		res.assertVaryOrigin(t, "same-origin or non-browser request")
	})
}

func jsonField(t *testing.T, body, field string) string {
	t.Helper()
	m := map[string]any{}
	require.NoError(t, json.Unmarshal([]byte(body), &m), body)
	s, _ := m[field].(string)
	require.NotEmpty(t, s, "%s in %s", field, body)
	return s
}

// The pages never send CORS headers, whatever the Origin, and do not
// answer preflights.
func TestCORSPagesNever(t *testing.T) {
	e, _, _ := newCORSEnv(t)
	b := flowtest.NewBrowser(t)
	authURL := e.oauth2Config(e.spa, "", spaRedirect, "openid").AuthCodeURL("state-0123456789",
		oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("nonce", "nonce-0123456789"))
	get := func(u string) corsResponse {
		req, err := http.NewRequest(http.MethodGet, u, nil)
		require.NoError(t, err)
		req.Header.Set("Origin", spaOrigin)
		resp, err := b.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return corsResponse{status: resp.StatusCode, header: resp.Header, body: string(body)}
	}
	auth := get(authURL)
	require.Equal(t, http.StatusSeeOther, auth.status, auth.body)
	assert.Empty(t, auth.corsHeaders(), "authorization endpoint")
	interaction := auth.header.Get("Location")
	login := get(e.url(interaction))
	require.Equal(t, http.StatusOK, login.status)
	require.Contains(t, login.body, `name="password"`)
	assert.Empty(t, login.corsHeaders(), "login page")

	page := flowtest.Get(t, b, e.url(interaction))
	consent := flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
	consentPage := get(e.url(consent.Header.Get("Location")))
	require.Contains(t, consentPage.body, `name="decision"`)
	assert.Empty(t, consentPage.corsHeaders(), "consent page")

	logout := get(e.url("/oauth2/logout"))
	assert.Equal(t, http.StatusOK, logout.status)
	assert.Empty(t, logout.corsHeaders(), "logout page")

	for _, path := range []string{"/oauth2/authorize", "/oauth2/interaction", "/oauth2/logout"} {
		res := e.preflight(t, path, spaOrigin, "POST")
		assert.Equal(t, http.StatusMethodNotAllowed, res.status, path)
		assert.Empty(t, res.corsHeaders(), "%s: no preflight answer", path)
	}
}

// listCountingStore counts ListClients calls and can make them fail.
type listCountingStore struct {
	storage.Store
	mu    sync.Mutex
	lists int
	fail  bool
}

func (s *listCountingStore) ListClients(ctx context.Context) ([]storage.Client, error) {
	s.mu.Lock()
	s.lists++
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return nil, errors.New("database down")
	}
	return s.Store.ListClients(ctx)
}

func (s *listCountingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists
}

func (s *listCountingStore) setFail(v bool) {
	s.mu.Lock()
	s.fail = v
	s.mu.Unlock()
}

// Preflights are checked against a cached set of the registered origins,
// read at most once per 30 seconds: a flood of preflights from any origins
// does not reach the store, and a client registered meanwhile is known
// after the set expires.
func TestCORSOriginCache(t *testing.T) {
	store := &listCountingStore{}
	e := newEnv(t, func(c *provider.Config) { store.Store = c.Store; c.Store = store })
	e.clock.Set(time.Now())

	for i := range 50 {
		origin := strangerOrigin
		if i%2 == 0 {
			origin = spaOrigin
		}
		res := e.preflight(t, "/oauth2/token", origin, "POST")
		if origin == spaOrigin {
			assert.Equal(t, http.StatusNoContent, res.status)
		} else {
			assert.Equal(t, http.StatusForbidden, res.status)
		}
	}
	assert.Equal(t, 1, store.count(), "one store read answers every preflight within the TTL")

	_, _, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "late", Public: true, RedirectURIs: []string{"https://late.example/cb"}, Scopes: []string{"openid"},
	})
	require.NoError(t, err)
	assert.Equal(t, http.StatusForbidden, e.preflight(t, "/oauth2/token", "https://late.example", "POST").status,
		"a client registered within the TTL is not known yet")
	e.clock.Advance(30 * time.Second)
	assert.Equal(t, http.StatusNoContent, e.preflight(t, "/oauth2/token", "https://late.example", "POST").status,
		"after the TTL the set is read again")
	assert.Equal(t, 2, store.count())

	// A store failure keeps the last set for another TTL.
	store.setFail(true)
	e.clock.Advance(30 * time.Second)
	assert.Equal(t, http.StatusNoContent, e.preflight(t, "/oauth2/token", "https://late.example", "POST").status, "the previous set answers")
	assert.Equal(t, http.StatusNoContent, e.preflight(t, "/oauth2/token", spaOrigin, "POST").status)
	assert.Equal(t, 3, store.count(), "the failed read is not retried at once")
}

// With no set read yet, a store failure fails the preflight with 503.
func TestCORSOriginCacheStoreDown(t *testing.T) {
	store := &listCountingStore{fail: true}
	e := newEnv(t, func(c *provider.Config) { store.Store = c.Store; c.Store = store })
	res := e.preflight(t, "/oauth2/token", spaOrigin, "POST")
	assert.Equal(t, http.StatusServiceUnavailable, res.status)
	assert.Contains(t, res.body, "temporarily_unavailable")
	assert.Empty(t, res.corsHeaders())
	// A listed origin needs no store.
	e2 := newEnv(t, func(c *provider.Config) {
		s := &listCountingStore{fail: true, Store: c.Store}
		c.Store = s
		c.CORSOrigins = []string{trustedOrigin}
	})
	assert.Equal(t, http.StatusNoContent, e2.preflight(t, "/oauth2/token", trustedOrigin, "POST").status)
}

func TestCORSOriginsConfig(t *testing.T) {
	for _, bad := range []string{"*", "null", "app.example.com", "https://app.example.com/path", "ftp://app.example.com",
		"http://app.example.com", "https://*.example.com", "https://user@app.example.com", "https://app.example.com?x"} {
		_, err := provider.New(provider.Config{Issuer: "http://127.0.0.1:9000", Store: memory.New(), Authenticator: userDB{},
			CORSOrigins: []string{"https://ok.example", bad}})
		var ce *provider.ConfigError
		if assert.ErrorAs(t, err, &ce, bad) {
			assert.Equal(t, "CORSOrigins[1]", ce.Field, bad)
		}
	}
	for _, good := range []string{"https://app.example.com", "https://app.example.com/", "https://app.example.com:8443", "http://127.0.0.1:3000", "http://[::1]:3000", "http://localhost:5173"} {
		_, err := provider.New(provider.Config{Issuer: "http://127.0.0.1:9000", Store: memory.New(), Authenticator: userDB{},
			CORSOrigins: []string{good}})
		assert.NoError(t, err, good)
	}
}
