package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// ccStatus asks for a client_credentials token as id with secret and
// returns the status.
func (e *env) ccStatus(id, secret string) int {
	e.t.Helper()
	status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, id, secret)
	return status
}

// An update is checked as a registration is: a rule such as "no public
// client with client_credentials" cannot be broken through UpdateClient,
// and nothing is written when the update is refused.
func TestUpdateClientValidates(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		ctx := context.Background()
		before, err := e.p.GetClient(ctx, e.svc.ID)
		require.NoError(t, err)

		_, err = e.p.UpdateClient(ctx, e.svc.ID, func(c storage.Client) (storage.Client, error) {
			c.Public = true
			c.TokenEndpointAuthMethod = "none"
			return c, nil
		})
		require.ErrorIs(t, err, provider.ErrInvalidClient)
		assert.Equal(t, []string{"GrantTypes"}, clientErrorFields(err), "%v", err)
		assert.Contains(t, err.Error(), "client_credentials")

		_, err = e.p.UpdateClient(ctx, e.svc.ID, func(c storage.Client) (storage.Client, error) {
			c.RedirectURIs = []string{"http://app.example.com/cb"}
			c.AuthCodeLifetime = time.Hour
			c.GrantTypes = append(c.GrantTypes, "magic")
			return c, nil
		})
		require.ErrorIs(t, err, provider.ErrInvalidClient)
		assert.ElementsMatch(t, []string{"RedirectURIs", "AuthCodeLifetime", "GrantTypes"}, clientErrorFields(err), "every field at once: %v", err)

		after, err := e.p.GetClient(ctx, e.svc.ID)
		require.NoError(t, err)
		assert.Equal(t, before, after, "nothing written")
		assert.Equal(t, http.StatusOK, e.ccStatus(e.svc.ID, e.svcSecret))
	})
}

// An update changes what it returns, keeps the secrets and the creation
// time, sets UpdatedAt, and fills defaults as a registration does.
func TestUpdateClientChanges(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		ctx := context.Background()
		before, err := e.p.GetClient(ctx, e.web.ID)
		require.NoError(t, err)
		e.clock.Advance(time.Hour)

		got, err := e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
			c.Name = "Renamed Portal"
			c.RedirectURIs = append(c.RedirectURIs, "https://portal.example.com/cb")
			c.ResponseTypes = nil // derived again from the grants
			return c, nil
		})
		require.NoError(t, err)
		assert.Equal(t, "Renamed Portal", got.Name)
		assert.Equal(t, []string{webRedirect, "https://portal.example.com/cb"}, got.RedirectURIs)
		assert.Equal(t, []string{"code"}, got.ResponseTypes)
		assert.True(t, got.CreatedAt.Equal(before.CreatedAt), "CreatedAt kept")
		assert.WithinDuration(t, e.clock.Now(), got.UpdatedAt, time.Minute, "UpdatedAt is now")
		e.clock.Advance(-time.Hour) // fosite checks auth_time against the wall clock
		require.Len(t, got.Secrets, 1)
		assert.Empty(t, got.Secrets[0].Hash, "no hash returned")
		assert.True(t, got.Secrets[0].CreatedAt.Equal(before.Secrets[0].CreatedAt))

		stored, err := e.p.GetClient(ctx, e.web.ID)
		require.NoError(t, err)
		assert.Equal(t, got, stored)
		raw, err := e.store.GetClient(ctx, e.web.ID)
		require.NoError(t, err)
		require.Len(t, raw.Secrets, 1)
		assert.NotEmpty(t, raw.Secrets[0].Hash, "the hash stays in the store")

		// The secret still works, and the new redirect URI is accepted.
		tok := e.codeFlow(got, e.webSecret, "https://portal.example.com/cb", "alice", "openid")
		assert.NotEmpty(t, tok.AccessToken)
	})
}

// ID, CreatedAt and Secrets cannot be changed by an update.
func TestUpdateClientImmutableFields(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	before, err := e.p.GetClient(ctx, e.web.ID)
	require.NoError(t, err)
	for field, change := range map[string]func(*storage.Client){
		"ID":        func(c *storage.Client) { c.ID = "other" },
		"CreatedAt": func(c *storage.Client) { c.CreatedAt = c.CreatedAt.Add(-time.Hour) },
		"Secrets":   func(c *storage.Client) { c.Secrets[0].ExpiresAt = c.CreatedAt.Add(time.Hour) },
	} {
		t.Run(field, func(t *testing.T) {
			_, err := e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
				change(&c)
				return c, nil
			})
			require.ErrorIs(t, err, provider.ErrInvalidClient)
			assert.Equal(t, []string{field}, clientErrorFields(err), "%v", err)
		})
	}
	t.Run("Secrets removed", func(t *testing.T) {
		_, err := e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
			c.Secrets = nil
			return c, nil
		})
		assert.Equal(t, []string{"Secrets"}, clientErrorFields(err), "%v", err)
		assert.Contains(t, err.Error(), "RotateClientSecret")
	})
	after, err := e.p.GetClient(ctx, e.web.ID)
	require.NoError(t, err)
	assert.Equal(t, before, after)
	assert.Equal(t, http.StatusOK, e.ccStatus(e.svc.ID, e.svcSecret))
}

// A client that stops authenticating with a secret loses its secrets, so
// they do not come back when it is made confidential again; it then gets a
// secret from RotateClientSecret.
func TestUpdateClientSecretsFollowAuthMethod(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	got, err := e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
		c.Public, c.TokenEndpointAuthMethod = true, "" // the default: none
		return c, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "none", got.TokenEndpointAuthMethod)
	assert.Empty(t, got.Secrets)
	raw, err := e.store.GetClient(ctx, e.web.ID)
	require.NoError(t, err)
	assert.Empty(t, raw.Secrets, "the hashes are gone from the store")

	got, err = e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
		c.Public, c.TokenEndpointAuthMethod = false, ""
		return c, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "client_secret_basic", got.TokenEndpointAuthMethod)
	assert.Empty(t, got.Secrets)
	refresh := func(secret string) int {
		status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, e.web.ID, secret)
		return status
	}
	assert.Equal(t, http.StatusUnauthorized, refresh(e.webSecret), "the old secret did not come back")
	secret, err := e.p.RotateClientSecret(ctx, e.web.ID, 0)
	require.NoError(t, err)
	assert.Equal(t, http.StatusBadRequest, refresh(secret), "authenticated: the refresh token is what is wrong")
}

// The update function's error ends the update and is returned; an unknown
// client is storage.ErrNotFound.
func TestUpdateClientErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	boom := errors.New("precondition failed")
	_, err := e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
		c.Name = "not written"
		return c, boom
	})
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, provider.ErrInvalidClient)
	c, err := e.p.GetClient(ctx, e.web.ID)
	require.NoError(t, err)
	assert.Equal(t, "Web Portal", c.Name)

	_, err = e.p.UpdateClient(ctx, "nobody", func(c storage.Client) (storage.Client, error) { return c, nil })
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = e.p.GetClient(ctx, "nobody")
	assert.ErrorIs(t, err, storage.ErrNotFound)
}

// Concurrent updates of one client each apply to the current version:
// none is lost, and every caller gets the client with its own change.
func TestUpdateClientConcurrent(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		ctx := context.Background()
		var n atomic.Int64
		const callers = 8
		results := parallel(callers, func() error {
			uri := fmt.Sprintf("https://app.example.com/cb/%d", n.Add(1))
			got, err := e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
				c.RedirectURIs = append(c.RedirectURIs, uri)
				return c, nil
			})
			if err == nil && !slices.Contains(got.RedirectURIs, uri) {
				err = fmt.Errorf("the returned client lacks %s", uri)
			}
			return err
		})
		for _, err := range results {
			assert.NoError(t, err)
		}
		c, err := e.p.GetClient(ctx, e.web.ID)
		require.NoError(t, err)
		assert.Len(t, c.RedirectURIs, 1+callers, "no update lost: %v", c.RedirectURIs)
	})
}

// GetClient, ListClients and the registration calls never return secret
// hashes, only the secrets' times.
func TestClientsReturnedWithoutHashes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	assert.Empty(t, e.web.Secrets[0].Hash, "CreateClient")
	c, err := e.p.CreateClientWithSecret(ctx, storage.Client{ID: "chosen", GrantTypes: []string{"client_credentials"}}, "a-chosen-secret-0123")
	require.NoError(t, err)
	require.Len(t, c.Secrets, 1)
	assert.Empty(t, c.Secrets[0].Hash, "CreateClientWithSecret")

	e.clock.Advance(time.Minute)
	_, err = e.p.RotateClientSecret(ctx, e.svc.ID, time.Hour)
	require.NoError(t, err)
	svc, err := e.p.GetClient(ctx, e.svc.ID)
	require.NoError(t, err)
	require.Len(t, svc.Secrets, 2)
	for _, s := range svc.Secrets {
		assert.Empty(t, s.Hash)
		assert.False(t, s.CreatedAt.IsZero())
	}
	assert.WithinDuration(t, e.clock.Now().Add(365*24*time.Hour), svc.Secrets[0].ExpiresAt, time.Minute, "the new secret expires after the default ClientSecretLifetime")
	assert.WithinDuration(t, e.clock.Now().Add(time.Hour), svc.Secrets[1].ExpiresAt, time.Minute, "the old one ends with the grace")

	all, err := e.p.ListClients(ctx)
	require.NoError(t, err)
	var ids []string
	for _, c := range all {
		ids = append(ids, c.ID)
		for _, s := range c.Secrets {
			assert.Empty(t, s.Hash, c.ID)
		}
	}
	assert.Equal(t, []string{"chosen", "spa", "svc", "web"}, ids)
}

// Registration reports every invalid field as a *ClientError that names
// it; errors.Is(err, ErrInvalidClient) holds.
func TestClientErrorsTyped(t *testing.T) {
	e := newEnv(t)
	_, _, err := e.p.CreateClient(context.Background(), storage.Client{
		ID:                      "bad client",
		RedirectURIs:            []string{"http://app.example.com/cb"},
		PostLogoutRedirectURIs:  []string{"https://app.example.com/bye#x"},
		TokenEndpointAuthMethod: "client_secret_jwt",
		Scopes:                  []string{"a b"},
		AccessTokenFormat:       "paseto",
		IDTokenLifetime:         -time.Second,
	})
	require.ErrorIs(t, err, provider.ErrInvalidClient)
	assert.Equal(t, []string{"ID", "TokenEndpointAuthMethod", "RedirectURIs", "PostLogoutRedirectURIs", "Scopes", "AccessTokenFormat", "IDTokenLifetime"}, clientErrorFields(err))
	var ce *provider.ClientError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "bad client", ce.ClientID)
	assert.Equal(t, "ID", ce.Field)
	assert.Equal(t, `provider: invalid client "bad client": ID: `+ce.Reason, ce.Error())

	_, err = e.p.CreateClientWithSecret(context.Background(), storage.Client{GrantTypes: []string{"client_credentials"}}, "short")
	assert.Equal(t, []string{"secret"}, clientErrorFields(err), "%v", err)
	_, err = e.p.CreateClientWithSecret(context.Background(), storage.Client{Public: true, RedirectURIs: []string{spaRedirect}}, "a-chosen-secret-0123")
	assert.Equal(t, []string{"TokenEndpointAuthMethod"}, clientErrorFields(err), "%v", err)
	_, err = e.p.RotateClientSecret(context.Background(), e.spa.ID, 0)
	assert.ErrorIs(t, err, provider.ErrInvalidClient)
}

// NewContext does its store I/O under the caller's context.
func TestNewContextUsesContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	cfg := provider.Config{Issuer: "http://127.0.0.1:9000", Store: memory.New(), Authenticator: userDB{}}
	_, err := provider.NewContext(ctx, cfg)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "signing key")

	p, err := provider.NewContext(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:9000/oauth2/token", p.Discovery().TokenEndpoint)
}
