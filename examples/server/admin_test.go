package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
)

// adminCall sends method path to the admin API at base with token ("" for
// none) and body (JSON, or nil) and returns the status and decoded body.
func adminCall(t *testing.T, base, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// The admin API is served on its own listener, behind the token the demo
// generated and printed; it serves nothing else there, and the OAuth
// listener does not serve it.
func TestDemoAdminListenersSeparate(t *testing.T) {
	d := startDemoAdmin(t)
	require.NotEmpty(t, d.admin, "the demo prints its admin URL")
	require.Len(t, d.adminToken, 43, "a generated 256-bit token, printed")
	assert.NotEqual(t, d.issuer, d.admin)

	status, body := adminCall(t, d.admin, d.adminToken, http.MethodGet, "/clients", nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	var ids []string
	for _, it := range body["items"].([]any) {
		ids = append(ids, it.(map[string]any)["client_id"].(string))
	}
	assert.Equal(t, []string{"demo-script", "demo-service", "demo-spa", "demo-web", "reporting-bot-client"}, ids)
	status, _ = adminCall(t, d.admin, "", http.MethodGet, "/clients", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "no token")
	status, _ = adminCall(t, d.admin, d.adminToken+"x", http.MethodGet, "/clients", nil)
	assert.Equal(t, http.StatusUnauthorized, status, "a wrong token")

	// The admin listener serves no OAuth endpoint, page or API.
	for _, path := range []string{"/.well-known/openid-configuration", "/oauth2/token", "/oauth2/authorize", "/oauth2/introspect", "/jwks.json", "/api/v1/widgets/top-vulnerable-clusters"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			status, _ := adminCall(t, d.admin, d.adminToken, method, path, nil)
			assert.Equal(t, http.StatusNotFound, status, "%s %s on the admin listener", method, path)
		}
	}
	status, _ = postForm(t, d.admin+"/oauth2/token", "demo-service", "demo-service-secret", url.Values{"grant_type": {"client_credentials"}})
	assert.Equal(t, http.StatusUnauthorized, status, "the admin listener answers a token request as an unauthenticated admin call")

	// The OAuth listener does not serve the admin API, with the token or without.
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/clients"}, {http.MethodPost, "/clients"}, {http.MethodGet, "/clients/demo-web"},
		{http.MethodPatch, "/clients/demo-web"}, {http.MethodDelete, "/clients/demo-web"}, {http.MethodPost, "/clients/demo-web/secret"},
		{http.MethodGet, "/api-keys"}, {http.MethodPost, "/users/alice/api-keys"}, {http.MethodGet, "/application-users"},
	} {
		status, _ := adminCall(t, d.issuer, d.adminToken, r.method, r.path, map[string]any{})
		assert.Equal(t, http.StatusNotFound, status, "%s %s on the OAuth listener", r.method, r.path)
	}
	status, _ = adminCall(t, d.admin, d.adminToken, http.MethodGet, "/clients/demo-web", nil)
	assert.Equal(t, http.StatusOK, status, "demo-web is still there")
}

// -admin-token sets the token (not printed); a token too short is refused
// at start; -admin-addr "" serves no admin API.
func TestDemoAdminTokenFlag(t *testing.T) {
	const token = "my-admin-token-0123456789"
	d := startDemoAdmin(t, "-admin-token", token)
	assert.Empty(t, d.adminToken, "a given token is not printed")
	status, _ := adminCall(t, d.admin, token, http.MethodGet, "/clients/demo-web", nil)
	assert.Equal(t, http.StatusOK, status)

	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0", "-admin-token", "short"}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-admin-token")

	d = startDemoAdmin(t, "-admin-addr", "")
	assert.Empty(t, d.admin, "no admin listener")
}

// The README's administration walkthrough: create a client, use it, rotate
// its secret, list, delete; its token is then refused by the API.
func TestDemoAdminWalkthrough(t *testing.T) {
	d := startDemoAdmin(t)
	status, created := adminCall(t, d.admin, d.adminToken, http.MethodPost, "/clients", map[string]any{
		"client_id": "reporting", "client_name": "Reporting job", "customer": "acme",
		"grant_types": []string{"client_credentials"}, "scope": "assets:read",
	})
	require.Equal(t, http.StatusCreated, status, "%v", created)
	secret := created["client_secret"].(string)

	status, tok := postForm(t, d.issuer+"/oauth2/token", "reporting", secret, url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}})
	require.Equal(t, http.StatusOK, status, "%v", tok)
	access := tok["access_token"].(string)
	assert.Equal(t, http.StatusOK, getAPI(t, d.issuer+"/api/v1/widgets/top-vulnerable-clusters", access))

	status, rotated := adminCall(t, d.admin, d.adminToken, http.MethodPost, "/clients/reporting/secret", map[string]any{"grace_period": 3600})
	require.Equal(t, http.StatusOK, status, "%v", rotated)
	fresh := rotated["client_secret"].(string)
	for _, s := range []string{secret, fresh} {
		status, _ := postForm(t, d.issuer+"/oauth2/token", "reporting", s, url.Values{"grant_type": {"client_credentials"}})
		assert.Equal(t, http.StatusOK, status, "both secrets work during the grace period")
	}

	status, list := adminCall(t, d.admin, d.adminToken, http.MethodGet, "/clients?customer=acme", nil)
	require.Equal(t, http.StatusOK, status)
	items := list["items"].([]any)
	var ids []string
	for _, it := range items {
		ids = append(ids, it.(map[string]any)["client_id"].(string))
	}
	assert.Equal(t, []string{"demo-spa", "reporting"}, ids)
	assert.NotContains(t, strings.Join(ids, ","), secret)

	status, _ = adminCall(t, d.admin, d.adminToken, http.MethodDelete, "/clients/reporting", nil)
	require.Equal(t, http.StatusNoContent, status)
	assert.Equal(t, http.StatusUnauthorized, getAPI(t, d.issuer+"/api/v1/widgets/top-vulnerable-clusters", access), "the deleted client's token is refused")
	status, _ = postForm(t, d.issuer+"/oauth2/token", "reporting", fresh, url.Values{"grant_type": {"client_credentials"}})
	assert.Equal(t, http.StatusUnauthorized, status)
}

// The scene: after a wrong client secret, a TOTP code refused and
// an authorization code replayed, the demo's audit trail holds each of
// them, and neither the secrets nor the codes.
func TestDemoAuditTrail(t *testing.T) {
	d := startDemoAdmin(t)
	status, _ := postForm(t, d.issuer+"/oauth2/token", "demo-service", "not-the-secret-0123", url.Values{"grant_type": {"client_credentials"}})
	require.Equal(t, http.StatusUnauthorized, status)

	cfg := demoWeb(d.issuer, "openid", "customer", "assets:read")
	v := oauth2.GenerateVerifier()
	browser, page := signIn(t, cfg.AuthCodeURL("st-0123456789", oauth2.S256ChallengeOption(v)), "alice", "alice-password")
	page = flowtest.Follow(t, browser, page)
	right := aliceCode(t)
	wrong := "13579" + string(rune('0'+(right[5]-'0'+1)%10))
	flowtest.Submit(t, browser, page, url.Values{"otp": {wrong}})
	page = flowtest.Follow(t, browser, flowtest.Submit(t, browser, page, url.Values{"otp": {right}}))
	page = flowtest.Follow(t, browser, flowtest.Submit(t, browser, page, url.Values{"tenant": {"acme"}}))
	code := flowtest.Submit(t, browser, page, url.Values{"decision": {"allow"}}).Location(t).Query().Get("code")
	_, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(v))
	require.NoError(t, err)
	_, err = cfg.Exchange(context.Background(), code, oauth2.VerifierOption(v))
	require.Error(t, err, "the replay is refused")

	for typ, want := range map[string]map[string]any{
		"client.auth_failed": {"client_id": "demo-service", "actor": map[string]any{"kind": "client", "id": "demo-service"}},
		"mfa.failed":         {"client_id": "demo-web", "subject": "alice"},
		"code.replayed":      {"client_id": "demo-web", "subject": "alice"},
	} {
		status, page := adminCall(t, d.admin, d.adminToken, http.MethodGet, "/audit?type="+typ, nil)
		require.Equal(t, http.StatusOK, status)
		items := page["items"].([]any)
		require.Len(t, items, 1, typ)
		ev := items[0].(map[string]any)
		for k, v := range want {
			assert.Equal(t, v, ev[k], "%s: %s", typ, k)
		}
	}

	status, all := adminCall(t, d.admin, d.adminToken, http.MethodGet, "/audit?limit=1000", nil)
	require.Equal(t, http.StatusOK, status)
	raw, err := json.Marshal(all)
	require.NoError(t, err)
	for _, secret := range []string{"not-the-secret-0123", "demo-service-secret", "demo-web-secret", "alice-password", d.adminToken, code, v} {
		assert.NotContains(t, string(raw), secret)
	}
	assert.NotRegexp(t, `(^|[^0-9])(`+right+`|`+wrong+`)([^0-9]|$)`, string(raw), "no one-time code")
	assert.Contains(t, string(raw), `"type":"client.created"`, "the demo's seeding is recorded, as the system's")
}
