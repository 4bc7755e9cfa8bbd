package provider_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// A grant made through a browser sign-in ends with it: RP-initiated logout
// and Provider.EndUserSessions revoke every code, access and refresh token
// of every grant made in the sign-in (issue 14). These tests follow grants
// end to end, on the memory store and on PostgreSQL.

// userGrant is a grant a test follows: its client and current tokens.
type userGrant struct {
	client  storage.Client
	secret  string
	idToken string // from the code exchange
	access  string
	refresh string
}

var grantScopes = []string{"openid", "offline_access", "assets:read"}

// grantIn runs a code flow for client c in browser b as user (signing in
// only if the browser is not signed in, consenting if asked) and returns
// the grant.
func (e *env) grantIn(b *http.Client, c storage.Client, secret, redirect, user string, opts ...oauth2.AuthCodeOption) *userGrant {
	t := e.t
	t.Helper()
	cfg := e.oauth2Config(c, secret, redirect, grantScopes...)
	verifier := oauth2.GenerateVerifier()
	back := e.authorize(b, cfg.AuthCodeURL("state-0123456789", append(opts, oauth2.S256ChallengeOption(verifier))...), user)
	return e.exchangeGrant(c, secret, redirect, back, verifier)
}

// exchangeGrant exchanges the code of back, the redirect of a flow of
// client c, and returns the grant.
func (e *env) exchangeGrant(c storage.Client, secret, redirect string, back *url.URL, verifier string) *userGrant {
	t := e.t
	t.Helper()
	code := back.Query().Get("code")
	require.NotEmpty(t, code, "no code in %s", back)
	tok, err := e.oauth2Config(c, secret, redirect, grantScopes...).Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	idToken, _ := tok.Extra("id_token").(string)
	require.NotEmpty(t, idToken)
	return &userGrant{client: c, secret: secret, idToken: idToken, access: tok.AccessToken, refresh: tok.RefreshToken}
}

// refreshGrant refreshes g at the token endpoint; on success g holds the
// new tokens.
func (e *env) refreshGrant(g *userGrant) (int, map[string]any) {
	e.t.Helper()
	vals := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.refresh}}
	id, secret := g.client.ID, g.secret
	if g.client.Public {
		vals.Set("client_id", g.client.ID)
		id, secret = "", ""
	}
	status, body, _ := e.postForm("/oauth2/token", vals, id, secret)
	if status == http.StatusOK {
		g.access, _ = body["access_token"].(string)
		g.refresh, _ = body["refresh_token"].(string)
	}
	return status, body
}

// bearer calls path (the resource middleware's /api/assets, or /userinfo)
// with access and returns the status and the WWW-Authenticate header.
func (e *env) bearer(path, access string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url(path), nil)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+access)
	status, _, hdr := e.do(req)
	return status, hdr.Get("WWW-Authenticate")
}

// accessActive reports whether access is active at introspection (as its
// own client, or in process for a public client's token).
func (e *env) accessActive(g *userGrant) bool {
	e.t.Helper()
	if g.client.Public {
		_, err := e.p.Introspect(context.Background(), g.access)
		if err != nil {
			require.ErrorIs(e.t, err, provider.ErrInvalidToken)
		}
		return err == nil
	}
	return e.introspect(g.access)["active"] == true
}

// assertGrantWorks asserts that g's access token works at introspection,
// the resource middleware and userinfo, and that it refreshes, and the new
// access token works too.
func (e *env) assertGrantWorks(t *testing.T, g *userGrant, msg string) {
	t.Helper()
	assert.True(t, e.accessActive(g), "%s: the access token is active at introspection", msg)
	status, _ := e.bearer("/api/assets", g.access)
	assert.Equal(t, http.StatusOK, status, "%s: the access token works at the resource middleware", msg)
	status, _ = e.bearer("/userinfo", g.access)
	assert.Equal(t, http.StatusOK, status, "%s: the access token works at userinfo", msg)
	status, body := e.refreshGrant(g)
	require.Equal(t, http.StatusOK, status, "%s: the refresh token refreshes: %v", msg, body)
	status, _ = e.bearer("/api/assets", g.access)
	assert.Equal(t, http.StatusOK, status, "%s: the refreshed access token works", msg)
}

// assertGrantEnded asserts that g's access token is refused at
// introspection, the resource middleware and userinfo, its refresh token at
// introspection, and that refreshing answers 400 invalid_grant.
func (e *env) assertGrantEnded(t *testing.T, g *userGrant, msg string) {
	t.Helper()
	assert.False(t, e.accessActive(g), "%s: the access token is inactive at introspection", msg)
	status, hdr := e.bearer("/api/assets", g.access)
	assert.Equal(t, http.StatusUnauthorized, status, "%s: the resource middleware refuses the access token", msg)
	assert.Contains(t, hdr, `error="invalid_token"`, msg)
	status, hdr = e.bearer("/userinfo", g.access)
	assert.Equal(t, http.StatusUnauthorized, status, "%s: userinfo refuses the access token", msg)
	assert.Contains(t, hdr, `error="invalid_token"`, msg)
	if !g.client.Public {
		assert.Equal(t, false, e.introspect(g.refresh)["active"], "%s: the refresh token is inactive at introspection", msg)
	}
	status, body := e.refreshGrant(g)
	assert.Equal(t, http.StatusBadRequest, status, "%s: refreshing is refused: %v", msg, body)
	assert.Equal(t, "invalid_grant", body["error"], "%s: %v", msg, body)
}

// signOut logs browser b out at the end-session endpoint with idToken as
// the hint (no confirmation asked) and checks the signed-out page.
func (e *env) signOut(b *http.Client, idToken string) {
	t := e.t
	t.Helper()
	page := flowtest.Get(t, b, e.url("/oauth2/logout?")+url.Values{"id_token_hint": {idToken}}.Encode())
	require.Equal(t, http.StatusOK, page.Status, "logout:\n%s", page.Body)
	require.Contains(t, page.Body, "You are signed out")
}

// assertSignedOut asserts that browser b must sign in again.
func (e *env) assertSignedOut(t *testing.T, b *http.Client, msg string) {
	t.Helper()
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, grantScopes...)
	page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	assert.Contains(t, page.Body, `name="password"`, "%s: the browser must sign in again", msg)
}

// newLegacyClient registers a client of the password grant (which needs
// Config.AllowLegacyGrants) and returns a grant of alice's made by it.
func (e *env) passwordGrant(t *testing.T) *userGrant {
	t.Helper()
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "legacy", GrantTypes: []string{"password", "refresh_token"}, Scopes: grantScopes,
	})
	require.NoError(t, err)
	e.secrets[c.ID] = secret
	status, body, _ := e.postForm("/oauth2/token", url.Values{
		"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}, "scope": {strings.Join(grantScopes, " ")},
	}, c.ID, secret)
	require.Equal(t, http.StatusOK, status, "%v", body)
	return &userGrant{client: c, secret: secret, access: body["access_token"].(string), refresh: body["refresh_token"].(string)}
}

func allowLegacy(c *provider.Config) { c.AllowLegacyGrants = true }

// TestLogoutEndsTheGrantsOfTheSignIn: an RP-initiated logout with an
// id_token_hint ends every grant made in the browser's sign-in (issue 14:
// a refresh after it used to answer 200): the client's own grant, refreshed
// before the logout (the tokens a refresh issues belong to the sign-in
// too), another client's grant made by single sign-on, and a code not yet
// exchanged. Alice's sign-in in another browser, her password grant and a
// client's own token are not touched.
func TestLogoutEndsTheGrantsOfTheSignIn(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store, allowLegacy)
		b1, b2 := flowtest.NewBrowser(t), flowtest.NewBrowser(t)
		web := e.grantIn(b1, e.web, e.webSecret, webRedirect, "alice")
		spa := e.grantIn(b1, e.spa, "", spaRedirect, "alice") // single sign-on: no password asked
		status, body := e.refreshGrant(web)
		require.Equal(t, http.StatusOK, status, "%v", body)
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, grantScopes...)
		verifier := oauth2.GenerateVerifier()
		pending := e.authorize(b1, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)), "alice").Query().Get("code")
		require.NotEmpty(t, pending)

		other := e.grantIn(b2, e.web, e.webSecret, webRedirect, "alice")
		password := e.passwordGrant(t)
		cc, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, cc)

		e.signOut(b1, web.idToken)

		e.assertGrantEnded(t, web, "the grant made in the sign-in, refreshed before the logout")
		e.assertGrantEnded(t, spa, "another client's grant made in the same sign-in")
		status, body, _ = e.postForm("/oauth2/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {pending}, "redirect_uri": {webRedirect}, "code_verifier": {verifier},
		}, e.web.ID, e.webSecret)
		assert.Equal(t, http.StatusBadRequest, status, "a code of the sign-in not yet exchanged: %v", body)
		assert.Equal(t, "invalid_grant", body["error"])
		e.assertSignedOut(t, b1, "the browser that logged out")

		e.assertGrantWorks(t, other, "alice's sign-in in another browser")
		e.assertGrantWorks(t, password, "alice's password grant (no browser sign-in)")
		status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, true, e.introspect(body["access_token"].(string))["active"], "client credentials are not a sign-in's")
	})
}

// TestLogoutConfirmedEndsTheGrants: without an id_token_hint the user
// confirms the logout, and it ends the sign-in's grants the same way.
func TestLogoutConfirmedEndsTheGrants(t *testing.T) {
	e := newEnv(t)
	b := flowtest.NewBrowser(t)
	web := e.grantIn(b, e.web, e.webSecret, webRedirect, "alice")
	page := flowtest.Get(t, b, e.url("/oauth2/logout"))
	require.Equal(t, http.StatusOK, page.Status)
	e.assertGrantWorks(t, web, "before the user confirms")
	page = flowtest.Submit(t, b, page, url.Values{"decision": {"logout"}})
	require.Contains(t, page.Body, "You are signed out")
	e.assertGrantEnded(t, web, "after the confirmed logout")
}

// TestEndUserSessions: the host signs alice out everywhere. Every grant
// made in any of her browser sign-ins ends and her browsers must sign in
// again; Bob's sign-in and grant, and alice's password grant, are not
// touched.
func TestEndUserSessions(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store, allowLegacy)
		ctx := context.Background()
		b1, b2, b3 := flowtest.NewBrowser(t), flowtest.NewBrowser(t), flowtest.NewBrowser(t)
		web := e.grantIn(b1, e.web, e.webSecret, webRedirect, "alice")
		spa := e.grantIn(b2, e.spa, "", spaRedirect, "alice")
		bob := e.grantIn(b3, e.web, e.webSecret, webRedirect, "bob")
		password := e.passwordGrant(t)

		require.NoError(t, e.p.EndUserSessions(ctx, "sub-alice"))

		e.assertGrantEnded(t, web, "alice's grant in her first browser")
		e.assertGrantEnded(t, spa, "alice's grant in her second browser")
		e.assertSignedOut(t, b1, "alice's first browser")
		e.assertSignedOut(t, b2, "alice's second browser")
		sessions, err := store.LoginSessionsBySubject(ctx, "sub-alice")
		require.NoError(t, err)
		assert.Empty(t, sessions, "alice has no login session left")

		e.assertGrantWorks(t, bob, "bob's grant")
		sessions, err = store.LoginSessionsBySubject(ctx, "sub-bob")
		require.NoError(t, err)
		assert.Len(t, sessions, 1, "bob's sign-in stays")
		e.assertGrantWorks(t, password, "alice's password grant (no browser sign-in)")

		assert.NoError(t, e.p.EndUserSessions(ctx, "sub-nobody"), "a user without sessions is not an error")
	})
}

// mfaEnv is an env with a TOTP factor that alice enrolls in when the test
// says.
type mfaEnv struct {
	*env
	totp     *mfa.TOTP
	secret   []byte
	mfaClock *clock
}

func newMFAEnvOn(t *testing.T, store storage.Store) *mfaEnv {
	m := &mfaEnv{mfaClock: stoppedClock()}
	m.env = newEnvOn(t, store, func(c *provider.Config) {
		var err error
		m.totp, err = mfa.NewTOTP(c.Store, mfa.TOTPOptions{Issuer: "Gatehouse test", Now: m.mfaClock.Now, Key: []byte("0123456789abcdef0123456789abcdef")})
		require.NoError(t, err)
		c.Factors = []mfa.Factor{m.totp}
	})
	var err error
	m.secret, err = mfa.DecodeSecret(demoTOTPSecret)
	require.NoError(t, err)
	return m
}

// sessionCookie returns browser b's login session cookie.
func (e *env) sessionCookie(b *http.Client) string {
	u, err := url.Parse(e.issuer)
	require.NoError(e.t, err)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "gatehouse_session" {
			return c.Value
		}
	}
	return ""
}

// TestLogoutEndsGrantsMadeBeforeTheSecondFactor: alice signs in with her
// password and grants web; she then enrolls a factor, and the next
// authorization in the same browser asks for it, which replaces her login
// session (a new cookie value). The logout of the upgraded session ends the
// grant made before the upgrade too: it is the same sign-in.
func TestLogoutEndsGrantsMadeBeforeTheSecondFactor(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		m := newMFAEnvOn(t, store)
		ctx := context.Background()
		b := flowtest.NewBrowser(t)
		before := m.grantIn(b, m.web, m.webSecret, webRedirect, "alice")
		cookie := m.sessionCookie(b)
		require.NotEmpty(t, cookie)

		_, err := m.totp.EnrollSecret(ctx, "sub-alice", "alice", demoTOTPSecret)
		require.NoError(t, err)
		cfg := m.oauth2Config(m.spa, "", spaRedirect, grantScopes...)
		verifier := oauth2.GenerateVerifier()
		page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))))
		require.Contains(t, page.Body, `name="otp"`, "the second factor is asked in the signed-in browser")
		page = flowtest.Follow(t, b, flowtest.Submit(t, b, page, url.Values{"otp": {mfa.Code(m.secret, m.mfaClock.Now())}}))
		require.Contains(t, page.Body, `name="decision"`)
		back := flowtest.Submit(t, b, page, url.Values{"decision": {"allow"}}).Location(t)
		after := m.exchangeGrant(m.spa, "", spaRedirect, back, verifier)
		require.NotEqual(t, cookie, m.sessionCookie(b), "the upgrade replaced the session")
		sessions, err := store.LoginSessionsBySubject(ctx, "sub-alice")
		require.NoError(t, err)
		require.Len(t, sessions, 1, "the session before the upgrade is gone")
		assert.Equal(t, []string{"pwd", "otp"}, sessions[0].AMR)

		m.signOut(b, after.idToken)
		m.assertGrantEnded(t, before, "the grant made before the upgrade")
		m.assertGrantEnded(t, after, "the grant made after the upgrade")
	})
}

// TestSignInReplacedInTheBrowser: the same user signing in again in a
// browser (prompt=login) goes on with the same sign-in, so its logout ends
// the grants made before too; another user signing in there starts a new
// sign-in, whose logout ends only its own grants. The first user's sign-in
// ended without a logout: like an expiry, it revokes nothing.
func TestSignInReplacedInTheBrowser(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	b := flowtest.NewBrowser(t)
	login := oauth2.SetAuthURLParam("prompt", "login")
	first := e.grantIn(b, e.web, e.webSecret, webRedirect, "alice")
	again := e.grantIn(b, e.web, e.webSecret, webRedirect, "alice", login)
	bob := e.grantIn(b, e.web, e.webSecret, webRedirect, "bob", login)
	sid := func(g *userGrant) string {
		rec, err := e.store.GetToken(ctx, storage.KindAccessToken, g.access[strings.LastIndexByte(g.access, '.')+1:])
		require.NoError(t, err)
		return rec.Request.LoginSID
	}
	require.NotEmpty(t, sid(first))
	assert.Equal(t, sid(first), sid(again), "alice signing in again goes on with her sign-in")
	assert.NotEqual(t, sid(first), sid(bob), "bob's sign-in is another")

	e.signOut(b, bob.idToken)
	e.assertGrantEnded(t, bob, "bob's grant")
	e.assertGrantWorks(t, first, "alice's grant of her replaced sign-in")
	e.assertGrantWorks(t, again, "alice's grant after signing in again")

	// prompt=login again, then logout: both of alice's grants end.
	b2 := flowtest.NewBrowser(t)
	one := e.grantIn(b2, e.web, e.webSecret, webRedirect, "alice")
	two := e.grantIn(b2, e.web, e.webSecret, webRedirect, "alice", login)
	e.signOut(b2, two.idToken)
	e.assertGrantEnded(t, one, "the grant made before signing in again")
	e.assertGrantEnded(t, two, "the grant made after")
}

// TestRefreshBoundToLogin: a client with RefreshBoundToLogin loses its
// refresh token when the sign-in its grant was made in expires, at the
// token endpoint and at introspection; a client without it keeps its
// refresh token (offline access, OpenID Connect Core §11). Neither is
// refused while the sign-in lives.
func TestRefreshBoundToLogin(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		bound, boundSecret, err := e.p.CreateClient(context.Background(), storage.Client{
			ID: "bound", GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{webRedirect},
			Scopes: grantScopes, RefreshBoundToLogin: true,
		})
		require.NoError(t, err)
		require.True(t, bound.RefreshBoundToLogin)
		e.secrets[bound.ID] = boundSecret
		b := flowtest.NewBrowser(t)
		web := e.grantIn(b, e.web, e.webSecret, webRedirect, "alice")
		tied := e.grantIn(b, bound, boundSecret, webRedirect, "alice")
		e.assertGrantWorks(t, web, "while the sign-in lives")
		e.assertGrantWorks(t, tied, "while the sign-in lives, bound to it")

		e.clock.Advance(12*time.Hour + time.Minute) // LoginSessionLifetime's default is 12 h; refresh tokens live 30 days

		assert.Equal(t, false, e.introspect(tied.refresh)["active"], "the bound client's refresh token is inactive at introspection")
		status, body := e.refreshGrant(tied)
		assert.Equal(t, http.StatusBadRequest, status, "%v", body)
		assert.Equal(t, "invalid_grant", body["error"])
		assert.Contains(t, body["error_description"], "The sign-in this grant was made in has ended")

		assert.Equal(t, true, e.introspect(web.refresh)["active"], "the other client's refresh token outlives the sign-in")
		status, body = e.refreshGrant(web)
		assert.Equal(t, http.StatusOK, status, "offline access: %v", body)
	})
}

// TestSignOutInAnotherTabMidFlow: alice is on the consent page when her
// sign-in ends in another tab, by a logout or by bob signing in in the
// same browser. Consenting then is refused with access_denied, and no code
// is issued: a grant made then would belong to no live sign-in, and no
// logout would end it.
func TestSignOutInAnotherTabMidFlow(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(e *env, b *http.Client, g *userGrant)
	}{
		{"logout", func(e *env, b *http.Client, g *userGrant) { e.signOut(b, g.idToken) }},
		{"another user signs in", func(e *env, b *http.Client, _ *userGrant) {
			e.grantIn(b, e.web, e.webSecret, webRedirect, "bob", oauth2.SetAuthURLParam("prompt", "login"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b := flowtest.NewBrowser(t)
			g := e.grantIn(b, e.web, e.webSecret, webRedirect, "alice")
			// Alice signs in again in this flow (so it is hers), and a
			// scope not consented to yet shows the consent page.
			cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, append(grantScopes, "email")...)
			page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789",
				oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login"))))
			require.Contains(t, page.Body, `name="password"`)
			consent := flowtest.Follow(t, b, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
			require.Contains(t, consent.Body, `name="decision"`)

			tc.end(e, b, g)

			back := flowtest.Submit(t, b, consent, url.Values{"decision": {"allow"}}).Location(t)
			require.True(t, strings.HasPrefix(back.String(), webRedirect), "the error goes back to the client: %s", back)
			assert.Equal(t, "access_denied", back.Query().Get("error"))
			assert.Contains(t, back.Query().Get("error_description"), "Your sign-in ended before the authorization finished; start again.")
			assert.Empty(t, back.Query().Get("code"))
		})
	}
}

// logoutWhileStoring is a store whose next authorization code, once
// armed, is stored just after every login session of its subject has been
// ended the way a logout ends one (grants revoked, session deleted): the
// logout of another tab, running between the authorization's read of the
// session and its store of the code.
type logoutWhileStoring struct {
	storage.Store
	armed atomic.Bool
	code  atomic.Value // the signature of the code stored once armed
}

func (s *logoutWhileStoring) CreateToken(ctx context.Context, t storage.Token) error {
	if t.Kind == storage.KindAuthCode && s.armed.CompareAndSwap(true, false) {
		s.code.Store(t.Signature)
		sessions, err := s.LoginSessionsBySubject(ctx, t.Request.Subject)
		if err != nil {
			return err
		}
		for _, ls := range sessions {
			sid := ls.SID
			if sid == "" {
				sid = ls.ID
			}
			if err := s.RevokeLoginGrants(ctx, sid, time.Now().Add(time.Hour)); err != nil {
				return err
			}
			if err := s.DeleteLoginSession(ctx, ls.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
	}
	return s.Store.CreateToken(ctx, t)
}

// TestLogoutRacingAnAuthorization: a logout that ends the sign-in after an
// authorization read it but before that authorization stored its code
// revokes nothing of it (the code did not exist yet); the authorization
// then finds its sign-in gone, revokes the code itself and answers
// access_denied, so no grant escapes the logout.
func TestLogoutRacingAnAuthorization(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		racing := &logoutWhileStoring{Store: store}
		e := newEnvOn(t, racing)
		b := flowtest.NewBrowser(t)
		e.grantIn(b, e.web, e.webSecret, webRedirect, "alice") // signs in and consents

		racing.armed.Store(true)
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, grantScopes...)
		verifier := oauth2.GenerateVerifier()
		page := flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)))
		back := page.Location(t)
		require.False(t, racing.armed.Load(), "the authorization stored a code")
		require.True(t, strings.HasPrefix(back.String(), webRedirect), "%s", back)
		assert.Equal(t, "access_denied", back.Query().Get("error"))
		assert.Contains(t, back.Query().Get("error_description"), "Your sign-in ended before the authorization finished")
		assert.Empty(t, back.Query().Get("code"))
		sig, _ := racing.code.Load().(string)
		code, err := store.GetToken(context.Background(), storage.KindAuthCode, sig)
		require.NoError(t, err)
		assert.False(t, code.Active, "the authorization revoked the code it stored")
		e.assertSignedOut(t, b, "after the logout")
	})
}

// TestLogoutRacingRefreshes: while grants of a sign-in are being refreshed
// in a loop, the browser logs out. Every refresh that starts after the
// logout returned is refused (400 invalid_grant, never a 5xx), and the
// last tokens each loop got, from a refresh under way during the logout,
// are inactive too: the store records the sign-in as ended, so a token of
// it created after the revocation is stored inactive.
func TestLogoutRacingRefreshes(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		b := flowtest.NewBrowser(t)
		const loops = 4
		grants := make([]*userGrant, loops)
		for i := range grants {
			grants[i] = e.grantIn(b, e.web, e.webSecret, webRedirect, "alice")
		}
		type end struct {
			status  int
			body    map[string]any
			escaped bool // a refresh that started after the logout returned got tokens
		}
		ends := make([]end, loops)
		var loggedOut atomic.Bool
		started := make(chan struct{}, loops)
		var wg sync.WaitGroup
		for i := range loops {
			wg.Go(func() {
				var once sync.Once
				signal := func() { once.Do(func() { started <- struct{}{} }) }
				defer signal()
				for n := 0; ; n++ {
					after := loggedOut.Load()
					status, body := e.refreshGrant(grants[i])
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
		for range loops {
			<-started
		}
		e.signOut(b, grants[0].idToken)
		loggedOut.Store(true)
		wg.Wait()
		for i, end := range ends {
			assert.False(t, end.escaped, "loop %d: a refresh that started after the logout returned got tokens", i)
			assert.Equal(t, http.StatusBadRequest, end.status, "loop %d ends refused, never with a 5xx: %v", i, end.body)
			assert.Equal(t, "invalid_grant", end.body["error"], "loop %d: %v", i, end.body)
			assert.False(t, e.accessActive(grants[i]), "loop %d: the last access token it got is inactive", i)
			assert.Equal(t, false, e.introspect(grants[i].refresh)["active"], "loop %d: the last refresh token it got is inactive", i)
		}
	})
}

// signInWhileListing is a store on which the user signs in again (a new
// sign-in, with a grant's refresh token in it) each time, up to times,
// just after EndUserSessions listed the user's sessions.
type signInWhileListing struct {
	storage.Store
	times atomic.Int32
	made  []storage.Token // the refresh tokens of those sign-ins
}

func (s *signInWhileListing) LoginSessionsBySubject(ctx context.Context, subject string) ([]storage.LoginSession, error) {
	out, err := s.Store.LoginSessionsBySubject(ctx, subject)
	if err == nil && s.times.Add(-1) >= 0 {
		n := len(s.made)
		ls := storage.LoginSession{ID: "late-" + string(rune('a'+n)), SID: "late-sid-" + string(rune('a'+n)), Subject: subject,
			AuthTime: time.Now(), AMR: []string{"pwd"}, ExpiresAt: time.Now().Add(time.Hour)}
		if err := s.CreateLoginSession(ctx, ls); err != nil {
			return nil, err
		}
		tok := storage.Token{Kind: storage.KindRefreshToken, Signature: "late-rt-" + ls.SID, Active: true, ExpiresAt: time.Now().Add(time.Hour),
			Request: storage.Request{ID: "late-grant-" + ls.SID, ClientID: "web", Subject: subject, LoginSID: ls.SID}}
		if err := s.CreateToken(ctx, tok); err != nil {
			return nil, err
		}
		s.made = append(s.made, tok)
	}
	return out, err
}

// TestEndUserSessionsCatchesSignInsWhileItRuns: a sign-in completed
// after EndUserSessions listed the user's sessions is ended by its next
// pass, grant and all; a user who signs in again at every pass makes it
// give up after three with an error that says what to do.
func TestEndUserSessionsCatchesSignInsWhileItRuns(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		ctx := context.Background()
		racing := &signInWhileListing{Store: store}
		e := newEnvOn(t, racing)
		web := e.grantIn(flowtest.NewBrowser(t), e.web, e.webSecret, webRedirect, "alice")

		racing.times.Store(1)
		require.NoError(t, e.p.EndUserSessions(ctx, "sub-alice"))
		e.assertGrantEnded(t, web, "the grant of the sign-in listed first")
		require.Len(t, racing.made, 1)
		got, err := store.GetToken(ctx, storage.KindRefreshToken, racing.made[0].Signature)
		require.NoError(t, err)
		assert.False(t, got.Active, "the grant of the sign-in made while EndUserSessions ran is ended by its next pass")
		sessions, err := store.LoginSessionsBySubject(ctx, "sub-alice")
		require.NoError(t, err)
		assert.Empty(t, sessions)

		e.grantIn(flowtest.NewBrowser(t), e.web, e.webSecret, webRedirect, "alice")
		racing.times.Store(10)
		err = e.p.EndUserSessions(ctx, "sub-alice")
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the user keeps signing in; make the authenticator refuse the user, then call EndUserSessions again")
		assert.False(t, errors.Is(err, provider.ErrUnavailable), "not a backend failure")
	})
}
