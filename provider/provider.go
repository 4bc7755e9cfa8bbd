package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/provider/internal/fositeadapter"
	"github.com/gatehouse/gatehouse/provider/internal/keys"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// Provider is an OAuth 2.0 and OpenID Connect provider. Create one with
// [New]; it is safe for concurrent use by many goroutines.
type Provider struct {
	cfg        Config
	issuerPath string
	store      storage.Store
	fc         *fosite.Config
	oauth      *fosite.Fosite
	adapter    *fositeadapter.Store
	keys       *keys.Manager
	hmac       *oauth2.HMACSHAStrategy
	hasher     *secret.Hasher
	lookup     UserLookup
	supported  supported
	resolver   ipfilter.Resolver
	tmpl       *template.Template
	mux        *http.ServeMux
}

// newTimeout bounds the store I/O of [New].
const newTimeout = 30 * time.Second

// New is [NewContext] with a context that ends after 30 seconds: the time
// New may spend on the store (reading the signing keys, and creating one
// if none may sign yet) before it gives up.
func New(cfg Config) (*Provider, error) {
	ctx, cancel := context.WithTimeout(context.Background(), newTimeout)
	defer cancel()
	return NewContext(ctx, cfg)
}

// NewContext validates cfg and returns a provider. Every invalid field is
// reported at once, as a join of [*ConfigError]s. NewContext creates a
// signing key in the store if none may sign yet; ctx bounds that store
// I/O and is not kept: the provider's requests use their own contexts.
func NewContext(ctx context.Context, cfg Config) (*Provider, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, store: cfg.Store, hasher: secret.NewHasher(0, cfg.SecretHashConcurrency), supported: newSupported(cfg.AllowLegacyGrants)}
	u, _ := url.Parse(cfg.Issuer)
	p.issuerPath = strings.TrimSuffix(u.EscapedPath(), "/")

	p.resolver.TrustedProxies, _ = ipfilter.Parse(cfg.TrustedProxies) // validated above
	p.lookup = cfg.UserLookup
	if p.lookup == nil {
		if l, ok := cfg.Authenticator.(UserLookup); ok {
			p.lookup = l
		}
	}

	globalSecret := cfg.GlobalSecret
	if globalSecret == nil {
		globalSecret = make([]byte, 32)
		rand.Read(globalSecret)
		cfg.Logger.Warn("provider: Config.GlobalSecret is not set; using a random key, so tokens will not survive a restart or work across replicas")
	}

	maxLifetime := max(cfg.AccessTokenLifetime, cfg.IDTokenLifetime)
	p.keys = keys.NewManager(cfg.Store, keys.Options{
		Algorithm:        cfg.SigningAlgorithm,
		Now:              cfg.Now,
		MaxTokenLifetime: maxLifetime,
	})
	if err := p.keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("provider: create signing key: %w", err)
	}

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
		TokenURL:                       cfg.Issuer + cfg.Paths.Token,
		ScopeStrategy:                  clientScopeStrategy,
		AudienceMatchingStrategy:       fosite.ExactAudienceMatchingStrategy,
		ClientSecretsHasher:            p.hasher,
		ClientAuthenticationStrategy:   p.authenticateClient,
		JWKSFetcherStrategy:            noJWKSFetch{},
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		GlobalSecret:                   globalSecret,
		RotatedGlobalSecrets:           cfg.RotatedGlobalSecrets,
		RefreshTokenScopes:             claimScopeNames(func(s claimScope) bool { return s.refresh }),
		MinParameterEntropy:            fosite.MinParameterEntropy,
		TokenEntropy:                   32,
		SendDebugMessagesToClients:     false,
		RedirectSecureChecker:          redirectURISecure,
		AllowedPromptValues:            slices.Clone(promptValues),
	}
	p.fc = fc
	p.hmac = compose.NewOAuth2HMACStrategy(fc)
	p.adapter = &fositeadapter.Store{
		S:                 cfg.Store,
		Now:               cfg.Now,
		CodeSignature:     p.hmac.AuthorizeCodeSignature,
		RefreshReuseGrace: cfg.RefreshReuseGrace,
	}
	signer := p.keys.Signer()
	strategy := &compose.CommonStrategy{
		CoreStrategy:               &accessTokenStrategy{HMACSHAStrategy: p.hmac, p: p},
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: signer, Config: fc},
		Signer:                     signer,
	}
	// Only the enabled grants' handlers are composed: without
	// AllowLegacyGrants fosite has no implicit, hybrid or password handler.
	oauth := compose.Compose(fc, p.adapter, strategy, p.supported.factories...)
	f, ok := oauth.(*fosite.Fosite)
	if !ok {
		return nil, fmt.Errorf("provider: fosite.Compose returned %T, want *fosite.Fosite", oauth)
	}
	p.oauth = f
	fc.TokenEndpointHandlers = fositeadapter.FilterTokenHandlers(fc.TokenEndpointHandlers)

	tmpl, err := p.templates()
	if err != nil {
		return nil, err
	}
	p.tmpl = tmpl
	p.mux = p.routes()
	return p, nil
}

// Handler returns an http.Handler serving every endpoint below the issuer's
// path (with the default [Paths]):
//
//	GET       /.well-known/openid-configuration   discovery (OIDC Discovery 1.0, RFC 8414)
//	GET       /.well-known/jwks.json              public signing keys
//	GET, POST /oauth2/authorize                   authorization endpoint (RFC 6749 §3.1)
//	GET, POST /oauth2/interaction                 login and consent pages
//	POST      /oauth2/token                       token endpoint (RFC 6749 §3.2)
//	POST      /oauth2/introspect                  introspection (RFC 7662)
//	POST      /oauth2/revoke                      revocation (RFC 7009)
//	GET, POST /userinfo                           userinfo (OIDC Core §5.3)
//	GET, POST /oauth2/logout                      RP-initiated logout
//
// Mount it at the root of the host's server (or below the issuer path's
// parent); each endpoint is also available on its own, for hosts with their
// own router.
func (p *Provider) Handler() http.Handler { return p.mux }

// routes mounts every endpoint, each at the issuer's path plus its path.
// checkPaths has made sure that no two collide and that none is a pattern
// net/http would refuse, so Handle cannot panic.
func (p *Provider) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, ep := range endpoints {
		mux.Handle(p.issuerPath+*ep.path(&p.cfg.Paths), ep.handler(p))
	}
	return mux
}

// clientAddr returns the address of the client that sent r: the TCP peer,
// or, behind a trusted proxy, the right-most untrusted X-Forwarded-For
// entry. An X-Forwarded-For from a trusted proxy that cannot be read is an
// invalid_request error: the address is never guessed.
func (p *Provider) clientAddr(r *http.Request) (netip.Addr, error) {
	a, err := p.resolver.ClientAddr(r)
	if err != nil {
		return netip.Addr{}, fosite.ErrInvalidRequest.WithHint("The client address cannot be determined: the X-Forwarded-For header from the proxy is malformed or repeated.").WithWrap(err)
	}
	return a, nil
}

// errIPRefused is the error for a client used from outside its IP ranges.
func errIPRefused(code *fosite.RFC6749Error) error {
	return code.WithHint("This client may not be used from this network address.")
}

// url returns the absolute URL of an endpoint path.
func (p *Provider) url(path string) string { return p.cfg.Issuer + path }

// RotateSigningKey creates a new signing key, published in the JWKS at once
// and signing from now+publishAhead on; the current key stops signing then
// and stays published until every token it signed has expired. It returns
// the new key's ID.
func (p *Provider) RotateSigningKey(ctx context.Context, publishAhead time.Duration) (string, error) {
	return p.keys.Rotate(ctx, publishAhead)
}

// authenticateROPC checks the password of a password grant from the client
// at addr. Its failures are counted per (username, addr) and per username
// over all addresses (grantCounts).
func (p *Provider) authenticateROPC(ctx context.Context, addr netip.Addr, username, password string) (User, error) {
	u, _, err := p.checkPassword(ctx, username, password, p.grantCounts(username, addr)...)
	if errors.Is(err, ErrInvalidCredentials) || errors.Is(err, errPasswordLocked) {
		// fosite answers invalid_grant; the token handler says why for a
		// lock.
		return User{}, fosite.ErrNotFound.WithWrap(err)
	}
	if err != nil {
		return User{}, err
	}
	if u.Subject == "" {
		return User{}, errors.New("provider: the authenticator returned a user without a Subject")
	}
	return u, nil
}

// noJWKSFetch refuses remote JWKS URIs: a client's keys must be registered
// inline, so the token endpoint never makes requests to client-chosen URLs.
type noJWKSFetch struct{}

func (noJWKSFetch) Resolve(context.Context, string, bool) (*josev3JSONWebKeySet, error) {
	return nil, fosite.ErrInvalidClient.WithHint("Remote JSON Web Key Sets are not supported; register the client's keys inline.")
}
