package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// loginPage starts a code flow in a new browser and returns its login page.
func (e *env) loginPage(t *testing.T) (*http.Client, flowtest.Page) {
	b := flowtest.NewBrowser(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	require.Contains(t, page.Body, `name="password"`)
	return b, page
}

// Wrong passwords lock the username with growing delays; the right
// password is refused while locked; a success clears the count.
func TestPasswordLockoutLoginPage(t *testing.T) {
	e := newEnv(t)
	b, page := e.loginPage(t)
	try := func(user, pass string) flowtest.Page {
		return flowtest.Submit(t, b, page, url.Values{"username": {user}, "password": {pass}})
	}
	for i := range 5 {
		p := try("alice", "wrong")
		require.Equal(t, http.StatusUnauthorized, p.Status, "attempt %d", i)
		assert.Contains(t, p.Body, "The username or password is wrong.")
	}
	locked := try("alice", "alice-password")
	require.Equal(t, http.StatusUnauthorized, locked.Status)
	assert.Contains(t, locked.Body, "Too many failed sign-ins for this username. Try again in 30s.")
	locked = try("ALICE ", "alice-password")
	assert.Contains(t, locked.Body, "Too many failed sign-ins", "case and spaces do not make another count")

	e.clock.Advance(31 * time.Second)
	p := try("alice", "wrong")
	assert.Contains(t, p.Body, "The username or password is wrong.", "the lock lifted; this failure locks again, longer")
	p = try("alice", "alice-password")
	assert.Contains(t, p.Body, "Try again in 1m0s.", "the sixth failure doubled the delay")

	e.clock.Advance(61 * time.Second)
	require.Equal(t, http.StatusSeeOther, try("alice", "alice-password").Status, "signed in")
	_, err := e.store.GetThrottle(context.Background(), provider.PasswordKey("alice"))
	assert.ErrorIs(t, err, storage.ErrNotFound, "a success removes the record")

	// The count was cleared: one more failure does not lock.
	b, page = e.loginPage(t)
	assert.Contains(t, try("alice", "wrong").Body, "The username or password is wrong.")
	assert.Equal(t, http.StatusSeeOther, try("alice", "alice-password").Status)
}

// An unknown username is counted and answered like a known one: the
// lockout tells nothing about which accounts exist.
func TestPasswordLockoutUnknownUser(t *testing.T) {
	e := newEnv(t)
	b, page := e.loginPage(t)
	var known, unknown []string
	for range 6 {
		known = append(known, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"wrong"}}).Body)
		unknown = append(unknown, flowtest.Submit(t, b, page, url.Values{"username": {"mallory"}, "password": {"wrong"}}).Body)
	}
	assert.Contains(t, known[5], "Too many failed sign-ins")
	assert.Contains(t, unknown[5], "Too many failed sign-ins")
}

// The password grant shares the count, refuses a locked username with
// invalid_grant, and counts concurrent guesses exactly: no burst slips past
// the limit.
func TestPasswordLockoutPasswordGrant(t *testing.T) {
	e := newEnv(t)
	ropc, secret, err := e.p.CreateClient(context.Background(), storage.Client{ID: "ropc", GrantTypes: []string{"password"}, Scopes: []string{"assets:read"}})
	require.NoError(t, err)
	pw := func(user, pass string) (int, map[string]any) {
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}, "scope": {"assets:read"}}, ropc.ID, secret)
		return status, body
	}
	status, _ := pw("bob", "bob-password")
	require.Equal(t, http.StatusOK, status)

	results := parallel(20, func() int { s, _ := pw("bob", "wrong"); return s })
	for _, s := range results {
		assert.Equal(t, http.StatusBadRequest, s)
	}
	th, err := e.store.GetThrottle(context.Background(), provider.PasswordKey("bob"))
	require.NoError(t, err)
	assert.Equal(t, 5, th.Failures, "the first five count; the other fifteen met the lock and never reached the authenticator")

	status, body := pw("bob", "bob-password")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.Contains(t, body["error_description"], "Too many failed sign-ins")

	// The login page sees the same lock.
	b, page := e.loginPage(t)
	assert.Contains(t, flowtest.Submit(t, b, page, url.Values{"username": {"bob"}, "password": {"bob-password"}}).Body, "Too many failed sign-ins")
}

// A host that limits attempts itself turns the lockout off.
func TestPasswordLockoutOff(t *testing.T) {
	e := newEnv(t, func(c *provider.Config) { c.PasswordLockout.MaxFailures = -1 })
	b, page := e.loginPage(t)
	for range 8 {
		flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"wrong"}})
	}
	assert.Equal(t, http.StatusSeeOther, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}).Status)
}
