package provider_test

import (
	"context"
	"net/http"
	"net/url"
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

// authorizeURL builds an authorization request for the web client.
func (e *env) authorizeURL(mutate func(url.Values)) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {e.web.ID},
		"redirect_uri":          {webRedirect},
		"scope":                 {"openid"},
		"state":                 {"state-123456789"},
		"code_challenge":        {s256("verifier-0123456789012345678901234567890123456789")},
		"code_challenge_method": {"S256"},
	}
	if mutate != nil {
		mutate(q)
	}
	return e.url("/oauth2/authorize?") + q.Encode()
}

// TestAuthorizeRefusals pins the authorization endpoint's answers to bad
// requests: shown (no redirect) when the client or redirect URI cannot be
// trusted, redirected with state otherwise.
func TestAuthorizeRefusals(t *testing.T) {
	e := newEnv(t)
	shown := []struct {
		name   string
		mutate func(url.Values)
		code   string
	}{
		// RFC 9700 §4.11: no open redirect through an unknown client.
		{"unknown client", func(q url.Values) { q.Set("client_id", "nobody") }, "invalid_client"},
		// RFC 9700 §4.1: exact redirect URI match.
		{"redirect not registered", func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }, "invalid_request"},
		{"redirect trailing slash", func(q url.Values) { q.Set("redirect_uri", webRedirect+"/") }, "invalid_request"},
		{"redirect added query", func(q url.Values) { q.Set("redirect_uri", webRedirect+"?x=1") }, "invalid_request"},
		{"redirect changed case", func(q url.Values) { q.Set("redirect_uri", strings.ToUpper(webRedirect[:4])+webRedirect[4:]+"X") }, "invalid_request"},
		{"redirect dot segments", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:8081/x/../callback") }, "invalid_request"},
		{"redirect fragment", func(q url.Values) { q.Set("redirect_uri", webRedirect+"#frag") }, "invalid_request"},
		// RFC 6749 §3.1: parameters must not repeat.
		{"duplicate parameter", func(q url.Values) { q.Add("scope", "openid") }, "invalid_request"},
	}
	for _, tt := range shown {
		t.Run(tt.name, func(t *testing.T) {
			page := flowtest.Get(t, flowtest.NewBrowser(t), e.authorizeURL(tt.mutate))
			assert.GreaterOrEqual(t, page.Status, 400)
			assert.Empty(t, page.Header.Get("Location"), "must not redirect")
			assert.Contains(t, page.Body, tt.code)
			assert.Equal(t, "DENY", page.Header.Get("X-Frame-Options"))
		})
	}

	redirected := []struct {
		name   string
		mutate func(url.Values)
		code   string
	}{
		// RFC 9700 §2.1.1: plain PKCE is refused.
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		// A public client without PKCE is refused.
		{"scope not allowed", func(q url.Values) { q.Set("scope", "openid admin:all") }, "invalid_scope"},
		{"response type not allowed", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"unknown prompt", func(q url.Values) { q.Set("prompt", "sideways") }, "invalid_request"},
	}
	for _, tt := range redirected {
		t.Run(tt.name, func(t *testing.T) {
			page := flowtest.Get(t, flowtest.NewBrowser(t), e.authorizeURL(tt.mutate))
			loc := page.Location(t)
			assert.True(t, strings.HasPrefix(loc.String(), webRedirect), "only to the registered URI: %s", loc)
			assert.Equal(t, tt.code, loc.Query().Get("error"), "%s", loc)
			assert.Equal(t, "state-123456789", loc.Query().Get("state"))
		})
	}

	t.Run("public client without PKCE", func(t *testing.T) {
		page := flowtest.Get(t, flowtest.NewBrowser(t), e.url("/oauth2/authorize?")+url.Values{
			"response_type": {"code"}, "client_id": {e.spa.ID}, "redirect_uri": {spaRedirect}, "scope": {"openid"}, "state": {"state-123456789"},
		}.Encode())
		loc := page.Location(t)
		assert.Equal(t, "invalid_request", loc.Query().Get("error"))
	})
}

// TestTokenEndpointRefusals pins the token endpoint's errors.
func TestTokenEndpointRefusals(t *testing.T) {
	e := newEnv(t)

	// A code for the web client, with its verifier.
	codeFor := func(t *testing.T) (code, verifier string) {
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid", "offline_access")
		verifier = oauth2.GenerateVerifier()
		back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(verifier)), "alice")
		return back.Query().Get("code"), verifier
	}
	exchange := func(code, verifier string) url.Values {
		v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}}
		if verifier != "" {
			v.Set("code_verifier", verifier)
		}
		return v
	}

	t.Run("unknown client", func(t *testing.T) {
		status, body, hdr := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "nobody", "whatever-secret")
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "invalid_client", body["error"])
		assert.Contains(t, hdr.Get("WWW-Authenticate"), "Basic")
	})
	t.Run("wrong secret", func(t *testing.T) {
		status, body, hdr := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, "wrong")
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Equal(t, "invalid_client", body["error"])
		assert.Contains(t, hdr.Get("WWW-Authenticate"), "Basic")
		assert.NotContains(t, body["error_description"], e.svcSecret)
	})
	t.Run("missing PKCE verifier", func(t *testing.T) {
		code, _ := codeFor(t)
		status, body, _ := e.postForm("/oauth2/token", exchange(code, ""), e.web.ID, e.webSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_grant", body["error"])
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		code, _ := codeFor(t)
		status, body, _ := e.postForm("/oauth2/token", exchange(code, oauth2.GenerateVerifier()), e.web.ID, e.webSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_grant", body["error"])
	})
	t.Run("replayed code revokes the first tokens", func(t *testing.T) {
		code, v := codeFor(t)
		status, first, _ := e.postForm("/oauth2/token", exchange(code, v), e.web.ID, e.webSecret)
		require.Equal(t, http.StatusOK, status, "%v", first)
		status, body, _ := e.postForm("/oauth2/token", exchange(code, v), e.web.ID, e.webSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_grant", body["error"])
		assert.Equal(t, false, e.introspect(first["access_token"].(string))["active"])
		assert.Equal(t, false, e.introspect(first["refresh_token"].(string))["active"])
	})
	t.Run("expired code", func(t *testing.T) {
		code, v := codeFor(t)
		e.clock.Advance(6 * time.Minute)
		defer e.clock.Advance(-6 * time.Minute)
		status, body, _ := e.postForm("/oauth2/token", exchange(code, v), e.web.ID, e.webSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_grant", body["error"])
	})
	t.Run("code of another client", func(t *testing.T) {
		code, v := codeFor(t)
		status, body, _ := e.postForm("/oauth2/token", exchange(code, v), e.svc.ID, e.svcSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, []any{"invalid_grant", "unauthorized_client"}, body["error"])
	})
	t.Run("unsupported grant", func(t *testing.T) {
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"urn:example:magic"}}, e.svc.ID, e.svcSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "unsupported_grant_type", body["error"])
	})
	t.Run("grant not allowed for client", func(t *testing.T) {
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.web.ID, e.webSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "unauthorized_client", body["error"])
	})
	t.Run("password grant off", func(t *testing.T) {
		// Config.AllowLegacyGrants is off: the grant is not supported at
		// all (TestPasswordGrantOnlyWhenAllowed has a client without it on
		// a server with it).
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}}, e.web.ID, e.webSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "unsupported_grant_type", body["error"])
	})
	t.Run("malformed form body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, e.url("/oauth2/token"), strings.NewReader("grant_type=%zz&&=="))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.svc.ID, e.svcSecret)
		status, body, _ := e.do(req)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_request", body["error"])
	})
	t.Run("oversized body", func(t *testing.T) {
		big := "grant_type=client_credentials&scope=" + strings.Repeat("a", 1<<20)
		req, _ := http.NewRequest(http.MethodPost, e.url("/oauth2/token"), strings.NewReader(big))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.svc.ID, e.svcSecret)
		status, body, _ := e.do(req)
		assert.Equal(t, http.StatusRequestEntityTooLarge, status)
		assert.Equal(t, "invalid_request", body["error"])
	})
	t.Run("duplicate parameter", func(t *testing.T) {
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, e.svc.ID, e.svcSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_request", body["error"])
	})
	t.Run("GET is refused", func(t *testing.T) {
		resp, err := http.Get(e.url("/oauth2/token?grant_type=client_credentials"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	})
	t.Run("token responses are not cached", func(t *testing.T) {
		status, _, hdr := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, "no-store", hdr.Get("Cache-Control"))
	})
}

// TestLoginFormCSRF: a login form posted without the flow's CSRF token, or
// from another browser, is refused.
func TestLoginFormCSRF(t *testing.T) {
	e := newEnv(t)
	browser := flowtest.NewBrowser(t)
	page := flowtest.Follow(t, browser, flowtest.Get(t, browser, e.authorizeURL(nil)))
	require.Contains(t, page.Body, `name="password"`)
	assert.Equal(t, "no-referrer", page.Header.Get("Referrer-Policy"))
	assert.Contains(t, page.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	form := page.Form(t)
	action := page.URL.ResolveReference(&url.URL{Path: strings.Split(form.Action, "?")[0], RawQuery: strings.SplitN(form.Action, "?", 2)[1]}).String()

	// Missing token.
	res := flowtest.Post(t, browser, action, url.Values{"step": {"login"}, "username": {"alice"}, "password": {"alice-password"}})
	assert.Equal(t, http.StatusForbidden, res.Status)
	// Wrong token.
	res = flowtest.Post(t, browser, action, url.Values{"step": {"login"}, "csrf_token": {"forged"}, "username": {"alice"}, "password": {"alice-password"}})
	assert.Equal(t, http.StatusForbidden, res.Status)
	// Right token, other browser (session swapping).
	res = flowtest.Post(t, flowtest.NewBrowser(t), action, url.Values{"step": {"login"}, "csrf_token": {form.Fields.Get("csrf_token")}, "username": {"alice"}, "password": {"alice-password"}})
	assert.Equal(t, http.StatusForbidden, res.Status)
	// Wrong password: the page again, 401, no session.
	res = flowtest.Submit(t, browser, page, url.Values{"username": {"alice"}, "password": {"nope"}})
	assert.Equal(t, http.StatusUnauthorized, res.Status)
	assert.Contains(t, res.Body, "wrong")
	// And the real thing works, with a 303.
	res = flowtest.Submit(t, browser, page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
	assert.Equal(t, http.StatusSeeOther, res.Status)
}

// TestConsentDenied: deny redirects access_denied to the client.
func TestConsentDenied(t *testing.T) {
	e := newEnv(t)
	browser := flowtest.NewBrowser(t)
	page := flowtest.Follow(t, browser, flowtest.Get(t, browser, e.authorizeURL(nil)))
	page = flowtest.Follow(t, browser, flowtest.Submit(t, browser, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	require.Contains(t, page.Body, "Web Portal")
	require.Contains(t, page.Body, "openid")
	res := flowtest.Submit(t, browser, page, url.Values{"decision": {"deny"}})
	loc := res.Location(t)
	assert.True(t, strings.HasPrefix(loc.String(), webRedirect))
	assert.Equal(t, "access_denied", loc.Query().Get("error"))
	assert.Equal(t, "state-123456789", loc.Query().Get("state"))
}

// TestResourceServerMiddleware pins the RFC 6750 answers.
func TestResourceServerMiddleware(t *testing.T) {
	e := newEnv(t)
	get := func(token string) (int, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, e.url("/api/assets"), nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		status, _, hdr := e.do(req)
		return status, hdr
	}
	status, hdr := get("")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, hdr.Get("WWW-Authenticate"), `Bearer`)
	assert.Contains(t, hdr.Get("WWW-Authenticate"), `error="invalid_token"`)
	status, hdr = get("garbage")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, hdr.Get("WWW-Authenticate"), `error="invalid_token"`)

	_, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"registry:read"}}, e.svc.ID, e.svcSecret)
	status, hdr = get(body["access_token"].(string))
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, hdr.Get("WWW-Authenticate"), `error="insufficient_scope"`)

	_, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, e.svc.ID, e.svcSecret)
	status, _ = get(body["access_token"].(string))
	assert.Equal(t, http.StatusOK, status)
	e.clock.Advance(2 * time.Hour)
	status, hdr = get(body["access_token"].(string))
	assert.Equal(t, http.StatusUnauthorized, status, "expired")
	assert.Contains(t, hdr.Get("WWW-Authenticate"), `error="invalid_token"`)
}

func TestConfigValidation(t *testing.T) {
	_, err := provider.New(provider.Config{Issuer: "example.com", GlobalSecret: []byte("short")})
	require.Error(t, err)
	for _, want := range []string{"Config.Issuer", "Config.Store", "Config.Authenticator", "Config.GlobalSecret"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = provider.New(provider.Config{Issuer: "http://auth.example.com", Store: nil})
	assert.ErrorContains(t, err, "https")
	var ce *provider.ConfigError
	assert.ErrorAs(t, err, &ce)
}

func TestClientRegistrationValidation(t *testing.T) {
	e := newEnv(t, allowLegacyGrants) // so that "public with password" is refused for being public
	ctx := context.Background()
	for name, tc := range map[string]struct {
		c     storage.Client
		field string
	}{
		"public with client_credentials":  {storage.Client{Public: true, GrantTypes: []string{"client_credentials"}}, "GrantTypes"},
		"public with password":            {storage.Client{Public: true, GrantTypes: []string{"authorization_code", "password"}, RedirectURIs: []string{webRedirect}}, "GrantTypes"},
		"code without redirect":           {storage.Client{GrantTypes: []string{"authorization_code"}}, "RedirectURIs"},
		"http redirect off loopback":      {storage.Client{RedirectURIs: []string{"http://app.example.com/cb"}}, "RedirectURIs"},
		"redirect with fragment":          {storage.Client{RedirectURIs: []string{"https://app.example.com/cb#x"}}, "RedirectURIs"},
		"token response without implicit": {storage.Client{RedirectURIs: []string{"https://app.example.com/cb"}, ResponseTypes: []string{"token"}}, "ResponseTypes"},
		"unknown grant":                   {storage.Client{GrantTypes: []string{"magic"}}, "GrantTypes"},
		"private_key_jwt without keys":    {storage.Client{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256"}, "JWKS"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := e.p.CreateClient(ctx, tc.c)
			assert.ErrorIs(t, err, provider.ErrInvalidClient)
			assert.Equal(t, []string{tc.field}, clientErrorFields(err), "%v", err)
		})
	}
	_, err := e.p.CreateClientWithSecret(ctx, storage.Client{GrantTypes: []string{"client_credentials"}}, "short")
	assert.ErrorIs(t, err, provider.ErrInvalidClient)
	assert.Equal(t, []string{"secret"}, clientErrorFields(err), "%v", err)
}

func TestSecretRotation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cc := func(secret string) int {
		status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, secret)
		return status
	}
	newSecret, err := e.p.RotateClientSecret(ctx, e.svc.ID, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, cc(newSecret))
	assert.Equal(t, http.StatusOK, cc(e.svcSecret), "old secret valid during grace")
	e.clock.Advance(61 * time.Minute)
	assert.Equal(t, http.StatusUnauthorized, cc(e.svcSecret), "old secret expired")
	assert.Equal(t, http.StatusOK, cc(newSecret))
}
