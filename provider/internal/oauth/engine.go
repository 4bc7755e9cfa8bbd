package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	jose3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"

	"github.com/gatehouse/gatehouse/provider/internal/keys"
	"github.com/gatehouse/gatehouse/storage"
)

// Config is what the engine needs of the provider's configuration. The
// provider has validated it and filled its defaults.
type Config struct {
	// Issuer is the provider's issuer URL; TokenURL its token endpoint's.
	Issuer, TokenURL string
	// Store keeps every record; Now is the clock.
	Store storage.Store
	Now   func() time.Time
	// Keys sign ID tokens and JWT access tokens.
	Keys *keys.Manager

	AccessTokenLifetime, RefreshTokenLifetime, AuthCodeLifetime, IDTokenLifetime time.Duration
	// RefreshReuseGrace is [Store.RefreshReuseGrace].
	RefreshReuseGrace time.Duration
	// JWTAccessTokens makes access tokens RFC 9068 JWTs for clients that do
	// not choose a format.
	JWTAccessTokens bool
	// StatelessAccessTokens leaves JWT access tokens unstored: they carry
	// what introspection needs, and their revocation goes on the deny list
	// of Store, which must then be a storage.DenyListStore. DenyTTL is how
	// long a deny-list entry lives: at least the longest access token
	// lifetime.
	StatelessAccessTokens bool
	DenyTTL               time.Duration
	// GlobalSecret keys the HMAC of opaque tokens and codes;
	// RotatedGlobalSecrets still verify.
	GlobalSecret         []byte
	RotatedGlobalSecrets [][]byte

	// ScopeStrategy reports whether a client whose scopes are granted may
	// ask for scope.
	ScopeStrategy func(granted []string, scope string) bool
	// SecretHasher hashes and compares client secrets.
	SecretHasher SecretHasher
	// AuthenticateClient authenticates the client of a token,
	// introspection or revocation request. It may call
	// [Engine.AuthenticateClientDirectly] for the protocol's own check.
	AuthenticateClient func(ctx context.Context, r *http.Request, form url.Values) (*Client, error)
	// RefreshTokenScopes are the scopes that make the token endpoint issue
	// a refresh token.
	RefreshTokenScopes []string
	// PromptValues are the prompt values the authorization endpoint
	// accepts.
	PromptValues []string
	// RedirectSecure reports whether a redirect URI may receive a code or
	// tokens; nil means fosite's strict check (https, or http on a
	// loopback host).
	RedirectSecure func(context.Context, *url.URL) bool
	// Grants are the enabled grant types: each one's protocol handlers
	// are composed, and no other's.
	Grants []string
}

// SecretHasher hashes client secrets and compares a secret with a hash.
type SecretHasher interface {
	Compare(ctx context.Context, hash, secret []byte) error
	Hash(ctx context.Context, secret []byte) ([]byte, error)
}

// Engine is the OAuth 2.0 and OpenID Connect protocol engine: fosite
// v0.49.0, composed with the enabled grants on Gatehouse's storage,
// signing keys and token strategy. The provider's handlers do the
// protocol's work through it; it is the only code outside this package's
// store adapter that speaks fosite.
type Engine struct {
	f        *fosite.Fosite
	fc       *fosite.Config
	store    *Store
	strategy *accessTokenStrategy
	cfg      Config
	// deny is the deny list of stateless access tokens; nil when they
	// are off.
	deny storage.DenyListStore
}

// factories are fosite's handlers in the order they are composed (the
// order matters: the OpenID Connect and PKCE handlers read the code the
// explicit handler issued), each with the grant it serves; "" is always
// composed.
var factories = []struct {
	grant   string
	factory compose.Factory
}{
	{"authorization_code", compose.OAuth2AuthorizeExplicitFactory},
	{"implicit", compose.OAuth2AuthorizeImplicitFactory},
	{"client_credentials", compose.OAuth2ClientCredentialsGrantFactory},
	{"refresh_token", compose.OAuth2RefreshTokenGrantFactory},
	{"password", compose.OAuth2ResourceOwnerPasswordCredentialsFactory},
	{"authorization_code", compose.OpenIDConnectExplicitFactory},
	{"implicit", compose.OpenIDConnectImplicitFactory},
	{"implicit", compose.OpenIDConnectHybridFactory}, // code id_token, code token: tokens from the authorization endpoint
	{"refresh_token", compose.OpenIDConnectRefreshFactory},
	{"", compose.OAuth2TokenIntrospectionFactory},
	{"", compose.OAuth2TokenRevocationFactory},
	{"authorization_code", compose.OAuth2PKCEFactory},
}

// New composes the engine. cfg is kept; its slices must not change after.
func New(cfg Config) (*Engine, error) {
	e := &Engine{}
	// Every fosite getter that writes a default on first use is set here,
	// before serving: fosite v0.49.0 writes those defaults into the Config
	// inside its getters, which races when the first requests run at once.
	fc := &fosite.Config{
		AccessTokenLifespan:            cfg.AccessTokenLifetime,
		RefreshTokenLifespan:           cfg.RefreshTokenLifetime,
		AuthorizeCodeLifespan:          cfg.AuthCodeLifetime,
		IDTokenLifespan:                cfg.IDTokenLifetime,
		IDTokenIssuer:                  cfg.Issuer,
		AccessTokenIssuer:              cfg.Issuer,
		TokenURL:                       cfg.TokenURL,
		ScopeStrategy:                  cfg.ScopeStrategy,
		AudienceMatchingStrategy:       fosite.ExactAudienceMatchingStrategy,
		ClientSecretsHasher:            cfg.SecretHasher,
		ClientAuthenticationStrategy:   e.authenticateClient(cfg.AuthenticateClient),
		JWKSFetcherStrategy:            noJWKSFetch{},
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		GlobalSecret:                   cfg.GlobalSecret,
		RotatedGlobalSecrets:           cfg.RotatedGlobalSecrets,
		RefreshTokenScopes:             slices.Clone(cfg.RefreshTokenScopes),
		MinParameterEntropy:            fosite.MinParameterEntropy,
		TokenEntropy:                   32,
		SendDebugMessagesToClients:     false,
		RedirectSecureChecker:          fosite.IsRedirectURISecureStrict,
		AllowedPromptValues:            slices.Clone(cfg.PromptValues),
	}
	if cfg.RedirectSecure != nil {
		fc.RedirectSecureChecker = cfg.RedirectSecure
	}
	hmac := compose.NewOAuth2HMACStrategy(fc)
	e.fc = fc
	e.store = &Store{
		S:                 cfg.Store,
		Now:               cfg.Now,
		CodeSignature:     hmac.AuthorizeCodeSignature,
		RefreshReuseGrace: cfg.RefreshReuseGrace,
	}
	e.cfg = cfg
	e.strategy = &accessTokenStrategy{HMACSHAStrategy: hmac, cfg: &e.cfg, mac: newOpaqueMAC(cfg.GlobalSecret, cfg.RotatedGlobalSecrets)}
	if cfg.StatelessAccessTokens {
		d, ok := cfg.Store.(storage.DenyListStore)
		if !ok {
			return nil, fmt.Errorf("oauth: stateless access tokens need a store that is a storage.DenyListStore; %T is not", cfg.Store)
		}
		e.deny = d
		e.store.unstored = e.strategy.isStateless
		e.store.rebuild = e.rebuildStateless
		e.store.onRevokeAccess = func(ctx context.Context, requestID string, issuedBefore time.Time) error {
			return e.Deny(ctx, storage.DenyGrant, requestID, issuedBefore)
		}
	}
	sign := signer{cfg.Keys}
	strategy := &compose.CommonStrategy{
		CoreStrategy:               e.strategy,
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: sign, Config: fc},
		Signer:                     sign,
	}
	var fs []compose.Factory
	for _, f := range factories {
		if f.grant == "" || slices.Contains(cfg.Grants, f.grant) {
			fs = append(fs, f.factory)
		}
	}
	composed := compose.Compose(fc, e.store, strategy, fs...)
	f, ok := composed.(*fosite.Fosite)
	if !ok {
		return nil, fmt.Errorf("oauth: fosite.Compose returned %T, want *fosite.Fosite", composed)
	}
	e.f = f
	fc.TokenEndpointHandlers = FilterTokenHandlers(fc.TokenEndpointHandlers)
	return e, nil
}

// authenticateClient adapts the provider's client authentication to
// fosite's strategy (a nil *Client must not become a non-nil
// fosite.Client), and records a client that authenticated in the
// request's [Request] ([Request.AuthenticatedClient]).
func (e *Engine) authenticateClient(auth func(context.Context, *http.Request, url.Values) (*Client, error)) fosite.ClientAuthenticationStrategy {
	if auth == nil {
		return nil
	}
	return func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
		c, err := auth(ctx, r, form)
		if c == nil {
			return nil, err
		}
		if req := requestOf(ctx); req != nil && err == nil {
			req.setAuthenticated(c)
		}
		return c, err
	}
}

// AuthenticateClientDirectly authenticates a request's client by the
// protocol alone (its secret, or its private_key_jwt assertion), bypassing
// Config.AuthenticateClient, which calls it. For a client that
// authenticates with a secret, client_secret_basic and client_secret_post
// are interchangeable (see secretMethodAsRegistered); private_key_jwt and
// none stay exclusive.
func (e *Engine) AuthenticateClientDirectly(ctx context.Context, r *http.Request, form url.Values) (*Client, error) {
	r, form = e.secretMethodAsRegistered(ctx, r, form)
	c, err := e.f.DefaultClientAuthenticationStrategy(ctx, r, form)
	return asClient(c), clientAuthError(err)
}

// secretMethodAsRegistered returns the request as the client's registered
// secret method would send it, when it sends its secret by the other one:
// HTTP Basic for a client registered with client_secret_post, or the body
// for one registered with client_secret_basic. RFC 6749 §2.3.1 makes Basic
// mandatory for servers and the body optional, and many client libraries
// use the body by default; the secret is the same secret either way, so
// accepting both costs nothing. fosite v0.49.0 checks the method against
// the registration, so the request it sees is rewritten (a copy: r and
// form are not changed). Anything else (an assertion, a public client, an
// unknown client, malformed Basic credentials) is returned as it is, for
// fosite to judge.
func (e *Engine) secretMethodAsRegistered(ctx context.Context, r *http.Request, form url.Values) (*http.Request, url.Values) {
	if form.Get("client_assertion_type") != "" || form.Get("client_assertion") != "" {
		return r, form
	}
	id, secret, basic, ok := ClientCredentials(ctx, r, form)
	if !ok || secret == "" {
		return r, form
	}
	switch c, err := e.store.client(ctx, id); {
	case err != nil:
		return r, form
	case basic && form.Get("client_secret") == "" && c.GetTokenEndpointAuthMethod() == "client_secret_post":
		f := cloneValues(form)
		f.Set("client_id", id)
		f.Set("client_secret", secret)
		r2 := r.Clone(ctx)
		r2.Header.Del("Authorization")
		return r2, f
	case !basic && c.GetTokenEndpointAuthMethod() == "client_secret_basic":
		f := cloneValues(form)
		f.Del("client_secret")
		r2 := r.Clone(ctx)
		r2.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		return r2, f
	}
	return r, form
}

// ClientCredentials reads a request's client ID and secret as fosite
// does: from HTTP Basic, both parts form-url-decoded (RFC 6749 §2.3.1),
// else from client_id and client_secret in the body. basic says which; ok
// is false when fosite would refuse the credentials as missing or
// malformed before looking up a client.
func ClientCredentials(ctx context.Context, r *http.Request, form url.Values) (id, secret string, basic, ok bool) {
	user, pass, basic := BasicAuth(ctx, r)
	if !basic {
		id = form.Get("client_id")
		return id, form.Get("client_secret"), false, id != ""
	}
	id, err := url.QueryUnescape(user)
	if err != nil {
		return "", "", true, false
	}
	secret, err = url.QueryUnescape(pass)
	if err != nil {
		return "", "", true, false
	}
	return id, secret, true, true
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = slices.Clone(vs)
	}
	return c
}

// AuthenticateClient authenticates a request's client as the token
// endpoint does (Config.AuthenticateClient).
func (e *Engine) AuthenticateClient(ctx context.Context, r *http.Request, form url.Values) (*Client, error) {
	c, err := e.f.AuthenticateClient(ctx, r, form)
	return asClient(c), clientAuthError(err)
}

// Client loads a client; an unknown one is an error wrapping
// storage.ErrNotFound, a backend failure one wrapping [ErrUnavailable].
func (e *Engine) Client(ctx context.Context, id string) (*Client, error) {
	return e.store.client(ctx, id)
}

func asClient(c fosite.Client) *Client {
	fc, _ := c.(*Client)
	return fc
}

// noJWKSFetch refuses remote JWKS URIs: a client's keys must be registered
// inline, so the token endpoint never makes requests to client-chosen URLs.
type noJWKSFetch struct{}

// Resolve implements fosite.JWKSFetcherStrategy, which speaks go-jose v3.
func (noJWKSFetch) Resolve(context.Context, string, bool) (*jose3.JSONWebKeySet, error) {
	return nil, fosite.ErrInvalidClient.WithHint("Remote JSON Web Key Sets are not supported; register the client's keys inline.")
}

// AuthorizeRequest is an authorization request the engine has validated,
// or, when validation failed, as much of it as was read. A nil
// *AuthorizeRequest is a request whose redirect URI is unknown.
type AuthorizeRequest struct{ ar fosite.AuthorizeRequester }

// NewAuthorizeRequest validates the authorization request r (its query).
// On failure it returns the error and, when the client and redirect URI
// checked out, the request, so that the error can be redirected.
func (e *Engine) NewAuthorizeRequest(ctx context.Context, r *http.Request) (*AuthorizeRequest, error) {
	ctx = muteFosite(ctx)
	ar, err := e.f.NewAuthorizeRequest(ctx, r)
	if ar == nil {
		return nil, err
	}
	return &AuthorizeRequest{ar: ar}, err
}

// ID is the grant's request ID: every code and token it issues carries it
// (storage.Request.ID).
func (r *AuthorizeRequest) ID() string { return r.ar.GetID() }

// RedirectURIValid reports whether errors may be redirected to the
// request's redirect URI.
func (r *AuthorizeRequest) RedirectURIValid() bool { return r != nil && r.ar.IsRedirectURIValid() }

// RedirectURI returns the redirect URI the response goes to: the request's
// redirect_uri, or the client's only registered one when the request names
// none; nil when it is not known.
func (r *AuthorizeRequest) RedirectURI() *url.URL { return r.ar.GetRedirectURI() }

// Client returns the request's client.
func (r *AuthorizeRequest) Client() *Client { return asClient(r.ar.GetClient()) }

// Form returns the request's parameters.
func (r *AuthorizeRequest) Form() url.Values { return r.ar.GetRequestForm() }

// ResponseTypes returns the parts of the response_type parameter.
func (r *AuthorizeRequest) ResponseTypes() []string { return r.ar.GetResponseTypes() }

// RequestedScopes returns the scopes the request asks for.
func (r *AuthorizeRequest) RequestedScopes() []string { return r.ar.GetRequestedScopes() }

// Grant grants the request scopes and every audience it asks for (the
// engine has checked them against the client).
func (r *AuthorizeRequest) Grant(scopes []string) {
	for _, s := range scopes {
		r.ar.GrantScope(s)
	}
	for _, a := range r.ar.GetRequestedAudience() {
		r.ar.GrantAudience(a)
	}
}

// GrantedScopes returns the scopes granted so far.
func (r *AuthorizeRequest) GrantedScopes() []string { return r.ar.GetGrantedScopes() }

// AuthorizeResponse is the response to a granted authorization request.
type AuthorizeResponse struct{ resp fosite.AuthorizeResponder }

// NewAuthorizeResponse issues what the granted request asks for (a code,
// tokens) for the user of sess. The response names the issuer (RFC 9207,
// a mix-up defence).
func (e *Engine) NewAuthorizeResponse(ctx context.Context, ar *AuthorizeRequest, sess *Session) (*AuthorizeResponse, error) {
	ctx = muteFosite(ctx)
	resp, err := e.f.NewAuthorizeResponse(ctx, ar.ar, sess)
	if err != nil {
		return nil, err
	}
	resp.AddParameter("iss", e.fc.IDTokenIssuer)
	return &AuthorizeResponse{resp: resp}, nil
}

// WriteAuthorizeResponse redirects the user agent to the client with resp.
func (e *Engine) WriteAuthorizeResponse(ctx context.Context, w http.ResponseWriter, ar *AuthorizeRequest, resp *AuthorizeResponse) {
	e.f.WriteAuthorizeResponse(ctx, w, ar.ar, resp.resp)
}

// WriteAuthorizeError redirects err (translated) to the client. Call it only
// when ar.RedirectURIValid().
func (e *Engine) WriteAuthorizeError(ctx context.Context, w http.ResponseWriter, ar *AuthorizeRequest, err error) {
	e.f.WriteAuthorizeError(ctx, w, ar.ar, translate(err))
}

// AccessRequest is a token request the engine has validated (its client
// authenticated, its grant checked), or, when validation failed, as much of
// it as was read.
type AccessRequest struct{ ar fosite.AccessRequester }

// NewAccessRequest validates the token request r, loading the grant it
// presents into sess. The request is returned even on failure.
func (e *Engine) NewAccessRequest(ctx context.Context, r *http.Request, sess *Session) (*AccessRequest, error) {
	ctx = muteFosite(ctx)
	ar, err := e.f.NewAccessRequest(ctx, r, sess)
	return &AccessRequest{ar: ar}, clientAuthError(err)
}

// requester returns the fosite request, or a nil interface.
func (r *AccessRequest) requester() fosite.AccessRequester {
	if r == nil || r.ar == nil {
		return nil
	}
	return r.ar
}

// Client returns the authenticated client, or nil.
func (r *AccessRequest) Client() *Client {
	if r.requester() == nil {
		return nil
	}
	return asClient(r.ar.GetClient())
}

// GrantType returns the request's grant type, or "" if it has none.
func (r *AccessRequest) GrantType() string {
	if r.requester() == nil || len(r.ar.GetGrantTypes()) != 1 {
		return ""
	}
	return r.ar.GetGrantTypes()[0]
}

// ID returns the ID of the grant the request continues or begins: every
// token of one grant shares it.
func (r *AccessRequest) ID() string { return r.ar.GetID() }

// Form returns the request's parameters.
func (r *AccessRequest) Form() url.Values { return r.ar.GetRequestForm() }

// Session returns the grant's session.
func (r *AccessRequest) Session() *Session {
	s, _ := r.ar.GetSession().(*Session)
	return s
}

// RequestedScopes returns the scopes the request asks for.
func (r *AccessRequest) RequestedScopes() []string { return r.ar.GetRequestedScopes() }

// GrantedScopes returns the scopes granted: for a refresh, the grant's.
func (r *AccessRequest) GrantedScopes() []string { return r.ar.GetGrantedScopes() }

// Grant grants the request scopes and every audience it asks for (the
// engine has checked them against the client).
func (r *AccessRequest) Grant(scopes []string) {
	for _, s := range scopes {
		r.ar.GrantScope(s)
	}
	for _, a := range r.ar.GetRequestedAudience() {
		r.ar.GrantAudience(a)
	}
}

// Restrict makes the grant of this refresh scopes, a subset of the grant's
// scopes: the access token it issues and the new refresh token (and so
// every later refresh) carry scopes only.
func (r *AccessRequest) Restrict(scopes []string) error {
	req, ok := r.ar.(*fosite.AccessRequest)
	if !ok {
		return errors.New("oauth: unexpected access request type")
	}
	req.GrantedScope = fosite.Arguments(slices.Clone(scopes))
	return nil
}

// Narrow makes the access token this refresh issues carry scopes only, a
// subset of the grant's, while the new refresh token keeps the grant's
// full scope (RFC 6749 §6) through state, the request's [Request].
func (r *AccessRequest) Narrow(scopes []string, state *Request) error {
	req, ok := r.ar.(*fosite.AccessRequest)
	if !ok {
		return errors.New("oauth: unexpected access request type")
	}
	state.KeepRefreshScopes(slices.Clone([]string(req.GrantedScope)))
	req.GrantedScope = fosite.Arguments(slices.Clone(scopes))
	return nil
}

// IssueTokens issues the tokens of an accepted request and writes the
// response. On failure it writes nothing and returns the error.
func (e *Engine) IssueTokens(ctx context.Context, w http.ResponseWriter, ar *AccessRequest) error {
	ctx = muteFosite(ctx)
	resp, err := e.f.NewAccessResponse(ctx, ar.ar)
	if err != nil {
		return err
	}
	writeAccessResponse(w, resp.ToMap())
	return nil
}

// WriteAccessError writes err, translated, as a token endpoint error (RFC
// 6749 §5.2); ar may be nil.
func (e *Engine) WriteAccessError(ctx context.Context, w http.ResponseWriter, ar *AccessRequest, err error) {
	e.f.WriteAccessError(ctx, w, ar.requester(), translate(err))
}

// TokenUse says what a token is.
type TokenUse string

// The token uses.
const (
	AccessToken  TokenUse = TokenUse(fosite.AccessToken)
	RefreshToken TokenUse = TokenUse(fosite.RefreshToken)
)

// Token is a token that introspection found valid, and its grant.
type Token struct {
	Use       TokenUse
	ClientID  string
	RequestID string
	Scopes    []string
	Audience  []string
	// IssuedAt is when the grant's request was made.
	IssuedAt time.Time
	// Session is the grant's session. It may be shared with other
	// introspections of the same token, on other goroutines: it must not
	// be changed, nor anything it refers to.
	Session *Session
}

// Introspect checks token against storage (so that revocation takes effect
// at once), trying hint's kind of token first.
func (e *Engine) Introspect(ctx context.Context, token string, hint TokenUse) (Token, error) {
	if hint == "" {
		hint = AccessToken
	}
	ctx = muteFosite(ctx)
	req := requestOf(ctx)
	if req == nil {
		req = NewRequest()
		ctx = WithRequest(ctx, req)
	}
	req.shareReads()
	if e.deny != nil && IsJWT(token) {
		req.Present(token)
	}
	if hint == AccessToken {
		if t, ok := e.introspectAccess(ctx, token); ok {
			return t, nil
		}
	}
	use, ar, err := e.f.IntrospectToken(ctx, token, fosite.TokenUse(hint), loadTarget())
	if err != nil {
		return Token{}, err
	}
	u := AccessToken
	if use == fosite.RefreshToken {
		u = RefreshToken
	}
	t, ok := tokenOf(ar, u)
	if !ok {
		return Token{}, errors.New("oauth: unexpected session type")
	}
	return t, nil
}

// tokenOf is the Token of a grant that introspection found valid, as a
// token of use; false if its session is not a *Session.
func tokenOf(ar fosite.Requester, use TokenUse) (Token, bool) {
	s, _ := ar.GetSession().(*Session)
	if s == nil {
		return Token{}, false
	}
	return Token{
		Use:       use,
		ClientID:  ar.GetClient().GetID(),
		RequestID: ar.GetID(),
		Scopes:    slices.Clone([]string(ar.GetGrantedScopes())),
		Audience:  slices.Clone([]string(ar.GetGrantedAudience())),
		IssuedAt:  ar.GetRequestedAt(),
		Session:   s,
	}, true
}

// introspectAccess is the first step of fosite's IntrospectToken for a
// token hinted (or taken) to be an access token, made directly: the token's
// grant read by its signature, then the token checked (its HMAC or JWT
// signature, its expiry), in fosite's order. fosite builds an access
// request and merges the grant into it only for Introspect to read them
// back. A token this does not find valid (an unknown, inactive or expired
// access token, a refresh token, a backend failure) goes through fosite's
// IntrospectToken, which answers for it as before.
func (e *Engine) introspectAccess(ctx context.Context, token string) (Token, bool) {
	ar, err := e.store.GetAccessTokenSession(ctx, e.strategy.AccessTokenSignature(ctx, token), loadTarget())
	if err != nil {
		return Token{}, false
	}
	if err := e.strategy.ValidateAccessToken(ctx, ar, token); err != nil {
		return Token{}, false
	}
	return tokenOf(ar, AccessToken)
}

// Revoke handles a revocation request (RFC 7009): it authenticates the
// client and revokes the token if it is the client's.
func (e *Engine) Revoke(ctx context.Context, r *http.Request) error {
	ctx = muteFosite(ctx)
	return clientAuthError(e.f.NewRevocationRequest(ctx, r))
}

// WriteRevocationResponse writes the revocation answer for err (nil: 200).
// A malformed request (invalid_request), a failed client authentication
// (invalid_client) and a failure of ours (5xx) are written as errors with
// their descriptions, as the token endpoint writes them; any other error
// concerns the token (unknown, or another client's) and is answered 200,
// which RFC 7009 §2.2 requires so that a client learns nothing of tokens
// that are not its own. (fosite's own writer drops the descriptions and
// answers a server error 200, as if the token were revoked.)
func (e *Engine) WriteRevocationResponse(ctx context.Context, w http.ResponseWriter, err error) {
	rfc := translate(err)
	if rfc == nil || (rfc.CodeField < 500 && rfc.ErrorField != "invalid_request" && rfc.ErrorField != "invalid_client") {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		w.WriteHeader(http.StatusOK)
		return
	}
	e.f.WriteAccessError(ctx, w, nil, rfc)
}

// AuthorizeRequestForTest returns an authorization request for client that
// asks for scopes and answers to redirect (nil: not known), as if the
// engine had validated it. It is for tests of the provider's steps, which
// need a request without a whole authorization round trip.
func AuthorizeRequestForTest(client *Client, scopes []string, redirect *url.URL) *AuthorizeRequest {
	ar := fosite.NewAuthorizeRequest()
	ar.Client = client
	ar.RequestedScope = fosite.Arguments(scopes)
	ar.RedirectURI = redirect
	return &AuthorizeRequest{ar: ar}
}

// ValidRedirectURI reports whether the engine accepts u's form as a
// redirect URI at all (absolute, no fragment), before any registration
// or security check.
func ValidRedirectURI(u *url.URL) bool { return fosite.IsValidRedirectURI(u) }
