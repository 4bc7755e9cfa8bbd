package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

// acIDClaims are the ID token claims of the access-control scopes.
type acIDClaims struct {
	idClaims
	ACR               string `json:"acr"`
	CustomerID        string `json:"customer_id"`
	DomainID          string `json:"domain_id"`
	CustomerShortname string `json:"customer_shortname"`
	CustomerName      string `json:"customer_name"`
	GroupString       string `json:"groupstring"`
	ClientIP          string `json:"client_ip"`
	Username          string `json:"username"`
}

func (a *acEnv) idClaims(tok *oauth2.Token) acIDClaims {
	a.t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	require.NotEmpty(a.t, raw, "an ID token")
	a.verifyIDToken(raw) // signature, issuer, expiry
	parts := strings.Split(raw, ".")
	var c acIDClaims
	b, err := base64URLDecode(parts[1])
	require.NoError(a.t, err)
	require.NoError(a.t, json.Unmarshal(b, &c))
	return c
}

var allPortalScopes = []string{"openid", "offline_access", "profile", "email", "groups", "groupstring", "customer", "clientip", "assets:read", "assets:write", "registry:read"}

// The walkthrough: alice on the portal logs in, enters her TOTP
// code, picks a tenant, consents, and in acme gets assets:read
// registry:read, never assets:write.
func TestAccessAliceOnPortal(t *testing.T) {
	a := newACEnv(t)
	tok, seen := a.login(a.portal, a.portalSecret, webRedirect, "alice", answers{otp: a.code, tenant: "acme"}, allPortalScopes...)
	require.Equal(t, []string{"login", "mfa", "tenant", "consent"}, pages(seen), "the steps, in order")

	// The tenant page: a form field named tenant, one option per tenant,
	// the tenant IDs as values.
	tenantPage := seen[2].body
	assert.Contains(t, tenantPage, `<select id="tenant" name="tenant"`)
	assert.Equal(t, [][]string{{`<option value="acme">`, "acme"}, {`<option value="globex">`, "globex"}}, optionRe.FindAllStringSubmatch(tenantPage, -1))
	// The consent page shows what will be granted, not what was asked.
	consent := seen[3].body
	assert.Contains(t, consent, "<code>registry:read</code>")
	assert.NotContains(t, consent, "assets:write")
	assert.Contains(t, consent, "Acme Corp")

	// The granted scope is exactly the intersection, and the token response
	// says so because it differs from the request.
	assert.Equal(t, []string{"assets:read", "clientip", "customer", "email", "groups", "groupstring", "offline_access", "openid", "profile", "registry:read"}, scopesOf(tok))

	c := a.idClaims(tok)
	assert.Equal(t, []string{"pwd", "otp"}, c.AMR)
	assert.Equal(t, "2", c.ACR)
	assert.Equal(t, "acme", c.CustomerID)
	assert.Equal(t, "dom-acme", c.DomainID)
	assert.Equal(t, "ACME", c.CustomerShortname)
	assert.Equal(t, "Acme Corp", c.CustomerName)
	assert.Equal(t, []string{"admins", "developers"}, c.Groups)
	assert.Equal(t, `["admins","developers"]`, c.GroupString, "groupstring is the groups array as a JSON-encoded string")
	assert.Equal(t, "127.0.0.1", c.ClientIP)
	assert.Equal(t, "alice", c.Username)
	assert.Equal(t, "Alice Example", c.Name)

	// Introspection carries the tenant and the address.
	in := a.introspect(tok.AccessToken)
	assert.Equal(t, true, in["active"])
	assert.Equal(t, "acme", in["customer_id"])
	assert.Equal(t, "127.0.0.1", in["client_ip"])
	assert.Equal(t, "2", in["acr"])
	assert.NotContains(t, strings.Fields(in["scope"].(string)), "assets:write")

	// So does userinfo.
	ui := a.userinfo(tok.AccessToken)
	assert.Equal(t, "sub-alice", ui["sub"])
	assert.Equal(t, "acme", ui["customer_id"])
	assert.Equal(t, "Acme Corp", ui["customer_name"])
	assert.Equal(t, `["admins","developers"]`, ui["groupstring"])
	assert.Equal(t, "127.0.0.1", ui["client_ip"])
	assert.Equal(t, "alice", ui["username"])
}

// In globex alice holds only assets:read: that is all she gets there.
func TestAccessTenantDecidesPermissions(t *testing.T) {
	a := newACEnv(t)
	tok, _ := a.login(a.portal, a.portalSecret, webRedirect, "alice", answers{otp: a.code, tenant: "globex"}, "openid", "customer", "assets:read", "assets:write", "registry:read")
	assert.Equal(t, []string{"assets:read", "customer", "openid"}, scopesOf(tok))
	assert.Equal(t, "globex", a.idClaims(tok).CustomerID)
}

// A claim scope not granted gives no claims.
func TestAccessClaimsOnlyForGrantedScopes(t *testing.T) {
	a := newACEnv(t)
	tok, _ := a.login(a.portal, a.portalSecret, webRedirect, "alice", answers{otp: a.code, tenant: "acme"}, "openid", "assets:read")
	c := a.idClaims(tok)
	assert.Empty(t, c.CustomerID)
	assert.Empty(t, c.GroupString)
	assert.Empty(t, c.ClientIP)
	assert.Empty(t, c.Email)
	in := a.introspect(tok.AccessToken)
	assert.Equal(t, "acme", in["customer_id"], "introspection names the tenant whatever the scopes")
	ui := a.userinfo(tok.AccessToken)
	assert.NotContains(t, ui, "customer_id")
	assert.NotContains(t, ui, "client_ip")
}

// When the scope is exactly the request, the token response need not
// repeat it; fosite always does, so assert only that it is right.
func TestAccessScopeUnchangedWhenFullyGranted(t *testing.T) {
	a := newACEnv(t)
	tok, _ := a.login(a.portal, a.portalSecret, webRedirect, "alice", answers{otp: a.code, tenant: "acme"}, "openid", "assets:read", "registry:read")
	assert.Equal(t, []string{"assets:read", "openid", "registry:read"}, scopesOf(tok))
}

func TestAccessBobRefusedOnPortalMFARequired(t *testing.T) {
	a := newACEnv(t)
	q := a.refused(a.portal, webRedirect, "bob", answers{}, "openid", "assets:read")
	assert.Equal(t, "access_denied", q.Get("error"))
	assert.Contains(t, q.Get("error_description"), "multi-factor authentication required")
	assert.Equal(t, "state-0123456789", q.Get("state"))
}

func TestAccessCarolRefusedEverywhere(t *testing.T) {
	a := newACEnv(t)
	for _, tc := range []struct {
		c        storage.Client
		redirect string
	}{{a.portal, webRedirect}, {a.spa, spaRedirect}} {
		q := a.refused(tc.c, tc.redirect, "carol", answers{}, "openid")
		assert.Equal(t, "access_denied", q.Get("error"), tc.c.ID)
		assert.Contains(t, q.Get("error_description"), "requires the role 'portal-user'", tc.c.ID)
	}
	// The password grant refuses her too.
	status, body := a.postFrom(http.DefaultClient, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"carol-password"}, "scope": {"assets:read"}}, a.legacy.ID, a.legacySecret, nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.Contains(t, body["error_description"], "portal-user")
}

// A client bound to acme: no tenant page, only acme's memberships count,
// and a user of another tenant only is refused.
func TestAccessCustomerBoundClient(t *testing.T) {
	a := newACEnv(t)
	tok, seen := a.login(a.spa, "", spaRedirect, "alice", answers{otp: a.code}, "openid", "customer", "assets:write", "registry:read")
	assert.Equal(t, []string{"login", "mfa", "consent"}, pages(seen), "alice has a factor enrolled: the step runs; the client is bound: no tenant page")
	assert.Equal(t, []string{"assets:write", "customer", "openid", "registry:read"}, scopesOf(tok), "acme's permissions, not globex's")
	assert.Equal(t, "acme", a.idClaims(tok).CustomerID)

	// A wildcard in the client's scopes covers the request.
	a.nextStep()
	tok, _ = a.login(a.spa, "", spaRedirect, "alice", answers{otp: a.code}, "openid", "assets:read")
	assert.Equal(t, []string{"assets:read", "openid"}, scopesOf(tok))

	// dave is only in globex.
	a.db.users["dave"] = &acUser{"dave-password", provider.User{Subject: "sub-dave", Username: "dave",
		Memberships: []provider.Membership{{Tenant: globex, Roles: []string{"portal-user"}, Permissions: []string{"assets:*"}}}}}
	q := a.refused(a.spa, spaRedirect, "dave", answers{}, "openid")
	assert.Equal(t, "access_denied", q.Get("error"))
	assert.Contains(t, q.Get("error_description"), "customer organisation you are not a member of")
}

// A user whose one tenant qualifies never sees the tenant page.
func TestAccessSingleTenantSkipsChoice(t *testing.T) {
	a := newACEnv(t)
	a.db.change("alice", func(u *provider.User) { u.Memberships[1].Roles = nil }) // globex no longer qualifies
	tok, seen := a.login(a.portal, a.portalSecret, webRedirect, "alice", answers{otp: a.code}, "openid", "customer", "registry:read")
	assert.Equal(t, []string{"login", "mfa", "consent"}, pages(seen))
	assert.Equal(t, "acme", a.idClaims(tok).CustomerID)
}

// The tenant page accepts only the tenants it listed.
func TestAccessTenantChoiceCannotBeForged(t *testing.T) {
	a := newACEnv(t)
	a.db.users["erin"] = &acUser{"erin-password", provider.User{Subject: "sub-erin", Username: "erin",
		Memberships: []provider.Membership{
			{Tenant: acme, Roles: []string{"portal-user"}, Permissions: []string{"assets:read"}},
			{Tenant: globex, Roles: []string{"portal-user"}, Permissions: []string{"assets:read"}},
			{Tenant: provider.Tenant{ID: "initech"}, Permissions: []string{"assets:read", "registry:read"}}, // no role
		}}}
	_, u, _ := a.authURL(a.spa, "", spaRedirect, "openid")
	b := flowtest.NewBrowser(t)
	// The portal would ask erin for MFA (none enrolled: refused), so use a
	// client without RequireMFA and without a customer.
	open, _, err := a.p.CreateClient(context.Background(), storage.Client{ID: "open", Public: true, GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{spaRedirect}, Scopes: []string{"openid", "customer", "registry:read"}, RequiredRole: "portal-user"})
	require.NoError(t, err)
	_, u, _ = a.authURL(open, "", spaRedirect, "openid", "customer", "registry:read")
	page := flowtest.Follow(t, b, flowtest.Get(t, b, u))
	page = flowtest.Submit(t, b, page, url.Values{"username": {"erin"}, "password": {"erin-password"}})
	page = flowtest.Follow(t, b, page)
	require.Contains(t, page.Body, `name="tenant"`)
	assert.Equal(t, 2, len(optionRe.FindAllString(page.Body, -1)), "initech does not qualify: no role there")
	for _, forged := range []string{"initech", "nope", ""} {
		again := flowtest.Submit(t, b, page, url.Values{"tenant": {forged}})
		assert.Equal(t, http.StatusBadRequest, again.Status, "tenant %q", forged)
		assert.Contains(t, again.Body, "Choose one of the listed customers")
	}
	back := flowtest.Submit(t, b, page, url.Values{"tenant": {"globex"}})
	back = flowtest.Follow(t, b, back)
	require.Contains(t, back.Body, `name="decision"`)
	assert.NotContains(t, back.Body, "registry:read", "globex does not give registry:read")
}

// AuthorizedClients lists only the clients a user may sign in to.
func TestAuthorizedClients(t *testing.T) {
	a := newACEnv(t)
	ids := func(subject string) []string {
		cs, err := a.p.AuthorizedClients(context.Background(), subject)
		require.NoError(t, err)
		var out []string
		for _, c := range cs {
			assert.Empty(t, c.Secrets, "no secrets")
			out = append(out, c.ID)
		}
		return out
	}
	assert.Equal(t, []string{"acme-spa", "legacy", "portal", "spa", "web"}, ids("sub-alice"))
	assert.Equal(t, []string{"spa", "web"}, ids("sub-carol"), "carol lacks portal-user; svc clients are never listed")
	a.db.change("bob", func(u *provider.User) { u.Memberships[0].Tenant = globex })
	assert.Equal(t, []string{"legacy", "portal", "spa", "web"}, ids("sub-bob"), "bob left acme: not acme-spa")
	_, err := a.p.AuthorizedClients(context.Background(), "sub-nobody")
	assert.ErrorIs(t, err, provider.ErrUserNotFound)
}

// A refresh can never widen the grant, and fails once the user has lost
// the role or the permission since; the family is revoked then.
func TestAccessRefreshRechecks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(u *provider.User)
		want   string
	}{
		{"lost permission", func(u *provider.User) { u.Memberships[0].Permissions = []string{"assets:read"} }, "registry:read"},
		{"lost role", func(u *provider.User) { u.Memberships[0].Roles = nil }, "no longer"},
		{"left tenant", func(u *provider.User) { u.Memberships = u.Memberships[1:] }, "no longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newACEnv(t)
			tok, _ := a.login(a.portal, a.portalSecret, webRedirect, "alice", answers{otp: a.code, tenant: "acme"}, "openid", "offline_access", "assets:read", "registry:read")
			require.NotEmpty(t, tok.RefreshToken)
			refresh := func(rt string, extra url.Values) (int, map[string]any) {
				v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
				for k, vs := range extra {
					v[k] = vs
				}
				return a.postFrom(http.DefaultClient, "/oauth2/token", v, a.portal.ID, a.portalSecret, nil)
			}
			// Widening is refused.
			status, body := refresh(tok.RefreshToken, url.Values{"scope": {"openid assets:read assets:write"}})
			require.Equal(t, http.StatusBadRequest, status, "%v", body)
			assert.Equal(t, "invalid_scope", body["error"])
			// A plain refresh works while nothing changed.
			status, body = refresh(tok.RefreshToken, nil)
			require.Equal(t, http.StatusOK, status, "%v", body)
			assert.ElementsMatch(t, []string{"openid", "offline_access", "assets:read", "registry:read"}, strings.Fields(body["scope"].(string)))
			rt, at := body["refresh_token"].(string), body["access_token"].(string)

			a.db.change("alice", tc.change)
			status, body = refresh(rt, nil)
			assert.Equal(t, http.StatusBadRequest, status)
			assert.Equal(t, "invalid_grant", body["error"])
			assert.Contains(t, body["error_description"], tc.want)
			assert.Equal(t, false, a.introspect(at)["active"], "the grant's access token is revoked")
			assert.Equal(t, false, a.introspect(rt)["active"], "and its refresh token")
		})
	}
}

// The client's own permission scope bounds client credentials, and the
// password grant applies the same intersection.
func TestAccessGrantsWithoutInteraction(t *testing.T) {
	a := newACEnv(t)
	status, body := a.postFrom(http.DefaultClient, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read registry:read"}}, a.svc.ID, a.svcSecret, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "assets:read", body["scope"], "registry:read is outside the client's permission scope")

	pw := func(user string, extra url.Values) (int, map[string]any) {
		v := url.Values{"grant_type": {"password"}, "username": {user}, "password": {a.db.password(user)}, "scope": {"assets:read assets:write registry:read"}}
		for k, vs := range extra {
			v[k] = vs
		}
		return a.postFrom(http.DefaultClient, "/oauth2/token", v, a.legacy.ID, a.legacySecret, nil)
	}
	status, body = pw("bob", nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "assets:read", body["scope"], "bob holds only assets:read")
	in := a.introspect(body["access_token"].(string))
	assert.Equal(t, "acme", in["customer_id"])
	assert.Equal(t, "sub-bob", in["sub"])

	// alice has a second factor, which the password grant cannot ask for.
	status, body = pw("alice", nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.Contains(t, body["error_description"], "multi-factor authentication required")

	// A user of several tenants must name one.
	a.db.users["frank"] = &acUser{"frank-password", provider.User{Subject: "sub-frank", Username: "frank", Memberships: []provider.Membership{
		{Tenant: acme, Roles: []string{"portal-user"}, Permissions: []string{"assets:*"}},
		{Tenant: globex, Roles: []string{"portal-user"}, Permissions: []string{"registry:read"}},
	}}}
	status, body = pw("frank", nil)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_request", body["error"])
	assert.Contains(t, body["error_description"], "tenant parameter")
	status, body = pw("frank", url.Values{"tenant": {"globex"}})
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "registry:read", body["scope"])
	status, body = pw("frank", url.Values{"tenant": {"initech"}})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", body["error"])
}

func (a *acEnv) userinfo(token string) map[string]any {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.url("/userinfo"), nil)
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	status, body, _ := a.do(req)
	require.Equal(a.t, http.StatusOK, status, "userinfo: %v", body)
	return body
}

// Custom claims: registered by scope, in ID tokens and userinfo, never
// overriding the token's own claims.
func TestAccessCustomClaims(t *testing.T) {
	a := newACEnv(t, func(c *provider.Config) {
		c.Claims = map[string]provider.ClaimFunc{
			"department": func(_ context.Context, r provider.ClaimRequest) (map[string]any, error) {
				out := map[string]any{"department": "dept-of-" + r.User.Username, "sub": "forged", "acr": "9"}
				if r.Tenant != nil {
					out["department_tenant"] = r.Tenant.ID
				}
				return out, nil
			},
		}
	})
	c, _, err := a.p.CreateClient(context.Background(), storage.Client{ID: "hr", Public: true, GrantTypes: []string{"authorization_code"},
		RedirectURIs: []string{spaRedirect}, Scopes: []string{"openid", "department"}, Customer: "acme"})
	require.NoError(t, err)
	tok, _ := a.login(c, "", spaRedirect, "bob", answers{}, "openid", "department")
	assert.Equal(t, []string{"department", "openid"}, scopesOf(tok), "a custom claim scope is not a permission: bob holds no 'department' permission")
	raw, _ := tok.Extra("id_token").(string)
	var claims map[string]any
	b, err := base64URLDecode(strings.Split(raw, ".")[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &claims))
	assert.Equal(t, "dept-of-bob", claims["department"])
	assert.Equal(t, "acme", claims["department_tenant"])
	assert.Equal(t, "sub-bob", claims["sub"], "reserved claims are not taken from a ClaimFunc")
	assert.Equal(t, "1", claims["acr"])
	ui := a.userinfo(tok.AccessToken)
	assert.Equal(t, "dept-of-bob", ui["department"])
	assert.Equal(t, "sub-bob", ui["sub"])

	var disc provider.Discovery
	resp, err := http.Get(a.url("/.well-known/openid-configuration"))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, decodeJSON(resp, &disc))
	assert.Contains(t, disc.ScopesSupported, "department")
	assert.Contains(t, disc.ScopesSupported, "groupstring")
	assert.Contains(t, disc.ClaimsSupported, "customer_id")
}

// A permission the user lacks everywhere is simply not granted; the flow
// succeeds with the rest.
func TestAccessNothingHeldGrantsClaimScopesOnly(t *testing.T) {
	a := newACEnv(t)
	tok, _ := a.login(a.spa, "", spaRedirect, "bob", answers{}, "openid", "registry:read")
	assert.Equal(t, []string{"openid"}, scopesOf(tok))
	status, body, _ := a.getWithToken("/api/assets", tok.AccessToken)
	assert.Equal(t, http.StatusForbidden, status, "%v", body)
}

func (a *acEnv) getWithToken(path, token string) (int, map[string]any, http.Header) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, a.url(path), nil)
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	return a.do(req)
}

func base64URLDecode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// RFC 9068 JWT access tokens carry the granted scope and the tenant, for
// resource servers that do not introspect.
func TestAccessJWTAccessTokenCarriesTenant(t *testing.T) {
	a := newACEnv(t, func(c *provider.Config) { c.JWTAccessTokens = true })
	tok, _ := a.login(a.portal, a.portalSecret, webRedirect, "alice", answers{otp: a.code, tenant: "globex"}, "openid", "assets:read", "registry:read")
	parts := strings.Split(tok.AccessToken, ".")
	require.Len(t, parts, 3, "a JWT")
	b, err := base64URLDecode(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(b, &claims))
	assert.Equal(t, "globex", claims["customer_id"])
	assert.Equal(t, "openid assets:read", claims["scope"])
	assert.Equal(t, "2", claims["acr"])
}

// A user backend that fails during a refresh's re-check answers 503 and
// ends nothing: the same refresh token works once the backend is back.
func TestAccessRefreshRecheckBackendFailure(t *testing.T) {
	var fail atomic.Bool
	var a *acEnv
	a = newACEnv(t, func(c *provider.Config) {
		c.UserLookup = provider.UserLookupFunc(func(ctx context.Context, subject string) (provider.User, error) {
			if fail.Load() {
				return provider.User{}, errors.New("directory down")
			}
			return a.db.LookupUser(ctx, subject)
		})
	})
	cfg, u, verifier := a.authURL(a.spa, "", spaRedirect, "openid", "offline_access", "assets:read")
	back, _ := a.drive(flowtest.NewBrowser(t), u, "bob", answers{})
	tok, err := cfg.Exchange(context.Background(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)

	refresh := func() (int, map[string]any) {
		return a.postFrom(http.DefaultClient, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {a.spa.ID}}, "", "", nil)
	}
	fail.Store(true)
	status, body := refresh()
	assert.Equal(t, http.StatusServiceUnavailable, status, "%v", body)
	assert.Equal(t, "temporarily_unavailable", body["error"])
	fail.Store(false)
	status, body = refresh()
	assert.Equal(t, http.StatusOK, status, "the grant survived the outage: %v", body)
}
