package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
)

// keyRequest sends method u with the API key in X-API-Key and form (nil:
// no body) and returns the status and decoded body.
func keyRequest(t *testing.T, method, u, key string, form url.Values, headers ...string) (int, map[string]any) {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-API-Key", key)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// scriptToken asks for demo-script's token with key.
func scriptToken(t *testing.T, issuer, key, scope string) (int, map[string]any) {
	t.Helper()
	return keyRequest(t, http.MethodPost, issuer+"/oauth2/token", key,
		url.Values{"grant_type": {"client_credentials"}, "client_id": {"demo-script"}, "scope": {scope}})
}

// docs/scripts.md's walkthrough: the printed key of alice, the reporting
// bot, and keys made over the admin API.
func TestDemoScriptsWalkthrough(t *testing.T) {
	d := startDemoAdmin(t)
	require.Regexp(t, `^gatehouse_ak_[a-z2-7]{16}_[a-z2-7]{52}$`, d.aliceKey, "the demo prints alice's key")

	// A script as alice: her acme permissions ∩ demo-script's scope.
	status, tok := scriptToken(t, d.issuer, d.aliceKey, "assets:read assets:write registry:read")
	require.Equal(t, http.StatusOK, status, "%v", tok)
	assert.Equal(t, "assets:read registry:read", tok["scope"])
	assert.NotContains(t, tok, "refresh_token")
	assert.Equal(t, http.StatusOK, getAPI(t, d.issuer+"/api/v1/widgets/registry-insights", tok["access_token"].(string)))
	// The key directly at the API.
	status, body := keyRequest(t, http.MethodGet, d.issuer+"/api/v1/widgets/top-vulnerable-clusters", d.aliceKey, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "api_key", body["credential"])
	assert.Equal(t, "alice", body["subject"])
	assert.Equal(t, "user", body["principal_type"])
	// Refusals.
	status, body = scriptToken(t, d.issuer, d.aliceKey[:len(d.aliceKey)-1]+"a", "assets:read")
	if d.aliceKey[len(d.aliceKey)-1] == 'a' {
		status, body = scriptToken(t, d.issuer, d.aliceKey[:len(d.aliceKey)-1]+"b", "assets:read")
	}
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "invalid_client", body["error"])
	resp, err := http.PostForm(d.issuer+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"demo-script"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no key")

	// The reporting bot.
	status, tok = postForm(t, d.issuer+"/oauth2/token", "reporting-bot-client", "reporting-bot-secret",
		url.Values{"grant_type": {"client_credentials"}, "scope": {"openid assets:read registry:read"}})
	require.Equal(t, http.StatusOK, status, "%v", tok)
	assert.Equal(t, "openid assets:read", tok["scope"])
	assert.InDelta(t, 900, tok["expires_in"], 5, "its own 15 minutes")
	status, intro := postForm(t, d.issuer+"/oauth2/introspect", "reporting-bot-client", "reporting-bot-secret", url.Values{"token": {tok["access_token"].(string)}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "reporting-bot", intro["sub"])
	assert.Equal(t, "application", intro["principal_type"])

	// Keys over the admin API: bob's, from 127.0.0.1 only; rotate; delete.
	status, made := adminCall(t, d.admin, d.adminToken, http.MethodPost, "/users/bob/api-keys", map[string]any{"name": "bob nightly export", "ip_ranges": []string{"127.0.0.1/32"}})
	require.Equal(t, http.StatusCreated, status, "%v", made)
	bobKey, id := made["api_key"].(string), made["id"].(string)
	status, tok = scriptToken(t, d.issuer, bobKey, "assets:read registry:read")
	require.Equal(t, http.StatusOK, status, "%v", tok)
	assert.Equal(t, "assets:read", tok["scope"], "bob holds assets:read alone")
	status, list := adminCall(t, d.admin, d.adminToken, http.MethodGet, "/api-keys?owner=bob", nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, list["items"], 1)
	assert.NotContains(t, list["items"].([]any)[0], "api_key")
	status, rotated := adminCall(t, d.admin, d.adminToken, http.MethodPost, "/api-keys/"+id+"/rotate", nil)
	require.Equal(t, http.StatusOK, status, "%v", rotated)
	status, _ = scriptToken(t, d.issuer, bobKey, "assets:read")
	assert.Equal(t, http.StatusUnauthorized, status, "the old key is dead at once")
	newKey := rotated["api_key"].(string)
	status, _ = keyRequest(t, http.MethodGet, d.issuer+"/api/v1/widgets/top-vulnerable-clusters", newKey, nil)
	assert.Equal(t, http.StatusOK, status)
	status, _ = adminCall(t, d.admin, d.adminToken, http.MethodDelete, "/api-keys/"+id, nil)
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = keyRequest(t, http.MethodGet, d.issuer+"/api/v1/widgets/top-vulnerable-clusters", newKey, nil)
	assert.Equal(t, http.StatusUnauthorized, status)

	// An application user made over the admin API, its key, its deletion.
	status, _ = adminCall(t, d.admin, d.adminToken, http.MethodPost, "/application-users", map[string]any{
		"id": "backup-bot", "name": "Backup bot", "tenant": "acme", "permissions": []string{"assets:read", "registry:read"}, "access_token_lifetime": 600})
	require.Equal(t, http.StatusCreated, status)
	status, botKey := adminCall(t, d.admin, d.adminToken, http.MethodPost, "/application-users/backup-bot/api-keys", map[string]any{"name": "backup job"})
	require.Equal(t, http.StatusCreated, status)
	status, tok = scriptToken(t, d.issuer, botKey["api_key"].(string), "assets:read registry:read")
	require.Equal(t, http.StatusOK, status, "%v", tok)
	assert.InDelta(t, 600, tok["expires_in"], 5)
	status, _ = adminCall(t, d.admin, d.adminToken, http.MethodDelete, "/application-users/backup-bot", nil)
	assert.Equal(t, http.StatusNoContent, status)
	assert.Equal(t, http.StatusUnauthorized, getAPI(t, d.issuer+"/api/v1/widgets/top-vulnerable-clusters", tok["access_token"].(string)))
}

// On PostgreSQL the demo's key of alice is kept across a restart and
// printed with a new secret: the old one stops working.
func TestDemoOnPostgresRotatesAliceKey(t *testing.T) {
	dsn := pgtest.DSN(t)
	prefix := pgtest.Prefix(t, pgtest.Pool(t))
	args := []string{"-dsn", dsn, "-table-prefix", prefix}
	first, stop := launchDemo(t, args...)
	t.Cleanup(stop)
	status, _ := scriptToken(t, first.issuer, first.aliceKey, "assets:read")
	require.Equal(t, http.StatusOK, status)
	stop()

	second := startDemoAdmin(t, args...)
	assert.Equal(t, first.aliceKey[:len("gatehouse_ak_")+16], second.aliceKey[:len("gatehouse_ak_")+16], "the same key ID")
	assert.NotEqual(t, first.aliceKey, second.aliceKey, "a new secret")
	status, _ = scriptToken(t, second.issuer, first.aliceKey, "assets:read")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = scriptToken(t, second.issuer, second.aliceKey, "assets:read")
	assert.Equal(t, http.StatusOK, status)
	status, list := adminCall(t, second.admin, second.adminToken, http.MethodGet, "/api-keys?owner=alice", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, list["items"], 1, "one demo key, not one per start")
}
