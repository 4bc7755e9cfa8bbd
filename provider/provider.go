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
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider/internal/apikey"
	"github.com/gatehouse/gatehouse/provider/internal/keys"
	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/provider/internal/storetrace"
	"github.com/gatehouse/gatehouse/storage"
)

// Provider is an OAuth 2.0 and OpenID Connect provider. Create one with
// [New]; it is safe for concurrent use by many goroutines.
type Provider struct {
	cfg        Config
	issuerPath string
	store      storage.Store
	engine     *oauth.Engine
	keys       *keys.Manager
	// globalSecrets are Config.GlobalSecret (or the random one New made)
	// and Config.RotatedGlobalSecrets.
	globalSecrets [][]byte
	hasher        *secret.Hasher
	lookup        UserLookup
	supported     supported
	resolver      ipfilter.Resolver
	tmpl          *template.Template
	totp          *mfa.TOTP // the factor users enroll on the account pages, or nil
	cors          corsPolicy
	catalogues    *catalogues
	csp           pagePolicy
	mux           *http.ServeMux
	// keyStore and appStore are Config.Store as an APIKeyStore and an
	// ApplicationUserStore, or nil when it is not one (see apikeys.go).
	keyStore  storage.APIKeyStore
	appStore  storage.ApplicationUserStore
	keyHasher *apikey.Hasher
	keyUses   keyUses
	tel       *telemetry
	// auditStore is the store's audit trail, nil if it keeps none;
	// auditor writes the events of requests in the background.
	auditStore storage.AuditStore
	auditor    *auditWriter
	// clientAuthFlights coalesces concurrent checks of one secret
	// (authenticateClient).
	clientAuthFlights authFlights
}

// maxClientTokenLifetime is the longest access or ID token lifetime a
// client may set (checkTokenSettings).
const maxClientTokenLifetime = 24 * time.Hour

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
	tel, err := newTelemetry(&cfg)
	if err != nil {
		return nil, fmt.Errorf("provider: telemetry: %w", err)
	}
	p := &Provider{cfg: cfg, tel: tel, hasher: secret.NewHasher(0, cfg.SecretHashConcurrency), supported: newSupported(cfg.AllowLegacyGrants)}
	// Every store call goes through the decorator: a child span inside a
	// recording span, and failures counted.
	p.store = storetrace.Wrap(cfg.Store, tel.store)
	u, _ := url.Parse(cfg.Issuer)
	p.issuerPath = strings.TrimSuffix(u.EscapedPath(), "/")

	p.resolver.TrustedProxies, _ = ipfilter.Parse(cfg.TrustedProxies) // validated above
	p.auditStore, _ = p.store.(storage.AuditStore)
	p.auditor = newAuditWriter(p.auditStore, cfg.Auditor, cfg.Logger, cfg.AuditQueueSize)
	tel.setAuditSource(func() (queued, unwritten int64) {
		s := p.auditor.stats()
		return int64(s.Queued), int64(s.Unwritten)
	})
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

	// A retired key stays published as long as anything it signed may
	// live: a client may set its access and ID token lifetimes up to
	// maxClientTokenLifetime, beyond the provider's defaults.
	maxLifetime := max(cfg.AccessTokenLifetime, cfg.IDTokenLifetime, maxClientTokenLifetime)
	p.keys = keys.NewManager(p.store, keys.Options{
		Algorithm:        cfg.SigningAlgorithm,
		Now:              cfg.Now,
		MaxTokenLifetime: maxLifetime,
	})
	if err := p.keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("provider: create signing key: %w", err)
	}
	if err := tel.observeSigningKeys(p.keys.States); err != nil {
		return nil, fmt.Errorf("provider: telemetry: %w", err)
	}

	p.globalSecrets = append([][]byte{globalSecret}, cfg.RotatedGlobalSecrets...)
	p.keyStore, _ = cfg.Store.(storage.APIKeyStore)
	p.appStore, _ = cfg.Store.(storage.ApplicationUserStore)
	p.keyHasher = apikey.NewHasher(p.globalSecrets)
	engine, err := oauth.New(oauth.Config{
		Issuer:               cfg.Issuer,
		TokenURL:             cfg.Issuer + cfg.Paths.Token,
		Store:                p.store,
		Now:                  cfg.Now,
		Keys:                 p.keys,
		AccessTokenLifetime:  cfg.AccessTokenLifetime,
		RefreshTokenLifetime: cfg.RefreshTokenLifetime,
		AuthCodeLifetime:     cfg.AuthCodeLifetime,
		IDTokenLifetime:      cfg.IDTokenLifetime,
		RefreshReuseGrace:    cfg.RefreshReuseGrace,
		JWTAccessTokens:      cfg.JWTAccessTokens,
		// A deny-list entry must outlive every token it denies.
		StatelessAccessTokens: cfg.StatelessAccessTokens,
		DenyTTL:               maxLifetime,
		GlobalSecret:          globalSecret,
		RotatedGlobalSecrets:  cfg.RotatedGlobalSecrets,
		ScopeStrategy:         clientScopeStrategy,
		SecretHasher:          p.hasher,
		AuthenticateClient:    p.authenticateClientExplained,
		RefreshTokenScopes:    claimScopeNames(func(s claimScope) bool { return s.refresh }),
		PromptValues:          promptValues,
		RedirectSecure:        redirectURISecure,
		// Only the enabled grants' handlers are composed: without
		// AllowLegacyGrants there is no implicit, hybrid or password
		// handler.
		Grants: p.supported.grantTypes,
	})
	if err != nil {
		return nil, fmt.Errorf("provider: %w", err)
	}
	p.engine = engine

	p.cors = corsPolicy{
		extra:      map[string]bool{},
		registered: &originCache{store: p.store, now: cfg.Now, ttl: corsOriginsTTL, logger: cfg.Logger},
	}
	for _, o := range cfg.CORSOrigins {
		n, _ := normalizeOrigin(strings.TrimSuffix(o, "/")) // validated above
		p.cors.extra[n] = true
	}

	for _, f := range cfg.Factors {
		if t, ok := f.(*mfa.TOTP); ok && p.totp == nil {
			p.totp = t
		}
	}

	p.catalogues = newCatalogues(cfg.Messages, cfg.Language)
	p.csp = newPagePolicy(cfg.PageSources)
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
//	GET, POST /account/apps                       the user's connected apps (account pages)
//	GET, POST /account/security                   the user's second factor (account pages)
//	GET, POST /account/login                      sign-in for the account pages
//	GET       /account                            redirects to /account/apps
//
// Mount it at the root of the host's server (or below the issuer path's
// parent); each endpoint is also available on its own, for hosts with their
// own router. Every answer carries an X-Request-Id header, which the audit
// events the request caused carry too (docs/audit.md; not with
// Config.AuditDisabled).
func (p *Provider) Handler() http.Handler { return p.mux }

// routes mounts every endpoint, each at the issuer's path plus its path.
// checkPaths has made sure that no two collide and that none is a pattern
// net/http would refuse, so Handle cannot panic.
func (p *Provider) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, ep := range endpoints {
		h := ep.handler(p)
		mux.Handle(p.issuerPath+*ep.path(&p.cfg.Paths), h)
		if ep.subtree() {
			mux.Handle(p.issuerPath+*ep.path(&p.cfg.Paths)+"/", h)
		}
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
		return netip.Addr{}, oauth.InvalidRequest.Wrap("The client address cannot be determined: the X-Forwarded-For header from the proxy is malformed or repeated.", err)
	}
	return a, nil
}

// refuseIP returns the error for client c used from outside its IP
// ranges, counts the refusal and records it (ip.refused, with the
// endpoint w's request is for).
func (p *Provider) refuseIP(ctx context.Context, w http.ResponseWriter, kind oauth.Kind, c *oauth.Client) error {
	id := ""
	if c != nil {
		id = c.ID
	}
	endpoint := telOf(w).endpointName()
	p.tel.ipRefused(ctx, endpoint, id)
	if c != nil {
		p.auditIPRefused(ctx, id, endpoint)
	}
	return errIPRefused(kind)
}

// errIPRefused is the error for a client used from outside its IP ranges.
func errIPRefused(kind oauth.Kind) error {
	return kind.Hint("This client may not be used from this network address.")
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
func (p *Provider) authenticateROPC(ctx context.Context, clientID string, addr netip.Addr, username, password string) (User, error) {
	u, until, err := p.checkPassword(ctx, signInPasswordGrant, username, password, p.grantCounts(username, addr)...)
	p.auditSignIn(ctx, clientID, username, u, until, err)
	if errors.Is(err, ErrInvalidCredentials) || errors.Is(err, errPasswordLocked) {
		// invalid_grant; the answer says why for a lock.
		return User{}, fmt.Errorf("%w: %w", oauth.ErrPasswordRefused, err)
	}
	if err != nil {
		return User{}, err
	}
	if u.Subject == "" {
		return User{}, errors.New("provider: the authenticator returned a user without a Subject")
	}
	return u, nil
}
