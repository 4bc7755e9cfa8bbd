package provider_test

import (
	"context"
	"fmt"
	"html"
	"html/template"
	"image"
	"image/color"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	qr "github.com/piglig/go-qr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// accountEnv is a provider whose users may set up an authenticator app
// (an *mfa.TOTP on its own clock, which tests move to get fresh codes),
// with a client that requires a second factor.
type accountEnv struct {
	*env
	totp         *mfa.TOTP
	mfaClock     *clock
	secure       storage.Client // requires MFA
	secureSecret string
}

func newAccountEnv(t *testing.T, store storage.Store, mutate ...func(*provider.Config)) *accountEnv {
	t.Helper()
	a := &accountEnv{mfaClock: &clock{}}
	a.env = newEnvOn(t, store, append([]func(*provider.Config){func(c *provider.Config) {
		var err error
		a.totp, err = mfa.NewTOTP(c.Store, mfa.TOTPOptions{Issuer: "Gatehouse test", Now: a.mfaClock.Now, Key: []byte("0123456789abcdef0123456789abcdef")})
		require.NoError(t, err)
		c.Factors = []mfa.Factor{a.totp}
	}}, mutate...)...)
	var err error
	a.secure, a.secureSecret, err = a.p.CreateClient(context.Background(), storage.Client{
		ID: "secure", Name: "Secure Console", RequireMFA: true,
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{webRedirect},
		Scopes:       []string{"openid", "offline_access", "profile"},
	})
	require.NoError(t, err)
	a.secrets[a.secure.ID] = a.secureSecret
	return a
}

// signIn runs the code flow of client c for alice in browser b (signing
// in, answering the MFA page with otp when asked, consenting) and returns
// the tokens.
func (a *accountEnv) signIn(b *http.Client, c storage.Client, secret string, otp func() string) *oauth2.Token {
	t := a.t
	t.Helper()
	cfg := a.oauth2Config(c, secret, c.RedirectURIs[0], "openid", "offline_access", "profile")
	verifier := oauth2.GenerateVerifier()
	page := flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)))
	for range 8 {
		require.Equal(t, http.StatusSeeOther, page.Status, "at %s:\n%s", page.URL, page.Body)
		loc := page.Location(t)
		if !strings.HasPrefix(loc.String(), a.issuer) {
			code := loc.Query().Get("code")
			require.NotEmpty(t, code, "redirected without a code: %s", loc)
			tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			return tok
		}
		page = flowtest.Get(t, b, loc.String())
		switch {
		case strings.Contains(page.Body, `name="password"`):
			page = flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
		case strings.Contains(page.Body, `name="otp"`):
			require.NotNil(t, otp, "the flow asked for a second factor:\n%s", page.Body)
			page = flowtest.Submit(t, b, page, url.Values{"otp": {otp()}})
		case strings.Contains(page.Body, `name="decision"`):
			page = flowtest.Submit(t, b, page, url.Values{"decision": {"allow"}})
		}
	}
	t.Fatal("signIn: too many steps")
	return nil
}

// authorizeError runs the code flow of client c for alice in browser b
// until the provider redirects back, and returns the error it sends.
func (a *accountEnv) authorizeError(b *http.Client, c storage.Client) string {
	t := a.t
	t.Helper()
	cfg := a.oauth2Config(c, "", webRedirect, "openid")
	back := a.authorize(b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice")
	require.Empty(t, back.Query().Get("code"), "no code")
	return back.Query().Get("error")
}

// account fetches an account page in browser b, signing in with alice's
// password (and otp, when asked) if the page sends b to the login.
func (a *accountEnv) account(b *http.Client, section string, otp func() string) flowtest.Page {
	t := a.t
	t.Helper()
	page := flowtest.Get(t, b, a.url("/account/"+section))
	for range 4 {
		if page.Status != http.StatusSeeOther {
			return page
		}
		loc := page.Location(t)
		page = flowtest.Get(t, b, loc.String())
		switch {
		case strings.Contains(page.Body, `name="password"`):
			page = flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
		case strings.Contains(page.Body, `name="otp"`) && strings.Contains(loc.Path, "/login"):
			require.NotNil(t, otp, "the account login asked for a second factor")
			page = flowtest.Submit(t, b, page, url.Values{"otp": {otp()}})
		}
	}
	t.Fatal("account: too many redirects")
	return flowtest.Page{}
}

// refresh uses a refresh token of client c and returns the status and
// the error, if any.
func (a *accountEnv) refresh(c storage.Client, secret, refreshToken string) (int, string) {
	a.t.Helper()
	status, body, _ := a.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}, c.ID, secret)
	e, _ := body["error"].(string)
	return status, e
}

// assertNotFramed checks the headers that keep a page out of frames.
func assertNotFramed(t *testing.T, p flowtest.Page, what string) {
	t.Helper()
	assert.Equal(t, "DENY", p.Header.Get("X-Frame-Options"), "%s: X-Frame-Options", what)
	assert.Contains(t, p.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'", "%s: CSP", what)
	assert.Equal(t, "no-store", p.Header.Get("Cache-Control"), "%s: Cache-Control", what)
}

// TestAccountRevokeApp: the apps page lists the apps alice authorized;
// its revoke button ends the app's access and refresh tokens at once
// (introspection says inactive, the refresh fails) and forgets the
// consent, and leaves the other app alone. On memory and PostgreSQL.
func TestAccountRevokeApp(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		a := newAccountEnv(t, store)
		b := flowtest.NewBrowser(t)
		webTok := a.signIn(b, a.web, a.webSecret, nil)
		spaTok := a.signIn(b, a.spa, "", nil)
		require.NotEmpty(t, webTok.RefreshToken)
		require.Equal(t, true, a.introspect(webTok.AccessToken)["active"])

		apps := a.account(b, "apps", nil)
		require.Equal(t, http.StatusOK, apps.Status, apps.Body)
		assertNotFramed(t, apps, "apps page")
		assert.Contains(t, apps.Body, `data-client="web"`)
		assert.Contains(t, apps.Body, "Web Portal")
		assert.Contains(t, apps.Body, `data-client="spa"`)
		assert.Contains(t, apps.Body, "See your name and username", "the scopes, described as on the consent page")

		done := flowtest.SubmitForm(t, b, apps, apps.FormWith(t, "client_id", "web"), nil)
		require.Equal(t, http.StatusSeeOther, done.Status, done.Body)
		after := flowtest.Follow(t, b, done)
		require.Equal(t, http.StatusOK, after.Status)
		assert.Contains(t, after.Body, "The application was disconnected.")
		assert.NotContains(t, after.Body, `data-client="web"`)
		assert.Contains(t, after.Body, `data-client="spa"`, "the other app stays")

		assert.Equal(t, false, a.introspect(webTok.AccessToken)["active"], "the access token died")
		assert.Equal(t, false, a.introspect(webTok.RefreshToken)["active"], "the refresh token died")
		status, e := a.refresh(a.web, a.webSecret, webTok.RefreshToken)
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Equal(t, "invalid_grant", e, "the refresh fails")
		_, err := store.GetConsent(context.Background(), "sub-alice", "web")
		assert.ErrorIs(t, err, storage.ErrNotFound, "the consent is gone: the next sign-in asks again")
		status, _ = a.refresh(a.spa, "", spaTok.RefreshToken)
		assert.Equal(t, http.StatusOK, status, "the other app's refresh token still works")
	})
}

// TestConnectedAppsAPI: the Go API lists what the page shows, with when
// the app was allowed and last obtained tokens; RevokeApp of an app never
// authorized is no error.
func TestConnectedAppsAPI(t *testing.T) {
	a := newAccountEnv(t, memory.New())
	start := time.Now().Add(-time.Second)
	a.signIn(flowtest.NewBrowser(t), a.web, a.webSecret, nil)
	ctx := context.Background()
	apps, err := a.p.ConnectedApps(ctx, "sub-alice")
	require.NoError(t, err)
	require.Len(t, apps, 1)
	app := apps[0]
	assert.Equal(t, "web", app.ClientID)
	assert.Equal(t, "Web Portal", app.Name)
	assert.ElementsMatch(t, []string{"openid", "offline_access", "profile"}, app.Scopes)
	assert.Nil(t, app.Tenant)
	assert.WithinRange(t, app.GrantedAt, start, time.Now().Add(time.Second))
	assert.WithinRange(t, app.LastUsed, start, time.Now().Add(time.Second))
	none, err := a.p.ConnectedApps(ctx, "sub-bob")
	require.NoError(t, err)
	assert.Empty(t, none)
	require.NoError(t, a.p.RevokeApp(ctx, "sub-bob", "web"), "nothing to revoke is not an error")
	assert.Error(t, a.p.RevokeApp(ctx, "", "web"))
	require.NoError(t, a.p.RevokeApp(ctx, "sub-alice", "web"))
	apps, err = a.p.ConnectedApps(ctx, "sub-alice")
	require.NoError(t, err)
	assert.Empty(t, apps)
}

// TestAccountLoginAndBack: without a session the pages send the browser
// to the account login, which comes back to the page asked for (and only
// to an account page); a wrong password is refused there with the login
// lockout's answers.
func TestAccountLoginAndBack(t *testing.T) {
	a := newAccountEnv(t, memory.New())
	b := flowtest.NewBrowser(t)
	first := flowtest.Get(t, b, a.url("/account/security"))
	require.Equal(t, http.StatusSeeOther, first.Status)
	assert.Equal(t, "/account/login?next=security", first.Header.Get("Location"))
	login := flowtest.Follow(t, b, first)
	require.Equal(t, http.StatusOK, login.Status)
	assertNotFramed(t, login, "login")
	assert.Contains(t, login.Body, "Sign in to continue to your account")
	wrong := flowtest.Submit(t, b, login, url.Values{"username": {"alice"}, "password": {"nope"}})
	assert.Equal(t, http.StatusUnauthorized, wrong.Status)
	assert.Contains(t, wrong.Body, "The username or password is wrong.")
	ok := flowtest.Submit(t, b, login, url.Values{"username": {"alice"}, "password": {"alice-password"}})
	require.Equal(t, http.StatusSeeOther, ok.Status)
	back := flowtest.Follow(t, b, ok)
	require.Equal(t, http.StatusSeeOther, back.Status, "no second factor: straight back")
	assert.Equal(t, "/account/security", back.Header.Get("Location"))
	device := false
	for _, c := range b.Jar.Cookies(login.URL) {
		device = device || strings.HasPrefix(c.Name, "gatehouse_device_")
	}
	assert.True(t, device, "the browser is trusted for alice, as after the login page (device cookie)")

	// next names an account page or nothing: a foreign target is ignored.
	evil := flowtest.Get(t, b, a.url("/account/login?next=https://evil.example/"))
	require.Equal(t, http.StatusSeeOther, evil.Status)
	assert.Equal(t, "/account/apps", evil.Header.Get("Location"))
	root := flowtest.Get(t, b, a.url("/account"))
	assert.Equal(t, "/account/apps", root.Header.Get("Location"))
	assert.Equal(t, http.StatusNotFound, flowtest.Get(t, b, a.url("/account/nothing")).Status)
}

// TestAccountCSRF: a change without the page's CSRF token, or with
// another's, is refused and changes nothing; so is a login form without
// its token.
func TestAccountCSRF(t *testing.T) {
	a := newAccountEnv(t, memory.New())
	b := flowtest.NewBrowser(t)
	tok := a.signIn(b, a.web, a.webSecret, nil)
	apps := a.account(b, "apps", nil)
	form := apps.FormWith(t, "client_id", "web")
	require.NotEmpty(t, form.Fields.Get("csrf_token"))

	other := flowtest.NewBrowser(t)
	a.signIn(other, a.web, a.webSecret, nil)
	otherForm := a.account(other, "apps", nil).FormWith(t, "client_id", "web")
	for name, csrf := range map[string][]string{
		"missing":                 nil,
		"empty":                   {""},
		"wrong":                   {"forged-token"},
		"another session's token": {otherForm.Fields.Get("csrf_token")},
	} {
		f := flowtest.Form{Action: form.Action, Fields: url.Values{"action": {"revoke"}, "client_id": {"web"}}}
		if csrf != nil {
			f.Fields["csrf_token"] = csrf
		}
		got := flowtest.SubmitForm(t, b, apps, f, nil)
		assert.Equal(t, http.StatusForbidden, got.Status, name)
		assert.Contains(t, got.Body, "security token", name)
	}
	assert.Equal(t, true, a.introspect(tok.AccessToken)["active"], "nothing was revoked")

	unknown := flowtest.SubmitForm(t, b, apps, form, url.Values{"action": {"explode"}})
	assert.Equal(t, http.StatusBadRequest, unknown.Status, "an unknown action")

	fresh := flowtest.NewBrowser(t)
	login := flowtest.Follow(t, fresh, flowtest.Get(t, fresh, a.url("/account/apps")))
	forged := flowtest.Post(t, fresh, login.URL.String(), url.Values{"step": {"login"}, "csrf_token": {"forged"}, "username": {"alice"}, "password": {"alice-password"}})
	assert.Equal(t, http.StatusForbidden, forged.Status, "login CSRF")
	for _, c := range fresh.Jar.Cookies(login.URL) {
		assert.NotEqual(t, "gatehouse_session", c.Name, "a forged login signs nobody in")
	}
}

// TestAccountReauthentication: a session older than AccountMaxAge must
// sign in again (password, then the second factor) before a page is
// shown; the default is 15 minutes, and a host may set another.
func TestAccountReauthentication(t *testing.T) {
	for _, tc := range []struct {
		name   string
		maxAge time.Duration
		limit  time.Duration
	}{
		{"default 15 minutes", 0, 15 * time.Minute},
		{"configured 2 minutes", 2 * time.Minute, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAccountEnv(t, memory.New(), func(c *provider.Config) { c.AccountMaxAge = tc.maxAge })
			a.clock.Set(time.Now())
			b := flowtest.NewBrowser(t)
			require.Equal(t, http.StatusOK, a.account(b, "apps", nil).Status)
			a.clock.Advance(tc.limit)
			assert.Equal(t, http.StatusOK, flowtest.Get(t, b, a.url("/account/apps")).Status, "at the limit: still fine")
			a.clock.Advance(time.Second)
			old := flowtest.Get(t, b, a.url("/account/apps"))
			require.Equal(t, http.StatusSeeOther, old.Status, "past the limit")
			assert.Equal(t, "/account/login?next=apps", old.Header.Get("Location"))
			login := flowtest.Follow(t, b, old)
			assert.Contains(t, login.Body, `name="password"`, "the password again, as prompt=login")
			assert.Contains(t, login.Body, `value="alice"`, "the user's name filled in")
			back := flowtest.Submit(t, b, login, url.Values{"username": {"alice"}, "password": {"alice-password"}})
			require.Equal(t, http.StatusSeeOther, back.Status)
			again := flowtest.Follow(t, b, flowtest.Follow(t, b, back))
			assert.Equal(t, http.StatusOK, again.Status, "the page, after signing in again")
			assert.Contains(t, again.Body, "Connected apps")
		})
	}
}

var (
	secretRe = regexp.MustCompile(`<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>`)
	codesRe  = regexp.MustCompile(`<li><code>([0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4})</code></li>`)
	qrRe     = regexp.MustCompile(`<svg class="qr"[^>]*viewBox="0 0 (\d+) (\d+)"[^>]*>.*?<path fill="#000" d="([^"]*)"/></svg>`)
	moduleRe = regexp.MustCompile(`M(\d+) (\d+)h1v1h-1z`)
)

// shownSecret reads the authenticator app's key off a page.
func shownSecret(t *testing.T, p flowtest.Page) []byte {
	t.Helper()
	m := secretRe.FindStringSubmatch(p.Body)
	require.NotNil(t, m, "no key on the page:\n%s", p.Body)
	secret, err := mfa.DecodeSecret(m[1])
	require.NoError(t, err)
	return secret
}

// shownQR decodes the page's QR code (its inline SVG drawn into an image).
func shownQR(t *testing.T, p flowtest.Page) string {
	t.Helper()
	m := qrRe.FindStringSubmatch(p.Body)
	require.NotNil(t, m, "no QR code on the page")
	n, _ := strconv.Atoi(m[1])
	const scale = 6
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, mod := range moduleRe.FindAllStringSubmatch(m[3], -1) {
		x, _ := strconv.Atoi(mod[1])
		y, _ := strconv.Atoi(mod[2])
		for dy := range scale {
			for dx := range scale {
				img.SetGray(x*scale+dx, y*scale+dy, color.Gray{})
			}
		}
	}
	text, err := qr.Decode(img)
	require.NoError(t, err, "the QR code decodes")
	return text
}

// TestAccountTOTPLifecycle: alice sets up an authenticator app on the
// security page with a code computed from the key the page shows (the QR
// code holds the same key); until confirmed it is no factor (sign-in
// neither asks for it nor accepts it: the client that requires one
// refuses her). Confirmed, the page shows recovery codes once; signing in
// to that client then asks for a code, and accepts one; the account
// login asks for it too. She replaces it (after a current code; the old
// one works until the new one is confirmed), and removes it (after a
// current code; a wrong code is refused, and so are codes of the pending
// key). On memory and PostgreSQL.
func TestAccountTOTPLifecycle(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		a := newAccountEnv(t, store)
		ctx := context.Background()
		b := flowtest.NewBrowser(t)
		sec := a.account(b, "security", nil)
		require.Equal(t, http.StatusOK, sec.Status, sec.Body)
		assertNotFramed(t, sec, "security page")
		assert.Contains(t, sec.Body, "Your account has no second factor.")
		started := flowtest.SubmitForm(t, b, sec, sec.FormWith(t, "action", "totp-start"), nil)
		require.Equal(t, http.StatusSeeOther, started.Status, started.Body)
		setup := flowtest.Follow(t, b, started)
		require.Equal(t, http.StatusOK, setup.Status)
		secret := shownSecret(t, setup)
		uri := shownQR(t, setup)
		assert.True(t, strings.HasPrefix(uri, "otpauth://totp/"), uri)
		u, err := url.Parse(uri)
		require.NoError(t, err)
		assert.Equal(t, mfa.EncodeSecret(secret), u.Query().Get("secret"), "the QR code holds the key shown as text")
		assert.Equal(t, "Gatehouse test", u.Query().Get("issuer"))
		assert.Contains(t, u.Path, "alice", "the account is named by the username")
		assert.Equal(t, setup.Body, flowtest.Get(t, b, setup.URL.String()).Body, "a reload shows the same pending key")

		// Pending: not a factor.
		st, err := a.totp.Status(ctx, "sub-alice")
		require.NoError(t, err)
		assert.True(t, st.Pending)
		assert.False(t, st.Confirmed)
		assert.Equal(t, "access_denied", a.authorizeError(flowtest.NewBrowser(t), a.secure), "a pending enrollment does not satisfy RequireMFA")
		a.signIn(flowtest.NewBrowser(t), a.web, a.webSecret, nil) // nil otp: fails if the flow asks for a code

		// A wrong code is refused; the right one confirms.
		wrong := flowtest.SubmitForm(t, b, setup, setup.FormWith(t, "action", "totp-confirm"), url.Values{"otp": {wrongTOTP(secret, a.mfaClock.Now())}})
		assert.Equal(t, http.StatusBadRequest, wrong.Status)
		assert.Contains(t, wrong.Body, "The code is wrong or was already used.")
		confirmed := flowtest.SubmitForm(t, b, setup, setup.FormWith(t, "action", "totp-confirm"), url.Values{"otp": {mfa.Code(secret, a.mfaClock.Now())}})
		require.Equal(t, http.StatusOK, confirmed.Status, confirmed.Body)
		assert.Contains(t, confirmed.Body, "Your authenticator app is set up.")
		codes := codesRe.FindAllStringSubmatch(confirmed.Body, -1)
		require.Len(t, codes, 10, "ten recovery codes, shown once")
		shownAgain := flowtest.Get(t, b, a.url("/account/security"))
		require.Equal(t, http.StatusOK, shownAgain.Status, "the confirming code counts as the factor for this session")
		assert.Empty(t, codesRe.FindAllStringSubmatch(shownAgain.Body, -1), "the codes are not shown again")
		assert.Contains(t, shownAgain.Body, "You have 10 unused recovery codes.")
		rec, err := store.GetMFA(ctx, "sub-alice")
		require.NoError(t, err)
		for _, c := range codes {
			for _, h := range rec.RecoveryCodes {
				assert.NotContains(t, h, c[1], "stored hashed")
			}
		}

		// Signing in now asks for a code and takes one.
		a.mfaClock.Advance(30 * time.Second)
		tok := a.signIn(flowtest.NewBrowser(t), a.secure, a.secureSecret, func() string { return mfa.Code(secret, a.mfaClock.Now()) })
		assert.Equal(t, true, a.introspect(tok.AccessToken)["active"])
		// The account pages ask for it too: the password alone does not
		// open them.
		a.mfaClock.Advance(30 * time.Second)
		fresh := flowtest.NewBrowser(t)
		login := flowtest.Follow(t, fresh, flowtest.Get(t, fresh, a.url("/account/security")))
		pwd := flowtest.Submit(t, fresh, login, url.Values{"username": {"alice"}, "password": {"alice-password"}})
		require.Equal(t, http.StatusSeeOther, pwd.Status)
		second := flowtest.Follow(t, fresh, pwd)
		require.Equal(t, http.StatusOK, second.Status)
		assert.Contains(t, second.Body, `name="otp"`, "the second factor, on the account login")
		blocked := flowtest.Get(t, fresh, a.url("/account/security"))
		assert.Equal(t, http.StatusSeeOther, blocked.Status, "a session without the factor does not open the pages")
		assert.Equal(t, "/account/login?next=security", blocked.Header.Get("Location"))
		wrongLogin := flowtest.Submit(t, fresh, second, url.Values{"otp": {wrongTOTP(secret, a.mfaClock.Now())}})
		assert.Equal(t, http.StatusUnauthorized, wrongLogin.Status, "a wrong code on the account login")
		assert.Contains(t, wrongLogin.Body, "The code is wrong or was already used.")
		opened := flowtest.Submit(t, fresh, second, url.Values{"otp": {mfa.Code(secret, a.mfaClock.Now())}})
		require.Equal(t, http.StatusSeeOther, opened.Status)
		assert.Equal(t, "/account/security", opened.Header.Get("Location"))
		assert.Equal(t, http.StatusOK, flowtest.Follow(t, fresh, opened).Status)
		// A recovery code signs in once.
		a.signIn(flowtest.NewBrowser(t), a.secure, a.secureSecret, func() string { return codes[0][1] })

		// Replace: a wrong current code is refused; a right one starts it.
		a.mfaClock.Advance(30 * time.Second)
		page := flowtest.Get(t, b, a.url("/account/security"))
		bad := flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "totp-replace"), url.Values{"otp": {wrongTOTP(secret, a.mfaClock.Now())}})
		assert.Equal(t, http.StatusBadRequest, bad.Status)
		repl := flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "totp-replace"), url.Values{"otp": {mfa.Code(secret, a.mfaClock.Now())}})
		require.Equal(t, http.StatusSeeOther, repl.Status, repl.Body)
		replPage := flowtest.Follow(t, b, repl)
		assert.Contains(t, replPage.Body, "The current one keeps working")
		newSecret := shownSecret(t, replPage)
		assert.NotEqual(t, secret, newSecret)
		a.mfaClock.Advance(30 * time.Second)
		a.signIn(flowtest.NewBrowser(t), a.secure, a.secureSecret, func() string { return mfa.Code(secret, a.mfaClock.Now()) }) // old key still in force
		assert.False(t, a.codeAccepted(a.secure, mfa.Code(newSecret, a.mfaClock.Now())), "the pending key is no factor")
		done := flowtest.SubmitForm(t, b, replPage, replPage.FormWith(t, "action", "totp-confirm"), url.Values{"otp": {mfa.Code(newSecret, a.mfaClock.Now())}})
		require.Equal(t, http.StatusOK, done.Status, done.Body)
		assert.Len(t, codesRe.FindAllStringSubmatch(done.Body, -1), 10, "new recovery codes")
		secret = newSecret
		a.mfaClock.Advance(30 * time.Second)
		a.signIn(flowtest.NewBrowser(t), a.secure, a.secureSecret, func() string { return mfa.Code(secret, a.mfaClock.Now()) })

		// Remove: a wrong code is refused and keeps the factor.
		a.mfaClock.Advance(30 * time.Second)
		page = flowtest.Get(t, b, a.url("/account/security"))
		require.Equal(t, http.StatusOK, page.Status)
		bad = flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "totp-remove"), url.Values{"otp": {wrongTOTP(secret, a.mfaClock.Now())}})
		assert.Equal(t, http.StatusBadRequest, bad.Status)
		st, err = a.totp.Status(ctx, "sub-alice")
		require.NoError(t, err)
		assert.True(t, st.Confirmed, "a wrong code removes nothing")
		removed := flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "totp-remove"), url.Values{"otp": {mfa.Code(secret, a.mfaClock.Now())}})
		require.Equal(t, http.StatusSeeOther, removed.Status, removed.Body)
		assert.Contains(t, flowtest.Follow(t, b, removed).Body, "The authenticator app was removed.")
		st, err = a.totp.Status(ctx, "sub-alice")
		require.NoError(t, err)
		assert.Zero(t, st)
		assert.Equal(t, "access_denied", a.authorizeError(flowtest.NewBrowser(t), a.secure), "no factor: refused again")
	})
}

// codeAccepted signs alice in to client c in a new browser, answers the
// MFA page with code, and reports whether the page took it.
func (a *accountEnv) codeAccepted(c storage.Client, code string) bool {
	t := a.t
	t.Helper()
	b := flowtest.NewBrowser(t)
	cfg := a.oauth2Config(c, "", webRedirect, "openid")
	page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	page = flowtest.Follow(t, b, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	require.Contains(t, page.Body, `name="otp"`)
	got := flowtest.Submit(t, b, page, url.Values{"otp": {code}})
	return got.Status != http.StatusUnauthorized
}

// wrongTOTP returns a code that is none of secret's at now.
func wrongTOTP(secret []byte, now time.Time) string {
	for i := 0; ; i++ {
		code := strconv.Itoa(100000 + i)
		if _, ok := mfa.Validate(secret, code, now, 0); !ok {
			return code
		}
	}
}

// TestEnrollMFAAtLogin: with EnrollMFAAtLogin, alice (no factor) signing
// in to a client that requires one sets up an authenticator app inside
// the authorization (the QR code and key, a wrong code refused, the
// recovery codes shown), and the authorization completes with the
// factor; without it she is refused, as before the account pages.
func TestEnrollMFAAtLogin(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		a := newAccountEnv(t, memory.New())
		assert.Equal(t, "access_denied", a.authorizeError(flowtest.NewBrowser(t), a.secure))
	})
	t.Run("on", func(t *testing.T) {
		a := newAccountEnv(t, memory.New(), func(c *provider.Config) { c.EnrollMFAAtLogin = true })
		b := flowtest.NewBrowser(t)
		cfg := a.oauth2Config(a.secure, a.secureSecret, webRedirect, "openid", "offline_access")
		verifier := oauth2.GenerateVerifier()
		page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))))
		page = flowtest.Follow(t, b, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
		require.Equal(t, http.StatusOK, page.Status)
		assertNotFramed(t, page, "enrollment page")
		assert.Contains(t, page.Body, "Secure Console requires a second factor")
		secret := shownSecret(t, page)
		assert.Contains(t, shownQR(t, page), "secret="+mfa.EncodeSecret(secret))
		wrong := flowtest.Submit(t, b, page, url.Values{"otp": {wrongTOTP(secret, a.mfaClock.Now())}})
		assert.Equal(t, http.StatusUnauthorized, wrong.Status)
		assert.Contains(t, wrong.Body, "The code is wrong or was already used.")
		next := flowtest.Submit(t, b, page, url.Values{"otp": {mfa.Code(secret, a.mfaClock.Now())}})
		require.Equal(t, http.StatusSeeOther, next.Status, next.Body)
		codes := flowtest.Follow(t, b, next)
		require.Len(t, codesRe.FindAllStringSubmatch(codes.Body, -1), 10, "the recovery codes:\n%s", codes.Body)
		consent := flowtest.Follow(t, b, flowtest.Submit(t, b, codes, nil))
		require.Contains(t, consent.Body, `name="decision"`, "no second code asked: the enrollment's counts")
		back := flowtest.Submit(t, b, consent, url.Values{"decision": {"allow"}}).Location(t)
		tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
		require.NoError(t, err)
		assert.Equal(t, true, a.introspect(tok.AccessToken)["active"])
		st, err := a.totp.Status(context.Background(), "sub-alice")
		require.NoError(t, err)
		assert.True(t, st.Confirmed, "the factor stays")
	})
	t.Run("needs a TOTP factor", func(t *testing.T) {
		_, err := provider.New(provider.Config{Issuer: "https://id.example.com", Store: memory.New(), Authenticator: userDB{}, EnrollMFAAtLogin: true})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Config.EnrollMFAAtLogin: needs an *mfa.TOTP in Factors")
	})
}

// TestAccountPathsChecked: no endpoint may be below Paths.Account, and
// the pages follow Paths.Account.
func TestAccountPathsChecked(t *testing.T) {
	_, err := provider.New(provider.Config{Issuer: "https://id.example.com", Store: memory.New(), Authenticator: userDB{},
		Paths: provider.Paths{Account: "/me", Token: "/me/token"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Config.Paths.Token: is "/me/token", below Paths.Account "/me"`)

	a := newAccountEnv(t, memory.New(), func(c *provider.Config) { c.Paths.Account = "/my/account" })
	got := flowtest.Get(t, flowtest.NewBrowser(t), a.url("/my/account/apps"))
	assert.Equal(t, "/my/account/login?next=apps", got.Header.Get("Location"))
	assert.Equal(t, http.StatusNotFound, flowtest.Get(t, flowtest.NewBrowser(t), a.url("/account/apps")).Status)
}

// TestAccountPageEscapes: what a client registered is escaped on the apps
// page, and its logo's origin is allowed by the page's CSP.
func TestAccountPageEscapes(t *testing.T) {
	a := newAccountEnv(t, memory.New())
	c, secret, err := a.p.CreateClient(context.Background(), storage.Client{
		ID: "evil", Name: `<script>alert(1)</script>`, LogoURI: "https://cdn.example.com/logo.png",
		GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{webRedirect}, Scopes: []string{"openid"},
	})
	require.NoError(t, err)
	a.secrets[c.ID] = secret
	b := flowtest.NewBrowser(t)
	cfg := a.oauth2Config(c, secret, webRedirect, "openid")
	a.authorize(b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "alice")
	apps := a.account(b, "apps", nil)
	require.Equal(t, http.StatusOK, apps.Status)
	assert.NotContains(t, apps.Body, "<script>")
	assert.Contains(t, apps.Body, html.EscapeString("<script>alert(1)</script>"))
	assert.Contains(t, apps.Header.Get("Content-Security-Policy"), "img-src https://cdn.example.com")
}

// TestAccountCodeLockout: wrong codes on the security page count towards
// the factor's lockout, as on the MFA step: after five, even the right
// code is refused until the lock ends, and the factor stays.
func TestAccountCodeLockout(t *testing.T) {
	a := newAccountEnv(t, memory.New())
	enr, err := a.totp.EnrollSecret(context.Background(), "sub-alice", "alice", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	require.NoError(t, err)
	require.NotEmpty(t, enr.RecoveryCodes)
	secret, err := mfa.DecodeSecret(enr.Secret)
	require.NoError(t, err)
	b := flowtest.NewBrowser(t)
	page := a.account(b, "security", func() string { return mfa.Code(secret, a.mfaClock.Now()) })
	require.Equal(t, http.StatusOK, page.Status)
	var last flowtest.Page
	for range 5 {
		last = flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "totp-remove"), url.Values{"otp": {wrongTOTP(secret, a.mfaClock.Now())}})
		require.Equal(t, http.StatusBadRequest, last.Status)
	}
	assert.Contains(t, last.Body, "Too many wrong codes. Try again in 30 seconds.")
	a.mfaClock.Advance(30 * time.Second)
	locked := flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "totp-remove"), url.Values{"otp": {wrongTOTP(secret, a.mfaClock.Now())}})
	assert.Contains(t, locked.Body, "Too many wrong codes.", "the sixth doubles the lock")
	right := flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "totp-remove"), url.Values{"otp": {mfa.Code(secret, a.mfaClock.Now())}})
	assert.Equal(t, http.StatusBadRequest, right.Status, "locked: the right code is refused too")
	st, err := a.totp.Status(context.Background(), "sub-alice")
	require.NoError(t, err)
	assert.True(t, st.Confirmed, "and the factor stays")
}

// TestAccountTemplates: a host's templates without the account pages get
// the built-in ones, in the host's layout; a set defining some of them
// but not all is refused.
func TestAccountTemplates(t *testing.T) {
	own := template.Must(template.New("x").Parse(`{{define "head"}}<!doctype html><html lang="{{.Lang}}"><title>{{.Title}}</title><body class="host">{{end}}{{define "foot"}}</body>{{end}}` +
		`{{define "login"}}{{template "head" .}}<form method="post" action="{{.Action}}"><input type="hidden" name="csrf_token" value="{{.CSRF}}"><input type="hidden" name="step" value="{{.Step}}"><input name="username"><input name="password"></form>{{template "foot" .}}{{end}}` +
		`{{define "consent"}}c{{end}}{{define "logout"}}l{{end}}{{define "error"}}e{{end}}{{define "mfa"}}m{{end}}{{define "tenant"}}t{{end}}`))
	a := newAccountEnv(t, memory.New(), func(c *provider.Config) { c.Templates = own })
	page := a.account(flowtest.NewBrowser(t), "apps", nil)
	require.Equal(t, http.StatusOK, page.Status, page.Body)
	assert.Contains(t, page.Body, `<body class="host">`, "the host's layout")
	assert.Contains(t, page.Body, "No application has access to your account.", "the built-in page")

	fresh := template.Must(template.New("y").Parse(`{{define "login"}}{{end}}{{define "consent"}}{{end}}{{define "logout"}}{{end}}{{define "error"}}{{end}}{{define "mfa"}}{{end}}{{define "tenant"}}{{end}}{{define "account-apps"}}mine{{end}}`))
	_, err := provider.New(provider.Config{Issuer: "https://id.example.com", Store: memory.New(), Authenticator: userDB{}, Templates: fresh})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "defines some of the account pages' templates")
}

// TestAccountEvents: the changes made on the account pages, and RevokeApp
// from Go, are recorded in the audit trail before the call answers, with
// the user as actor, the subject, the client and the client address; no
// secret is in an event or in the log.
func TestAccountEvents(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	a := newAccountEnv(t, memory.New(), func(c *provider.Config) {
		c.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		}), nil))
	})
	b := flowtest.NewBrowser(t)
	a.signIn(b, a.web, a.webSecret, nil)
	apps := a.account(b, "apps", nil)
	flowtest.SubmitForm(t, b, apps, apps.FormWith(t, "client_id", "web"), nil)
	sec := a.account(b, "security", nil)
	setup := flowtest.Follow(t, b, flowtest.SubmitForm(t, b, sec, sec.FormWith(t, "action", "totp-start"), nil))
	secret := shownSecret(t, setup)
	flowtest.SubmitForm(t, b, setup, setup.FormWith(t, "action", "totp-confirm"), url.Values{"otp": {mfa.Code(secret, a.mfaClock.Now())}})
	a.mfaClock.Advance(30 * time.Second)
	page := flowtest.Get(t, b, a.url("/account/security"))
	flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "totp-remove"), url.Values{"otp": {mfa.Code(secret, a.mfaClock.Now())}})
	ctx := provider.WithActor(context.Background(), storage.AuditActor{Kind: storage.ActorAdmin, ID: "ops"})
	require.NoError(t, a.p.RevokeApp(ctx, "sub-alice", "spa"))

	events, err := a.p.AuditEvents(context.Background(), storage.AuditQuery{
		Types: []string{provider.AuditConsentRevoked, provider.AuditMFAEnrolled, provider.AuditMFARemoved}})
	require.NoError(t, err)
	type seen struct{ typ, actor, subject, client, addr string }
	var got []seen
	for _, e := range events { // newest first
		got = append(got, seen{e.Type, string(e.Actor.Kind) + ":" + e.Actor.ID, e.Subject, e.ClientID, e.ClientAddr})
		assert.NotContains(t, fmt.Sprint(e), mfa.EncodeSecret(secret), "no secret in an event")
	}
	assert.Equal(t, []seen{
		{provider.AuditConsentRevoked, "admin:ops", "sub-alice", "spa", ""}, // from Go: no address
		{provider.AuditMFARemoved, "user:sub-alice", "sub-alice", "", "127.0.0.1"},
		{provider.AuditMFAEnrolled, "user:sub-alice", "sub-alice", "", "127.0.0.1"},
		{provider.AuditConsentRevoked, "user:sub-alice", "sub-alice", "web", "127.0.0.1"},
	}, got)
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	assert.NotContains(t, out, mfa.EncodeSecret(secret), "no secret in the logs")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
