package provider_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// allowLegacyGrants is the newEnv mutator for tests of the implicit and
// password grants, which are off by default.
func allowLegacyGrants(c *provider.Config) { c.AllowLegacyGrants = true }

// Discovery advertises the implicit and password grants, and the response
// types that return tokens from the authorization endpoint, only when
// Config.AllowLegacyGrants enables them.
func TestLegacyGrantsDiscovery(t *testing.T) {
	fetch := func(t *testing.T, e *env) provider.Discovery {
		resp, err := http.Get(e.url("/.well-known/openid-configuration"))
		require.NoError(t, err)
		defer resp.Body.Close()
		var d provider.Discovery
		require.NoError(t, decodeJSON(resp, &d))
		return d
	}
	t.Run("off by default", func(t *testing.T) {
		d := fetch(t, newEnv(t))
		assert.Equal(t, []string{"authorization_code", "refresh_token", "client_credentials"}, d.GrantTypesSupported)
		assert.NotContains(t, d.GrantTypesSupported, "implicit")
		assert.NotContains(t, d.GrantTypesSupported, "password")
		assert.Equal(t, []string{"code"}, d.ResponseTypesSupported, "no token or id_token response types")
	})
	t.Run("on", func(t *testing.T) {
		d := fetch(t, newEnv(t, allowLegacyGrants))
		assert.Equal(t, []string{"authorization_code", "refresh_token", "client_credentials", "implicit", "password"}, d.GrantTypesSupported)
		assert.Equal(t, []string{"code", "id_token", "token id_token", "token", "code id_token", "code token", "code token id_token"}, d.ResponseTypesSupported)
	})
	t.Run("the rest comes from the same table", func(t *testing.T) {
		d := fetch(t, newEnv(t))
		assert.Equal(t, []string{"none", "login", "consent", "select_account"}, d.PromptValuesSupported)
		assert.Equal(t, []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}, d.TokenEndpointAuthMethodsSupported)
		assert.Equal(t, []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}, d.IntrospectionEndpointAuthMethodsSupported)
		assert.Equal(t, []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}, d.RevocationEndpointAuthMethodsSupported)
		assert.Equal(t, []string{"RS256", "ES256"}, d.TokenEndpointAuthSigningAlgValuesSupported)
		assert.Equal(t, []string{"openid", "offline_access", "profile", "email", "groups", "groupstring", "customer", "clientip"}, d.ScopesSupported)
	})
}

// clientErrorFields returns the Field of every *ClientError in err.
func clientErrorFields(err error) []string {
	var fields []string
	var walk func(error)
	walk = func(err error) {
		var ce *provider.ClientError
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		default:
			if errors.As(err, &ce) {
				fields = append(fields, ce.Field)
			}
		}
	}
	walk(err)
	return fields
}

// Without Config.AllowLegacyGrants a client cannot be registered with the
// implicit or password grant, or a response type that needs the implicit
// grant; the error names the field and the option.
func TestLegacyGrantsRegistration(t *testing.T) {
	ctx := context.Background()
	clients := map[string]struct {
		c     storage.Client
		field string
	}{
		"implicit": {storage.Client{GrantTypes: []string{"implicit"}, RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid"}}, "GrantTypes"},
		"password": {storage.Client{GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"assets:read"}}, "GrantTypes"},
		"hybrid response type": {storage.Client{GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code id_token"},
			RedirectURIs: []string{"https://app.example.com/cb"}}, "ResponseTypes"},
	}
	off := newEnv(t)
	for name, tc := range clients {
		t.Run("off/"+name, func(t *testing.T) {
			_, _, err := off.p.CreateClient(ctx, tc.c)
			require.ErrorIs(t, err, provider.ErrInvalidClient)
			assert.Equal(t, []string{tc.field}, clientErrorFields(err), "%v", err)
			assert.Contains(t, err.Error(), tc.field)
			assert.Contains(t, err.Error(), "Config.AllowLegacyGrants")
		})
	}
	on := newEnv(t, allowLegacyGrants)
	for name, tc := range clients {
		t.Run("on/"+name, func(t *testing.T) {
			if name == "hybrid response type" {
				tc.c.GrantTypes = append(tc.c.GrantTypes, "implicit")
			}
			_, _, err := on.p.CreateClient(ctx, tc.c)
			require.NoError(t, err)
		})
	}
	t.Run("off/defaults need no legacy grant", func(t *testing.T) {
		c, _, err := off.p.CreateClient(ctx, storage.Client{RedirectURIs: []string{"https://app.example.com/cb"}})
		require.NoError(t, err)
		assert.Equal(t, []string{"authorization_code"}, c.GrantTypes)
		assert.Equal(t, []string{"code"}, c.ResponseTypes)
	})
}

// authorizeError returns the error a redirect back to the client carries,
// in its query or its fragment.
func authorizeError(t *testing.T, loc *url.URL) string {
	t.Helper()
	if e := loc.Query().Get("error"); e != "" {
		return e
	}
	frag, err := url.ParseQuery(loc.Fragment)
	require.NoError(t, err)
	return frag.Get("error")
}

// A client stored with the implicit or password grant (registered while
// Config.AllowLegacyGrants was on, or written to the store directly) does
// not get them once it is off: the token endpoint answers
// unsupported_grant_type, and the authorization endpoint
// unsupported_response_type before any login page. Its other grants keep
// working.
func TestLegacyGrantsStoredClientRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		ctx := context.Background()
		const redirect = "https://app.example.com/cb"
		require.NoError(t, e.store.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
			c.GrantTypes = append(c.GrantTypes, "password", "implicit")
			c.ResponseTypes = []string{"code", "id_token", "token id_token", "token", "code id_token", "code token", "code token id_token"}
			c.RedirectURIs = append(c.RedirectURIs, redirect)
			return c, nil
		}))
		require.NoError(t, e.store.CreateClient(ctx, storage.Client{
			ID: "old-cli", GrantTypes: []string{"password"}, Scopes: []string{"assets:read"},
			TokenEndpointAuthMethod: "client_secret_basic", CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now(),
		}))

		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}, "scope": {"assets:read"}}, e.web.ID, e.webSecret)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "unsupported_grant_type", body["error"], "%v", body)
		assert.Nil(t, body["access_token"])

		for _, rt := range []string{"id_token", "token", "id_token token", "code id_token", "code token"} {
			q := url.Values{"response_type": {rt}, "client_id": {e.web.ID}, "redirect_uri": {redirect}, "scope": {"openid"},
				"state": {"state-123456789"}, "nonce": {"nonce-123456789"}}
			res := flowtest.Get(t, flowtest.NewBrowser(t), e.url("/oauth2/authorize?")+q.Encode())
			require.Contains(t, []int{http.StatusFound, http.StatusSeeOther}, res.Status, "%s: %s", rt, res.Body)
			loc := res.Location(t)
			require.True(t, strings.HasPrefix(loc.String(), redirect), "%s: back to the client, no login page: %s", rt, loc)
			assert.Equal(t, "unsupported_response_type", authorizeError(t, loc), "%s: %s", rt, loc)
		}

		// The client's code flow still works.
		tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid")
		assert.NotEmpty(t, tok.AccessToken)

		// A client whose only user-facing grant is off is no app of anyone's.
		apps, err := e.p.AuthorizedClients(ctx, "sub-alice")
		require.NoError(t, err)
		for _, c := range apps {
			assert.NotEqual(t, "old-cli", c.ID)
		}
		assert.True(t, containsClient(apps, e.web.ID))

		// And it cannot be updated without dropping the grant.
		_, err = e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
			c.Name = "Renamed"
			return c, nil
		})
		require.ErrorIs(t, err, provider.ErrInvalidClient)
		assert.Contains(t, err.Error(), "Config.AllowLegacyGrants")
	})
}

func containsClient(cs []storage.Client, id string) bool {
	for _, c := range cs {
		if c.ID == id {
			return true
		}
	}
	return false
}

// With Config.AllowLegacyGrants on, the same stored client gets the grants.
func TestLegacyGrantsStoredClientAllowedWhenOn(t *testing.T) {
	e := newEnv(t, allowLegacyGrants)
	ctx := context.Background()
	require.NoError(t, e.store.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
		c.GrantTypes = append(c.GrantTypes, "password")
		return c, nil
	}))
	cfg := &oauth2.Config{ClientID: e.web.ID, ClientSecret: e.webSecret, Endpoint: oauth2.Endpoint{TokenURL: e.url("/oauth2/token"), AuthStyle: oauth2.AuthStyleInHeader}, Scopes: []string{"assets:read"}}
	tok, err := cfg.PasswordCredentialsToken(ctx, "alice", "alice-password")
	require.NoError(t, err)
	assert.NotEmpty(t, tok.AccessToken)
}

// The implicit grant has no token endpoint: grant_type=implicit there is
// unsupported_grant_type, with or without Config.AllowLegacyGrants (it was
// a nil dereference, and a dropped connection, when the grant was on).
func TestImplicitIsNoTokenEndpointGrant(t *testing.T) {
	for name, mutate := range map[string]func(*provider.Config){"off": func(*provider.Config) {}, "on": allowLegacyGrants} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, mutate)
			status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"implicit"}}, e.web.ID, e.webSecret)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "unsupported_grant_type", body["error"])
		})
	}
}
