package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
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
	assert.Contains(t, locked.Body, "Too many failed sign-ins for this username. Try again in 30 seconds.")
	locked = try("ALICE ", "alice-password")
	assert.Contains(t, locked.Body, "Too many failed sign-ins", "case and spaces do not make another count")

	e.clock.Advance(31 * time.Second)
	p := try("alice", "wrong")
	assert.Contains(t, p.Body, "The username or password is wrong.", "the lock lifted; this failure locks again, longer")
	p = try("alice", "alice-password")
	assert.Contains(t, p.Body, "Try again in 60 seconds.", "the sixth failure doubled the delay")

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

// The password grant counts per (username, client address) and refuses a
// locked pair with invalid_grant; concurrent guesses are counted exactly:
// no burst slips past the limit. The login page counts on its own.
func TestPasswordLockoutPasswordGrant(t *testing.T) {
	var wrong atomic.Int64
	e := newEnv(t, allowLegacyGrants, func(c *provider.Config) { c.Authenticator = countingUsers{wrong: &wrong} })
	ropc, secret, err := e.p.CreateClient(context.Background(), storage.Client{ID: "ropc", GrantTypes: []string{"password"}, Scopes: []string{"assets:read"}})
	require.NoError(t, err)
	pw := func(user, pass string) (int, map[string]any) {
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}, "scope": {"assets:read"}}, ropc.ID, secret)
		return status, body
	}
	status, _ := pw("bob", "bob-password")
	require.Equal(t, http.StatusOK, status)

	results := parallel(20, func() map[string]any { _, b := pw("bob", "wrong"); return b })
	locked := 0
	for _, b := range results {
		assert.Equal(t, "invalid_grant", b["error"])
		if strings.Contains(fmt.Sprint(b["error_description"]), "Too many failed sign-ins") {
			locked++
		}
	}
	assert.Equal(t, 15, locked, "every answer is invalid_grant; fifteen say why")
	assert.EqualValues(t, 5, wrong.Load(), "the first five reached the authenticator; the other fifteen met the lock")
	for _, key := range []string{provider.PasswordGrantKey("bob", "127.0.0.1"), provider.PasswordGrantCeilingKey("bob")} {
		th, err := e.store.GetThrottle(context.Background(), key)
		require.NoError(t, err)
		assert.Equal(t, 5, th.Failures)
	}

	status, body := pw("bob", "bob-password")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.Contains(t, body["error_description"], "Too many failed sign-ins")

	// The login page has its own count.
	b, page := e.loginPage(t)
	assert.Equal(t, http.StatusSeeOther, flowtest.Submit(t, b, page, url.Values{"username": {"bob"}, "password": {"bob-password"}}).Status)
}

// pwFrom asks for a password-grant token from the loopback address ip
// (with an X-Forwarded-For header if xff is given).
func (e *env) pwFrom(ip, clientID, secret, user, pass string, xff ...string) (int, map[string]any) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url("/oauth2/token"), strings.NewReader(url.Values{
		"grant_type": {"password"}, "username": {user}, "password": {pass}, "scope": {"assets:read"},
	}.Encode()))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	if len(xff) > 0 {
		req.Header.Set("X-Forwarded-For", xff[0])
	}
	resp, err := fromAddr(ip).Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = decodeJSON(resp, &m)
	return resp.StatusCode, m
}

// newROPC registers a password-grant client.
func (e *env) newROPC(t *testing.T) (string, string) {
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{ID: "ropc", GrantTypes: []string{"password"}, Scopes: []string{"assets:read"}})
	require.NoError(t, err)
	return c.ID, secret
}

// pwLocked asks for a password-grant token from ip and reports whether the
// lockout refused it; any other answer must be a plain invalid_grant or a
// token.
func (e *env) pwLocked(ip, clientID, secret, user, pass string) bool {
	e.t.Helper()
	status, body := e.pwFrom(ip, clientID, secret, user, pass)
	if status == http.StatusOK {
		return false
	}
	require.Equal(e.t, http.StatusBadRequest, status, "%v", body)
	require.Equal(e.t, "invalid_grant", body["error"])
	return strings.Contains(fmt.Sprint(body["error_description"]), "Too many failed sign-ins")
}

// Wrong passwords from one address lock that address out of the password
// grant for the username, not the user's own client elsewhere.
func TestPasswordGrantLockoutPerAddress(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store, allowLegacyGrants)
		id, secret := e.newROPC(t)
		for i := range 5 {
			assert.False(t, e.pwLocked("127.0.0.2", id, secret, "alice", "wrong"), "attempt %d", i)
		}
		assert.True(t, e.pwLocked("127.0.0.2", id, secret, "alice", "alice-password"), "the guessing address is locked")
		status, body := e.pwFrom("127.0.0.1", id, secret, "alice", "alice-password")
		require.Equal(t, http.StatusOK, status, "alice from her own address: %v", body)
		assert.NotEmpty(t, body["access_token"])
		assert.True(t, e.pwLocked("127.0.0.2", id, secret, "ALICE ", "alice-password"), "normalised username, same count")

		ctx := context.Background()
		th, err := e.store.GetThrottle(ctx, provider.PasswordGrantKey("alice", "127.0.0.2"))
		require.NoError(t, err)
		assert.Equal(t, 5, th.Failures)
		_, err = e.store.GetThrottle(ctx, provider.PasswordGrantKey("alice", "127.0.0.1"))
		assert.ErrorIs(t, err, storage.ErrNotFound, "a success removes its address's record")
		th, err = e.store.GetThrottle(ctx, provider.PasswordGrantCeilingKey("alice"))
		require.NoError(t, err)
		assert.Equal(t, 5, th.Failures, "the ceiling keeps the failures, and does not count the success")
	})
}

// Behind a trusted proxy the client's address is what counts, and an IPv6
// client counts per /64: the block one host usually has.
func TestPasswordGrantLockoutIPv6Block(t *testing.T) {
	e := newEnv(t, allowLegacyGrants, func(c *provider.Config) { c.TrustedProxies = []string{"127.0.0.3"} })
	id, secret := e.newROPC(t)
	for i := range 5 {
		status, body := e.pwFrom("127.0.0.3", id, secret, "alice", "wrong", fmt.Sprintf("2001:db8::%x", i+1))
		require.Equal(t, "invalid_grant", body["error"], "%d %v", status, body)
	}
	status, body := e.pwFrom("127.0.0.3", id, secret, "alice", "alice-password", "2001:db8::ffff:1")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Contains(t, body["error_description"], "Too many failed sign-ins", "another address of the same /64")
	status, body = e.pwFrom("127.0.0.3", id, secret, "alice", "alice-password", "2001:db8:0:1::1")
	assert.Equal(t, http.StatusOK, status, "the next /64: %v", body)
	status, body = e.pwFrom("127.0.0.3", id, secret, "alice", "alice-password")
	assert.Equal(t, http.StatusOK, status, "the proxy itself: %v", body)
}

// Failures from all addresses together lock the username at the password
// grant for every address once they reach PasswordGrantCeiling, with the
// same growing delays.
func TestPasswordGrantCeiling(t *testing.T) {
	e := newEnv(t, allowLegacyGrants, func(c *provider.Config) {
		c.PasswordLockout.MaxFailures = 3
		c.PasswordGrantCeiling = 6
	})
	id, secret := e.newROPC(t)
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		for i := range 3 {
			assert.False(t, e.pwLocked(ip, id, secret, "alice", "wrong"), "%s attempt %d", ip, i)
		}
	}
	for _, ip := range []string{"127.0.0.1", "127.0.0.4"} {
		assert.True(t, e.pwLocked(ip, id, secret, "alice", "alice-password"), "six failures lock %s too", ip)
	}
	e.clock.Advance(31 * time.Second)
	status, body := e.pwFrom("127.0.0.1", id, secret, "alice", "alice-password")
	require.Equal(t, http.StatusOK, status, "the ceiling's lock ended: %v", body)
	assert.False(t, e.pwLocked("127.0.0.4", id, secret, "alice", "wrong"), "a seventh failure...")
	assert.True(t, e.pwLocked("127.0.0.1", id, secret, "alice", "alice-password"), "...locks every address again")
	e.clock.Advance(31 * time.Second)
	assert.True(t, e.pwLocked("127.0.0.1", id, secret, "alice", "alice-password"), "for twice as long")
	e.clock.Advance(30 * time.Second)
	status, _ = e.pwFrom("127.0.0.1", id, secret, "alice", "alice-password")
	assert.Equal(t, http.StatusOK, status)
}

// One address guessing as fast as its own lock allows never fills the
// ceiling: the ceiling forgets one failure per MaxDelay, the pace an
// address is held to once locked. The user still gets tokens elsewhere.
func TestPasswordGrantOneAddressCannotFillCeiling(t *testing.T) {
	e := newEnv(t, allowLegacyGrants)
	id, secret := e.newROPC(t)
	delay := func(failures int) time.Duration { // the default PasswordLockout
		if failures < 5 {
			return 0
		}
		return min(30*time.Second<<min(failures-5, 10), 15*time.Minute)
	}
	for f := 1; f <= 60; f++ {
		require.False(t, e.pwLocked("127.0.0.2", id, secret, "alice", "wrong"), "failure %d was let through as soon as its address's lock ended", f)
		status, body := e.pwFrom("127.0.0.1", id, secret, "alice", "alice-password")
		require.Equal(t, http.StatusOK, status, "after failure %d alice still gets a token from her address: %v", f, body)
		e.clock.Advance(delay(f))
	}
	th, err := e.store.GetThrottle(context.Background(), provider.PasswordGrantCeilingKey("alice"))
	require.NoError(t, err)
	assert.LessOrEqual(t, th.Failures, 10, "five at once, five more while its delay grows to MaxDelay, then one in, one out")
}

// A host that limits attempts itself turns the lockout off.
func TestPasswordLockoutOff(t *testing.T) {
	e := newEnv(t, allowLegacyGrants, func(c *provider.Config) { c.PasswordLockout.MaxFailures = -1 })
	b, page := e.loginPage(t)
	for range 8 {
		flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"wrong"}})
	}
	assert.Equal(t, http.StatusSeeOther, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}).Status)
}

// flakyUsers fails like a broken user backend while down is set.
type flakyUsers struct {
	userDB
	down *atomic.Bool
}

func (f flakyUsers) Authenticate(ctx context.Context, username, password string) (provider.User, error) {
	if f.down.Load() {
		return provider.User{}, errors.New("directory unreachable")
	}
	return f.userDB.Authenticate(ctx, username, password)
}

// An attempt the user backend could not check is no failure: it is taken
// back, and a lock it would have set is lifted.
func TestPasswordLockoutBackendFailureNotCounted(t *testing.T) {
	var down atomic.Bool
	e := newEnv(t, allowLegacyGrants, func(c *provider.Config) { c.Authenticator = flakyUsers{down: &down} })
	id, secret := e.newROPC(t)
	for range 4 {
		require.False(t, e.pwLocked("127.0.0.1", id, secret, "alice", "wrong"))
	}
	down.Store(true)
	status, body := e.pwFrom("127.0.0.1", id, secret, "alice", "alice-password")
	assert.Equal(t, http.StatusServiceUnavailable, status, "%v", body)
	down.Store(false)
	status, body = e.pwFrom("127.0.0.1", id, secret, "alice", "alice-password")
	assert.Equal(t, http.StatusOK, status, "the fifth charge was taken back with its lock: %v", body)
	th, err := e.store.GetThrottle(context.Background(), provider.PasswordGrantCeilingKey("alice"))
	require.NoError(t, err)
	assert.Equal(t, 4, th.Failures)
	assert.True(t, th.LockedUntil.IsZero())
}
