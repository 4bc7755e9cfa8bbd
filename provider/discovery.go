package provider

import (
	"maps"
	"net/http"
	"slices"
)

// Discovery is the provider's metadata (OpenID Connect Discovery 1.0 §3,
// RFC 8414 §2).
type Discovery struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	FrontchannelLogoutSupported                bool     `json:"frontchannel_logout_supported"`
	BackchannelLogoutSupported                 bool     `json:"backchannel_logout_supported"`
}

// Discovery returns the metadata the discovery endpoint serves. It
// advertises what is enabled: the implicit and password grants, and the
// response types that return tokens from the authorization endpoint, only
// with Config.AllowLegacyGrants.
func (p *Provider) Discovery() Discovery {
	pp := p.cfg.Paths
	return Discovery{
		Issuer:                                     p.cfg.Issuer,
		AuthorizationEndpoint:                      p.url(pp.Authorize),
		TokenEndpoint:                              p.url(pp.Token),
		UserinfoEndpoint:                           p.url(pp.Userinfo),
		JWKSURI:                                    p.url(pp.JWKS),
		EndSessionEndpoint:                         p.url(pp.Logout),
		IntrospectionEndpoint:                      p.url(pp.Introspect),
		RevocationEndpoint:                         p.url(pp.Revoke),
		ScopesSupported:                            p.scopesSupported(),
		ResponseTypesSupported:                     slices.Clone(p.supported.responseTypes),
		ResponseModesSupported:                     []string{"query", "fragment", "form_post"},
		GrantTypesSupported:                        slices.Clone(p.supported.grantTypes),
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           []string{p.cfg.SigningAlgorithm},
		TokenEndpointAuthMethodsSupported:          authMethodNames(true),
		TokenEndpointAuthSigningAlgValuesSupported: slices.Clone(assertionAlgs),
		IntrospectionEndpointAuthMethodsSupported:  authMethodNames(false), // a public client cannot introspect
		RevocationEndpointAuthMethodsSupported:     authMethodNames(true),
		CodeChallengeMethodsSupported:              []string{"S256"},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "amr", "acr", "at_hash", "c_hash",
			"name", "given_name", "family_name", "preferred_username", "username", "picture", "email", "email_verified", "groups",
			"groupstring", "customer_id", "domain_id", "customer_shortname", "customer_name", "client_ip"},
		ACRValuesSupported:                         []string{"1", "2"},
		PromptValuesSupported:                      slices.Clone(promptValues),
		AuthorizationResponseISSParameterSupported: true,
	}
}

// scopesSupported lists the claim scopes, built in and custom (permission
// scopes are the host's and are not advertised).
func (p *Provider) scopesSupported() []string {
	out := claimScopeNames(func(s claimScope) bool { return s.advertised })
	custom := slices.Sorted(maps.Keys(p.cfg.Claims))
	return append(out, custom...)
}

// DiscoveryHandler returns the discovery endpoint.
func (p *Provider) DiscoveryHandler() http.Handler {
	d := p.Discovery
	return p.instrument(p.tel.endpoint("discovery"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "Use GET.")
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeJSONCacheable(w, d())
	}))
}

// JWKSHandler returns the JSON Web Key Set endpoint: the public signing
// keys, each with kid, use and alg, including keys published ahead of
// rotation and retired keys whose tokens may still be live.
func (p *Provider) JWKSHandler() http.Handler {
	return p.instrument(p.tel.endpoint("jwks"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "Use GET.")
			return
		}
		set, err := p.keys.PublicJWKS(r.Context())
		if err != nil {
			p.cfg.Logger.Error("provider: load signing keys", "error", err)
			writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Retry later.")
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeJSONCacheable(w, set)
	}))
}
