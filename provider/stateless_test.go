package provider_test

import (
	"context"
	"encoding/base64"
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
	"github.com/gatehouse/gatehouse/storage/memory"
)

// stateless makes access tokens stateless JWTs.
func stateless(c *provider.Config) {
	c.JWTAccessTokens = true
	c.StatelessAccessTokens = true
}

// requireUnstored asserts that the store holds no record of access token.
func (e *env) requireUnstored(token string) {
	e.t.Helper()
	require.Equal(e.t, 2, strings.Count(token, "."), "a JWT: %s", token)
	_, err := e.store.GetToken(context.Background(), storage.KindAccessToken, token[strings.LastIndexByte(token, '.')+1:])
	require.ErrorIs(e.t, err, storage.ErrNotFound, "a stateless access token is not stored")
}

// active introspects token as client id and returns whether it is active.
func (e *env) active(id, token string) bool {
	e.t.Helper()
	return e.introspectAs(id, e.secrets[id], token)["active"] == true
}

// TestStatelessClientCredentials: a client_credentials token is a JWT that
// is not stored; introspection and RequireScopes accept it and answer as
// for a stored one; the revocation endpoint and the client's deletion end
// it at once. On memory and PostgreSQL.
func TestStatelessClientCredentials(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store, stateless)
		status, body := e.ccToken(e.svc.ID, e.svcSecret, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		tok := body["access_token"].(string)
		e.requireUnstored(tok)

		info := e.introspectAs(e.svc.ID, e.svcSecret, tok)
		assert.Equal(t, true, info["active"])
		assert.Equal(t, "svc", info["client_id"])
		assert.Equal(t, "assets:read", info["scope"])
		assert.NotContains(t, info, "sub", "a client's own token has no subject, as when stored")
		assert.NotEmpty(t, info["exp"])
		assert.NotEmpty(t, info["iat"])
		assert.Equal(t, http.StatusOK, e.apiStatus(tok), "RequireScopes accepts it")

		// The revocation endpoint.
		status, _, _ = e.postForm("/oauth2/revoke", url.Values{"token": {tok}}, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, status)
		assert.False(t, e.active("svc", tok), "revoked at once")
		assert.Equal(t, http.StatusUnauthorized, e.apiStatus(tok))
		_, body = e.ccToken(e.svc.ID, e.svcSecret, "assets:read")
		next := body["access_token"].(string)
		assert.True(t, e.active("svc", next), "the client's next token is another grant")

		// Another client cannot revoke it.
		e.secrets["other"] = mustClient(t, e, storage.Client{ID: "other", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}})
		status, _, _ = e.postForm("/oauth2/revoke", url.Values{"token": {next}}, "other", e.secrets["other"])
		require.Equal(t, http.StatusOK, status, "RFC 7009: 200 for a token that is not the caller's")
		assert.True(t, e.active("svc", next), "and it stays active")

		// The client's deletion.
		require.NoError(t, e.p.DeleteClient(context.Background(), "svc"))
		assert.Equal(t, http.StatusUnauthorized, e.apiStatus(next), "a deleted client's token is refused")
		assert.False(t, e.introspectAs("other", e.secrets["other"], next)["active"] == true)
	})
}

// mustClient registers c and returns its secret.
func mustClient(t *testing.T, e *env, c storage.Client) string {
	t.Helper()
	_, secret, err := e.p.CreateClient(context.Background(), c)
	require.NoError(t, err)
	return secret
}

// TestStatelessUserTokens: a code flow's access token is a stateless JWT
// that introspection and userinfo answer for as for a stored one
// (subject, client address); a refresh issues a new one and ends the
// one it replaces, as with stored tokens; a refresh token
// used again after its rotation, the user disconnecting the app, and the
// end of the user's sessions each end the grant's tokens at once.
func TestStatelessUserTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		a := newAccountEnv(t, store, stateless)
		ctx := context.Background()
		b := flowtest.NewBrowser(t)
		tok := a.signIn(b, a.web, a.webSecret, nil)
		a.requireUnstored(tok.AccessToken)
		info := a.introspectAs("web", a.webSecret, tok.AccessToken)
		require.Equal(t, true, info["active"], "%v", info)
		assert.Equal(t, "sub-alice", info["sub"])
		assert.Equal(t, "web", info["client_id"])
		assert.Equal(t, "user", info["principal_type"])
		assert.Equal(t, "127.0.0.1", info["client_ip"])
		assert.NotEmpty(t, info["auth_time"])
		assert.NotContains(t, info, "username", "the token does not carry the user's login name")
		req, err := http.NewRequest(http.MethodGet, a.url("/userinfo"), nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		status, claims, _ := a.do(req)
		require.Equal(t, http.StatusOK, status, "%v", claims)
		assert.Equal(t, "sub-alice", claims["sub"])

		// A refresh: a new token, and the one it replaces ends, as a
		// stored one would.
		cfg := a.oauth2Config(a.web, a.webSecret, webRedirect)
		refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
		require.NoError(t, err)
		a.requireUnstored(refreshed.AccessToken)
		assert.True(t, a.active("web", refreshed.AccessToken), "the new token is active")
		assert.False(t, a.active("web", tok.AccessToken), "the refresh ended the token it replaces")
		again, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
		require.NoError(t, err)
		assert.True(t, a.active("web", again.AccessToken), "a second refresh: its token is active")
		assert.False(t, a.active("web", refreshed.AccessToken), "and the first refresh's ended")

		// The rotated refresh token used again: reuse, the grant ends.
		status, e := a.refresh(a.web, a.webSecret, tok.RefreshToken)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_grant", e)
		assert.False(t, a.active("web", again.AccessToken), "reuse denies the grant's newest token")

		// The user disconnects the app.
		tok = a.signIn(b, a.web, a.webSecret, nil)
		require.True(t, a.active("web", tok.AccessToken))
		require.NoError(t, a.p.RevokeApp(ctx, "sub-alice", "web"))
		assert.False(t, a.active("web", tok.AccessToken), "RevokeApp ends it")

		// The user's sessions end (logout everywhere).
		b2 := flowtest.NewBrowser(t)
		tok = a.signIn(b2, a.web, a.webSecret, nil)
		require.True(t, a.active("web", tok.AccessToken))
		require.NoError(t, a.p.EndUserSessions(ctx, "sub-alice"))
		assert.False(t, a.active("web", tok.AccessToken), "EndUserSessions ends it")
		assert.Equal(t, http.StatusUnauthorized, a.apiStatus(tok.AccessToken))
	})
}

// TestStatelessAPIKeyTokens: a token a script obtained with an API key is
// stateless, and rotating or deleting the key ends it.
func TestStatelessAPIKeyTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		k := newKeyEnv(t, store, stateless)
		ctx := context.Background()
		made, key := k.aliceKey("acme")
		status, tok, _ := k.scriptToken(key, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", tok)
		access := tok["access_token"].(string)
		k.requireUnstored(access)
		info, err := k.p.Introspect(ctx, access)
		require.NoError(t, err)
		assert.Equal(t, "sub-alice", info.Subject)
		assert.Equal(t, "acme", info.Tenant.ID)
		assert.Equal(t, made.ID, info.APIKeyID)
		assert.Equal(t, "127.0.0.1", info.ClientIP)

		_, rotated, err := k.p.RotateAPIKey(ctx, made.ID)
		require.NoError(t, err)
		_, err = k.p.Introspect(ctx, access)
		assert.Error(t, err, "the rotated-out secret's token ends")
		status, tok, _ = k.scriptToken(rotated, "assets:read")
		require.Equal(t, http.StatusOK, status)
		access = tok["access_token"].(string)
		_, err = k.p.Introspect(ctx, access)
		require.NoError(t, err, "the new secret's token is active")
		require.NoError(t, k.p.DeleteAPIKey(ctx, made.ID))
		_, err = k.p.Introspect(ctx, access)
		assert.Error(t, err, "the deleted key's token ends")
	})
}

// TestStatelessNeedsADenyList: New refuses stateless tokens on a store
// that keeps no deny list, and says why.
func TestStatelessNeedsADenyList(t *testing.T) {
	_, err := provider.New(provider.Config{
		Issuer: "https://id.example", Store: noDenyList{memory.New()}, Authenticator: userDB{},
		JWTAccessTokens: true, StatelessAccessTokens: true,
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "StatelessAccessTokens")
	assert.Contains(t, err.Error(), "storage.DenyListStore")
}

// noDenyList is a store without a deny list.
type noDenyList struct{ storage.Store }

// TestStatelessCodeReplay: an authorization code exchanged a second time
// ends the tokens of its first exchange, stateless access token included.
func TestStatelessCodeReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store, stateless)
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid", "assets:read")
		verifier := oauth2.GenerateVerifier()
		back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)), "alice")
		code := back.Query().Get("code")
		tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
		require.NoError(t, err)
		e.requireUnstored(tok.AccessToken)
		require.True(t, e.active("web", tok.AccessToken))
		_, err = cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
		require.Error(t, err, "the code is single use")
		assert.False(t, e.active("web", tok.AccessToken), "a replayed code ends its first exchange's stateless token")
		assert.Equal(t, http.StatusUnauthorized, e.apiStatus(tok.AccessToken))
	})
}

// TestStatelessForgedTokens: with nothing stored to look up, the JWT's
// signature, typ and issuer are the gate. An ID token of this provider
// (its signature, but typ JWT), a token with its payload altered, one
// signed by another provider's key, one with alg none, and a token of
// another issuer are all inactive, at introspection and at RequireScopes.
func TestStatelessForgedTokens(t *testing.T) {
	e := newEnvOn(t, memory.New(), stateless)
	status, body := e.ccToken(e.svc.ID, e.svcSecret, "assets:read")
	require.Equal(t, http.StatusOK, status)
	good := body["access_token"].(string)
	require.True(t, e.active("svc", good))
	parts := strings.Split(good, ".")

	other := newEnvOn(t, memory.New(), stateless) // its own signing key and issuer
	_, body = other.ccToken(other.svc.ID, other.svcSecret, "assets:read")
	foreign := body["access_token"].(string)

	web := newEnvOn(t, memory.New(), stateless)
	idTok := web.codeFlow(web.web, web.webSecret, webRedirect, "alice", "openid").Extra("id_token").(string)

	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	widened := strings.Replace(string(payload), `"scope":"assets:read"`, `"scope":"assets:read registry:read"`, 1)
	require.NotEqual(t, string(payload), widened)
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`))

	for name, tok := range map[string]string{
		"payload altered":     parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(widened)) + "." + parts[2],
		"alg none":            header + "." + parts[1] + ".",
		"alg none, signature": header + "." + parts[1] + "." + parts[2],
		"another provider's":  foreign,
		"an ID token":         idTok,
	} {
		assert.False(t, e.active("svc", tok), name)
		assert.Equal(t, http.StatusUnauthorized, e.apiStatus(tok), name)
	}
	assert.True(t, e.active("svc", good), "the real one still is")
}

// TestStatelessRefreshesInOneMillisecond: with the clock standing still,
// every token is issued in one millisecond (iat_ms), as happens when a
// client refreshes right after the previous token was issued. Each
// refresh still ends the token it replaces, and its own token is active.
func TestStatelessRefreshesInOneMillisecond(t *testing.T) {
	a := newAccountEnv(t, memory.New(), stateless)
	a.clock.Set(time.Now())
	tok := a.signIn(flowtest.NewBrowser(t), a.web, a.webSecret, nil)
	access, refresh := tok.AccessToken, tok.RefreshToken
	for i := range 3 {
		status, body := a.env.refresh(refresh)
		require.Equal(t, http.StatusOK, status, "refresh %d: %v", i+1, body)
		assert.True(t, a.active("web", body["access_token"].(string)), "refresh %d: its token is active", i+1)
		assert.False(t, a.active("web", access), "refresh %d ended the token it replaces", i+1)
		access, refresh = body["access_token"].(string), body["refresh_token"].(string)
	}
}
