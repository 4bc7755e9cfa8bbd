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

// TestRedirectURIExactMatch: the authorization endpoint compares
// redirect_uri with the registered ones as strings (RFC 9700 §2.1, §4.1);
// only the port of an http://127.0.0.1 or http://[::1] URI may differ (RFC
// 8252 §7.3). A mismatch is a 400 page, never a redirect. Before the fix,
// fosite's loopback matching accepted the spa client's variants with a
// userinfo, a percent-encoded path, an upper-case scheme, or a bare "?" or
// "#", and redirected to them.
func TestRedirectURIExactMatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	native, _, err := e.p.CreateClient(ctx, storage.Client{
		ID: "native", Public: true, GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{"http://[::1]:8081/cb"}, Scopes: []string{"openid"},
	})
	require.NoError(t, err)
	site, _, err := e.p.CreateClient(ctx, storage.Client{
		ID: "site", Public: true, GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid"},
	})
	require.NoError(t, err)

	tests := []struct {
		name     string
		client   storage.Client
		redirect string
		accepted bool
	}{
		{"registered", e.spa, spaRedirect, true},
		// RFC 8252 §7.3: any port on a loopback literal.
		{"loopback other port", e.spa, "http://127.0.0.1:50123/spa", true},
		{"loopback no port", e.spa, "http://127.0.0.1/spa", true},
		{"ipv6 loopback registered", native, "http://[::1]:8081/cb", true},
		{"ipv6 loopback other port", native, "http://[::1]:9/cb", true},
		{"https registered", site, "https://app.example.com/cb", true},

		// Code theft through a redirect URI the client does not control
		// or that a lenient parser reads differently (RFC 9700 §4.1).
		{"userinfo", e.spa, "http://user@127.0.0.1:8081/spa", false},
		{"percent-encoded path", e.spa, "http://127.0.0.1:8081/%73pa", false},
		{"upper-case scheme", e.spa, "HTTP://127.0.0.1:8081/spa", false},
		{"trailing question mark", e.spa, "http://127.0.0.1:8081/spa?", false},
		{"trailing hash", e.spa, "http://127.0.0.1:8081/spa#", false},
		{"trailing slash", e.spa, "http://127.0.0.1:8081/spa/", false},
		{"added query", e.spa, "http://127.0.0.1:8081/spa?x=1", false},
		{"path case", e.spa, "http://127.0.0.1:8081/SPA", false},
		{"dot segments", e.spa, "http://127.0.0.1:8081/x/../spa", false},
		{"fragment", e.spa, "http://127.0.0.1:8081/spa#frag", false},
		{"localhost for loopback", e.spa, "http://localhost:8081/spa", false},
		{"userinfo looking like a port", e.spa, "http://127.0.0.1:8081@evil.example/spa", false},
		{"ipv6 expanded", native, "http://[0:0:0:0:0:0:0:1]:8081/cb", false},
		{"non-loopback other port", site, "https://app.example.com:8443/cb", false},
		{"non-loopback host case", site, "https://APP.example.com/cb", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{
				"response_type": {"code"}, "client_id": {tt.client.ID}, "redirect_uri": {tt.redirect},
				"scope": {"openid"}, "state": {"state-123456789"},
				"code_challenge": {s256("verifier-0123456789012345678901234567890123456789")}, "code_challenge_method": {"S256"},
			}
			page := flowtest.Get(t, flowtest.NewBrowser(t), e.url("/oauth2/authorize?")+q.Encode())
			if tt.accepted {
				require.Equal(t, http.StatusSeeOther, page.Status, "%s", page.Body)
				assert.Contains(t, page.Header.Get("Location"), "/oauth2/interaction?flow=", "on to the login page")
				return
			}
			assert.Equal(t, http.StatusBadRequest, page.Status)
			assert.Empty(t, page.Header.Get("Location"), "must not redirect")
			assert.Contains(t, page.Body, "invalid_request")
			assert.Contains(t, page.Body, "redirect_uri is not registered")
		})
	}

	// Refused too when the request is otherwise bad: fosite's errors after
	// its own (lenient) redirect URI check would be redirected there.
	t.Run("userinfo with a bad scope", func(t *testing.T) {
		q := url.Values{
			"response_type": {"code"}, "client_id": {e.spa.ID}, "redirect_uri": {"http://user@127.0.0.1:8081/spa"},
			"scope": {"openid admin:all"}, "state": {"state-123456789"},
		}
		page := flowtest.Get(t, flowtest.NewBrowser(t), e.url("/oauth2/authorize?")+q.Encode())
		assert.Equal(t, http.StatusBadRequest, page.Status)
		assert.Empty(t, page.Header.Get("Location"), "must not redirect")
	})
}

// TestLoopbackPortVariesEndToEnd: a native app on an ephemeral port gets
// its code on that port, and the token endpoint wants the very same
// redirect_uri string (RFC 6749 §4.1.3): another port, the registered one,
// or a spelling variant is invalid_grant (code injection, RFC 9700 §4.5).
func TestLoopbackPortVariesEndToEnd(t *testing.T) {
	e := newEnv(t)
	const ephemeral = "http://127.0.0.1:50123/spa"
	code := func(t *testing.T) (string, string) {
		cfg := e.oauth2Config(e.spa, "", ephemeral, "openid")
		v := oauth2.GenerateVerifier()
		back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")
		require.True(t, strings.HasPrefix(back.String(), ephemeral+"?"), "the code goes to the port asked for: %s", back)
		return back.Query().Get("code"), v
	}
	exchange := func(code, v, redirect string) (int, map[string]any) {
		status, body, _ := e.postForm("/oauth2/token", url.Values{
			"grant_type": {"authorization_code"}, "client_id": {e.spa.ID}, "code": {code},
			"code_verifier": {v}, "redirect_uri": {redirect},
		}, "", "")
		return status, body
	}
	for _, other := range []string{spaRedirect, "http://127.0.0.1:50124/spa", "HTTP://127.0.0.1:50123/spa", "http://127.0.0.1:50123/%73pa", ephemeral + "?"} {
		c, v := code(t)
		status, body := exchange(c, v, other)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", other, body)
		assert.Equal(t, "invalid_grant", body["error"], "%s", other)
	}
	c, v := code(t)
	status, body := exchange(c, v, ephemeral)
	assert.Equal(t, http.StatusOK, status, "%v", body)
}

// TestPostLogoutRedirectExactMatch: logout redirects only to a
// post_logout_redirect_uri registered for the client, compared as a
// string, with no port flexibility (it is not a native app's authorization
// redirect); any variant gets a page (open redirect, RFC 9700 §4.11).
func TestPostLogoutRedirectExactMatch(t *testing.T) {
	e := newEnv(t)
	const registered = "http://127.0.0.1:8081/bye"
	for _, tt := range []struct {
		name     string
		redirect string
		ok       bool
	}{
		{"registered", registered, true},
		{"userinfo", "http://user@127.0.0.1:8081/bye", false},
		{"percent-encoded path", "http://127.0.0.1:8081/%62ye", false},
		{"upper-case scheme", "HTTP://127.0.0.1:8081/bye", false},
		{"trailing question mark", registered + "?", false},
		{"trailing hash", registered + "#", false},
		{"added query", registered + "?x=1", false},
		{"trailing slash", registered + "/", false},
		{"other port", "http://127.0.0.1:9/bye", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			page := flowtest.Get(t, flowtest.NewBrowser(t), e.url("/oauth2/logout?")+url.Values{
				"client_id": {e.web.ID}, "post_logout_redirect_uri": {tt.redirect}, "state": {"xyz"},
			}.Encode())
			if tt.ok {
				assert.Equal(t, registered+"?state=xyz", page.Location(t).String())
				return
			}
			assert.Equal(t, http.StatusBadRequest, page.Status)
			assert.Empty(t, page.Header.Get("Location"), "must not redirect")
			assert.Contains(t, page.Body, "not registered")
		})
	}
}
