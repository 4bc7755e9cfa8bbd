package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// lifetimeSet is the four configured lifetimes of one client.
type lifetimeSet struct{ access, refresh, id, code time.Duration }

var (
	globalLifetimes = lifetimeSet{access: 10 * time.Minute, refresh: 2 * time.Hour, id: 15 * time.Minute, code: 4 * time.Minute}
	clientLifetimes = lifetimeSet{access: 7 * time.Minute, refresh: 3 * time.Hour, id: 20 * time.Minute, code: 8 * time.Minute}
	ccLifetime      = 3 * time.Minute // the client_credentials client's own access-token lifetime
)

const lifetimeRedirect = "https://app.example.com/cb"

// TestTokenLifetimes issues every kind of token by every grant and checks
// that its stored expiry, the expires_in the client is told, the exp of
// introspection and of a JWT access token, and an ID token's exp all agree
// with the configured lifetime (global, or the client's own), and that each
// token is accepted one second before it expires and refused one second
// after: at introspection, at the resource middleware, at userinfo, and a
// refresh token at the token endpoint. Both access-token formats, both
// lifetime sources, on memory and on PostgreSQL.
func TestTokenLifetimes(t *testing.T) {
	for _, jwtDefault := range []bool{false, true} {
		name := "opaque-by-default"
		if jwtDefault {
			name = "jwt-by-default"
		}
		t.Run(name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, store storage.Store) {
				clk := &clock{}
				e := newEnvOn(t, store, func(c *provider.Config) {
					c.Now = clk.Now
					c.JWTAccessTokens = jwtDefault
					c.AccessTokenLifetime = globalLifetimes.access
					c.RefreshTokenLifetime = globalLifetimes.refresh
					c.IDTokenLifetime = globalLifetimes.id
					c.AuthCodeLifetime = globalLifetimes.code
					c.AllowLegacyGrants = true // the password, implicit and hybrid subtests
				})
				// The "global" clients use the provider's lifetimes and
				// default format; the "own" clients their own lifetimes and
				// the other format.
				other := "jwt"
				if jwtDefault {
					other = "opaque"
				}
				for _, v := range []struct {
					name   string
					lt     lifetimeSet
					cc     time.Duration
					format string
				}{
					{"global", globalLifetimes, globalLifetimes.access, ""},
					{"own", clientLifetimes, ccLifetime, other},
				} {
					t.Run(v.name, func(t *testing.T) {
						x := newLifetimeEnv(t, e, clk, v.name, v.lt, v.cc, v.format, jwtDefault)
						t.Run("authorization_code", x.testCodeAndRefresh)
						t.Run("client_credentials", x.testClientCredentials)
						t.Run("password", x.testPassword)
						t.Run("implicit", x.testImplicit)
						t.Run("hybrid", x.testHybrid)
					})
				}
			})
		})
	}
}

// lifetimeEnv is one set of clients sharing lifetimes and token format.
type lifetimeEnv struct {
	e      *env
	clk    *clock
	lt     lifetimeSet
	cc     time.Duration
	jwt    bool
	web    storage.Client // authorization_code, refresh_token, implicit
	webSec string
	svc    storage.Client // client_credentials
	svcSec string
	cli    storage.Client // password, refresh_token
	cliSec string
}

func newLifetimeEnv(t *testing.T, e *env, clk *clock, prefix string, lt lifetimeSet, cc time.Duration, format string, jwtDefault bool) *lifetimeEnv {
	x := &lifetimeEnv{e: e, clk: clk, lt: lt, cc: cc, jwt: format == "jwt" || (format == "" && jwtDefault)}
	own := func(c storage.Client) storage.Client {
		c.AccessTokenFormat = format
		if lt != globalLifetimes {
			c.AccessTokenLifetime, c.RefreshTokenLifetime, c.IDTokenLifetime, c.AuthCodeLifetime = lt.access, lt.refresh, lt.id, lt.code
		}
		return c
	}
	ctx := context.Background()
	var err error
	x.web, x.webSec, err = e.p.CreateClient(ctx, own(storage.Client{
		ID: prefix + "-web", GrantTypes: []string{"authorization_code", "refresh_token", "implicit"},
		RedirectURIs: []string{lifetimeRedirect}, Scopes: []string{"openid", "offline_access", "profile", "assets:read"},
	}))
	require.NoError(t, err)
	svc := own(storage.Client{ID: prefix + "-svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}})
	if cc != globalLifetimes.access {
		svc.AccessTokenLifetime = cc
	}
	x.svc, x.svcSec, err = e.p.CreateClient(ctx, svc)
	require.NoError(t, err)
	x.cli, x.cliSec, err = e.p.CreateClient(ctx, own(storage.Client{
		ID: prefix + "-cli", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"openid", "offline_access", "assets:read"},
	}))
	require.NoError(t, err)
	for id, sec := range map[string]string{x.web.ID: x.webSec, x.svc.ID: x.svcSec, x.cli.ID: x.cliSec} {
		e.secrets[id] = sec
	}
	return x
}

// issueWindow is the real time around an issuing request; fosite computes
// expiry times from the real clock.
type issueWindow struct{ from, to time.Time }

func (x *lifetimeEnv) start() issueWindow { return issueWindow{from: time.Now()} }
func (w issueWindow) end() issueWindow    { w.to = time.Now(); return w }

// assertLifetime checks that exp is lifetime after a moment of w, give or
// take the second fosite rounds to.
func assertLifetime(t *testing.T, what string, exp time.Time, lifetime time.Duration, w issueWindow) {
	t.Helper()
	lo, hi := w.from.Add(lifetime-time.Second), w.to.Add(lifetime+time.Second)
	assert.Truef(t, !exp.Before(lo) && !exp.After(hi), "%s expires at %s, want %v after the request (between %s and %s)", what, exp.UTC(), lifetime, lo.UTC(), hi.UTC())
}

// tokenSignature is the storage key of a token: the part after the last dot
// (an opaque token's HMAC, a JWT's JWS signature).
func tokenSignature(token string) string { return token[strings.LastIndexByte(token, '.')+1:] }

// stored returns the stored expiry of token, after checking it is lifetime
// after w.
func (x *lifetimeEnv) stored(t *testing.T, kind storage.TokenKind, token string, lifetime time.Duration, w issueWindow) time.Time {
	t.Helper()
	rec, err := x.e.store.GetToken(context.Background(), kind, tokenSignature(token))
	require.NoError(t, err, "stored %s", kind)
	assertLifetime(t, "the stored "+string(kind), rec.ExpiresAt, lifetime, w)
	return rec.ExpiresAt
}

// jwtPayload decodes a JWT's payload without checking it.
func jwtPayload(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWT")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// jsonInt reads a JSON number or numeric string (a fragment parameter).
func jsonInt(t *testing.T, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case float64:
		return int64(n)
	case string:
		i, err := json.Number(n).Int64()
		require.NoError(t, err, "expires_in %q", n)
		return i
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}

// checkAccess checks an access token issued in w with expiresIn told to
// the client, and returns its expiry.
func (x *lifetimeEnv) checkAccess(t *testing.T, token string, expiresIn any, lifetime time.Duration, w issueWindow) time.Time {
	t.Helper()
	exp := x.stored(t, storage.KindAccessToken, token, lifetime, w)
	assert.Equal(t, x.jwt, strings.Count(token, ".") == 2, "access-token format (JWT wanted: %v)", x.jwt)
	if x.jwt {
		assert.Equal(t, float64(exp.Unix()), jwtPayload(t, token)["exp"], "the JWT's exp is the stored expiry")
	}
	// expires_in is exp minus the moment of the answer, in whole seconds.
	in := jsonInt(t, expiresIn)
	assert.GreaterOrEqual(t, in, int64(exp.Sub(w.to)/time.Second), "expires_in")
	assert.LessOrEqual(t, in, int64(exp.Sub(w.from)/time.Second), "expires_in")
	info := x.e.introspect(token)
	require.Equal(t, true, info["active"], "%v", info)
	assert.Equal(t, float64(exp.Unix()), info["exp"], "introspection's exp is the stored expiry")
	x.checkIntrospection(t, info, "Bearer", token, w)
	scopes := strings.Fields(info["scope"].(string))

	for _, at := range []struct {
		d  time.Duration
		ok bool
	}{{-time.Second, true}, {time.Second, false}} {
		x.clk.Set(exp.Add(at.d))
		when := "one second before it expires"
		wantStatus := http.StatusOK
		if !at.ok {
			when, wantStatus = "one second after it expired", http.StatusUnauthorized
		}
		assert.Equal(t, at.ok, x.e.introspect(token)["active"], "introspection %s", when)
		if slices.Contains(scopes, "assets:read") {
			assert.Equal(t, wantStatus, x.bearer(t, "/api/assets", token), "the resource middleware %s", when)
		}
		if slices.Contains(scopes, "openid") {
			assert.Equal(t, wantStatus, x.bearer(t, "/userinfo", token), "userinfo %s", when)
		}
	}
	x.clk.Reset()
	return exp
}

func (x *lifetimeEnv) bearer(t *testing.T, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, x.e.url(path), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	status, _, _ := x.e.do(req)
	return status
}

// checkRefresh checks a refresh token issued in w (its stored expiry and
// introspection) and returns its expiry.
func (x *lifetimeEnv) checkRefresh(t *testing.T, token string, w issueWindow) time.Time {
	t.Helper()
	exp := x.stored(t, storage.KindRefreshToken, token, x.lt.refresh, w)
	info := x.e.introspect(token)
	require.Equal(t, true, info["active"], "%v", info)
	assert.Equal(t, float64(exp.Unix()), info["exp"], "introspection's exp is the stored expiry")
	x.checkIntrospection(t, info, "refresh_token", token, w)
	for _, at := range []struct {
		d  time.Duration
		ok bool
	}{{-time.Second, true}, {time.Second, false}} {
		x.clk.Set(exp.Add(at.d))
		assert.Equal(t, at.ok, x.e.introspect(token)["active"], "introspection of the refresh token %v from its expiry", at.d)
	}
	x.clk.Reset()
	return exp
}

// checkIntrospection checks that an active token's introspection carries
// every field RFC 7662 §2.2 names that the token has (resource servers cache
// on exp): exp (checked by the caller), iat within the issuing request w,
// scope, client_id, token_type, iss, and sub for a user's grant (a client's
// own grant has no user). aud is checked where an audience is granted
// (TestIntrospectionAudience).
func (x *lifetimeEnv) checkIntrospection(t *testing.T, info map[string]any, tokenType, token string, w issueWindow) {
	t.Helper()
	for _, f := range []string{"exp", "iat", "scope", "client_id", "token_type", "iss"} {
		assert.Contains(t, info, f, "introspection of a %s", tokenType)
	}
	owner := x.e.tokenOwner(token)
	assert.Equal(t, owner, info["client_id"])
	assert.Equal(t, tokenType, info["token_type"])
	assert.Equal(t, x.e.issuer, info["iss"])
	assert.NotEmpty(t, info["scope"])
	if iat, ok := info["iat"].(float64); assert.True(t, ok, "iat is a number: %v", info["iat"]) {
		assert.GreaterOrEqual(t, int64(iat), w.from.Unix()-1, "iat is when the token was issued")
		assert.LessOrEqual(t, int64(iat), w.to.Unix()+1, "iat is when the token was issued")
	}
	if owner == x.svc.ID {
		assert.NotContains(t, info, "sub", "a client's own grant has no user")
	} else {
		assert.Equal(t, "sub-alice", info["sub"])
	}
}

// refreshAtBoundary presents token at the token endpoint one second after
// exp (refused) and then one second before (accepted).
func (x *lifetimeEnv) refreshAtBoundary(t *testing.T, c storage.Client, secret, token string, exp time.Time) {
	t.Helper()
	defer x.clk.Reset()
	x.clk.Set(exp.Add(time.Second))
	status, body, _ := x.e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, c.ID, secret)
	assert.Equal(t, http.StatusBadRequest, status, "refresh one second after the refresh token expired: %v", body)
	assert.Equal(t, "invalid_grant", body["error"])
	x.clk.Set(exp.Add(-time.Second))
	status, body, _ = x.e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, c.ID, secret)
	assert.Equal(t, http.StatusOK, status, "refresh one second before the refresh token expires: %v", body)
}

// checkIDToken checks an ID token issued in w.
func (x *lifetimeEnv) checkIDToken(t *testing.T, raw any, w issueWindow) {
	t.Helper()
	s, _ := raw.(string)
	require.NotEmpty(t, s, "an ID token")
	c, _ := x.e.verifyIDToken(s)
	require.NotNil(t, c.Expiry)
	assertLifetime(t, "the ID token", c.Expiry.Time(), x.lt.id, w)
}

// authorize runs the browser part of an authorization request for the web
// client and returns the redirect back.
func (x *lifetimeEnv) authorize(t *testing.T, responseType string, verifier string) *url.URL {
	t.Helper()
	q := url.Values{
		"response_type": {responseType}, "client_id": {x.web.ID}, "redirect_uri": {lifetimeRedirect},
		"scope": {"openid offline_access profile assets:read"}, "state": {"state-123456789"}, "nonce": {"nonce-123456789"},
	}
	if verifier != "" {
		q.Set("code_challenge", s256(verifier))
		q.Set("code_challenge_method", "S256")
	}
	return x.e.authorize(flowtest.NewBrowser(t), x.e.url("/oauth2/authorize?")+q.Encode(), "alice")
}

// checkCode checks the records of an authorization code issued in w (the
// code, its PKCE challenge and its OpenID Connect session all expire with
// the code) and returns its expiry.
func (x *lifetimeEnv) checkCode(t *testing.T, code string, w issueWindow) time.Time {
	t.Helper()
	exp := x.stored(t, storage.KindAuthCode, code, x.lt.code, w)
	for _, k := range []storage.TokenKind{storage.KindPKCE, storage.KindOIDC} {
		rec, err := x.e.store.GetToken(context.Background(), k, tokenSignature(code))
		require.NoError(t, err, "stored %s", k)
		assert.True(t, rec.ExpiresAt.Equal(exp), "the %s record expires with its code: %s, code %s", k, rec.ExpiresAt, exp)
	}
	return exp
}

// exchange redeems code, first one second after it expired (refused), then
// one second before (accepted), and returns the answer and its issueWindow.
func (x *lifetimeEnv) exchange(t *testing.T, code, verifier string, exp time.Time) (map[string]any, issueWindow) {
	t.Helper()
	defer x.clk.Reset()
	vals := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {lifetimeRedirect}, "code_verifier": {verifier}}
	x.clk.Set(exp.Add(time.Second))
	status, body, _ := x.e.postForm("/oauth2/token", vals, x.web.ID, x.webSec)
	require.Equal(t, http.StatusBadRequest, status, "exchange one second after the code expired: %v", body)
	assert.Equal(t, "invalid_grant", body["error"])
	x.clk.Set(exp.Add(-time.Second))
	w := x.start()
	status, body, _ = x.e.postForm("/oauth2/token", vals, x.web.ID, x.webSec)
	w = w.end()
	require.Equal(t, http.StatusOK, status, "exchange one second before the code expires: %v", body)
	return body, w
}

func (x *lifetimeEnv) testCodeAndRefresh(t *testing.T) {
	verifier := oauth2.GenerateVerifier()
	w := x.start()
	back := x.authorize(t, "code", verifier)
	w = w.end()
	code := back.Query().Get("code")
	require.NotEmpty(t, code, "%s", back)
	codeExp := x.checkCode(t, code, w)

	body, w := x.exchange(t, code, verifier, codeExp)
	x.checkAccess(t, body["access_token"].(string), body["expires_in"], x.lt.access, w)
	rt, _ := body["refresh_token"].(string)
	require.NotEmpty(t, rt, "offline_access was granted")
	x.checkRefresh(t, rt, w)
	x.checkIDToken(t, body["id_token"], w)

	// The refresh grant: the rotated tokens get fresh lifetimeSet.
	w = x.start()
	status, body, _ := x.e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, x.web.ID, x.webSec)
	w = w.end()
	require.Equal(t, http.StatusOK, status, "%v", body)
	x.checkAccess(t, body["access_token"].(string), body["expires_in"], x.lt.access, w)
	rt2 := body["refresh_token"].(string)
	rtExp := x.checkRefresh(t, rt2, w)
	x.checkIDToken(t, body["id_token"], w)
	x.refreshAtBoundary(t, x.web, x.webSec, rt2, rtExp)
}

func (x *lifetimeEnv) testClientCredentials(t *testing.T) {
	w := x.start()
	status, body, _ := x.e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, x.svc.ID, x.svcSec)
	w = w.end()
	require.Equal(t, http.StatusOK, status, "%v", body)
	x.checkAccess(t, body["access_token"].(string), body["expires_in"], x.cc, w)
}

func (x *lifetimeEnv) testPassword(t *testing.T) {
	// Without openid: refreshing a password grant that has openid is a
	// server_error today (its session has no ID-token subject).
	w := x.start()
	status, body, _ := x.e.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}, "scope": {"offline_access assets:read"}}, x.cli.ID, x.cliSec)
	w = w.end()
	require.Equal(t, http.StatusOK, status, "%v", body)
	x.checkAccess(t, body["access_token"].(string), body["expires_in"], x.lt.access, w)
	rt, _ := body["refresh_token"].(string)
	require.NotEmpty(t, rt, "offline_access was granted")
	exp := x.checkRefresh(t, rt, w)
	x.refreshAtBoundary(t, x.cli, x.cliSec, rt, exp)
}

func (x *lifetimeEnv) testImplicit(t *testing.T) {
	for _, rt := range []string{"token", "id_token token"} {
		t.Run(rt, func(t *testing.T) {
			w := x.start()
			back := x.authorize(t, rt, "")
			w = w.end()
			frag, err := url.ParseQuery(back.Fragment)
			require.NoError(t, err)
			require.NotEmpty(t, frag.Get("access_token"), "%s", back)
			x.checkAccess(t, frag.Get("access_token"), frag.Get("expires_in"), x.lt.access, w)
			if strings.Contains(rt, "id_token") {
				x.checkIDToken(t, frag.Get("id_token"), w)
			}
		})
	}
}

func (x *lifetimeEnv) testHybrid(t *testing.T) {
	verifier := oauth2.GenerateVerifier()
	w := x.start()
	back := x.authorize(t, "code id_token token", verifier)
	w = w.end()
	frag, err := url.ParseQuery(back.Fragment)
	require.NoError(t, err)
	code := frag.Get("code")
	require.NotEmpty(t, code, "%s", back)
	x.checkAccess(t, frag.Get("access_token"), frag.Get("expires_in"), x.lt.access, w)
	x.checkIDToken(t, frag.Get("id_token"), w)
	codeExp := x.checkCode(t, code, w)

	body, w := x.exchange(t, code, verifier, codeExp)
	x.checkAccess(t, body["access_token"].(string), body["expires_in"], x.lt.access, w)
	x.checkRefresh(t, body["refresh_token"].(string), w)
	x.checkIDToken(t, body["id_token"], w)
}
