package postgres_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/storage"
)

// replicaGrant is a grant followed across replicas: its current tokens.
type replicaGrant struct {
	idToken, access, refresh string
}

// grantIn runs a code flow in browser b through the load balancer
// (signing in only if b is not signed in, consenting if asked), exchanges
// the code at the replica at base and returns the grant.
func (c *cluster) grantIn(t *testing.T, b *http.Client, cfg *oauth2.Config, base string) *replicaGrant {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	page := flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)))
	for range 4 {
		loc := page.Location(t)
		if !strings.HasPrefix(loc.String(), c.issuer) {
			code := loc.Query().Get("code")
			require.NotEmpty(t, code, "no code in %s", loc)
			status, body := exchange(t, base, code, verifier, cfg.ClientID, cfg.ClientSecret)
			require.Equal(t, http.StatusOK, status, "%v", body)
			return &replicaGrant{idToken: body["id_token"].(string), access: body["access_token"].(string), refresh: body["refresh_token"].(string)}
		}
		page = flowtest.Get(t, b, loc.String())
		switch {
		case strings.Contains(page.Body, `name="password"`):
			page = flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
		case strings.Contains(page.Body, `name="decision"`):
			page = flowtest.Submit(t, b, page, url.Values{"decision": {"allow"}})
		}
	}
	t.Fatal("too many steps")
	return nil
}

// refreshAt refreshes g at the replica at base; on success g holds the new
// tokens.
func refreshAt(t *testing.T, base string, g *replicaGrant, clientID, secret string) (int, map[string]any) {
	t.Helper()
	status, body := post(t, base+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}}, clientID, secret)
	if status == http.StatusOK {
		g.access, g.refresh = body["access_token"].(string), body["refresh_token"].(string)
	}
	return status, body
}

// activeAt reports whether token is active at the introspection endpoint of
// the replica at base.
func activeAt(t *testing.T, base, token, clientID, secret string) bool {
	t.Helper()
	status, body := post(t, base+"/oauth2/introspect", url.Values{"token": {token}}, clientID, secret)
	require.Equal(t, http.StatusOK, status, "%v", body)
	return body["active"] == true
}

// TestReplicasEndTheSignInsGrants: two replicas share one database. A
// logout on one replica ends, on the other, the grants made in the
// sign-in; Provider.EndUserSessions on one does the same for another
// sign-in; and a logout while refreshes of the sign-in's grants run on both
// replicas leaves none of them working: every refresh that starts after
// the logout returned is refused, and every token issued before is
// inactive.
func TestReplicasEndTheSignInsGrants(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx := context.Background()
	web, secret, err := c.replicas[0].CreateClient(ctx, storage.Client{
		ID: "web", GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{redirectURI}, Scopes: []string{"openid", "offline_access", "assets:read"},
	})
	require.NoError(t, err)
	cfg := &oauth2.Config{ClientID: web.ID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: []string{"openid", "offline_access", "assets:read"},
		Endpoint: oauth2.Endpoint{AuthURL: c.issuer + "/oauth2/authorize", TokenURL: c.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	ended := func(t *testing.T, g *replicaGrant, msg string) {
		t.Helper()
		for i, base := range c.direct {
			assert.False(t, activeAt(t, base, g.access, web.ID, secret), "%s: the access token is inactive at replica %d", msg, i)
			assert.False(t, activeAt(t, base, g.refresh, web.ID, secret), "%s: the refresh token is inactive at replica %d", msg, i)
		}
		status, body := refreshAt(t, c.direct[1], g, web.ID, secret)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %v", msg, body)
		assert.Equal(t, "invalid_grant", body["error"], msg)
	}

	t.Run("logout on one replica, refresh on the other", func(t *testing.T) {
		b := flowtest.NewBrowser(t)
		one := c.grantIn(t, b, cfg, c.direct[0])
		two := c.grantIn(t, b, cfg, c.direct[1])
		status, body := refreshAt(t, c.direct[1], one, web.ID, secret)
		require.Equal(t, http.StatusOK, status, "%v", body)
		other := c.grantIn(t, flowtest.NewBrowser(t), cfg, c.direct[0])

		page := flowtest.Get(t, b, c.direct[0]+"/oauth2/logout?"+url.Values{"id_token_hint": {one.idToken}}.Encode())
		require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
		require.Contains(t, page.Body, "You are signed out")

		ended(t, one, "the grant refreshed on replica 1")
		ended(t, two, "the other grant of the sign-in")
		status, body = refreshAt(t, c.direct[1], other, web.ID, secret)
		assert.Equal(t, http.StatusOK, status, "the sign-in of another browser is not ended: %v", body)
	})

	t.Run("EndUserSessions on one replica, refresh on the other", func(t *testing.T) {
		b := flowtest.NewBrowser(t)
		g := c.grantIn(t, b, cfg, c.direct[1])
		status, body := refreshAt(t, c.direct[0], g, web.ID, secret)
		require.Equal(t, http.StatusOK, status, "%v", body)
		require.NoError(t, c.replicas[1].EndUserSessions(ctx, "sub-alice"))
		ended(t, g, "after EndUserSessions")
	})

	t.Run("logout while refreshes run on both replicas", func(t *testing.T) {
		b := flowtest.NewBrowser(t)
		const chains = 4
		grants := make([]*replicaGrant, chains)
		for i := range grants {
			grants[i] = c.grantIn(t, b, cfg, c.direct[i%2])
		}
		var loggedOut atomic.Bool
		type end struct {
			status  int
			body    map[string]any
			escaped bool // a refresh that started after the logout returned got tokens
		}
		ends := make([]end, chains)
		started := make(chan struct{}, chains)
		var wg sync.WaitGroup
		for i := range chains {
			wg.Go(func() {
				var once sync.Once
				signal := func() { once.Do(func() { started <- struct{}{} }) }
				defer signal() // a chain that ends early must not hold the logout up
				for n := 0; ; n++ {
					after := loggedOut.Load()
					status, body := refreshAt(t, c.direct[(i+n)%2], grants[i], web.ID, secret)
					if status != http.StatusOK || after {
						ends[i] = end{status: status, body: body, escaped: after && status == http.StatusOK}
						return
					}
					if n == 1 {
						signal()
					}
				}
			})
		}
		for range chains {
			<-started // every chain has refreshed twice
		}
		page := flowtest.Get(t, b, c.direct[0]+"/oauth2/logout?"+url.Values{"id_token_hint": {grants[0].idToken}}.Encode())
		require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
		loggedOut.Store(true)
		wg.Wait()
		for i, e := range ends {
			assert.False(t, e.escaped, "chain %d: a refresh that started after the logout returned got tokens", i)
			assert.Equal(t, http.StatusBadRequest, e.status, "chain %d ends with a refusal, never a 5xx: %v", i, e.body)
			assert.Equal(t, "invalid_grant", e.body["error"], "chain %d: %v", i, e.body)
			ended(t, grants[i], "the last tokens of a chain of refreshes racing the logout")
		}
	})
}
