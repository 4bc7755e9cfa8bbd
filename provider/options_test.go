package provider_test

import (
	"context"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

func TestClientSecretPost(t *testing.T) {
	e := newEnv(t)
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "poster", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}, TokenEndpointAuthMethod: "client_secret_post",
	})
	require.NoError(t, err)
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {secret}}, "", "")
	assert.Equal(t, http.StatusOK, status, "%v", body)
	// Basic works too: the two secret methods are interchangeable
	// (TestSecretMethodsInterchangeable).
	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
	assert.Equal(t, http.StatusOK, status, "%v", body)
}

func TestPerClientJWTAccessTokens(t *testing.T) {
	e := newEnv(t)
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "jwt-client", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}, AccessTokenFormat: "jwt",
	})
	require.NoError(t, err)
	_, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
	assert.Equal(t, 2, strings.Count(body["access_token"].(string), "."), "this client asked for JWTs")
	_, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, e.svcSecret)
	assert.Equal(t, 1, strings.Count(body["access_token"].(string), "."), "others keep opaque tokens")
}

func TestRS256IDTokens(t *testing.T) {
	e := newEnv(t, func(c *provider.Config) { c.SigningAlgorithm = "RS256" })
	tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid")
	_, hdr := e.verifyIDToken(tok.Extra("id_token").(string))
	assert.Equal(t, string(jose.RS256), hdr.Algorithm)
	for _, k := range e.fetchJWKS().Keys {
		assert.Equal(t, "RS256", k.Algorithm)
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	store := memory.New()
	p, err := provider.New(provider.Config{Issuer: "https://auth.example.com/tenant", Store: store, Authenticator: userDB{}, GlobalSecret: []byte("0123456789abcdef0123456789abcdef")})
	require.NoError(t, err)
	_, _, err = p.CreateClient(context.Background(), storage.Client{ID: "web", RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid"}})
	require.NoError(t, err)
	h := p.Handler()
	q := url.Values{"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {"https://app.example.com/cb"}, "scope": {"openid"}, "state": {"state-123456789"}}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://auth.example.com/tenant/oauth2/authorize?"+q.Encode(), nil))
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	loc := rec.Header().Get("Location")
	assert.True(t, strings.HasPrefix(loc, "/tenant/oauth2/interaction?flow="), "endpoints live below the issuer's path: %s", loc)
	cookies := rec.Result().Cookies()
	require.NotEmpty(t, cookies)
	for _, c := range cookies {
		assert.True(t, c.HttpOnly, c.Name)
		assert.True(t, c.Secure, "https issuer: Secure %s", c.Name)
		assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
		assert.Equal(t, "/tenant", c.Path)
	}
}

func TestTemplateOverride(t *testing.T) {
	base := provider.Config{Issuer: "http://127.0.0.1:1", Store: memory.New(), Authenticator: userDB{}}
	cfg := base
	cfg.Templates = template.Must(template.New("login").Parse(`custom login`))
	_, err := provider.New(cfg)
	var ce *provider.ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "Templates", ce.Field)
	assert.Contains(t, err.Error(), `"consent"`)

	cfg.Templates = template.Must(template.New("login").Parse(`<form action="{{.Action}}">custom {{.ClientName}}</form>`))
	for _, name := range []string{"consent", "logout", "error", "mfa", "tenant"} {
		template.Must(cfg.Templates.New(name).Parse(name + ` page`))
	}
	p, err := provider.New(cfg)
	require.NoError(t, err)
	_, _, err = p.CreateClient(context.Background(), storage.Client{ID: "web", Name: "Web", RedirectURIs: []string{webRedirect}, Scopes: []string{"openid"}})
	require.NoError(t, err)
	q := url.Values{"response_type": {"code"}, "client_id": {"web"}, "redirect_uri": {webRedirect}, "scope": {"openid"}, "state": {"state-123456789"}}
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/oauth2/authorize?"+q.Encode(), nil))
	loc := rec.Header().Get("Location")
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1"+loc, nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, req)
	assert.Contains(t, rec.Body.String(), "custom Web")
}
