package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/mfa"
)

// startDemo runs the demo server as README says (on a free port) and
// returns its issuer; it stops when the test ends.
func startDemo(t *testing.T, args ...string) string {
	t.Helper()
	issuer, stop := startDemoStoppable(t, args...)
	t.Cleanup(stop)
	return issuer
}

// startDemoStoppable runs the demo server and returns its issuer and a
// function that stops it and waits until it has stopped (a second call
// does nothing).
func startDemoStoppable(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	d, stop := launchDemo(t, args...)
	return d.issuer, stop
}

// demo is a running demo server: what it printed at start.
type demo struct {
	issuer     string
	admin      string // the admin API's URL, "http://127.0.0.1:port"
	adminToken string // the token it generated, if it did
	aliceKey   string // the API key of alice in acme it printed
}

// startDemoAdmin runs the demo server and returns what it printed; it
// stops when the test ends.
func startDemoAdmin(t *testing.T, args ...string) demo {
	t.Helper()
	d, stop := launchDemo(t, args...)
	t.Cleanup(stop)
	return d
}

// launchDemo runs the demo server on free ports (the OAuth and the admin
// listener) and returns what it printed and a function that stops it.
func launchDemo(t *testing.T, args ...string) (demo, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0"}, args...), pw)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Error("demo server did not stop")
			}
			pw.Close()
		})
	}
	lines := bufio.NewScanner(pr)
	var d demo
	for lines.Scan() {
		line := lines.Text()
		if v, ok := strings.CutPrefix(line, "admin: "); ok {
			d.admin = v
		}
		if v, ok := strings.CutPrefix(line, "admin token: "); ok {
			d.adminToken = v
		}
		if v, ok := strings.CutPrefix(line, "API key of alice in acme: "); ok {
			d.aliceKey = v
		}
		if v, ok := strings.CutPrefix(line, "issuer: "); ok {
			d.issuer = v
			break
		}
	}
	if d.issuer == "" {
		stop()
		t.Fatal("the demo did not print its issuer")
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return d, stop
}

func postForm(t *testing.T, u, user, pass string, vals url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func getAPI(t *testing.T, u, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// The README's client-credentials walkthrough.
func TestDemoClientCredentials(t *testing.T) {
	for _, args := range [][]string{nil, {"-jwt-access-tokens"}, {"-stateless-access-tokens"}} {
		t.Run(strings.Join(append([]string{"flags"}, args...), " "), func(t *testing.T) {
			issuer := startDemo(t, args...)
			status, body := postForm(t, issuer+"/oauth2/token", "demo-service", "demo-service-secret", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}})
			require.Equal(t, http.StatusOK, status, "%v", body)
			token := body["access_token"].(string)
			if len(args) > 0 {
				assert.Equal(t, 2, strings.Count(token, "."), "a JWT")
			}
			assert.Equal(t, http.StatusOK, getAPI(t, issuer+"/api/v1/widgets/top-vulnerable-clusters", token))
			assert.Equal(t, http.StatusForbidden, getAPI(t, issuer+"/api/v1/widgets/registry-insights", token))
			assert.Equal(t, http.StatusUnauthorized, getAPI(t, issuer+"/api/v1/widgets/top-vulnerable-clusters", "bogus"))

			status, body = postForm(t, issuer+"/oauth2/introspect", "demo-service", "demo-service-secret", url.Values{"token": {token}})
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, true, body["active"])

			// Revoked: refused at once, stored or not.
			status, _ = postForm(t, issuer+"/oauth2/revoke", "demo-service", "demo-service-secret", url.Values{"token": {token}})
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, http.StatusUnauthorized, getAPI(t, issuer+"/api/v1/widgets/top-vulnerable-clusters", token))
		})
	}
}

// The audit trail is on unless -audit=false: every answer carries its
// request ID only while it is.
func TestDemoAuditFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		on   bool
	}{{nil, true}, {[]string{"-audit=false"}, false}} {
		t.Run(strings.Join(append([]string{"flags"}, tc.args...), " "), func(t *testing.T) {
			issuer := startDemo(t, tc.args...)
			req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=assets:read"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("demo-service", "demo-service-secret")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, tc.on, resp.Header.Get("X-Request-Id") != "", "X-Request-Id: %q", resp.Header.Get("X-Request-Id"))
		})
	}
}

// aliceCode is alice's current TOTP code (the demo's fixed secret).
func aliceCode(t *testing.T) string {
	secret, err := mfa.DecodeSecret(demoTOTPSecret)
	require.NoError(t, err)
	return mfa.Code(secret, time.Now())
}

// demoWeb is the README's demo-web client.
func demoWeb(issuer string, scopes ...string) oauth2.Config {
	return oauth2.Config{
		ClientID: "demo-web", ClientSecret: "demo-web-secret", RedirectURL: "http://127.0.0.1:8081/callback",
		Scopes:   scopes,
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/authorize", TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// signIn starts an authorization at authURL in a new browser and signs in;
// it returns the browser and the page after the login.
func signIn(t *testing.T, authURL, user, password string) (*http.Client, flowtest.Page) {
	browser := flowtest.NewBrowser(t)
	page := flowtest.Follow(t, browser, flowtest.Get(t, browser, authURL))
	require.Contains(t, page.Body, `name="username"`)
	return browser, flowtest.Submit(t, browser, page, url.Values{"username": {user}, "password": {password}})
}

// demoWebLogin runs the README's authorization-code walkthrough for
// demo-web as a browser and returns the token.
func demoWebLogin(t *testing.T, issuer string) *oauth2.Token {
	t.Helper()
	cfg := demoWeb(issuer, "openid", "offline_access", "profile", "email", "customer", "assets:read", "assets:write", "registry:read")
	v := oauth2.GenerateVerifier()
	browser, page := signIn(t, cfg.AuthCodeURL("st-0123456789", oauth2.S256ChallengeOption(v)), "alice", "alice-password")
	page = flowtest.Follow(t, browser, page)
	require.Contains(t, page.Body, `name="otp"`)
	page = flowtest.Follow(t, browser, flowtest.Submit(t, browser, page, url.Values{"otp": {aliceCode(t)}}))
	require.Contains(t, page.Body, `name="tenant"`)
	assert.Contains(t, page.Body, `<option value="acme">`)
	assert.Contains(t, page.Body, `<option value="globex">`)
	page = flowtest.Follow(t, browser, flowtest.Submit(t, browser, page, url.Values{"tenant": {"acme"}}))
	require.Contains(t, page.Body, `value="allow"`)
	loc := flowtest.Submit(t, browser, page, url.Values{"decision": {"allow"}}).Location(t)
	require.Equal(t, "st-0123456789", loc.Query().Get("state"))
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(v))
	require.NoError(t, err)
	return tok
}

// The README's walkthrough: alice logs in, enters her TOTP code, picks a
// tenant, consents, and in acme gets assets:read registry:read (never
// assets:write).
func TestDemoCodeFlow(t *testing.T) {
	issuer := startDemo(t)
	tok := demoWebLogin(t, issuer)
	assert.NotEmpty(t, tok.RefreshToken)
	assert.NotEmpty(t, tok.Extra("id_token"))
	granted := strings.Fields(tok.Extra("scope").(string))
	assert.ElementsMatch(t, []string{"openid", "offline_access", "profile", "email", "customer", "assets:read", "registry:read"}, granted, "never assets:write")
	assert.Equal(t, http.StatusOK, getAPI(t, issuer+"/api/v1/widgets/registry-insights", tok.AccessToken))
	status, body := postForm(t, issuer+"/oauth2/introspect", "demo-web", "demo-web-secret", url.Values{"token": {tok.AccessToken}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "acme", body["customer_id"])
	assert.Equal(t, []any{"pwd", "otp"}, body["amr"])
	assert.NotEmpty(t, body["client_ip"])
	// Another client asking about demo-web's token learns nothing.
	status, body = postForm(t, issuer+"/oauth2/introspect", "demo-service", "demo-service-secret", url.Values{"token": {tok.AccessToken}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"active": false}, body)
}

// bob has no second factor and demo-web requires one; carol lacks the role
// everywhere.
func TestDemoRefusals(t *testing.T) {
	issuer := startDemo(t)
	web := demoWeb(issuer, "openid", "assets:read")
	refusal := func(authURL, user, password string) url.Values {
		_, page := signIn(t, authURL, user, password)
		loc := page.Location(t)
		require.Empty(t, loc.Query().Get("code"))
		return loc.Query()
	}
	q := refusal(web.AuthCodeURL("st-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "bob", "bob-password")
	assert.Equal(t, "access_denied", q.Get("error"))
	assert.Contains(t, q.Get("error_description"), "multi-factor authentication required")

	spa := oauth2.Config{ClientID: "demo-spa", RedirectURL: "http://127.0.0.1:8081/spa", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/authorize", TokenURL: issuer + "/oauth2/token"}}
	for _, c := range []oauth2.Config{web, spa} {
		q := refusal(c.AuthCodeURL("st-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "carol", "carol-password")
		assert.Equal(t, "access_denied", q.Get("error"), c.ClientID)
		assert.Contains(t, q.Get("error_description"), "portal-user", c.ClientID)
	}
}

// demo-service may be used from 127.0.0.1 only; behind a trusted proxy the
// X-Forwarded-For address counts.
func TestDemoServiceIPRange(t *testing.T) {
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	}
	token := func(c *http.Client, issuer string, xff ...string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=assets%3Aread"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("demo-service", "demo-service-secret")
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	issuer := startDemo(t)
	status, _ := token(from("127.0.0.1"), issuer)
	assert.Equal(t, http.StatusOK, status)
	status, body := token(from("127.0.0.2"), issuer)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "invalid_client", body["error"])
	status, _ = token(from("127.0.0.2"), issuer, "127.0.0.1")
	assert.Equal(t, http.StatusUnauthorized, status, "no trusted proxies: a spoofed X-Forwarded-For is ignored")

	issuer = startDemo(t, "-trusted-proxies", "127.0.0.3")
	status, _ = token(from("127.0.0.3"), issuer, "127.0.0.1")
	assert.Equal(t, http.StatusOK, status, "the proxy says the client is 127.0.0.1")
	status, _ = token(from("127.0.0.3"), issuer, "127.0.0.2")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, body = token(from("127.0.0.3"), issuer, "127.0.0.1", "127.0.0.1")
	assert.Equal(t, http.StatusBadRequest, status, "several X-Forwarded-For headers: refused, never guessed")
	assert.Equal(t, "invalid_request", body["error"])
}

// The demo's single-page app (demo-spa, redirect URI at
// http://127.0.0.1:8081) may call the token endpoint and userinfo from its
// page: the preflight from its origin is allowed, and the token endpoint's
// answer to demo-spa names the origin. Another origin gets neither.
func TestDemoSPACORS(t *testing.T) {
	issuer := startDemo(t)
	preflight := func(path, origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, issuer+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/oauth2/token", "/userinfo", "/oauth2/revoke"} {
		resp := preflight(path, "http://127.0.0.1:8081")
		assert.Equal(t, http.StatusNoContent, resp.StatusCode, path)
		assert.Equal(t, "http://127.0.0.1:8081", resp.Header.Get("Access-Control-Allow-Origin"), path)
		resp = preflight(path, "https://elsewhere.example")
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), path)
	}

	token := func(origin string) *http.Response {
		vals := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"not-a-refresh-token"}, "client_id": {"demo-spa"}}
		req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(vals.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := token("http://127.0.0.1:8081")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a bad refresh token, read by the SPA's page")
	assert.Equal(t, "http://127.0.0.1:8081", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, token("https://elsewhere.example").Header.Get("Access-Control-Allow-Origin"))
}

// -access-token-lifetime sets the lifetime of the tokens the demo issues.
func TestDemoAccessTokenLifetime(t *testing.T) {
	issuer := startDemo(t, "-access-token-lifetime", "90s")
	status, body := postForm(t, issuer+"/oauth2/token", "demo-service", "demo-service-secret", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}})
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.InDelta(t, 90, body["expires_in"], 2)
}
