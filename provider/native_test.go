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
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// nativeRedirect is a native app's private-use scheme redirect URI, as in
// RFC 8252 §7.1.
const nativeRedirect = "com.example.app:/oauth2redirect"

// newNativeClient registers a public native app with nativeRedirect.
func (e *env) newNativeClient() storage.Client {
	e.t.Helper()
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "native", Name: "Example App", Public: true,
		GrantTypes:             []string{"authorization_code", "refresh_token"},
		RedirectURIs:           []string{nativeRedirect},
		PostLogoutRedirectURIs: []string{"com.example.app:/signedout"},
		Scopes:                 []string{"openid", "offline_access", "profile"},
	})
	require.NoError(e.t, err)
	require.Empty(e.t, secret, "a public client gets no secret")
	return c
}

// authorizeSteps is env.authorize that also returns the pages shown on the
// way ("login", "consent"), in order.
func (e *env) authorizeSteps(browser *http.Client, authURL, user string) (*url.URL, []string) {
	t := e.t
	t.Helper()
	var shown []string
	page := flowtest.Get(t, browser, authURL)
	for range 6 {
		if page.Status != http.StatusSeeOther && page.Status != http.StatusFound {
			t.Fatalf("authorize: unexpected status %d at %s:\n%s", page.Status, page.URL, page.Body)
		}
		loc := page.Location(t)
		if !strings.HasPrefix(loc.String(), e.issuer) {
			return loc, shown
		}
		page = flowtest.Get(t, browser, loc.String())
		switch {
		case strings.Contains(page.Body, `name="password"`):
			shown = append(shown, "login")
			page = flowtest.Submit(t, browser, page, url.Values{"username": {user}, "password": {testUsers[user].password}})
		case strings.Contains(page.Body, `name="decision"`):
			shown = append(shown, "consent")
			page = flowtest.Submit(t, browser, page, url.Values{"decision": {"allow"}})
		}
	}
	t.Fatalf("authorize: too many steps")
	return nil, nil
}

// A public native app whose redirect URI has a private-use scheme
// (com.example.app:/oauth2redirect, RFC 8252 §7.1) completes the code flow
// with PKCE: the code goes to that URI (the browser stops at the redirect),
// and the token endpoint takes the same redirect_uri with the verifier.
// Before the fix registration refused the URI ("must be an absolute URL"),
// and fosite's IsRedirectURISecureStrict, the RedirectSecureChecker, would
// have refused it at the authorization endpoint.
func TestNativeAppPrivateUseSchemeCodeFlow(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		native := e.newNativeClient()
		assert.Equal(t, []string{nativeRedirect}, native.RedirectURIs)
		assert.Equal(t, "none", native.TokenEndpointAuthMethod)

		cfg := e.oauth2Config(native, "", nativeRedirect, "openid", "offline_access")
		verifier := oauth2.GenerateVerifier()
		back, shown := e.authorizeSteps(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-0123456789")), "alice")
		assert.Equal(t, []string{"login", "consent"}, shown)
		require.True(t, strings.HasPrefix(back.String(), nativeRedirect+"?"), "the code goes to the app's URI: %s", back)
		assert.Equal(t, "com.example.app", back.Scheme)
		assert.Equal(t, "/oauth2redirect", back.Path)
		assert.Empty(t, back.Host)
		assert.Equal(t, "state-123456789", back.Query().Get("state"))
		assert.Equal(t, e.issuer, back.Query().Get("iss"))
		code := back.Query().Get("code")
		require.NotEmpty(t, code, "%s", back)

		exchange := func(vals url.Values) (int, map[string]any) {
			status, body, _ := e.postForm("/oauth2/token", vals, "", "")
			return status, body
		}
		base := url.Values{"grant_type": {"authorization_code"}, "client_id": {native.ID}, "code": {code}, "redirect_uri": {nativeRedirect}}
		status, body := exchange(url.Values{"grant_type": base["grant_type"], "client_id": base["client_id"], "code": base["code"], "redirect_uri": {"com.example.app:/other"}, "code_verifier": {verifier}})
		assert.Equal(t, http.StatusBadRequest, status, "another redirect_uri: %v", body)
		assert.Equal(t, "invalid_grant", body["error"])

		// A fresh code for the exchange that succeeds.
		verifier = oauth2.GenerateVerifier()
		back, _ = e.authorizeSteps(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-223456789", oauth2.S256ChallengeOption(verifier)), "alice")
		base.Set("code", back.Query().Get("code"))
		base.Set("code_verifier", verifier)
		status, body = exchange(base)
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "bearer", strings.ToLower(body["token_type"].(string)))
		assert.NotEmpty(t, body["access_token"])
		assert.NotEmpty(t, body["refresh_token"])
		assert.NotEmpty(t, body["id_token"])

		req, err := http.NewRequest(http.MethodGet, e.url("/userinfo"), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
		status, info, _ := e.do(req)
		require.Equal(t, http.StatusOK, status, "%v", info)
		assert.Equal(t, "sub-alice", info["sub"])

		status, body = exchange(url.Values{"grant_type": {"refresh_token"}, "client_id": {native.ID}, "refresh_token": {body["refresh_token"].(string)}})
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.NotEmpty(t, body["access_token"])
	})
}

// Without PKCE the native app's request is refused, and the error is
// redirected to its private-use URI (RFC 6749 §4.1.2.1), with the state.
func TestNativeAppRequiresPKCE(t *testing.T) {
	e := newEnv(t)
	native := e.newNativeClient()
	page := flowtest.Get(t, flowtest.NewBrowser(t), e.url("/oauth2/authorize?")+url.Values{
		"response_type": {"code"}, "client_id": {native.ID}, "redirect_uri": {nativeRedirect},
		"scope": {"openid"}, "state": {"state-123456789"},
	}.Encode())
	require.Equal(t, http.StatusSeeOther, page.Status, "%s", page.Body)
	loc := page.Location(t)
	assert.True(t, strings.HasPrefix(loc.String(), nativeRedirect+"?"), "%s", loc)
	assert.Equal(t, "invalid_request", loc.Query().Get("error"))
	assert.Contains(t, loc.Query().Get("error_description"), "PKCE")
	assert.Equal(t, "state-123456789", loc.Query().Get("state"))
	assert.Empty(t, loc.Query().Get("code"))
}

// RFC 8252 §8.6: any app on the device can claim a private-use scheme, so
// a request whose code goes to one is never answered without the user. A
// second sign-in in the same browser, with a login session and a
// remembered consent, shows the consent page again, and prompt=none is
// answered consent_required at the app's URI; a confidential client (web,
// which proves who it is with its secret) gets its code silently in the
// same situation. (A public loopback client is never silent either:
// TestRememberedConsentByRedirectURI.)
func TestNativeAppNeverSilent(t *testing.T) {
	e := newEnv(t)
	native := e.newNativeClient()
	browser := flowtest.NewBrowser(t)
	authURL := func(c storage.Client, redirect string, extra ...oauth2.AuthCodeOption) string {
		opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}, extra...)
		return e.oauth2Config(c, "", redirect, "openid").AuthCodeURL("state-123456789", opts...)
	}

	back, shown := e.authorizeSteps(browser, authURL(native, nativeRedirect), "alice")
	assert.Equal(t, []string{"login", "consent"}, shown)
	assert.NotEmpty(t, back.Query().Get("code"))
	back, shown = e.authorizeSteps(browser, authURL(native, nativeRedirect), "alice")
	assert.Equal(t, []string{"consent"}, shown, "signed in, consent remembered, and still asked")
	assert.NotEmpty(t, back.Query().Get("code"))

	page := flowtest.Get(t, browser, authURL(native, nativeRedirect, oauth2.SetAuthURLParam("prompt", "none")))
	loc := page.Location(t)
	assert.True(t, strings.HasPrefix(loc.String(), nativeRedirect+"?"), "%s", loc)
	assert.Equal(t, "consent_required", loc.Query().Get("error"))
	assert.Empty(t, loc.Query().Get("code"))

	// The same browser and user with a confidential client: silent.
	_, shown = e.authorizeSteps(browser, authURL(e.web, webRedirect), "alice")
	assert.Equal(t, []string{"consent"}, shown)
	page = flowtest.Get(t, browser, authURL(e.web, webRedirect, oauth2.SetAuthURLParam("prompt", "none")))
	loc = page.Location(t)
	assert.True(t, strings.HasPrefix(loc.String(), webRedirect+"?"), "%s", loc)
	assert.NotEmpty(t, loc.Query().Get("code"), "%s", loc)
}

// Logout may return a native app to a registered private-use URI.
func TestNativeAppPostLogoutRedirect(t *testing.T) {
	e := newEnv(t)
	native := e.newNativeClient()
	page := flowtest.Get(t, flowtest.NewBrowser(t), e.url("/oauth2/logout?")+url.Values{
		"client_id": {native.ID}, "post_logout_redirect_uri": {"com.example.app:/signedout"}, "state": {"xyz"},
	}.Encode())
	assert.Equal(t, "com.example.app:/signedout?state=xyz", page.Location(t).String())
}

// Registration checks redirect URIs (and post-logout redirect URIs) by the
// kind of client: a private-use scheme only for a public client and only in
// RFC 8252 §7.1's form; schemes that run or embed content, wildcard hosts,
// fragments and relative URIs never. Each refusal names the field and the
// URI and says what to register instead. Before the fix a private-use
// scheme was refused as "not an absolute URL", and wildcard hosts were
// accepted.
func TestClientRedirectURIKinds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		public bool
		uri    string
		reason string // "" when accepted
	}{
		{"private-use", true, "com.example.app:/oauth2redirect", ""},
		{"private-use with query", true, "com.example.app:/cb?tab=1", ""},
		{"private-use with hyphen and digits", true, "com.example-2.app.ios:/a/b", ""},
		{"https", true, "https://app.example.com/cb", ""},
		{"loopback", true, "http://127.0.0.1/cb", ""},
		{"confidential https", false, "https://app.example.com/cb", ""},
		{"confidential loopback", false, "http://[::1]:8080/cb", ""},

		// RFC 8252 §8.4: native apps are public clients; a secret in an
		// app is no secret.
		{"confidential private-use", false, "com.example.app:/oauth2redirect", "set Public"},
		// RFC 8252 §7.1: one slash after the scheme, no authority.
		{"private-use with authority", true, "com.example.app://oauth2redirect", `single "/"`},
		{"private-use with empty authority", true, "com.example.app:///oauth2redirect", `single "/"`},
		{"private-use without slash", true, "com.example.app:oauth2redirect", `single "/"`},
		{"private-use without path", true, "com.example.app:", `single "/"`},
		{"private-use upper case", true, "Com.Example.App:/cb", "lower case"},
		{"private-use empty label", true, "com..app:/cb", "reverse domain name"},
		{"private-use plus", true, "com.ex+ample.app:/cb", "reverse domain name"},
		{"single-label scheme", true, "myapp:/cb", "com.example.app:/callback"},
		{"single-label scheme confidential", false, "myapp:/cb", "must use https"},

		// Script and content schemes: code or token theft through a
		// redirect the browser executes or displays.
		{"javascript", true, "javascript:alert(document.cookie)", "never a redirect target"},
		{"javascript with slashes", true, "javascript://example.com/%0aalert(1)", "never a redirect target"},
		{"javascript upper case", false, "JavaScript:alert(1)", "never a redirect target"},
		{"vbscript", true, "vbscript:msgbox(1)", "never a redirect target"},
		{"data", true, "data:text/html,<script>alert(1)</script>", "never a redirect target"},
		{"blob", true, "blob:https://app.example.com/0b5e1b2c", "never a redirect target"},
		{"file", false, "file:///etc/passwd", "never a redirect target"},
		{"about", true, "about:blank", "never a redirect target"},
		{"view-source", true, "view-source:https://app.example.com/cb", "never a redirect target"},

		// Wildcards match nothing but themselves under exact comparison;
		// accepting them suggested they work.
		{"wildcard subdomain", false, "https://*.example.com/cb", "wildcard host"},
		{"wildcard host", true, "https://*/cb", "wildcard host"},
		{"wildcard with port", false, "https://app*.example.com:8443/cb", "wildcard host"},
		{"http off loopback", false, "http://app.example.com/cb", "must use https"},
		{"https without host", true, "https:/cb", "with a host"},
		{"fragment", true, "com.example.app:/cb#x", "fragment"},
		{"relative", true, "/cb", "absolute URL"},
		// The authorization endpoint matches the registered string and
		// redirects to the parsed URL, which must be the same string.
		{"space in path", false, "https://app.example.com/a b", `normal form (lower-case scheme, percent-encoded path), as "https://app.example.com/a%20b"`},
		{"non-ASCII path", true, "https://app.example.com/café", `"https://app.example.com/caf%C3%A9"`},
		{"upper-case scheme", false, "HTTPS://app.example.com/cb", `as "https://app.example.com/cb"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, field := range []string{"RedirectURIs", "PostLogoutRedirectURIs"} {
				c := storage.Client{Public: tt.public, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example.com/cb"}}
				if field == "RedirectURIs" {
					c.RedirectURIs = []string{tt.uri}
				} else {
					c.PostLogoutRedirectURIs = []string{tt.uri}
				}
				got, _, err := e.p.CreateClient(ctx, c)
				if tt.reason == "" {
					require.NoError(t, err, field)
					require.NoError(t, e.p.DeleteClient(ctx, got.ID))
					continue
				}
				require.ErrorIs(t, err, provider.ErrInvalidClient, field)
				assert.Equal(t, []string{field}, clientErrorFields(err), "%v", err)
				assert.Contains(t, err.Error(), tt.reason, field)
				assert.Contains(t, err.Error(), strings.ReplaceAll(tt.uri, `"`, `\"`), "names the URI")
			}
		})
	}
}

// A native client made confidential by an update must drop its private-use
// redirect URIs in the same update.
func TestUpdateClientPrivateUseNeedsPublic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	native := e.newNativeClient()
	_, err := e.p.UpdateClient(ctx, native.ID, func(c storage.Client) (storage.Client, error) {
		c.Public, c.TokenEndpointAuthMethod = false, ""
		return c, nil
	})
	require.ErrorIs(t, err, provider.ErrInvalidClient)
	assert.Equal(t, []string{"RedirectURIs", "PostLogoutRedirectURIs"}, clientErrorFields(err), "%v", err)
	assert.Contains(t, err.Error(), "set Public")
	got, err := e.p.GetClient(ctx, native.ID)
	require.NoError(t, err)
	assert.True(t, got.Public, "nothing written")

	got, err = e.p.UpdateClient(ctx, native.ID, func(c storage.Client) (storage.Client, error) {
		c.Public, c.TokenEndpointAuthMethod = false, ""
		c.RedirectURIs, c.PostLogoutRedirectURIs = []string{"https://app.example.com/cb"}, nil
		return c, nil
	})
	require.NoError(t, err)
	assert.False(t, got.Public)
}

// refresh_token renews the refresh tokens of another grant; a client
// without one that issues them (authorization_code, or password with
// AllowLegacyGrants) could never use it. Before the fix a client with
// refresh_token alone was registered.
func TestRefreshTokenGrantNeedsAnIssuingGrant(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for name, grants := range map[string][]string{
		"alone":                   {"refresh_token"},
		"with client_credentials": {"client_credentials", "refresh_token"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := e.p.CreateClient(ctx, storage.Client{GrantTypes: grants, Scopes: []string{"assets:read"}})
			require.ErrorIs(t, err, provider.ErrInvalidClient)
			assert.Equal(t, []string{"GrantTypes"}, clientErrorFields(err), "%v", err)
			assert.Contains(t, err.Error(), "add authorization_code, or remove refresh_token")
		})
	}
	_, err := e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
		c.GrantTypes, c.ResponseTypes, c.RedirectURIs = []string{"refresh_token"}, nil, nil
		return c, nil
	})
	assert.Equal(t, []string{"GrantTypes"}, clientErrorFields(err), "an update too: %v", err)

	legacy := newEnv(t, allowLegacyGrants)
	_, _, err = legacy.p.CreateClient(ctx, storage.Client{GrantTypes: []string{"client_credentials", "refresh_token"}})
	assert.ErrorContains(t, err, "add authorization_code or password, or remove refresh_token", "the legacy grant is named when enabled")
	_, _, err = legacy.p.CreateClient(ctx, storage.Client{GrantTypes: []string{"password", "refresh_token"}})
	assert.NoError(t, err)
}
