package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/storage"
)

// Tests named after the attacks of the OAuth 2.0 Security BCP that the core
// provider answers.

// PKCE verifier rules and downgrade.
func TestPKCEVerifierAndDowngrade(t *testing.T) {
	e := newEnv(t)
	code := func(t *testing.T, challenge bool) (string, string) {
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
		v := oauth2.GenerateVerifier()
		var opts []oauth2.AuthCodeOption
		if challenge {
			opts = append(opts, oauth2.S256ChallengeOption(v))
		}
		back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", opts...), "alice")
		return back.Query().Get("code"), v
	}
	exchange := func(c, v string) (int, map[string]any) {
		vals := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {webRedirect}}
		if v != "" {
			vals.Set("code_verifier", v)
		}
		status, body, _ := e.postForm("/oauth2/token", vals, e.web.ID, e.webSecret)
		return status, body
	}
	t.Run("verifier too short", func(t *testing.T) {
		c, _ := code(t, true)
		status, body := exchange(c, "short-verifier")
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, []any{"invalid_grant", "invalid_request"}, body["error"])
	})
	t.Run("verifier with bad characters", func(t *testing.T) {
		c, v := code(t, true)
		status, _ := exchange(c, v[:40]+"!!!!")
		assert.Equal(t, http.StatusBadRequest, status)
	})
	// A code issued without a challenge, redeemed with a verifier: the
	// attacker injects a stolen code into a PKCE session (RFC 9700 §4.8).
	t.Run("downgrade: verifier without challenge", func(t *testing.T) {
		c, v := code(t, false)
		status, body := exchange(c, v)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, []any{"invalid_grant", "invalid_request"}, body["error"])
	})
	t.Run("confidential client without PKCE still works", func(t *testing.T) {
		c, _ := code(t, false)
		status, body := exchange(c, "")
		assert.Equal(t, http.StatusOK, status, "%v", body)
	})
}

// a confidential client may be made to require PKCE.
func TestRequirePKCEForConfidentialClient(t *testing.T) {
	e := newEnv(t)
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "strict", RequirePKCE: true, RedirectURIs: []string{webRedirect}, Scopes: []string{"openid"},
	})
	require.NoError(t, err)
	cfg := e.oauth2Config(c, secret, webRedirect, "openid")
	loc := flowtest.Get(t, flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789")).Location(t)
	assert.Equal(t, "invalid_request", loc.Query().Get("error"))
	assert.Contains(t, loc.Query().Get("error_description"), "PKCE")
}

// a redirect_uri at the token endpoint that differs from the
// one sent at authorize.
func TestCodeRedirectURIMustMatch(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	v := oauth2.GenerateVerifier()
	back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")
	status, body, _ := e.postForm("/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "code_verifier": {v}, "redirect_uri": {"http://127.0.0.1:8081/other"},
	}, e.web.ID, e.webSecret)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
}

// a refresh token is bound to its client, and scope may
// narrow but not widen.
func TestRefreshBindingAndScope(t *testing.T) {
	e := newEnv(t)
	tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")
	other, otherSecret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "other", GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{webRedirect}, Scopes: []string{"openid", "offline_access", "assets:read"},
	})
	require.NoError(t, err)
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, other.ID, otherSecret)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"], "another client's refresh token")

	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"openid offline_access assets:read registry:read"}}, e.web.ID, e.webSecret)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_scope", body["error"], "refresh cannot widen the grant: %v", body)
	// Scopes are case-sensitive (RFC 6749 §3.3): another case is another
	// scope, which the grant does not have.
	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"openid ASSETS:READ"}}, e.web.ID, e.webSecret)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_scope", body["error"], "a scope in another case is not granted: %v", body)

	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"openid offline_access"}}, e.web.ID, e.webSecret)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "openid offline_access", body["scope"], "refresh may narrow the access token")
	assert.Equal(t, "openid offline_access", e.introspect(body["access_token"].(string))["scope"])
	// The new refresh token keeps the grant's scope (RFC 6749 §6).
	assert.Equal(t, "openid offline_access assets:read", e.introspect(body["refresh_token"].(string))["scope"])
	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}, e.web.ID, e.webSecret)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "openid offline_access assets:read", body["scope"])
}

// Basic credentials with reserved characters work when
// form-urlencoded, as golang.org/x/oauth2 sends them (client_secret_post
// for a client_secret_basic client is accepted: see
// TestSecretMethodsInterchangeable).
func TestClientAuthentication(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const secret = "p@ss:w%rd+x 1/2&="
	c, err := e.p.CreateClientWithSecret(ctx, storage.Client{ID: "odd-secret", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}}, secret)
	require.NoError(t, err)
	// postForm URL-encodes the credentials before Basic, as x/oauth2 does.
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
	assert.Equal(t, http.StatusOK, status, "%v", body)

	// The same secret in the body.
	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {secret}}, "", "")
	assert.Equal(t, http.StatusOK, status, "%v", body)

	// A public client cannot use client credentials (and cannot be registered so).
	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {e.spa.ID}}, "", "")
	assert.Contains(t, []int{http.StatusBadRequest, http.StatusUnauthorized}, status)
	assert.Contains(t, []any{"unauthorized_client", "invalid_client"}, body["error"])

	// Unknown client and wrong secret look the same.
	_, unknown, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "nobody", "x")
	_, wrong, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, "x")
	assert.Equal(t, unknown["error"], wrong["error"])
}

// prompt=none with a session answers at once.
func TestPromptNoneLoggedIn(t *testing.T) {
	e := newEnv(t)
	browser := flowtest.NewBrowser(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	v := oauth2.GenerateVerifier()
	e.authorize(browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")
	loc := flowtest.Get(t, browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none"))).Location(t)
	assert.NotEmpty(t, loc.Query().Get("code"), "%s", loc)

	// But prompt=none for scopes not yet consented is consent_required.
	cfg.Scopes = []string{"openid", "email"}
	loc = flowtest.Get(t, browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "none"))).Location(t)
	assert.Equal(t, "consent_required", loc.Query().Get("error"))
}

// short state and nonce are refused.
func TestShortStateRefused(t *testing.T) {
	e := newEnv(t)
	page := flowtest.Get(t, flowtest.NewBrowser(t), e.authorizeURL(func(q url.Values) { q.Set("state", "short") }))
	loc := page.Location(t)
	assert.Equal(t, "invalid_state", loc.Query().Get("error"), "%s", loc)
}

// unknown parameters are ignored; a request object is not
// supported and is refused.
func TestUnknownParametersAndRequestObjects(t *testing.T) {
	e := newEnv(t)
	browser := flowtest.NewBrowser(t)
	page := flowtest.Get(t, browser, e.authorizeURL(func(q url.Values) { q.Set("x-unknown", "1") }))
	assert.True(t, strings.Contains(page.Header.Get("Location"), "/oauth2/interaction"), "unknown parameter ignored")

	// request_uri is refused before anything is fetched (no SSRF); the
	// client and redirect URI are valid, so the error goes back to the
	// client (RFC 6749 §4.1.2.1). TestRequestObjectsRefused has the rest.
	page = flowtest.Get(t, browser, e.authorizeURL(func(q url.Values) { q.Set("request_uri", "https://attacker.example/req") }))
	assert.Equal(t, "request_uri_not_supported", page.Location(t).Query().Get("error"))
	page = flowtest.Get(t, browser, e.authorizeURL(func(q url.Values) { q.Set("request", "eyJhbGciOiJub25lIn0.e30.") }))
	assert.Equal(t, "request_not_supported", page.Location(t).Query().Get("error"), "unsigned request objects are refused")
}

// fosite deletes the PKCE record before checking the verifier; a failed
// attempt must not strip the code of its PKCE binding (downgrade by a first,
// failing request).
func TestPKCEBindingSurvivesAFailedAttempt(t *testing.T) {
	e := newEnv(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	v := oauth2.GenerateVerifier()
	back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")
	code := back.Query().Get("code")
	status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {oauth2.GenerateVerifier()}}, e.web.ID, e.webSecret)
	require.Equal(t, http.StatusBadRequest, status)
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}}, e.web.ID, e.webSecret)
	assert.Equal(t, http.StatusBadRequest, status, "no verifier after a failed one: %v", body)
	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {v}}, e.web.ID, e.webSecret)
	assert.Equal(t, http.StatusOK, status, "the right verifier still works: %v", body)
}
