package provider

import (
	"slices"
	"strings"
)

// The protocol values the provider supports are listed here once. Client
// registration (prepareClient) checks against these tables, the engine
// configuration and its handlers are built from them (New), the
// authorization endpoint's precheck reads them, and discovery advertises
// them, so that what discovery advertises is exactly what is enabled.

// grantType is a supported OAuth 2.0 grant type.
type grantType struct {
	name string
	// legacy marks a grant the OAuth 2.0 Security BCP says not to use;
	// it is enabled only with Config.AllowLegacyGrants.
	legacy bool
	// userFacing marks a grant by which a user signs in to the client
	// (Provider.AuthorizedClients).
	userFacing bool
	// token marks a grant_type of the token endpoint; the implicit grant
	// is used at the authorization endpoint only.
	token bool
	// why says, for a legacy grant, why it is off by default.
	why string
	// refreshes marks a grant that issues refresh tokens, which the
	// refresh_token grant then renews.
	refreshes bool
}

// grantTypes are the grant types, in the order discovery lists them.
var grantTypes = []grantType{
	{name: "authorization_code", userFacing: true, token: true, refreshes: true},
	{name: "refresh_token", token: true},
	{name: "client_credentials", token: true},
	{name: "implicit", legacy: true, userFacing: true, why: "it returns tokens in the redirect URI (RFC 9700 §2.1.2)"},
	{name: "password", legacy: true, userFacing: true, token: true, refreshes: true, why: "it gives the user's password to the client (RFC 9700 §2.4)"},
}

// responseTypes are the response types, in the order discovery lists them.
// Each is a set of parts; responseTypePartGrant says which grant each part
// needs, so a response type is enabled when every part's grant is.
var responseTypes = []string{"code", "id_token", "token id_token", "token", "code id_token", "code token", "code token id_token"}

var responseTypePartGrant = map[string]string{
	"code":     "authorization_code",
	"token":    "implicit",
	"id_token": "implicit",
}

// promptValues are the prompt values of OpenID Connect Core §3.1.2.1 the
// authorization endpoint accepts.
var promptValues = []string{"none", "login", "consent", "select_account"}

// claimScope is a scope that selects claims or token behaviour rather than
// permissions.
type claimScope struct {
	name string
	// advertised in discovery's scopes_supported.
	advertised bool
	// refresh: asking for it issues a refresh token.
	refresh bool
}

// claimScopeTable lists the built-in claim scopes.
var claimScopeTable = []claimScope{
	{name: "openid", advertised: true},
	{name: "offline_access", advertised: true, refresh: true},
	{name: "offline", refresh: true}, // fosite's older name for offline_access: accepted, not advertised
	{name: "profile", advertised: true},
	{name: "email", advertised: true},
	{name: "groups", advertised: true},
	{name: "groupstring", advertised: true},
	{name: "customer", advertised: true},
	{name: "clientip", advertised: true},
}

// claimScopes are the scopes that select claims or token behaviour rather
// than permissions. They pass by the client's allowed scopes alone; every
// other scope is a permission and is intersected with the client's
// permission scope and the user's permissions.
var claimScopes = claimScopeNames(func(claimScope) bool { return true })

// claimScopeNames returns the names of the claim scopes for which keep
// holds.
func claimScopeNames(keep func(claimScope) bool) []string {
	var out []string
	for _, s := range claimScopeTable {
		if keep(s) {
			out = append(out, s.name)
		}
	}
	return out
}

// authMethod is a client authentication method at the token endpoint.
type authMethod struct {
	name string
	// public: the method of public clients (no authentication).
	public bool
}

// authMethods are the token endpoint authentication methods, in the order
// discovery lists them.
var authMethods = []authMethod{
	{name: "client_secret_basic"},
	{name: "client_secret_post"},
	{name: "private_key_jwt"},
	{name: "none", public: true},
}

// authMethodNames returns the names of the methods of confidential clients,
// and of public clients too when withPublic is set.
func authMethodNames(withPublic bool) []string {
	var out []string
	for _, m := range authMethods {
		if withPublic || !m.public {
			out = append(out, m.name)
		}
	}
	return out
}

// assertionAlgs are the JWS algorithms of private_key_jwt client
// assertions.
var assertionAlgs = []string{"RS256", "ES256"}

// supported is what one provider has enabled of the tables above.
type supported struct {
	legacy        bool
	grantTypes    []string
	responseTypes []string
}

// newSupported returns what is enabled: everything, less the legacy
// grants (and the response types and handlers they need) unless
// allowLegacy.
func newSupported(allowLegacy bool) supported {
	s := supported{legacy: allowLegacy}
	for _, g := range grantTypes {
		if allowLegacy || !g.legacy {
			s.grantTypes = append(s.grantTypes, g.name)
		}
	}
	for _, rt := range responseTypes {
		if s.responseTypeEnabled(rt) {
			s.responseTypes = append(s.responseTypes, rt)
		}
	}
	return s
}

// grantEnabled reports whether grant g is known and enabled.
func (s supported) grantEnabled(g string) bool { return slices.Contains(s.grantTypes, g) }

// responseTypeEnabled reports whether every part of the response type rt
// is known and its grant enabled.
func (s supported) responseTypeEnabled(rt string) bool {
	parts := strings.Fields(rt)
	for _, part := range parts {
		g, ok := responseTypePartGrant[part]
		if !ok || !s.grantEnabled(g) {
			return false
		}
	}
	return len(parts) > 0
}

// tokenGrantEnabled reports whether g is an enabled grant_type of the
// token endpoint, which fosite has a handler for.
func (s supported) tokenGrantEnabled(g string) bool {
	t, ok := lookupGrant(g)
	return ok && t.token && s.grantEnabled(g)
}

// userFacing reports whether g is an enabled grant by which users sign in.
func (s supported) userFacing(g string) bool {
	t, ok := lookupGrant(g)
	return ok && t.userFacing && s.grantEnabled(g)
}

// lookupGrant returns the table's entry for g.
func lookupGrant(g string) (grantType, bool) {
	i := slices.IndexFunc(grantTypes, func(t grantType) bool { return t.name == g })
	if i < 0 {
		return grantType{}, false
	}
	return grantTypes[i], true
}
