package postgres_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/storage"
)

// A device cookie set by one replica exempts its browser from alice's
// lock on every replica (they share GlobalSecret), while the lock itself
// holds on every replica for browsers without one.
func TestReplicasShareDeviceCookies(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	web, secret, err := c.replicas[0].CreateClient(context.Background(), storage.Client{
		ID: "web", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{redirectURI}, Scopes: []string{"openid"},
	})
	require.NoError(t, err)
	cfg := &oauth2.Config{ClientID: web.ID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: c.issuer + "/oauth2/authorize", TokenURL: c.issuer + "/oauth2/token"}}
	// signIn shows the login page through the load balancer and posts it
	// to the given replica (cookies ignore ports, so the browser's go
	// along).
	signIn := func(b *http.Client, replica int, pass string) flowtest.Page {
		t.Helper()
		u := cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login"))
		page := flowtest.Follow(t, b, flowtest.Get(t, b, u))
		require.Contains(t, page.Body, `name="password"`)
		f := page.Form(t)
		f.Fields.Set("username", "alice")
		f.Fields.Set("password", pass)
		base, err := url.Parse(c.direct[replica])
		require.NoError(t, err)
		action, err := base.Parse(f.Action)
		require.NoError(t, err)
		return flowtest.Post(t, b, action.String(), f.Fields)
	}

	alice := flowtest.NewBrowser(t)
	require.Equal(t, http.StatusSeeOther, signIn(alice, 0, "alice-password").Status)

	attacker := flowtest.NewBrowser(t)
	for i := range 5 {
		require.Contains(t, signIn(attacker, i%2, "wrong").Body, "The username or password is wrong.")
	}
	for replica := range 2 {
		p := signIn(attacker, replica, "alice-password")
		require.Equal(t, http.StatusUnauthorized, p.Status, "replica %d", replica)
		require.Contains(t, p.Body, "Too many failed sign-ins", "replica %d", replica)
	}
	for _, replica := range []int{1, 0, 1} {
		require.Equal(t, http.StatusSeeOther, signIn(alice, replica, "alice-password").Status, "alice's browser on replica %d", replica)
	}
}
