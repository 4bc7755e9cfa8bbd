package provider_test

import (
	"context"
	"encoding/base64"
	"io"
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
	"github.com/gatehouse/gatehouse/internal/racetest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// The device-cookie tests start many flows from 127.0.0.1.
func noFlowLimit(c *provider.Config) { c.FlowLimits.PerAddress = -1 }

// signInPage starts a code flow with prompt=login in browser b, which may
// be signed in already, and returns its login page.
func (e *env) signInPage(t *testing.T, b *http.Client) flowtest.Page {
	t.Helper()
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	u := cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login"))
	page := flowtest.Follow(t, b, flowtest.Get(t, b, u))
	require.Contains(t, page.Body, `name="password"`)
	return page
}

// signIn submits user and password on a new login page in b.
func (e *env) signIn(t *testing.T, b *http.Client, user, pass string) flowtest.Page {
	t.Helper()
	return flowtest.Submit(t, b, e.signInPage(t, b), url.Values{"username": {user}, "password": {pass}})
}

// lockUsername makes user's count of untrusted browsers lock, from a
// browser of its own, and checks that it did.
func (e *env) lockUsername(t *testing.T, user string) {
	t.Helper()
	b := flowtest.NewBrowser(t)
	page := e.signInPage(t, b)
	for range 5 { // or fewer, if failures from before are remembered
		flowtest.Submit(t, b, page, url.Values{"username": {user}, "password": {"wrong"}})
	}
	requireLocked(t, flowtest.Submit(t, b, page, url.Values{"username": {user}, "password": {testUsers[user].password}}), "the attacker's browser")
}

func requireSignedIn(t *testing.T, p flowtest.Page, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, http.StatusSeeOther, p.Status, append(msgAndArgs, p.Body)...)
}

func requireLocked(t *testing.T, p flowtest.Page, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, p.Status, msgAndArgs...)
	require.Contains(t, p.Body, "Too many failed sign-ins for this username.", msgAndArgs...)
}

// deviceCookies returns the device cookies in b's jar, by name.
func (e *env) deviceCookies(b *http.Client) map[string]string {
	u, _ := url.Parse(e.issuer)
	m := map[string]string{}
	for _, c := range b.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, provider.DeviceCookiePrefix) {
			m[c.Name] = c.Value
		}
	}
	return m
}

// oneDeviceCookie returns the name and value of b's only device cookie.
func (e *env) oneDeviceCookie(t *testing.T, b *http.Client) (string, string) {
	t.Helper()
	m := e.deviceCookies(b)
	require.Len(t, m, 1)
	for n, v := range m {
		return n, v
	}
	return "", ""
}

// browserWith is a new browser holding one cookie for the issuer.
func (e *env) browserWith(t *testing.T, name, value string) *http.Client {
	b := flowtest.NewBrowser(t)
	u, _ := url.Parse(e.issuer)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
	return b
}

// Someone else's guessing locks alice's username, but not the browser she
// signed in from before: its device cookie exempts it from the count of
// untrusted browsers. Other browsers stay locked.
func TestDeviceCookieOutlastsUsernameLock(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store, noFlowLimit)
		alice := flowtest.NewBrowser(t)
		p := e.signIn(t, alice, "alice", "alice-password")
		requireSignedIn(t, p)
		var set string
		for _, c := range p.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, provider.DeviceCookiePrefix) {
				set = c
			}
		}
		require.NotEmpty(t, set, "a sign-in sets a device cookie")
		for _, attr := range []string{"; Path=/", "; Max-Age=7776000", "; HttpOnly", "; SameSite=Lax"} {
			assert.Contains(t, set, attr)
		}
		assert.NotContains(t, set, "Secure", "the test issuer is http")
		assert.NotContains(t, strings.ToLower(set), "alice", "neither name nor value shows the username")

		e.lockUsername(t, "alice")

		requireSignedIn(t, e.signIn(t, alice, "alice", "alice-password"), "alice's own browser signs in despite the lock")
		// The test authenticator knows only "alice", but the cookie belongs
		// to the normalised username: this attempt reaches the
		// authenticator instead of meeting the lock.
		assert.Contains(t, e.signIn(t, alice, "ALICE ", "alice-password").Body, "The username or password is wrong.")
		requireLocked(t, e.signIn(t, flowtest.NewBrowser(t), "alice", "alice-password"), "a browser without the cookie is still locked")
		_, err := e.store.GetThrottle(context.Background(), provider.PasswordKey("alice"))
		assert.NoError(t, err, "the trusted sign-ins left the untrusted count alone")
	})
}

// A browser keeps one device cookie per username that signed in there.
func TestDeviceCookiePerUsername(t *testing.T) {
	e := newEnv(t, noFlowLimit)
	shared := flowtest.NewBrowser(t)
	requireSignedIn(t, e.signIn(t, shared, "alice", "alice-password"))
	requireSignedIn(t, e.signIn(t, shared, "bob", "bob-password"))
	require.Len(t, e.deviceCookies(shared), 2)

	e.lockUsername(t, "alice")
	e.lockUsername(t, "bob")
	requireSignedIn(t, e.signIn(t, shared, "alice", "alice-password"))
	requireSignedIn(t, e.signIn(t, shared, "bob", "bob-password"))
	assert.Len(t, e.deviceCookies(shared), 2, "each sign-in replaced its own user's cookie")
}

// A trusted browser's failures are its own: it gets locked on its own
// count (and is refused while locked, with growing delays, although the
// username's count is clean), while alice's other devices and untrusted
// browsers are unaffected. When its lock ends it is trusted again, and a
// success clears its count.
func TestDeviceCookieOwnCount(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store, noFlowLimit)
		ctx := context.Background()
		laptop, phone := flowtest.NewBrowser(t), flowtest.NewBrowser(t)
		requireSignedIn(t, e.signIn(t, laptop, "alice", "alice-password"))
		requireSignedIn(t, e.signIn(t, phone, "alice", "alice-password"))
		_, cookie := e.oneDeviceCookie(t, laptop)

		page := e.signInPage(t, laptop)
		try := func(pass string) flowtest.Page {
			return flowtest.Submit(t, laptop, page, url.Values{"username": {"alice"}, "password": {pass}})
		}
		for i := range 5 {
			assert.Contains(t, try("wrong").Body, "The username or password is wrong.", "attempt %d", i)
		}
		p := try("alice-password")
		requireLocked(t, p, "the laptop is locked on its own count")
		assert.Contains(t, p.Body, "Try again in 30 seconds.")
		th, err := e.store.GetThrottle(ctx, provider.DeviceKey(cookie))
		require.NoError(t, err)
		assert.Equal(t, 5, th.Failures)
		_, err = e.store.GetThrottle(ctx, provider.PasswordKey("alice"))
		assert.ErrorIs(t, err, storage.ErrNotFound, "the device's failures are not the username's")

		requireSignedIn(t, e.signIn(t, phone, "alice", "alice-password"), "another trusted browser is unaffected")
		requireSignedIn(t, e.signIn(t, flowtest.NewBrowser(t), "alice", "alice-password"), "so is an untrusted one")

		e.clock.Advance(31 * time.Second)
		assert.Contains(t, try("wrong").Body, "The username or password is wrong.", "the lock ended; the sixth failure locks again, longer")
		assert.Contains(t, try("alice-password").Body, "Try again in 60 seconds.")

		e.clock.Advance(61 * time.Second)
		requireSignedIn(t, try("alice-password"), "trusted again after the lock")
		_, err = e.store.GetThrottle(ctx, provider.DeviceKey(cookie))
		assert.ErrorIs(t, err, storage.ErrNotFound, "a success removes the device's record")
		_, fresh := e.oneDeviceCookie(t, laptop)
		assert.NotEqual(t, cookie, fresh, "a sign-in issues a new cookie")
	})
}

// A device cookie that is forged, altered, another user's, from another
// provider, or expired is ignored: the attempt meets the username's lock.
func TestDeviceCookieInvalidIsIgnored(t *testing.T) {
	e := newEnv(t, noFlowLimit, func(c *provider.Config) { c.DeviceCookieLifetime = time.Hour })
	alice, bob := flowtest.NewBrowser(t), flowtest.NewBrowser(t)
	requireSignedIn(t, e.signIn(t, alice, "alice", "alice-password"))
	requireSignedIn(t, e.signIn(t, bob, "alice", "alice-password"))
	requireSignedIn(t, e.signIn(t, bob, "bob", "bob-password"))
	name, value := e.oneDeviceCookie(t, alice)
	var bobValue string
	for n, v := range e.deviceCookies(bob) {
		if n != name {
			bobValue = v
		}
	}
	require.NotEmpty(t, bobValue)

	other := newEnv(t, noFlowLimit, func(c *provider.Config) { c.GlobalSecret = []byte("another secret of thirty-two bytes") })
	ob := flowtest.NewBrowser(t)
	requireSignedIn(t, other.signIn(t, ob, "alice", "alice-password"))
	_, otherValue := other.oneDeviceCookie(t, ob)

	raw, err := base64.RawURLEncoding.DecodeString(value)
	require.NoError(t, err)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	e.lockUsername(t, "alice")
	for _, tc := range []struct{ name, value string }{
		{"forged: a valid expiry and a made-up tag", base64.RawURLEncoding.EncodeToString(append(append(make([]byte, 16), raw[16:24]...), make([]byte, 32)...))},
		{"nonce altered", flip(0)},
		{"expiry altered", flip(16)},
		{"tag altered", flip(len(raw) - 1)},
		{"truncated", value[:len(value)-2]},
		{"garbage", "not-a-cookie"},
		{"bob's cookie under alice's name", bobValue},
		{"issued by a provider with another secret", otherValue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireLocked(t, e.signIn(t, e.browserWith(t, name, tc.value), "alice", "alice-password"))
		})
	}
	requireSignedIn(t, e.signIn(t, e.browserWith(t, name, value), "alice", "alice-password"), "the genuine value, for contrast")

	// Expiry: the value carries it, whatever the browser keeps.
	e.clock.Advance(59 * time.Minute)
	e.lockUsername(t, "alice")
	requireSignedIn(t, e.signIn(t, e.browserWith(t, name, value), "alice", "alice-password"), "a minute before the expiry")
	e.clock.Advance(2 * time.Minute)
	e.lockUsername(t, "alice")
	requireLocked(t, e.signIn(t, e.browserWith(t, name, value), "alice", "alice-password"), "a minute after")
}

// countingUsers counts the authenticator's calls with a wrong password.
type countingUsers struct {
	userDB
	wrong *atomic.Int64
}

func (c countingUsers) Authenticate(ctx context.Context, username, password string) (provider.User, error) {
	u, err := c.userDB.Authenticate(ctx, username, password)
	if err != nil {
		c.wrong.Add(1)
	}
	return u, err
}

// Concurrent wrong guesses with a device cookie: exactly MaxFailures reach
// the authenticator, the others are refused by the lock, and all count on
// the device alone.
func TestDeviceCookieConcurrentGuesses(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		var wrong atomic.Int64
		e := newEnvOn(t, store, noFlowLimit, func(c *provider.Config) { c.Authenticator = countingUsers{wrong: &wrong} })
		b := flowtest.NewBrowser(t)
		requireSignedIn(t, e.signIn(t, b, "alice", "alice-password"))
		_, cookie := e.oneDeviceCookie(t, b)

		const n = 20
		type post struct {
			action string
			vals   url.Values
		}
		posts := make([]post, n)
		for i := range posts {
			page := e.signInPage(t, b)
			f := page.Form(t)
			f.Fields.Set("username", "alice")
			f.Fields.Set("password", "wrong")
			action, err := page.URL.Parse(f.Action)
			require.NoError(t, err)
			posts[i] = post{action.String(), f.Fields}
		}
		type answer struct {
			status int
			body   string
			err    error
		}
		answers := racetest.Run(n, func(i int) answer {
			resp, err := b.PostForm(posts[i].action, posts[i].vals)
			if err != nil {
				return answer{err: err}
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			return answer{resp.StatusCode, string(body), err}
		})
		wrongs, locked := 0, 0
		for i, a := range answers {
			require.NoError(t, a.err)
			assert.Equal(t, http.StatusUnauthorized, a.status, "answer %d", i)
			switch {
			case strings.Contains(a.body, "The username or password is wrong."):
				wrongs++
			case strings.Contains(a.body, "Too many failed sign-ins for this username."):
				locked++
			default:
				t.Errorf("answer %d is neither wrong nor locked:\n%s", i, a.body)
			}
		}
		assert.Equal(t, 5, wrongs)
		assert.Equal(t, 15, locked)
		assert.EqualValues(t, 5, wrong.Load(), "exactly MaxFailures guesses reached the authenticator")
		th, err := e.store.GetThrottle(context.Background(), provider.DeviceKey(cookie))
		require.NoError(t, err)
		assert.Equal(t, 5, th.Failures)
		_, err = e.store.GetThrottle(context.Background(), provider.PasswordKey("alice"))
		assert.ErrorIs(t, err, storage.ErrNotFound)
	})
}
