package provider_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// authenticateOnly is an authenticator without LookupUser, so that the
// provider takes the user from the flow (storage.AuthFlow.User).
type authenticateOnly struct{}

func (authenticateOnly) Authenticate(ctx context.Context, username, password string) (provider.User, error) {
	return userDB{}.Authenticate(ctx, username, password)
}

// A new flow keeps the provider's values in the typed fields of
// storage.AuthFlow, not in Data.
func TestFlowStoresTypedFields(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
		b := flowtest.NewBrowser(t)
		before := e.clock.Now().Truncate(time.Second)
		page := flowtest.Get(t, b, cfg.AuthCodeURL("state-typed-fields", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		handle := page.Location(t).Query().Get("flow")
		require.NotEmpty(t, handle)
		fl, err := store.GetAuthFlow(context.Background(), secret.Digest(handle))
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", fl.ClientIP)
		assert.NotEmpty(t, fl.Browser)
		assert.False(t, fl.RequestedAt.Before(before), "RequestedAt %v is the request's time", fl.RequestedAt)
		assert.Equal(t, fl.RequestedAt.Truncate(time.Second), fl.RequestedAt, "whole seconds, as the rat claim")
		assert.Empty(t, fl.Data, "no magic keys")
	})
}

// A flow stored by the release before the typed fields, with its values
// under keys of Data, continues after the upgrade: the browser that started
// it is recognised, and the user, tenant, address and request time it
// recorded reach the tokens.
func TestFlowStoredWithDataKeysContinues(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store, func(c *provider.Config) { c.Authenticator = authenticateOnly{} })
		ctx := context.Background()

		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid", "profile")
		verifier := oauth2.GenerateVerifier()
		authURL, err := url.Parse(cfg.AuthCodeURL("state-legacy", oauth2.S256ChallengeOption(verifier),
			oauth2.SetAuthURLParam("nonce", "nonce-0123456789")))
		require.NoError(t, err)

		// The user as the login step recorded it: two tenants, so without
		// the recorded choice the tenant page would be shown.
		user, err := json.Marshal(provider.User{Subject: "sub-alice", Username: "alice", Name: "Alice From The Flow",
			Memberships: []provider.Membership{
				{Tenant: provider.Tenant{ID: "acme"}, Permissions: []string{"*"}},
				{Tenant: provider.Tenant{ID: "globex"}, Permissions: []string{"*"}},
			}})
		require.NoError(t, err)
		now := e.clock.Now()
		requested := now.Add(-2 * time.Minute).Truncate(time.Second)
		handle, browser := secret.Token(), secret.Token()
		require.NoError(t, store.CreateAuthFlow(ctx, storage.AuthFlow{
			ID:       secret.Digest(handle),
			Query:    authURL.RawQuery,
			ClientID: e.web.ID,
			Subject:  "sub-alice",
			AuthTime: now.Add(-time.Minute),
			AMR:      []string{"pwd"},
			Done:     []string{"login"},
			Data: map[string]string{
				"rat":     strconv.FormatInt(requested.Unix(), 10),
				"ip":      "192.0.2.55",
				"browser": secret.Digest(browser),
				"tenant":  "globex",
				"user":    string(user),
			},
			CSRF:      secret.Token(),
			ExpiresAt: now.Add(10 * time.Minute),
		}))

		// The login session the flow's sign-in made, stored by the same
		// release: without a SID, so the grant's sign-in is its ID.
		session := secret.Token()
		require.NoError(t, store.CreateLoginSession(ctx, storage.LoginSession{
			ID: secret.Digest(session), Subject: "sub-alice", AuthTime: now.Add(-time.Minute), AMR: []string{"pwd"},
			Claims: user, ExpiresAt: now.Add(time.Hour),
		}))

		b := flowtest.NewBrowser(t)
		issuer, err := url.Parse(e.issuer)
		require.NoError(t, err)
		b.Jar.SetCookies(issuer, []*http.Cookie{
			{Name: "gatehouse_browser", Value: browser, Path: "/"},
			{Name: "gatehouse_session", Value: session, Path: "/"},
		})

		page := flowtest.Get(t, b, e.url("/oauth2/interaction?flow="+url.QueryEscape(handle)))
		require.Equal(t, http.StatusOK, page.Status, "the browser that started the flow continues it:\n%s", page.Body)
		require.NotContains(t, page.Body, `name="tenant"`, "the tenant recorded in the flow stands")
		require.Contains(t, page.Body, `name="decision"`, "the consent page")
		back := flowtest.Submit(t, b, page, url.Values{"decision": {"allow"}}).Location(t)
		require.True(t, strings.HasPrefix(back.String(), webRedirect), "back to the client: %s", back)
		require.Equal(t, "state-legacy", back.Query().Get("state"))
		code := back.Query().Get("code")
		require.NotEmpty(t, code, "a code in %s", back)
		tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		require.NoError(t, err)

		raw, _ := tok.Extra("id_token").(string)
		require.NotEmpty(t, raw)
		e.verifyIDToken(raw)
		payload, err := base64URLDecode(strings.Split(raw, ".")[1])
		require.NoError(t, err)
		var id struct {
			Name string `json:"name"`
			RAT  int64  `json:"rat"`
		}
		require.NoError(t, json.Unmarshal(payload, &id))
		assert.Equal(t, "Alice From The Flow", id.Name, "the user recorded in the flow")
		assert.Equal(t, requested.Unix(), id.RAT, "the request time recorded in the flow")

		info := e.introspect(tok.AccessToken)
		assert.Equal(t, true, info["active"])
		assert.Equal(t, "192.0.2.55", info["client_ip"], "the address recorded in the flow")
		assert.Equal(t, "globex", info["customer_id"], "the tenant recorded in the flow")
		rec, err := store.GetToken(ctx, storage.KindAccessToken, tok.AccessToken[strings.LastIndexByte(tok.AccessToken, '.')+1:])
		require.NoError(t, err)
		assert.Equal(t, secret.Digest(session), rec.Request.LoginSID, "the grant belongs to the session's sign-in: a session without a SID counts as SID = ID")
	})
}
