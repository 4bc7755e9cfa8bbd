package provider_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/internal/racetest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// clock is a test clock: real time plus an offset tests can move forward,
// or, once Set, a time that stands still (so that "one second after" and
// Retry-After values are exact whatever the machine's speed) until Advance
// moves it or Reset returns to real time. fosite computes expiry times from
// the real time.Now(); the provider checks them against Config.Now.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
	at     *time.Time
}

// stoppedClock returns a clock standing at the current time.
func stoppedClock() *clock {
	c := &clock{}
	c.Set(time.Now())
	return c
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at != nil {
		return *c.at
	}
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at != nil {
		t := c.at.Add(d)
		c.at = &t
		return
	}
	c.offset += d
}

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.at = &t; c.mu.Unlock() }
func (c *clock) Reset()          { c.mu.Lock(); c.at = nil; c.mu.Unlock() }

// testUsers are the users of every test.
var testUsers = map[string]struct {
	password string
	user     provider.User
}{
	"alice": {"alice-password", provider.User{Subject: "sub-alice", Username: "alice", Name: "Alice Example", Email: "alice@example.com", EmailVerified: true, Groups: []string{"admins", "developers"}, Permissions: []string{"*"}}},
	"bob":   {"bob-password", provider.User{Subject: "sub-bob", Username: "bob", Name: "Bob Example", Email: "bob@example.com", Groups: []string{"developers"}, Permissions: []string{"*"}}},
}

type userDB struct{}

func (userDB) Authenticate(_ context.Context, username, password string) (provider.User, error) {
	u, ok := testUsers[username]
	if !ok || u.password != password {
		return provider.User{}, provider.ErrInvalidCredentials
	}
	return u.user, nil
}

func (userDB) LookupUser(_ context.Context, subject string) (provider.User, error) {
	for _, u := range testUsers {
		if u.user.Subject == subject {
			return u.user, nil
		}
	}
	return provider.User{}, provider.ErrUserNotFound
}

// env is a provider behind an httptest server with a few clients.
type env struct {
	t      testing.TB
	p      *provider.Provider
	srv    *httptest.Server
	store  storage.Store
	clock  *clock
	issuer string

	web       storage.Client // confidential, code + refresh
	webSecret string
	spa       storage.Client // public, PKCE
	svc       storage.Client // client_credentials
	svcSecret string

	// secrets are the secrets of the confidential clients, by ID, so that
	// introspect can ask as a token's own client.
	secrets map[string]string
}

const (
	webRedirect = "http://127.0.0.1:8081/callback"
	spaRedirect = "http://127.0.0.1:8081/spa"
)

func newEnv(t testing.TB, mutate ...func(*provider.Config)) *env {
	t.Helper()
	return newEnvOn(t, memory.New(), mutate...)
}

// newEnvOn is newEnv on the given store.
func newEnvOn(t testing.TB, store storage.Store, mutate ...func(*provider.Config)) *env {
	t.Helper()
	e := &env{t: t, store: store, clock: &clock{}}
	var handler atomic.Pointer[http.Handler]
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.issuer = e.srv.URL
	cfg := provider.Config{
		Issuer:        e.issuer,
		Store:         e.store,
		Authenticator: userDB{},
		Now:           e.clock.Now,
		GlobalSecret:  []byte("0123456789abcdef0123456789abcdef"),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := provider.New(cfg)
	require.NoError(t, err)
	e.p = p
	// The provider's queued audit events are written before the store
	// closes (a store's cleanup, registered before this one, runs after
	// it), not refused by a closed pool; a test of a failing store has
	// asserted what it needs by then.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	h := http.Handler(p.Handler())
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.Handle("GET /api/assets", p.RequireScopes("assets:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ti, _ := provider.TokenFromContext(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]any{"sub": ti.Subject, "client_id": ti.ClientID})
	})))
	var hh http.Handler = mux
	handler.Store(&hh)

	ctx := context.Background()
	e.web, e.webSecret, err = p.CreateClient(ctx, storage.Client{
		ID: "web", Name: "Web Portal",
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		RedirectURIs:           []string{webRedirect},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1:8081/bye"},
		Scopes:                 []string{"openid", "offline_access", "profile", "email", "groups", "assets:read", "registry:read"},
	})
	require.NoError(t, err)
	e.spa, _, err = p.CreateClient(ctx, storage.Client{
		ID: "spa", Public: true,
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{spaRedirect},
		Scopes:       []string{"openid", "offline_access", "profile", "assets:read"},
	})
	require.NoError(t, err)
	e.svc, e.svcSecret, err = p.CreateClient(ctx, storage.Client{
		ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read", "registry:read"},
	})
	require.NoError(t, err)
	e.secrets = map[string]string{e.web.ID: e.webSecret, e.svc.ID: e.svcSecret}
	return e
}

// forEachStore runs f on the memory store and, when
// GATEHOUSE_TEST_POSTGRES_DSN is set, on a PostgreSQL store of its own (the
// subtest skips, saying how to run it, when it is not).
func forEachStore(t *testing.T, f func(t *testing.T, store storage.Store)) {
	t.Run("memory", func(t *testing.T) { f(t, memory.New()) })
	t.Run("postgres", func(t *testing.T) {
		s, _, _ := pgtest.Store(t)
		f(t, s)
	})
}

func (e *env) url(path string) string { return e.issuer + path }

func (e *env) oauth2Config(c storage.Client, secret string, redirect string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if c.Public {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     c.ID,
		ClientSecret: secret,
		RedirectURL:  redirect,
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   e.url("/oauth2/authorize"),
			TokenURL:  e.url("/oauth2/token"),
			AuthStyle: style,
		},
	}
}

// authorize runs the browser part of the code flow: login as user (if
// asked), consent (if asked), and returns the redirect back to the client.
func (e *env) authorize(browser *http.Client, authURL, user string) *url.URL {
	t := e.t
	t.Helper()
	page := flowtest.Get(t, browser, authURL)
	for i := 0; i < 6; i++ {
		if page.Status != http.StatusSeeOther && page.Status != http.StatusFound {
			t.Fatalf("authorize: unexpected status %d at %s:\n%s", page.Status, page.URL, page.Body)
		}
		loc := page.Location(t)
		if !strings.HasPrefix(loc.String(), e.issuer) {
			return loc
		}
		page = flowtest.Get(t, browser, loc.String())
		switch {
		case strings.Contains(page.Body, `name="password"`):
			page = flowtest.Submit(t, browser, page, url.Values{"username": {user}, "password": {testUsers[user].password}})
		case strings.Contains(page.Body, `name="decision"`):
			page = flowtest.Submit(t, browser, page, url.Values{"decision": {"allow"}})
		}
	}
	t.Fatalf("authorize: too many steps")
	return nil
}

// codeFlow runs a full authorization-code flow with PKCE for client c and
// returns the token.
func (e *env) codeFlow(c storage.Client, secret, redirect, user string, scopes ...string) *oauth2.Token {
	t := e.t
	t.Helper()
	cfg := e.oauth2Config(c, secret, redirect, scopes...)
	verifier := oauth2.GenerateVerifier()
	state := "state-" + oauth2.GenerateVerifier()[:12]
	back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-0123456789")), user)
	require.Equal(t, state, back.Query().Get("state"), "state must be echoed byte for byte")
	require.Equal(t, e.issuer, back.Query().Get("iss"), "RFC 9207 iss")
	code := back.Query().Get("code")
	require.NotEmpty(t, code, "no code in %s", back)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok
}

// postForm posts vals to path with optional basic auth and returns status
// and decoded JSON body.
func (e *env) postForm(path string, vals url.Values, user, pass string) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url(path), strings.NewReader(vals.Encode()))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (int, map[string]any, http.Header) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, resp.Header
}

// introspect introspects token at the endpoint as the client the token
// was issued to, which may always see it, so that an inactive answer means
// the token is not valid rather than not shown. A token the store does not
// hold is asked about as svc (it is inactive for everyone). The owner must
// be a confidential client in e.secrets.
func (e *env) introspect(token string) map[string]any {
	e.t.Helper()
	id, secret := e.svc.ID, e.svcSecret
	if owner := e.tokenOwner(token); owner != "" {
		var ok bool
		secret, ok = e.secrets[owner]
		require.True(e.t, ok, "introspect: the token belongs to client %q, which has no secret in env.secrets (a public client cannot introspect; use introspectAs with a resource server)", owner)
		id = owner
	}
	return e.introspectAs(id, secret, token)
}

// introspectAs introspects token at the endpoint as client id.
func (e *env) introspectAs(id, secret, token string) map[string]any {
	e.t.Helper()
	status, body, _ := e.postForm("/oauth2/introspect", url.Values{"token": {token}}, id, secret)
	require.Equal(e.t, http.StatusOK, status, "introspection: %v", body)
	return body
}

// tokenOwner returns the client ID of the access or refresh token's stored
// grant, or "" if the store has no such token.
func (e *env) tokenOwner(token string) string {
	sig := token[strings.LastIndexByte(token, '.')+1:]
	for _, kind := range []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken} {
		if rec, err := e.store.GetToken(context.Background(), kind, sig); err == nil {
			return rec.Request.ClientID
		}
	}
	return ""
}

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// parallel runs f n times at once and returns the results.
func parallel[T any](n int, f func() T) []T {
	return racetest.Run(n, func(int) T { return f() })
}
