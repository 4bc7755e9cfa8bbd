package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
)

// fetchJWKS reads the provider's public keys.
func (e *env) fetchJWKS() *jose.JSONWebKeySet {
	e.t.Helper()
	resp, err := http.Get(e.url("/.well-known/jwks.json"))
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	require.NoError(e.t, json.NewDecoder(resp.Body).Decode(&set))
	return &set
}

type idClaims struct {
	josejwt.Claims
	Nonce  string   `json:"nonce"`
	AtHash string   `json:"at_hash"`
	Email  string   `json:"email"`
	Name   string   `json:"name"`
	Groups []string `json:"groups"`
	AMR    []string `json:"amr"`
}

// verifyIDToken checks an ID token's signature against the JWKS with
// go-jose v4 and returns its claims.
func (e *env) verifyIDToken(raw string) (idClaims, jose.Header) {
	e.t.Helper()
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	require.NoError(e.t, err)
	require.Len(e.t, tok.Headers, 1)
	hdr := tok.Headers[0]
	require.NotEmpty(e.t, hdr.KeyID, "ID token must carry a kid")
	keys := e.fetchJWKS().Key(hdr.KeyID)
	require.Len(e.t, keys, 1, "kid %q must be in the JWKS", hdr.KeyID)
	var c idClaims
	require.NoError(e.t, tok.Claims(keys[0].Key, &c))
	require.NoError(e.t, c.Claims.ValidateWithLeeway(josejwt.Expected{Issuer: e.issuer, Time: time.Now()}, time.Minute))
	return c, hdr
}

func TestCodeFlowWithPKCE(t *testing.T) {
	e := newEnv(t)
	tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "profile", "email", "groups", "assets:read")
	require.NotEmpty(t, tok.AccessToken)
	require.NotEmpty(t, tok.RefreshToken, "offline_access was granted")
	assert.Equal(t, "bearer", strings.ToLower(tok.TokenType))

	raw, _ := tok.Extra("id_token").(string)
	require.NotEmpty(t, raw)
	c, hdr := e.verifyIDToken(raw)
	assert.Equal(t, "ES256", hdr.Algorithm)
	assert.Equal(t, "sub-alice", c.Subject)
	assert.Contains(t, c.Audience, "web")
	assert.Equal(t, "nonce-0123456789", c.Nonce)
	assert.NotEmpty(t, c.AtHash)
	assert.Equal(t, "alice@example.com", c.Email)
	assert.Equal(t, []string{"admins", "developers"}, c.Groups)
	assert.Equal(t, []string{"pwd"}, c.AMR)

	// The access token works at the resource server and at userinfo.
	client := oauth2.NewClient(context.Background(), oauth2.StaticTokenSource(tok))
	resp, err := client.Get(e.url("/api/assets"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	for _, method := range []string{"GET", "POST-header", "POST-body"} {
		t.Run("userinfo "+method, func(t *testing.T) {
			var req *http.Request
			switch method {
			case "GET":
				req, _ = http.NewRequest(http.MethodGet, e.url("/userinfo"), nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			case "POST-header":
				req, _ = http.NewRequest(http.MethodPost, e.url("/userinfo"), nil)
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			case "POST-body":
				req, _ = http.NewRequest(http.MethodPost, e.url("/userinfo"), strings.NewReader(url.Values{"access_token": {tok.AccessToken}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			status, body, _ := e.do(req)
			require.Equal(t, http.StatusOK, status, "%v", body)
			assert.Equal(t, "sub-alice", body["sub"])
			assert.Equal(t, "Alice Example", body["name"])
			assert.Equal(t, "alice@example.com", body["email"])
			assert.Equal(t, []any{"admins", "developers"}, body["groups"])
		})
	}
}

func TestPublicClientCodeFlow(t *testing.T) {
	e := newEnv(t)
	tok := e.codeFlow(e.spa, "", spaRedirect, "bob", "openid", "offline_access", "assets:read")
	require.NotEmpty(t, tok.RefreshToken)
	// A public client cannot introspect, and spa's token has no audience a
	// resource server could introspect it for: check it in process.
	info, err := e.p.Introspect(context.Background(), tok.AccessToken)
	require.NoError(t, err)
	assert.Equal(t, "sub-bob", info.Subject)
	assert.Equal(t, "spa", info.ClientID)
	assert.Equal(t, []string{"openid", "offline_access", "assets:read"}, info.Scopes)
}

func TestSecondAuthorizationReusesSessionAndConsent(t *testing.T) {
	e := newEnv(t)
	browser := flowtest.NewBrowser(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid", "profile")
	v := oauth2.GenerateVerifier()
	back := e.authorize(browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")
	require.NotEmpty(t, back.Query().Get("code"))

	// Same browser, same client and scopes: straight back with a code.
	page := flowtest.Get(t, browser, cfg.AuthCodeURL("state-abcdefghi", oauth2.S256ChallengeOption(v)))
	loc := page.Location(t)
	assert.True(t, strings.HasPrefix(loc.String(), webRedirect), "no login or consent page: %s", loc)
	assert.NotEmpty(t, loc.Query().Get("code"))

	// A wider scope asks for consent again, but not for login.
	cfg.Scopes = append(cfg.Scopes, "email")
	page = flowtest.Follow(t, browser, flowtest.Get(t, browser, cfg.AuthCodeURL("state-abcdefghi", oauth2.S256ChallengeOption(v))))
	assert.Contains(t, page.Body, `name="decision"`)
	assert.NotContains(t, page.Body, `name="password"`)

	// prompt=none without a session: login_required to the client.
	fresh := flowtest.NewBrowser(t)
	page = flowtest.Get(t, fresh, cfg.AuthCodeURL("state-abcdefghi", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none")))
	loc = page.Location(t)
	assert.Equal(t, "login_required", loc.Query().Get("error"))
	assert.Equal(t, "state-abcdefghi", loc.Query().Get("state"))
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := newEnv(t)
	tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect)

	// Rotation: a refresh gives a new refresh token.
	old := &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}
	next, err := cfg.TokenSource(context.Background(), old).Token()
	require.NoError(t, err)
	require.NotEqual(t, tok.RefreshToken, next.RefreshToken)
	require.NotEqual(t, tok.AccessToken, next.AccessToken)
	assert.Equal(t, true, e.introspect(next.AccessToken)["active"])
	assert.Equal(t, false, e.introspect(tok.AccessToken)["active"], "the access token issued with a rotated refresh token is revoked")

	// Reuse of the old refresh token fails and revokes the whole family.
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, e.web.ID, e.webSecret)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"], "%v", body)
	assert.Equal(t, false, e.introspect(next.AccessToken)["active"], "reuse revokes the newest access token")
	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {next.RefreshToken}}, e.web.ID, e.webSecret)
	assert.Equal(t, http.StatusBadRequest, status, "reuse revokes the newest refresh token: %v", body)
}

func TestConcurrentRefreshOneWins(t *testing.T) {
	e := newEnv(t)
	tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access")
	results := parallel(20, func() int {
		status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, e.web.ID, e.webSecret)
		return status
	})
	ok := 0
	for _, s := range results {
		if s == http.StatusOK {
			ok++
		} else {
			assert.Less(t, s, 500, "losers get 4xx, never 5xx")
		}
	}
	assert.Equal(t, 1, ok, "exactly one concurrent refresh succeeds: %v", results)
}

func TestConcurrentCodeExchangeOneWins(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	v := oauth2.GenerateVerifier()
	back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")
	code := back.Query().Get("code")
	results := parallel(20, func() int {
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {v}}, e.web.ID, e.webSecret)
		if status >= 500 {
			t.Logf("%d %v", status, body)
		}
		return status
	})
	ok := 0
	for _, s := range results {
		if s == http.StatusOK {
			ok++
		} else {
			assert.Equal(t, http.StatusBadRequest, s)
		}
	}
	assert.Equal(t, 1, ok, "exactly one exchange succeeds: %v", results)
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	cc := clientcredentials.Config{ClientID: e.svc.ID, ClientSecret: e.svcSecret, TokenURL: e.url("/oauth2/token"), Scopes: []string{"assets:read"}}
	tok, err := cc.Token(context.Background())
	require.NoError(t, err)
	assert.Empty(t, tok.RefreshToken)
	info := e.introspect(tok.AccessToken)
	assert.Equal(t, true, info["active"])
	assert.Equal(t, "svc", info["client_id"])
	assert.Nil(t, info["sub"], "client credentials tokens have no user subject")
	assert.Equal(t, "assets:read", info["scope"])

	resp, err := cc.Client(context.Background()).Get(e.url("/api/assets"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	// A scope the client may not have.
	cc.Scopes = []string{"assets:write"}
	_, err = cc.Token(context.Background())
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_scope", re.ErrorCode)
}

func TestIntrospectionAndRevocation(t *testing.T) {
	e := newEnv(t)
	tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")

	info := e.introspect(tok.AccessToken)
	assert.Equal(t, true, info["active"])
	assert.Equal(t, "Bearer", info["token_type"])
	assert.Equal(t, e.issuer, info["iss"])
	info = e.introspect(tok.RefreshToken)
	assert.Equal(t, true, info["active"])
	assert.Equal(t, "refresh_token", info["token_type"])

	// Garbage and unknown tokens: inactive, nothing more.
	for _, garbage := range []string{"nope", "ory_at_x.y", "a.b.c", strings.Repeat("x", 2000)} {
		assert.Equal(t, map[string]any{"active": false}, e.introspect(garbage))
	}

	// Introspection needs client authentication.
	status, body, _ := e.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, "", "")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "invalid_client", body["error"])
	req, _ := http.NewRequest(http.MethodPost, e.url("/oauth2/introspect"), strings.NewReader("token="+tok.AccessToken))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	status, _, _ = e.do(req)
	assert.Equal(t, http.StatusUnauthorized, status, "a bearer token is not client authentication")

	// Another client cannot revoke web's token.
	status, _, _ = e.postForm("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}}, e.svc.ID, e.svcSecret)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, e.introspect(tok.RefreshToken)["active"])

	// Revoking the refresh token ends the grant's access tokens too.
	status, _, _ = e.postForm("/oauth2/revoke", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}, e.web.ID, e.webSecret)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, false, e.introspect(tok.RefreshToken)["active"])
	assert.Equal(t, false, e.introspect(tok.AccessToken)["active"])
	req, _ = http.NewRequest(http.MethodGet, e.url("/userinfo"), nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	status, _, hdr := e.do(req)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, hdr.Get("WWW-Authenticate"), `error="invalid_token"`)
}

func TestIntrospectionOfExpiredToken(t *testing.T) {
	e := newEnv(t)
	cc := clientcredentials.Config{ClientID: e.svc.ID, ClientSecret: e.svcSecret, TokenURL: e.url("/oauth2/token"), Scopes: []string{"assets:read"}}
	tok, err := cc.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, true, e.introspect(tok.AccessToken)["active"])
	e.clock.Advance(61 * time.Minute)
	assert.Equal(t, false, e.introspect(tok.AccessToken)["active"])
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	browser := flowtest.NewBrowser(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	v := oauth2.GenerateVerifier()
	back := e.authorize(browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(v))
	require.NoError(t, err)
	idToken := tok.Extra("id_token").(string)

	// A post_logout_redirect_uri that is not registered is not followed.
	page := flowtest.Get(t, browser, e.url("/oauth2/logout?")+url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
	assert.Equal(t, http.StatusBadRequest, page.Status)
	assert.Empty(t, page.Header.Get("Location"))
	// A modified hint is refused.
	page = flowtest.Get(t, browser, e.url("/oauth2/logout?")+url.Values{"id_token_hint": {idToken[:len(idToken)-4] + "AAAA"}}.Encode())
	assert.Equal(t, http.StatusBadRequest, page.Status)

	page = flowtest.Get(t, browser, e.url("/oauth2/logout?")+url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"http://127.0.0.1:8081/bye"}, "state": {"xyz"}}.Encode())
	loc := page.Location(t)
	assert.Equal(t, "http://127.0.0.1:8081/bye?state=xyz", loc.String())

	// The session is gone: the next authorization asks for login again.
	page = flowtest.Follow(t, browser, flowtest.Get(t, browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v))))
	assert.Contains(t, page.Body, `name="password"`)
}

func TestLogoutWithoutHintAsksToConfirm(t *testing.T) {
	e := newEnv(t)
	browser := flowtest.NewBrowser(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	v := oauth2.GenerateVerifier()
	e.authorize(browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")

	page := flowtest.Get(t, browser, e.url("/oauth2/logout"))
	require.Equal(t, http.StatusOK, page.Status)
	// A forged POST without the CSRF token does not log out.
	page2 := flowtest.Post(t, browser, e.url("/oauth2/logout"), url.Values{"decision": {"logout"}})
	assert.Contains(t, page2.Body, "csrf_token")
	page = flowtest.Submit(t, browser, page, url.Values{"decision": {"logout"}})
	assert.Equal(t, http.StatusOK, page.Status)
	assert.Contains(t, page.Body, "signed out")
	page = flowtest.Follow(t, browser, flowtest.Get(t, browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v))))
	assert.Contains(t, page.Body, `name="password"`)
}

func TestDiscoveryAndJWKS(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.url("/.well-known/openid-configuration"))
	require.NoError(t, err)
	defer resp.Body.Close()
	var d map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&d))
	assert.Equal(t, e.issuer, d["issuer"])
	for k, path := range map[string]string{
		"authorization_endpoint": "/oauth2/authorize", "token_endpoint": "/oauth2/token",
		"introspection_endpoint": "/oauth2/introspect", "revocation_endpoint": "/oauth2/revoke",
		"end_session_endpoint": "/oauth2/logout", "userinfo_endpoint": "/userinfo", "jwks_uri": "/.well-known/jwks.json",
	} {
		assert.Equal(t, e.url(path), d[k], k)
	}
	assert.Equal(t, []any{"S256"}, d["code_challenge_methods_supported"])
	assert.Equal(t, true, d["authorization_response_iss_parameter_supported"])

	set := e.fetchJWKS()
	require.NotEmpty(t, set.Keys)
	for _, k := range set.Keys {
		assert.True(t, k.IsPublic())
		assert.NotEmpty(t, k.KeyID)
		assert.Equal(t, "sig", k.Use)
		assert.Equal(t, "ES256", k.Algorithm)
	}
	raw, _ := json.Marshal(set)
	assert.NotContains(t, string(raw), `"d":`)
}

func TestKeyRotationKeepsOldTokensVerifiable(t *testing.T) {
	e := newEnv(t)
	tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid")
	_, oldHdr := e.verifyIDToken(tok.Extra("id_token").(string))

	kid, err := e.p.RotateSigningKey(context.Background(), 0)
	require.NoError(t, err)
	require.NotEqual(t, oldHdr.KeyID, kid)
	assert.Len(t, e.fetchJWKS().Key(oldHdr.KeyID), 1, "retired key stays published")

	// The old ID token still verifies; a new one is signed with the new key.
	e.verifyIDToken(tok.Extra("id_token").(string))
	tok2 := e.codeFlow(e.web, e.webSecret, webRedirect, "bob", "openid")
	_, hdr := e.verifyIDToken(tok2.Extra("id_token").(string))
	assert.Equal(t, kid, hdr.KeyID)
}

func TestJWTAccessTokens(t *testing.T) {
	e := newEnv(t, func(c *provider.Config) { c.JWTAccessTokens = true })
	cc := clientcredentials.Config{ClientID: e.svc.ID, ClientSecret: e.svcSecret, TokenURL: e.url("/oauth2/token"), Scopes: []string{"assets:read"}}
	tok, err := cc.Token(context.Background())
	require.NoError(t, err)
	jws, err := jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
	require.NoError(t, err)
	assert.Equal(t, "at+jwt", jws.Signatures[0].Protected.ExtraHeaders["typ"])
	keys := e.fetchJWKS().Key(jws.Signatures[0].Protected.KeyID)
	require.Len(t, keys, 1)
	payload, err := jws.Verify(keys[0].Key)
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(payload, &claims))
	assert.Equal(t, e.issuer, claims["iss"])
	assert.Equal(t, "svc", claims["client_id"])
	assert.Equal(t, "assets:read", claims["scope"])

	assert.Equal(t, true, e.introspect(tok.AccessToken)["active"])
	status, _, _ := e.postForm("/oauth2/revoke", url.Values{"token": {tok.AccessToken}}, e.svc.ID, e.svcSecret)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, false, e.introspect(tok.AccessToken)["active"], "a revoked JWT access token is inactive")
}
