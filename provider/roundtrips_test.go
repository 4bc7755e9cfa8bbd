package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// databaseLike is what a database backend implements: a memory store
// without storage.StatusReader, which only a store in the provider's own
// process has (with it, the provider reads a client once until one is
// written).
type databaseLike interface {
	storage.Store
	storage.TokenSetGetter
}

// countingStore counts client and token reads: each is a database round
// trip on a real backend. It is a storage.TokenSetGetter too.
type countingStore struct {
	databaseLike
	clientReads atomic.Int64
	tokenReads  atomic.Int64 // GetToken and GetTokenSet calls
}

func (c *countingStore) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	c.tokenReads.Add(1)
	return c.databaseLike.GetToken(ctx, kind, sig)
}

func (c *countingStore) GetTokenSet(ctx context.Context, sig string, kinds ...storage.TokenKind) ([]storage.Token, error) {
	c.tokenReads.Add(1)
	return c.databaseLike.GetTokenSet(ctx, sig, kinds...)
}

func (c *countingStore) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c.clientReads.Add(1)
	return c.databaseLike.GetClient(ctx, id)
}

// A token request reads its client once, however many records it loads.
func TestOneClientReadPerRequest(t *testing.T) {
	cs := &countingStore{databaseLike: memory.New()}
	e := newEnv(t, func(c *provider.Config) { c.Store = cs })
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid", "offline_access")
	verifier := oauth2.GenerateVerifier()
	back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-0123456789")), "alice")

	cs.clientReads.Store(0)
	cs.tokenReads.Store(0)
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	assert.EqualValues(t, 1, cs.clientReads.Load(), "code exchange: authentication, code, PKCE and OIDC records share one read")
	assert.EqualValues(t, 1, cs.tokenReads.Load(), "code exchange: the code, PKCE and OIDC records are read together, once")
	assert.NotEmpty(t, tok.Extra("id_token"), "the OpenID Connect record was found")

	cs.clientReads.Store(0)
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, e.web.ID, e.webSecret)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.EqualValues(t, 1, cs.clientReads.Load(), "refresh")

	cs.clientReads.Store(0)
	status, body, _ = e.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, e.web.ID, e.webSecret)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.EqualValues(t, 1, cs.clientReads.Load(), "introspection by the token's own client")
}
