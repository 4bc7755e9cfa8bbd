package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
)

// toMFA starts a portal authorization for alice in browser b, signs in, and
// returns the MFA page.
func (a *acEnv) toMFA(b *http.Client, extra ...oauth2.AuthCodeOption) flowtest.Page {
	t := a.t
	t.Helper()
	cfg := a.oauth2Config(a.portal, a.portalSecret, webRedirect, "openid", "customer", "assets:read")
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}, extra...)
	page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", opts...)))
	if strings.Contains(page.Body, `name="password"`) {
		page = flowtest.Follow(t, b, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	}
	require.Contains(t, page.Body, `name="otp"`, "the MFA page, with an input named otp")
	return page
}

// passed reports whether an MFA submission moved on to the next step.
func passed(t *testing.T, p flowtest.Page) bool {
	t.Helper()
	if p.Status == http.StatusSeeOther {
		return true
	}
	require.Equal(t, http.StatusUnauthorized, p.Status, "a refused code shows the page again:\n%s", p.Body)
	return false
}

func TestMFAWrongThenRightCode(t *testing.T) {
	a := newACEnv(t)
	b := flowtest.NewBrowser(t)
	page := a.toMFA(b)
	for _, bad := range []string{"000000", "12345", "1234567", "abcdef", "１２３４５６", strings.Repeat("9", 1000)} {
		again := flowtest.Submit(t, b, page, url.Values{"otp": {bad}})
		require.False(t, passed(t, again), "code %.10q", bad)
		assert.Contains(t, again.Body, "The code is wrong or was already used.")
		a.totpReset(t) // keep the lockout out of this test
	}
	empty := flowtest.Submit(t, b, page, url.Values{"otp": {""}})
	assert.False(t, passed(t, empty))
	next := flowtest.Submit(t, b, page, url.Values{"otp": {a.code()}})
	require.True(t, passed(t, next))
	assert.Contains(t, flowtest.Follow(t, b, next).Body, `name="tenant"`)
}

// totpReset clears alice's failure counter by enrolling the same secret.
func (a *acEnv) totpReset(t *testing.T) {
	_, err := a.totp.EnrollSecret(context.Background(), "sub-alice", "alice", demoTOTPSecret)
	require.NoError(t, err)
}

// A code is accepted at most once, even by another flow.
func TestMFACodeSingleUse(t *testing.T) {
	a := newACEnv(t)
	code := a.code()
	b1, b2 := flowtest.NewBrowser(t), flowtest.NewBrowser(t)
	p1, p2 := a.toMFA(b1), a.toMFA(b2)
	require.True(t, passed(t, flowtest.Submit(t, b1, p1, url.Values{"otp": {code}})))
	again := flowtest.Submit(t, b2, p2, url.Values{"otp": {code}})
	require.False(t, passed(t, again), "the same code in the same time step")
	a.nextStep()
	require.True(t, passed(t, flowtest.Submit(t, b2, p2, url.Values{"otp": {a.code()}})), "the next step's code works")
}

// Of many flows submitting the same valid code at once, exactly one passes.
func TestMFAConcurrentSameCode(t *testing.T) {
	a := newACEnv(t)
	const n = 8
	browsers := make([]*http.Client, n)
	pagesAt := make([]flowtest.Page, n)
	for i := range n {
		browsers[i] = flowtest.NewBrowser(t)
		pagesAt[i] = a.toMFA(browsers[i])
	}
	code := a.code()
	var i atomicCounter
	results := parallel(n, func() bool {
		k := i.next()
		return passed(t, flowtest.Submit(t, browsers[k], pagesAt[k], url.Values{"otp": {code}}))
	})
	ok := 0
	for _, r := range results {
		if r {
			ok++
		}
	}
	assert.Equal(t, 1, ok, "exactly one flow may use the code")
}

// Repeated wrong codes lock the user out, per user and across browsers;
// the lockout lifts after the delay.
func TestMFALockout(t *testing.T) {
	a := newACEnv(t)
	b := flowtest.NewBrowser(t)
	page := a.toMFA(b)
	for range 5 {
		again := flowtest.Submit(t, b, page, url.Values{"otp": {"000000"}})
		require.False(t, passed(t, again))
	}
	locked := flowtest.Submit(t, b, page, url.Values{"otp": {a.code()}})
	require.False(t, passed(t, locked), "even the right code is refused while locked")
	assert.Contains(t, locked.Body, "Too many wrong codes")

	other := flowtest.NewBrowser(t)
	p2 := a.toMFA(other)
	locked = flowtest.Submit(t, other, p2, url.Values{"otp": {a.code()}})
	require.False(t, passed(t, locked), "the lockout is the user's, not the browser's")
	assert.Contains(t, locked.Body, "Too many wrong codes")

	a.nextStep() // 30 s: the first lockout's length
	a.mfaClock.Advance(1)
	assert.True(t, passed(t, flowtest.Submit(t, b, page, url.Values{"otp": {a.code()}})))
}

// Wrong codes from many browsers at once are all counted.
func TestMFAConcurrentFailuresAllCount(t *testing.T) {
	a := newACEnv(t)
	const n = 5
	browsers := make([]*http.Client, n)
	pagesAt := make([]flowtest.Page, n)
	for i := range n {
		browsers[i] = flowtest.NewBrowser(t)
		pagesAt[i] = a.toMFA(browsers[i])
	}
	var i atomicCounter
	parallel(n, func() bool {
		k := i.next()
		return passed(t, flowtest.Submit(t, browsers[k], pagesAt[k], url.Values{"otp": {"000000"}}))
	})
	r, err := a.store.GetMFA(context.Background(), "sub-alice")
	require.NoError(t, err)
	assert.Equal(t, n, r.Failures, "no failure is lost")
	assert.False(t, r.LockedUntil.IsZero(), "five failures lock")
}

// The MFA step cannot be skipped: not by posting a later step's form, not
// by abandoning it and starting again in the same browser, not with
// prompt=none.
func TestMFACannotBeSkipped(t *testing.T) {
	a := newACEnv(t)
	b := flowtest.NewBrowser(t)
	page := a.toMFA(b)
	form := page.Form(t)

	// A forged consent submission while MFA is pending.
	forged := flowtest.Post(t, b, page.URL.ResolveReference(mustURL(t, form.Action)).String(), url.Values{
		"csrf_token": {form.Fields.Get("csrf_token")}, "step": {"consent"}, "decision": {"allow"},
	})
	require.Equal(t, http.StatusSeeOther, forged.Status)
	assert.Contains(t, forged.Header.Get("Location"), "/oauth2/interaction", "back to the current step, not to the client")
	assert.Contains(t, flowtest.Follow(t, b, forged).Body, `name="otp"`)

	// A forged "mfa done" without the code.
	forged = flowtest.Post(t, b, page.URL.ResolveReference(mustURL(t, form.Action)).String(), url.Values{
		"csrf_token": {form.Fields.Get("csrf_token")}, "step": {"mfa"},
	})
	assert.False(t, passed(t, forged))

	// Without the flow's CSRF token.
	forged = flowtest.Post(t, b, page.URL.ResolveReference(mustURL(t, form.Action)).String(), url.Values{"step": {"mfa"}, "otp": {a.code()}})
	assert.Equal(t, http.StatusForbidden, forged.Status)

	// From another browser (the flow link leaked).
	thief := flowtest.NewBrowser(t)
	stolen := flowtest.Post(t, thief, page.URL.ResolveReference(mustURL(t, form.Action)).String(), url.Values{
		"csrf_token": {form.Fields.Get("csrf_token")}, "step": {"mfa"}, "otp": {a.code()},
	})
	assert.Equal(t, http.StatusForbidden, stolen.Status)

	// Starting again in the same browser: the login session says only
	// "pwd", so the step runs again (no login page this time).
	again := a.toMFA(b)
	assert.NotContains(t, again.Body, `name="password"`)

	// prompt=none cannot finish either.
	cfg := a.oauth2Config(a.portal, a.portalSecret, webRedirect, "openid")
	resp := flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
	loc := resp.Location(t)
	assert.Equal(t, "interaction_required", loc.Query().Get("error"))
	assert.Empty(t, loc.Query().Get("code"))
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// A completed second factor lifts the browser's login session: the next
// authorization in it needs neither password nor code, and its ID token
// says both were used. The session cookie value changes when it does.
func TestMFAElevatesLoginSession(t *testing.T) {
	a := newACEnv(t)
	b := flowtest.NewBrowser(t)
	page := a.toMFA(b)
	before := sessionCookie(t, b, a.issuer)
	require.True(t, passed(t, flowtest.Submit(t, b, page, url.Values{"otp": {a.code()}})))
	after := sessionCookie(t, b, a.issuer)
	assert.NotEqual(t, before, after, "a new session value after the second factor")

	cfg, u, verifier := a.authURL(a.spa, "", spaRedirect, "openid", "assets:read")
	back, seen := a.drive(b, u, "alice", answers{})
	assert.Equal(t, []string{"consent"}, pages(seen), "no login, no second factor")
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	c := a.idClaims(tok)
	assert.Equal(t, []string{"pwd", "otp"}, c.AMR)
	assert.Equal(t, "2", c.ACR)
}

func sessionCookie(t *testing.T, b *http.Client, issuer string) string {
	u, err := url.Parse(issuer + "/")
	require.NoError(t, err)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "gatehouse_session" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// A second user signing in in the same browser mid-flow does not inherit
// the first user's completed factor: the flow stays the first user's.
func TestMFAFlowPinnedToItsUser(t *testing.T) {
	a := newACEnv(t)
	b := flowtest.NewBrowser(t)
	page := a.toMFA(b)
	next := flowtest.Submit(t, b, page, url.Values{"otp": {a.code()}})
	require.True(t, passed(t, next))
	tenantPage := flowtest.Follow(t, b, next)
	require.Contains(t, tenantPage.Body, `name="tenant"`)

	// bob signs in in the same browser (a new flow for another client),
	// which replaces the session cookie.
	a.drive(b, mustAuthURL(a, "openid"), "bob", answers{})

	// alice's flow goes on as alice, with what alice did.
	consent := flowtest.Follow(t, b, flowtest.Submit(t, b, tenantPage, url.Values{"tenant": {"acme"}}))
	require.Contains(t, consent.Body, `name="decision"`)
	assert.Contains(t, consent.Body, "Signed in as <strong>alice</strong>", "the consent page shows alice (by username), not bob")
	done := flowtest.Submit(t, b, consent, url.Values{"decision": {"allow"}})
	assert.NotEmpty(t, done.Location(t).Query().Get("code"))

	// And a new portal flow in that browser is bob's, who has no factor:
	// refused, never completed with alice's.
	q := a.refused(a.portal, webRedirect, "bob", answers{}, "openid")
	assert.Equal(t, "access_denied", q.Get("error"))
}

func mustAuthURL(a *acEnv, scopes ...string) string {
	_, u, _ := a.authURL(a.spa, "", spaRedirect, scopes...)
	return u
}

// A recovery code works once in place of a TOTP code.
func TestMFARecoveryCode(t *testing.T) {
	a := newACEnv(t)
	codes, err := a.totp.RegenerateRecoveryCodes(context.Background(), "sub-alice")
	require.NoError(t, err)
	require.NotEmpty(t, codes)
	b := flowtest.NewBrowser(t)
	require.True(t, passed(t, flowtest.Submit(t, b, a.toMFA(b), url.Values{"otp": {codes[0]}})))
	b2 := flowtest.NewBrowser(t)
	assert.False(t, passed(t, flowtest.Submit(t, b2, a.toMFA(b2), url.Values{"otp": {codes[0]}})), "used once")
}

// Without a second factor the ID token says so.
func TestMFAPasswordOnlyACR(t *testing.T) {
	a := newACEnv(t)
	tok, seen := a.login(a.spa, "", spaRedirect, "bob", answers{}, "openid")
	assert.Equal(t, []string{"login", "consent"}, pages(seen))
	c := a.idClaims(tok)
	assert.Equal(t, []string{"pwd"}, c.AMR)
	assert.Equal(t, "1", c.ACR)
}

// atomicCounter hands out 0, 1, 2, ... to concurrent callers.
type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) next() int { return int(c.n.Add(1) - 1) }
