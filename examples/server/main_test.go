package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
)

// startDemo runs the demo server as README says (on a free port) and
// returns its issuer.
func startDemo(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("demo server did not stop")
		}
		pw.Close()
	})
	lines := bufio.NewScanner(pr)
	issuer := ""
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "issuer: "); ok {
			issuer = v
			break
		}
	}
	require.NotEmpty(t, issuer, "the demo prints its issuer")
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	return issuer
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
	for _, args := range [][]string{nil, {"-jwt-access-tokens"}} {
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
		})
	}
}

// The README's authorization-code walkthrough for demo-web, as a browser.
func TestDemoCodeFlow(t *testing.T) {
	issuer := startDemo(t)
	cfg := oauth2.Config{
		ClientID: "demo-web", ClientSecret: "demo-web-secret", RedirectURL: "http://127.0.0.1:8081/callback",
		Scopes:   []string{"openid", "offline_access", "profile", "email", "assets:read", "registry:read"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/authorize", TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	browser := flowtest.NewBrowser(t)
	v := oauth2.GenerateVerifier()
	page := flowtest.Follow(t, browser, flowtest.Get(t, browser, cfg.AuthCodeURL("st-0123456789", oauth2.S256ChallengeOption(v))))
	require.Contains(t, page.Body, `name="username"`)
	page = flowtest.Follow(t, browser, flowtest.Submit(t, browser, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	require.Contains(t, page.Body, `value="allow"`)
	loc := flowtest.Submit(t, browser, page, url.Values{"decision": {"allow"}}).Location(t)
	require.Equal(t, "st-0123456789", loc.Query().Get("state"))
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(v))
	require.NoError(t, err)
	assert.NotEmpty(t, tok.RefreshToken)
	assert.NotEmpty(t, tok.Extra("id_token"))
	assert.Equal(t, http.StatusOK, getAPI(t, issuer+"/api/v1/widgets/registry-insights", tok.AccessToken))
}
