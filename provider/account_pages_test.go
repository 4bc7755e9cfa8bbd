package provider_test

import (
	"context"
	"net/http"
	"net/url"
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

// accountInGerman is TestPagesInGerman's part for the account pages and
// the second factor set up during an authorization.
func accountInGerman(t *testing.T, g *germanCheck, accept string) {
	ctx := context.Background()
	// Alice, with her authenticator app, signs in to the portal for Acme.
	a := newACEnv(t, func(c *provider.Config) { c.Messages = hostMessages })
	_, err := a.p.UpdateClient(ctx, a.portal.ID, func(c storage.Client) (storage.Client, error) {
		c.LogoURI = "https://portal.example/logo.png"
		return c, nil
	})
	require.NoError(t, err)
	b := browserIn(t, accept)
	cfg, authURL, verifier := a.authURL(a.portal, a.portalSecret, webRedirect, "openid", "customer", "assets:read")
	back, _ := a.drive(b, authURL, "alice", answers{otp: a.code, tenant: "acme"})
	_, err = cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	apps, err := a.p.ConnectedApps(ctx, "sub-alice")
	require.NoError(t, err)
	require.Len(t, apps, 1)
	fmtTime := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
	// Her API keys: one for Acme with a permission bound and an address
	// rule, never used; one expired, without a bound.
	keyed, _, err := a.p.CreateAPIKey(ctx, storage.APIKey{OwnerType: storage.PrincipalUser, Owner: "sub-alice", Tenant: "acme",
		Name: "Nächtlicher Export", PermissionScope: []string{"assets:read"}, IPRanges: []string{"192.0.2.0/24"}})
	require.NoError(t, err)
	expiredAt := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	require.NoError(t, a.store.(storage.APIKeyStore).CreateAPIKey(ctx, storage.APIKey{ID: "oldkeyoldkeyoldk", OwnerType: storage.PrincipalUser,
		Owner: "sub-alice", Tenant: "globex", Name: "Alter Schlüssel", Hash: "hmac-sha256$AAAA", CreatedAt: expiredAt.Add(-time.Hour), ExpiresAt: expiredAt}))

	// The apps page: the portal, its logo, tenant, scopes and dates.
	page := flowtest.Get(t, b, a.url("/account/apps"))
	g.page("account apps", page, http.StatusOK, say("account.apps-title"), say("account.nav-apps"), say("account.nav-security"),
		strong("page.signed-in-as", "alice"), say("account.apps-intro"), say("account.app-logo-alt", "Portal"),
		say("account.app-tenant", "Acme Corp"), say("account.app-granted", fmtTime(apps[0].GrantedAt)),
		say("account.app-last-used", fmtTime(apps[0].LastUsed)), say("scope.assets:read"), say("account.app-revoke"),
		say("account.keys-heading"), say("account.keys-intro"), say("account.app-tenant", "Globex Inc"), say("account.key-all"),
		say("account.key-from"), say("account.key-created", fmtTime(keyed.CreatedAt)), say("account.key-never-used"),
		say("account.key-expires", fmtTime(keyed.ExpiresAt)), say("account.key-expired", fmtTime(expiredAt)), say("account.key-revoke"))
	g.page("account apps, no app", flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "revoke"), url.Values{"client_id": {""}}),
		http.StatusBadRequest, say("account.no-app"))
	g.page("account apps, unknown action", flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "revoke"), url.Values{"action": {"x"}}),
		http.StatusBadRequest, say("account.bad-action"))
	revoked := flowtest.Follow(t, b, flowtest.SubmitForm(t, b, page, page.FormWith(t, "action", "revoke"), nil))
	g.page("account apps, revoked", revoked, http.StatusOK, say("account.notice-revoked"), say("account.apps-none"))
	g.page("account keys, no key", flowtest.SubmitForm(t, b, revoked, revoked.FormWith(t, "key_id", keyed.ID), url.Values{"key_id": {""}}),
		http.StatusBadRequest, say("account.no-key"))
	g.page("account keys, not hers", flowtest.SubmitForm(t, b, revoked, revoked.FormWith(t, "key_id", keyed.ID), url.Values{"key_id": {"aaaaaaaaaaaaaaaa"}}),
		http.StatusBadRequest, say("account.key-unknown"))
	g.page("account keys, revoked", flowtest.Follow(t, b, flowtest.SubmitForm(t, b, revoked, revoked.FormWith(t, "key_id", keyed.ID), nil)),
		http.StatusOK, say("account.notice-key-revoked"), say("account.key-expired", fmtTime(expiredAt)))
	g.page("account, no such page", flowtest.Get(t, b, a.url("/account/nothing")), http.StatusNotFound, say("account.not-found"))

	// The security page: replace (pending, then cancelled), remove, set up.
	sec := flowtest.Get(t, b, a.url("/account/security"))
	g.page("account security", sec, http.StatusOK, say("account.security-title"), say("account.mfa-heading"), say("account.mfa-on", "10"),
		say("account.mfa-replace-heading"), say("account.mfa-replace-intro"), say("account.mfa-replace"),
		say("account.mfa-remove-heading"), say("account.mfa-remove-intro"), say("account.mfa-remove"), say("mfa.code"))
	g.page("account security, wrong code", flowtest.SubmitForm(t, b, sec, sec.FormWith(t, "action", "totp-remove"), url.Values{"otp": {"000000"}}),
		http.StatusBadRequest, say("mfa.wrong"))
	a.nextStep()
	replacing := flowtest.Follow(t, b, flowtest.SubmitForm(t, b, sec, sec.FormWith(t, "action", "totp-replace"), url.Values{"otp": {a.code()}}))
	g.page("account security, replacing", replacing, http.StatusOK, say("account.mfa-replacing"), say("account.mfa-scan"), say("account.qr-label"),
		say("account.mfa-key"), say("account.mfa-confirm"), say("account.mfa-cancel"))
	sec = flowtest.Follow(t, b, flowtest.SubmitForm(t, b, replacing, replacing.FormWith(t, "action", "totp-cancel"), nil))
	a.nextStep()
	removed := flowtest.Follow(t, b, flowtest.SubmitForm(t, b, sec, sec.FormWith(t, "action", "totp-remove"), url.Values{"otp": {a.code()}}))
	g.page("account security, removed", removed, http.StatusOK, say("account.notice-removed"), say("account.mfa-off"), say("account.mfa-start"))
	setup := flowtest.Follow(t, b, flowtest.SubmitForm(t, b, removed, removed.FormWith(t, "action", "totp-start"), nil))
	secret := shownSecret(t, setup)
	done := flowtest.SubmitForm(t, b, setup, setup.FormWith(t, "action", "totp-confirm"), url.Values{"otp": {mfa.Code(secret, a.mfaClock.Now())}})
	g.page("account security, set up", done, http.StatusOK, say("account.notice-enrolled"), say("account.codes-heading"),
		say("account.codes-intro"), say("account.codes-done"))

	// The account login: password, then the second factor.
	b2 := browserIn(t, accept)
	login := flowtest.Follow(t, b2, flowtest.Get(t, b2, a.url("/account/security")))
	g.page("account login", login, http.StatusOK, say("login.title"), say("login.heading", g.de["account.name-login"]), say("account.name-login"))
	second := flowtest.Follow(t, b2, flowtest.Submit(t, b2, login, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	g.page("account login, second factor", second, http.StatusOK, say("mfa.title"), say("mfa.intro", g.de["account.name-mfa"]), say("account.name-mfa"))

	// No factor to set up.
	plain := newEnv(t)
	pb := browserIn(t, accept)
	signed := flowtest.Follow(t, pb, flowtest.Get(t, pb, plain.url("/account/security")))
	none := flowtest.Follow(t, pb, flowtest.Follow(t, pb, flowtest.Submit(t, pb, signed, url.Values{"username": {"alice"}, "password": {"alice-password"}})))
	g.page("account security, no factor", none, http.StatusOK, say("account.mfa-unavailable"))

	// Setting up a factor during an authorization.
	e := newAccountEnv(t, memory.New(), func(c *provider.Config) { c.EnrollMFAAtLogin = true })
	eb := browserIn(t, accept)
	ecfg := e.oauth2Config(e.secure, e.secureSecret, webRedirect, "openid")
	enroll := flowtest.Follow(t, eb, flowtest.Get(t, eb, ecfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	enroll = flowtest.Follow(t, eb, flowtest.Submit(t, eb, enroll, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	g.page("mfa enroll", enroll, http.StatusOK, say("mfa-enroll.title"), say("mfa-enroll.intro", "Secure Console"), say("account.mfa-scan"),
		say("account.mfa-key"), say("account.mfa-confirm"))
	codes := flowtest.Follow(t, eb, flowtest.Submit(t, eb, enroll, url.Values{"otp": {mfa.Code(shownSecret(t, enroll), e.mfaClock.Now())}}))
	g.page("mfa recovery codes", codes, http.StatusOK, say("mfa-recovery.title"), say("account.codes-heading"), say("account.codes-intro"),
		say("mfa-recovery.continue"))
}
