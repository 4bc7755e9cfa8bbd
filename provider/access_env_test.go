package provider_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// The access-control environment mirrors the demo data of the issue: two
// tenants, alice (TOTP, both tenants), bob (acme, no MFA), carol (acme, no
// roles), and clients that require a role, bind a customer, bound the
// permissions, require MFA or restrict IP ranges.

const demoTOTPSecret = "JBSWY3DPEHPK3PXP"

var (
	acme   = provider.Tenant{ID: "acme", DomainID: "dom-acme", ShortName: "ACME", Name: "Acme Corp"}
	globex = provider.Tenant{ID: "globex", DomainID: "dom-globex", ShortName: "GLX", Name: "Globex Inc"}
)

type acUser struct {
	password string
	user     provider.User
}

// acDB is a user backend whose users tests can change while tokens live.
type acDB struct {
	mu    sync.Mutex
	users map[string]*acUser // by username
}

func newACDB() *acDB {
	return &acDB{users: map[string]*acUser{
		"alice": {"alice-password", provider.User{
			Subject: "sub-alice", Username: "alice", Name: "Alice Example", Email: "alice@example.com", EmailVerified: true,
			Groups: []string{"admins", "developers"},
			Memberships: []provider.Membership{
				{Tenant: acme, Roles: []string{"portal-user"}, Permissions: []string{"assets:read", "assets:write", "registry:read"}},
				{Tenant: globex, Roles: []string{"portal-user"}, Permissions: []string{"assets:read"}},
			},
		}},
		"bob": {"bob-password", provider.User{
			Subject: "sub-bob", Username: "bob", Name: "Bob Example",
			Memberships: []provider.Membership{{Tenant: acme, Roles: []string{"portal-user"}, Permissions: []string{"assets:read"}}},
		}},
		"carol": {"carol-password", provider.User{
			Subject: "sub-carol", Username: "carol", Name: "Carol Example",
			Memberships: []provider.Membership{{Tenant: acme}},
		}},
	}}
}

func (d *acDB) Authenticate(_ context.Context, username, password string) (provider.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	u, ok := d.users[username]
	if !ok || u.password != password {
		return provider.User{}, provider.ErrInvalidCredentials
	}
	return u.user, nil
}

func (d *acDB) LookupUser(_ context.Context, subject string) (provider.User, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range d.users {
		if u.user.Subject == subject {
			return u.user, nil
		}
	}
	return provider.User{}, provider.ErrUserNotFound
}

// change edits a user in place.
func (d *acDB) change(username string, f func(u *provider.User)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(&d.users[username].user)
}

func (d *acDB) password(username string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.users[username].password
}

type acEnv struct {
	*env
	db     *acDB
	totp   *mfa.TOTP
	secret []byte // alice's TOTP secret
	// mfaClock is the TOTP factor's clock. Tests move it, not the
	// provider's: fosite checks auth_time against the wall clock.
	mfaClock *clock

	portal, spa, svc, legacy storage.Client
	portalSecret             string
	svcSecret                string
	legacySecret             string
}

func newACEnv(t testing.TB, mutate ...func(*provider.Config)) *acEnv {
	t.Helper()
	return newACEnvOn(t, memory.New(), mutate...)
}

// newACEnvOn is newACEnv on the given store.
func newACEnvOn(t testing.TB, store storage.Store, mutate ...func(*provider.Config)) *acEnv {
	t.Helper()
	a := &acEnv{db: newACDB(), mfaClock: &clock{}}
	var err error
	a.env = newEnvOn(t, store, append([]func(*provider.Config){func(c *provider.Config) {
		c.AllowLegacyGrants = true // the "legacy" client uses the password grant
		c.Authenticator = a.db
		c.UserLookup = a.db
		a.totp, err = mfa.NewTOTP(c.Store, mfa.TOTPOptions{Issuer: "Gatehouse test", Now: a.mfaClock.Now, Key: []byte("0123456789abcdef0123456789abcdef")})
		require.NoError(t, err)
		c.Factors = []mfa.Factor{a.totp}
	}}, mutate...)...)
	ctx := context.Background()
	_, err = a.totp.EnrollSecret(ctx, "sub-alice", "alice", demoTOTPSecret)
	require.NoError(t, err)
	a.secret, err = mfa.DecodeSecret(demoTOTPSecret)
	require.NoError(t, err)

	a.portal, a.portalSecret, err = a.p.CreateClient(ctx, storage.Client{
		ID: "portal", Name: "Portal",
		GrantTypes:      []string{"authorization_code", "refresh_token"},
		RedirectURIs:    []string{webRedirect},
		Scopes:          []string{"openid", "offline_access", "profile", "email", "groups", "groupstring", "customer", "clientip", "assets:read", "assets:write", "registry:read"},
		RequiredRole:    "portal-user",
		PermissionScope: []string{"assets:read", "registry:read"},
		RequireMFA:      true,
	})
	require.NoError(t, err)
	a.spa, _, err = a.p.CreateClient(ctx, storage.Client{
		ID: "acme-spa", Public: true,
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{spaRedirect},
		Scopes:       []string{"openid", "offline_access", "customer", "assets:*", "registry:read"},
		RequiredRole: "portal-user",
		Customer:     "acme",
	})
	require.NoError(t, err)
	a.svc, a.svcSecret, err = a.p.CreateClient(ctx, storage.Client{
		ID: "svc-ip", GrantTypes: []string{"client_credentials"},
		Scopes:          []string{"assets:read", "registry:read"},
		PermissionScope: []string{"assets:read"},
		IPRanges:        []string{"127.0.0.1/32", "2001:db8::/32"},
	})
	require.NoError(t, err)
	a.legacy, a.legacySecret, err = a.p.CreateClient(ctx, storage.Client{
		ID: "legacy", GrantTypes: []string{"password", "refresh_token"},
		Scopes:       []string{"openid", "offline_access", "assets:read", "assets:write", "registry:read"},
		RequiredRole: "portal-user",
	})
	require.NoError(t, err)
	a.secrets[a.portal.ID], a.secrets[a.svc.ID], a.secrets[a.legacy.ID] = a.portalSecret, a.svcSecret, a.legacySecret
	return a
}

// code returns alice's TOTP code at the environment's current time.
func (a *acEnv) code() string { return mfa.Code(a.secret, a.mfaClock.Now()) }

// nextStep moves the clock to the next TOTP step, so a fresh code exists.
func (a *acEnv) nextStep() { a.mfaClock.Advance(30 * time.Second) }

// answers says how the simulated user answers each page of the flow.
type answers struct {
	otp    func() string // nil: the test fails if asked
	tenant string        // "" : the test fails if asked
}

// visit is one page the flow showed.
type visit struct {
	page string // login, mfa, tenant, consent
	body string
}

var optionRe = regexp.MustCompile(`<option value="([^"]*)">`)

// drive runs the browser part of an authorization from authURL and returns
// the redirect that leaves the provider and the pages seen on the way.
func (a *acEnv) drive(b *http.Client, authURL, username string, ans answers) (*url.URL, []visit) {
	t := a.t
	t.Helper()
	var seen []visit
	page := flowtest.Get(t, b, authURL)
	for range 10 {
		if page.Status != http.StatusSeeOther && page.Status != http.StatusFound {
			t.Fatalf("drive: unexpected status %d at %s:\n%s", page.Status, page.URL, page.Body)
		}
		loc := page.Location(t)
		if !strings.HasPrefix(loc.String(), a.issuer) {
			return loc, seen
		}
		page = flowtest.Get(t, b, loc.String())
		switch {
		case strings.Contains(page.Body, `name="password"`):
			seen = append(seen, visit{"login", page.Body})
			page = flowtest.Submit(t, b, page, url.Values{"username": {username}, "password": {a.db.password(username)}})
		case strings.Contains(page.Body, `name="otp"`):
			seen = append(seen, visit{"mfa", page.Body})
			require.NotNil(t, ans.otp, "drive: asked for a second factor unexpectedly")
			page = flowtest.Submit(t, b, page, url.Values{"otp": {ans.otp()}})
		case strings.Contains(page.Body, `name="tenant"`):
			seen = append(seen, visit{"tenant", page.Body})
			require.NotEmpty(t, ans.tenant, "drive: asked for a tenant unexpectedly")
			page = flowtest.Submit(t, b, page, url.Values{"tenant": {ans.tenant}})
		case strings.Contains(page.Body, `name="decision"`):
			seen = append(seen, visit{"consent", page.Body})
			page = flowtest.Submit(t, b, page, url.Values{"decision": {"allow"}})
		default:
			t.Fatalf("drive: unknown page %d at %s:\n%s", page.Status, page.URL, page.Body)
		}
	}
	t.Fatalf("drive: too many steps")
	return nil, nil
}

// pages lists the names of the pages seen.
func pages(vs []visit) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.page)
	}
	return out
}

// authURL builds an authorization URL with PKCE for c; it returns the URL
// and the verifier.
func (a *acEnv) authURL(c storage.Client, secret, redirect string, scopes ...string) (*oauth2.Config, string, string) {
	cfg := a.oauth2Config(c, secret, redirect, scopes...)
	verifier := oauth2.GenerateVerifier()
	return cfg, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-0123456789")), verifier
}

// login runs a whole code flow and exchanges the code.
func (a *acEnv) login(c storage.Client, secret, redirect, username string, ans answers, scopes ...string) (*oauth2.Token, []visit) {
	t := a.t
	t.Helper()
	cfg, u, verifier := a.authURL(c, secret, redirect, scopes...)
	back, seen := a.drive(flowtest.NewBrowser(t), u, username, ans)
	code := back.Query().Get("code")
	require.NotEmpty(t, code, "no code in %s", back)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	return tok, seen
}

// refused runs a flow that must end with an error redirect and returns it.
func (a *acEnv) refused(c storage.Client, redirect, username string, ans answers, scopes ...string) url.Values {
	t := a.t
	t.Helper()
	_, u, _ := a.authURL(c, "", redirect, scopes...)
	back, _ := a.drive(flowtest.NewBrowser(t), u, username, ans)
	q := back.Query()
	require.Empty(t, q.Get("code"), "the flow must not succeed")
	require.NotEmpty(t, q.Get("error"), "an error redirect: %s", back)
	return q
}

// fromAddr returns an HTTP client whose connections come from the
// loopback address ip (any of 127.0.0.0/8 works on Linux).
func fromAddr(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
}

// postFrom posts a form from a client address with optional basic auth and
// extra headers (each header value becomes its own header line).
func (a *acEnv) postFrom(c *http.Client, path string, vals url.Values, user, pass string, headers map[string][]string) (int, map[string]any) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.url(path), strings.NewReader(vals.Encode()))
	require.NoError(a.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := c.Do(req)
	require.NoError(a.t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = decodeJSON(resp, &m)
	return resp.StatusCode, m
}

func scopesOf(tok *oauth2.Token) []string {
	s, _ := tok.Extra("scope").(string)
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}
