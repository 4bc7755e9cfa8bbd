package provider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/storage"
)

// TestRequestObjectsRefused: discovery says request_parameter_supported and
// request_uri_parameter_supported are false, and the endpoint acts so
// (OpenID conformance modules
// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported
// and oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported).
// Before the fix, an unsigned (alg none) request object of a client with
// keys replaced the query's parameters: its state came back to the client.
func TestRequestObjectsRefused(t *testing.T) {
	e := newEnv(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	require.NoError(t, err)
	rp, _, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "rp-jwt", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{webRedirect},
		Scopes: []string{"openid", "profile"}, TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256", JWKS: jwks,
	})
	require.NoError(t, err)

	// A request_uri that must never be fetched (SSRF).
	var fetched atomic.Int32
	ro := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fetched.Add(1) }))
	t.Cleanup(ro.Close)

	const queryState = "state-from-the-query"
	object := unsignedJWT(map[string]any{
		"iss": rp.ID, "aud": e.issuer, "client_id": rp.ID, "response_type": "code",
		"redirect_uri": webRedirect, "scope": "openid profile", "state": "state-from-the-object",
		"exp": time.Now().Add(time.Minute).Unix(),
	})
	authorize := func(mutate func(url.Values)) flowtest.Page {
		q := url.Values{
			"response_type": {"code"}, "client_id": {rp.ID}, "redirect_uri": {webRedirect},
			"scope": {"openid"}, "state": {queryState},
			"code_challenge": {s256("verifier-0123456789012345678901234567890123456789")}, "code_challenge_method": {"S256"},
		}
		mutate(q)
		return flowtest.Get(t, flowtest.NewBrowser(t), e.url("/oauth2/authorize?")+q.Encode())
	}

	redirected := []struct {
		name   string
		mutate func(url.Values)
		code   string
	}{
		{"unsigned request object", func(q url.Values) { q.Set("request", object) }, "request_not_supported"},
		{"request_uri", func(q url.Values) { q.Set("request_uri", ro.URL+"/request.jwt") }, "request_uri_not_supported"},
		{"PAR-style request_uri", func(q url.Values) { q.Set("request_uri", "urn:ietf:params:oauth:request_uri:abc") }, "request_uri_not_supported"},
		{"both", func(q url.Values) { q.Set("request", object); q.Set("request_uri", ro.URL) }, "request_not_supported"},
	}
	for _, tt := range redirected {
		t.Run(tt.name, func(t *testing.T) {
			page := authorize(tt.mutate)
			loc := page.Location(t)
			assert.True(t, strings.HasPrefix(loc.String(), webRedirect+"?"), "only to the registered URI: %s", loc)
			assert.Equal(t, tt.code, loc.Query().Get("error"), "%s", loc)
			assert.Equal(t, queryState, loc.Query().Get("state"), "the query's state, as sent (RFC 6749 §4.1.2.1)")
			assert.Empty(t, loc.Query().Get("code"))
		})
	}

	shown := []struct {
		name   string
		mutate func(url.Values)
	}{
		{"unknown client", func(q url.Values) { q.Set("request", object); q.Set("client_id", "nobody") }},
		{"unregistered redirect", func(q url.Values) { q.Set("request", object); q.Set("redirect_uri", "https://evil.example/cb") }},
		{"loopback variant", func(q url.Values) {
			q.Set("request_uri", ro.URL)
			q.Set("redirect_uri", "http://user@127.0.0.1:8081/callback")
		}},
	}
	for _, tt := range shown {
		t.Run(tt.name, func(t *testing.T) {
			page := authorize(tt.mutate)
			assert.Equal(t, http.StatusBadRequest, page.Status)
			assert.Empty(t, page.Header.Get("Location"), "must not redirect")
			assert.Regexp(t, "request(_uri)?_not_supported", page.Body)
		})
	}

	// An empty value is an absent parameter (RFC 6749 §3.1).
	t.Run("empty request", func(t *testing.T) {
		page := authorize(func(q url.Values) { q.Set("request", ""); q.Set("request_uri", "") })
		assert.Contains(t, page.Header.Get("Location"), "/oauth2/interaction?flow=")
	})
	assert.Zero(t, fetched.Load(), "request_uri must never be fetched")

	// Discovery says so.
	d := e.p.Discovery()
	assert.False(t, d.RequestParameterSupported)
	assert.False(t, d.RequestURIParameterSupported)
}
