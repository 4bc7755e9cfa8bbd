package provider_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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

// ccFrom asks for a client-credentials token for svc-ip from the loopback
// address ip, with X-Forwarded-For header lines xff.
func (a *acEnv) ccFrom(ip string, xff ...string) (int, map[string]any) {
	a.t.Helper()
	var h map[string][]string
	if len(xff) > 0 {
		h = map[string][]string{"X-Forwarded-For": xff}
	}
	return a.postFrom(fromAddr(ip), "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, a.svc.ID, a.svcSecret, h)
}

// A client with IP ranges is refused at the token endpoint from outside
// them, with invalid_client and 401.
func TestIPRangesTokenEndpoint(t *testing.T) {
	a := newACEnv(t)
	status, body := a.ccFrom("127.0.0.1")
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "127.0.0.1", a.introspect(body["access_token"].(string))["client_ip"], "the address is recorded")

	status, body = a.ccFrom("127.0.0.2")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "invalid_client", body["error"])
	assert.NotContains(t, body, "access_token")
}

// Without trusted proxies X-Forwarded-For is never believed, however it
// looks.
func TestIPRangesSpoofedForwardedForIgnored(t *testing.T) {
	a := newACEnv(t)
	for _, xff := range [][]string{{"127.0.0.1"}, {"127.0.0.1", "127.0.0.1"}, {"garbage"}, {"::ffff:127.0.0.1"}, {"2001:db8::1"}} {
		status, body := a.ccFrom("127.0.0.2", xff...)
		assert.Equal(t, http.StatusUnauthorized, status, "XFF %q from an untrusted peer: %v", xff, body)
		assert.Equal(t, "invalid_client", body["error"])
	}
	// And it does not break a request from an allowed peer either.
	status, _ := a.ccFrom("127.0.0.1", "garbage")
	assert.Equal(t, http.StatusOK, status)
}

// Behind a trusted proxy the right-most untrusted X-Forwarded-For entry is
// the client; anything that cannot be read is refused, never guessed.
func TestIPRangesTrustedProxy(t *testing.T) {
	a := newACEnv(t, func(c *provider.Config) { c.TrustedProxies = []string{"127.0.0.3", "127.0.0.4-127.0.0.5"} })
	for _, tc := range []struct {
		name   string
		peer   string
		xff    []string
		status int
		error  string
	}{
		{"client in range", "127.0.0.3", []string{"127.0.0.1"}, 200, ""},
		{"client outside", "127.0.0.3", []string{"127.0.0.2"}, 401, "invalid_client"},
		{"no header: the proxy itself", "127.0.0.3", nil, 401, "invalid_client"},
		{"left-most entries are the client's to forge", "127.0.0.3", []string{"127.0.0.1, 127.0.0.2"}, 401, "invalid_client"},
		{"trusted hops skipped right to left", "127.0.0.3", []string{"127.0.0.2, 127.0.0.1, 127.0.0.5, 127.0.0.4"}, 200, ""},
		{"IPv6 client in an IPv6 range", "127.0.0.3", []string{"2001:db8::7"}, 200, ""},
		{"IPv6 client outside", "127.0.0.3", []string{"2001:db9::7"}, 401, "invalid_client"},
		{"bracketed IPv6 with port", "127.0.0.3", []string{"[2001:db8::7]:4711"}, 200, ""},
		{"IPv4-mapped IPv6 is the IPv4 address", "127.0.0.3", []string{"::ffff:127.0.0.1"}, 200, ""},
		{"IPv4-mapped outside", "127.0.0.3", []string{"::ffff:127.0.0.2"}, 401, "invalid_client"},
		{"several headers", "127.0.0.3", []string{"127.0.0.1", "127.0.0.1"}, 400, "invalid_request"},
		{"garbage", "127.0.0.3", []string{"127.0.0.1, not-an-ip"}, 400, "invalid_request"},
		{"empty element", "127.0.0.3", []string{"127.0.0.1,,127.0.0.1"}, 400, "invalid_request"},
		{"blank header", "127.0.0.3", []string{" "}, 400, "invalid_request"},
		{"zone", "127.0.0.3", []string{"fe80::1%eth0x"}, 401, "invalid_client"},
		{"untrusted peer: header ignored", "127.0.0.2", []string{"127.0.0.1"}, 401, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := a.ccFrom(tc.peer, tc.xff...)
			assert.Equal(t, tc.status, status, "%v", body)
			if tc.error != "" {
				assert.Equal(t, tc.error, body["error"])
			}
		})
	}
}

// The same ranges guard the authorization endpoint (an error redirect),
// introspection and revocation (invalid_client).
func TestIPRangesOtherEndpoints(t *testing.T) {
	a := newACEnv(t)
	ctx := context.Background()
	kiosk, kioskSecret, err := a.p.CreateClient(ctx, storage.Client{ID: "kiosk", GrantTypes: []string{"authorization_code", "client_credentials"},
		RedirectURIs: []string{webRedirect}, Scopes: []string{"openid", "assets:read"}, IPRanges: []string{"127.0.0.1"}})
	require.NoError(t, err)
	a.secrets[kiosk.ID] = kioskSecret

	// Authorization from outside: refused before the login page.
	cfg := a.oauth2Config(kiosk, kioskSecret, webRedirect, "openid")
	u := cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	b := fromAddr("127.0.0.2")
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := b.Get(u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(loc.String(), webRedirect), loc.String())
	assert.Equal(t, "access_denied", loc.Query().Get("error"))
	assert.Equal(t, "state-0123456789", loc.Query().Get("state"))
	// From inside it goes to the login page.
	page := flowtest.Get(t, flowtest.NewBrowser(t), u)
	assert.Contains(t, page.Location(t).Path, "/oauth2/interaction")

	// A token to introspect and revoke.
	status, body := a.postFrom(http.DefaultClient, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, kiosk.ID, kioskSecret, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	tok := body["access_token"].(string)

	status, body = a.postFrom(fromAddr("127.0.0.2"), "/oauth2/introspect", url.Values{"token": {tok}}, kiosk.ID, kioskSecret, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "invalid_client", body["error"])
	status, body = a.postFrom(fromAddr("127.0.0.2"), "/oauth2/revoke", url.Values{"token": {tok}}, kiosk.ID, kioskSecret, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "invalid_client", body["error"])
	assert.Equal(t, true, a.introspect(tok)["active"], "the refused revocation changed nothing")

	status, _ = a.postFrom(http.DefaultClient, "/oauth2/revoke", url.Values{"token": {tok}}, kiosk.ID, kioskSecret, nil)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, false, a.introspect(tok)["active"])
}

// The resource-server middleware can refuse a token presented from another
// address than the one that started its grant.
func TestIPRangesSameClientIPMiddleware(t *testing.T) {
	a := newACEnv(t)
	api := httptestServer(t, a.p.Require(provider.Requirement{Scopes: []string{"assets:read"}, SameClientIP: true})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ti, _ := provider.TokenFromContext(r.Context())
		_, _ = w.Write([]byte(ti.ClientIP))
	})))
	status, body := a.ccFrom("127.0.0.1")
	require.Equal(t, http.StatusOK, status, "%v", body)
	tok := body["access_token"].(string)

	call := func(from string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, api, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := fromAddr(from).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	status, _ = call("127.0.0.1")
	assert.Equal(t, http.StatusOK, status)
	status, www := call("127.0.0.2")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, www, `error="invalid_token"`)
}

// A client registration with a bad IP range is refused with a clear error.
func TestIPRangesRegistration(t *testing.T) {
	a := newACEnv(t)
	_, _, err := a.p.CreateClient(context.Background(), storage.Client{ID: "bad", GrantTypes: []string{"client_credentials"}, IPRanges: []string{"10.0.0.1/8", "nope"}})
	require.ErrorIs(t, err, provider.ErrInvalidClient)
	assert.Contains(t, err.Error(), `did you mean "10.0.0.0/8"`)
	assert.Contains(t, err.Error(), `"nope"`)
}

// httptestServer serves h on a loopback port for the test and returns its URL.
func httptestServer(t *testing.T, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
