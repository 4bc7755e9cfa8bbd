package provider

import (
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/storage"
)

// Config configures a [Provider]. Only Issuer, Store and Authenticator are
// required; every other field's zero value is a secure default. [New] copies
// the Config; callers must not modify slices or maps they passed in
// afterwards.
type Config struct {
	// Issuer is the issuer identifier (OpenID Connect Discovery 1.0 §3): an
	// absolute URL without query or fragment, https unless the host is a
	// loopback address. Endpoints are served below its path.
	Issuer string

	// Store keeps clients, tokens, sessions, consents and keys. Required.
	Store storage.Store

	// Authenticator checks a username and password on the login page and
	// for the password grant. Required.
	Authenticator UserAuthenticator

	// UserLookup returns a user's current claims for ID tokens and userinfo.
	// If nil and Authenticator implements UserLookup, that is used; if
	// neither, claims are those the authenticator returned at login.
	UserLookup UserLookup

	// Catalog names permission scopes and roles: each name expands to a set
	// of permissions. Client PermissionScope entries and user permissions
	// may use its names; user and membership roles grant exactly what the
	// catalog lists for them. Nil means no names: permissions are literal.
	Catalog scope.Catalog

	// Factors are the second factors the authorization flow may ask for,
	// in order of preference (for example an *mfa.TOTP). The step runs when
	// the user has one of them enrolled, or the client sets RequireMFA.
	Factors []mfa.Factor

	// EnrollMFAAtLogin lets a user without a second factor set one up
	// (an authenticator app, through the *mfa.TOTP in Factors, which it
	// then needs) during the authorization for a client that sets
	// RequireMFA, instead of being refused. The user scans a QR code,
	// confirms it with a code, is shown recovery codes once, and the
	// authorization goes on with the new factor.
	//
	// False (the default) refuses such users with access_denied, as
	// without the account pages: they set up a factor at
	// Paths.Account + "/security" first. Turn it on only knowing the
	// risk: whoever has the user's password alone (phished, reused,
	// guessed) can then enroll their own authenticator on an account
	// that has none, passing the client's second-factor requirement and
	// locking the real user out of it (docs/account.md).
	EnrollMFAAtLogin bool

	// AccountMaxAge is how recent the sign-in behind the account pages
	// (Paths.Account) must be: a user whose login session authenticated
	// longer ago must enter their password, and their second factor if
	// they have one, again before a page is shown or a change made, as
	// prompt=login asks. If zero, 15 minutes.
	AccountMaxAge time.Duration

	// Claims registers custom claims: when the scope (the map key) is
	// granted, its function's claims are added to ID tokens and userinfo.
	// The scope becomes a claim scope, not a permission. Keys must not be a
	// built-in scope.
	Claims map[string]ClaimFunc

	// PasswordLockout slows password guessing. At the login page it counts
	// per username for browsers without a device cookie for that username,
	// and per device cookie for a browser where the username signed in
	// before (see DeviceCookieLifetime), so that strangers' failures never
	// lock a user out of that browser. At the password grant it counts per
	// (username, client address), plus PasswordGrantCeiling. The zero value
	// is the default: after 5 wrong passwords in a row the count is locked
	// for 30 s, doubling with each further failure up to 15 min; failures
	// are forgotten after a success or 12 hours. The counts live in the
	// store, so they hold across replicas. Unknown usernames are counted
	// like known ones, so the answers tell nothing about which accounts
	// exist.
	PasswordLockout Lockout

	// DeviceCookieLifetime is how long a browser is trusted for a username
	// after a successful sign-in there: the lockout counts failures from
	// a trusted browser apart from failures made elsewhere, so someone
	// else's guessing never locks a user out of a browser they signed in
	// from before (docs/security.md). If zero, 90 days.
	DeviceCookieLifetime time.Duration

	// PasswordGrantCeiling bounds the failures of one username at the
	// password grant from all addresses together. The grant counts
	// failures per (username, client address) under PasswordLockout's
	// policy, and per username against this higher ceiling (same delays);
	// 0 means 10 × PasswordLockout.MaxFailures. The ceiling forgets one
	// failure per PasswordLockout.MaxDelay without failures, so that one
	// address alone cannot fill it; a success does not clear it.
	PasswordGrantCeiling int

	// ClientAuthLockout slows the guessing of client secrets, per (client
	// ID, client address; an IPv6 address counts by its /64) and across
	// replicas. The zero value is the default: after 10 failed client
	// authentications in a row the pair is locked for 1 s, doubling with
	// each further failure up to 5 min; failures are forgotten after a
	// success or 12 hours. Unknown client IDs are counted and answered
	// like known ones; client assertions (private_key_jwt) are not counted.
	// While a pair is locked, the token, introspection and revocation
	// endpoints answer 401 invalid_client with Retry-After without
	// checking the secret, unless the secret can be checked without
	// bcrypt: a generated secret, or a host-chosen one this process has
	// verified before. Those are never delayed and cost no store round
	// trip; only a host-chosen secret this process has not verified yet
	// (after a restart, say) waits out a lock on its own pair. A negative
	// MaxFailures turns the lockout off.
	ClientAuthLockout Lockout

	// ClientSecretLifetime is how long a client secret is accepted: a
	// secret made by [Provider.CreateClient], [Provider.CreateClientWithSecret]
	// or [Provider.RotateClientSecret] expires this long after it is made
	// (RFC 7591 client_secret_expires_at), unless the call gives its own
	// expiry ([SecretExpiresAt]). Zero means 365 days; a negative value
	// means secrets never expire. Changing it affects only secrets made
	// afterwards. A client presenting an expired secret is refused, at the
	// token, introspection and revocation endpoints, with 401
	// invalid_client saying that the secret expired and must be rotated.
	ClientSecretLifetime time.Duration

	// APIKeyLifetime is how long an API key is accepted: a key made by
	// [Provider.CreateAPIKey] or [Provider.RotateAPIKey] expires this long
	// after it is made, unless the call gives its own expiry
	// ([SecretExpiresAt]). Zero means 365 days; a negative value means keys
	// never expire. Changing it affects only keys made afterwards.
	APIKeyLifetime time.Duration

	// APIKeyLockout slows the use of wrong secrets with an API key's ID,
	// per key ID and across replicas, so that one script's bad or
	// rotated-out key never slows down another's. The zero value is the
	// default: after 10 wrong secrets in a row the ID is locked for 1 s,
	// doubling with each further failure up to 5 min; failures are
	// forgotten after 12 hours. A lock never refuses the key's current
	// secret (which is checked without a slow hash), so someone who knows
	// only a key's ID cannot lock its script out. Unknown IDs are not
	// counted (they have nothing to guess). A negative MaxFailures turns
	// the lockout off.
	APIKeyLockout Lockout

	// SecretHashConcurrency caps how many bcrypt comparisons of
	// host-chosen client secrets run at once, so that guessing cannot take
	// every core; if zero, half of GOMAXPROCS (at least 1).
	SecretHashConcurrency int

	// FlowLimits bound the authorization flows that strangers can make the
	// provider store before anyone signs in. The zero value is the default.
	FlowLimits FlowLimits

	// TrustedProxies are the reverse proxies (addresses, CIDR prefixes or
	// "a-b" ranges; see package ipfilter) whose X-Forwarded-For header is
	// believed when deciding a client's address. Empty: the TCP peer is the
	// client, and X-Forwarded-For is ignored.
	TrustedProxies []string

	// GlobalSecret is the HMAC key for opaque tokens and codes, at least 32
	// bytes. If nil, a random key is generated at New: tokens then do not
	// survive a restart and cannot be shared by replicas, which is fine for
	// tests and demos only.
	GlobalSecret []byte

	// RotatedGlobalSecrets are earlier HMAC keys still accepted for tokens
	// issued before a rotation of GlobalSecret.
	RotatedGlobalSecrets [][]byte

	// SigningAlgorithm is the JWS alg of ID tokens and JWT access tokens:
	// "ES256" (the default when empty) or "RS256".
	SigningAlgorithm string

	// AllowLegacyGrants enables the two grants the OAuth 2.0 Security BCP
	// says not to use: the implicit grant, with the response types that
	// return tokens from the authorization endpoint (token, id_token and
	// the hybrid ones such as "code id_token"), which puts tokens in
	// redirect URIs (RFC 9700 §2.1.2); and the resource owner password
	// credentials grant ("password"), which gives users' passwords to the
	// client (RFC 9700 §2.4). When false (the default) discovery does not
	// advertise them, clients cannot be registered or updated with them,
	// and a stored client that lists them cannot use them: the token
	// endpoint answers unsupported_grant_type and the authorization
	// endpoint unsupported_response_type, before any login page.
	AllowLegacyGrants bool

	// JWTAccessTokens makes access tokens RFC 9068 JWTs (typ at+jwt) for
	// every client that does not choose a format itself. If false, access
	// tokens are opaque HMAC tokens, which can be revoked instantly.
	JWTAccessTokens bool

	// StatelessAccessTokens stops storing JWT access tokens (those of
	// JWTAccessTokens, and of clients whose access_token_format is jwt):
	// issuing one writes nothing, and introspection, userinfo and
	// RequireScopes check it by its signature and the deny list. Every
	// revocation (the revocation endpoint, refresh-token reuse, a code
	// replayed, logout and EndUserSessions, RevokeApp, DeleteClient, an API
	// key rotated or deleted, an application user deleted) puts the
	// token's grant, sign-in, user and client, or client on the deny list
	// (a storage.DenyListStore, which Store must be), so it still takes
	// effect at once at this provider, as does a refresh for the access
	// token it replaces. A resource server that checks the JWT's signature
	// alone sees a revocation only when the token expires
	// (docs/stateless-tokens.md). Opaque access tokens are stored as
	// before.
	StatelessAccessTokens bool

	// AccessTokenLifetime, if zero, is 1 hour.
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime, if zero, is 30 days.
	RefreshTokenLifetime time.Duration
	// RefreshReuseGrace is how long after a refresh token's rotation (a
	// successful refresh with it) the same token, presented again, is
	// answered as a lost race rather than as reuse: 400 invalid_grant,
	// with no tokens issued and nothing revoked. After it, a rotated
	// refresh token presented again is reuse (RFC 9700 §4.14): the answer
	// is invalid_grant and every access and refresh token of its grant is
	// revoked. Hydra calls this a rotation grace period. It helps clients
	// that refresh from several threads or tabs at once; it also gives a
	// thief of an old refresh token the same window without tripping reuse
	// detection. Zero (the default) means no grace; at most 60 seconds.
	//
	// Concurrent refreshes that reach the rotation together are never
	// reuse, whatever this is: exactly one succeeds, the others get
	// invalid_grant and revoke nothing.
	RefreshReuseGrace time.Duration
	// AuthCodeLifetime, if zero, is 5 minutes (RFC 6749 §4.1.2 says at most 10).
	AuthCodeLifetime time.Duration
	// IDTokenLifetime, if zero, is 1 hour.
	IDTokenLifetime time.Duration
	// LoginSessionLifetime is how long a user stays logged in at the
	// provider (the session cookie); if zero, 12 hours.
	LoginSessionLifetime time.Duration
	// ConsentLifetime is how long a remembered consent lasts; if zero, 90 days.
	// A remembered consent is never applied to a public client's request
	// whose redirect URI is not https (docs/access-control.md, "Consent").
	ConsentLifetime time.Duration
	// FlowLifetime is how long a user has to finish login and consent; if
	// zero, 15 minutes.
	FlowLifetime time.Duration

	// Paths are where the endpoints are served, relative to the issuer's
	// path. Zero fields take the defaults documented on [Paths].
	Paths Paths

	// Templates, if non-nil, replace the built-in pages. It must define the
	// templates "login", "consent", "logout", "error", "mfa" and "tenant",
	// each executed with a [PageData]. Start from [BuiltinTemplates] and
	// redefine what should look different (docs/pages.md). The account
	// pages' templates ("account-apps", "account-security", "mfa-enroll"
	// and "mfa-recovery") are optional: when it defines none of them, the
	// built-in ones are added, with its "head" and "foot".
	Templates *template.Template

	// PageSources are the origins the pages may load images, stylesheets
	// and fonts from (a host's logo, stylesheet or fonts), added to their
	// Content-Security-Policy. Empty (the default): nothing but the pages'
	// inline styles, and the client's logo on the consent page. Scripts are
	// never allowed.
	PageSources PageSources

	// Messages add to and override the text of the pages, by language (a
	// BCP 47 tag: "en", "de", "pt-BR"): the built-in English and German
	// catalogues ([BuiltinMessages]) with the host's over them. A language
	// of its own ("fr") starts from English, so that a message it lacks
	// shows in English; a regional one ("de-CH") from its base language.
	// This is also where a host describes its permission scopes for the
	// consent page ("scope.assets:read": "Read your assets"). Every ID must
	// be known and every text take the arguments of its message: New
	// reports those that do not.
	Messages map[string]Messages

	// Language chooses a page's language: it gets the request and the
	// languages the user prefers, most preferred first (the authorization
	// or logout request's ui_locales, then Accept-Language), and returns a
	// language tag of Messages or the built-in catalogues ("de-AT" falls
	// back to "de", an unknown one to English), or "" to let the provider
	// choose. Nil (the default): the first preferred language with a
	// catalogue, else English.
	Language func(r *http.Request, preferred []string) string

	// CORSOrigins are web origins (scheme://host[:port], such as
	// https://app.example.com) whose pages may call the token, revocation
	// and userinfo endpoints from a browser (cross-origin resource
	// sharing), besides the origins of the clients' redirect URIs, which
	// need no listing. An entry must be https (http only on a loopback
	// host); "*" is refused. A listed origin passes every preflight, and
	// may read the answers for every client (still only to requests that
	// authenticated a client, or bore its token): list only origins the
	// host trusts as much as its own. Empty (the default): only redirect-URI
	// origins, each for its own client's answers (docs/pages.md, "CORS").
	CORSOrigins []string

	// CORSIntrospection lets browsers call the introspection endpoint
	// cross-origin under the same rules as the token endpoint. False (the
	// default): introspection answers no preflight and sends no CORS
	// headers, since its callers are resource servers, not pages.
	CORSIntrospection bool

	// MaxBodyBytes caps request bodies; if zero, 64 KiB. Larger bodies are
	// refused with 413 and an invalid_request error.
	MaxBodyBytes int64

	// Now is the clock. If nil, time.Now.
	Now func() time.Time

	// Logger receives the provider's logs. If nil, slog.Default(). Secrets
	// and tokens are never logged.
	Logger *slog.Logger

	// TracerProvider makes the provider's OpenTelemetry spans: one per
	// endpoint request ("gatehouse.token.client_credentials",
	// "gatehouse.interaction.login", ...) and, inside a span that records,
	// one per store call ("gatehouse.store.GetClient", ...). If nil, the
	// global provider (otel.GetTracerProvider), which does nothing unless
	// the host installs an SDK, before or after New; while the host has
	// installed neither a TracerProvider nor a propagator
	// (otel.SetTextMapPropagator), requests start no span at all. A host
	// whose spans come from OpenTelemetry's eBPF auto-instrumentation of
	// the global tracer, with no SDK installed, sets TracerProvider to
	// otel.GetTracerProvider() to have them started. Span attributes hold
	// client IDs, grant types and error codes; never a token, secret,
	// password, code or one-time code (docs/operations.md).
	TracerProvider trace.TracerProvider

	// MeterProvider makes the provider's OpenTelemetry metrics (the
	// Metric* constants; docs/operations.md). If nil, the global provider
	// (otel.GetMeterProvider), which does nothing unless the host installs
	// an SDK.
	MeterProvider metric.MeterProvider
	// Auditor receives every audit event (docs/audit.md): token issuance,
	// failed authentication, reuse and replay, lockouts, refused
	// addresses, consent, sign-in and administration. If nil, the events
	// are logged on Logger by [LogAuditor]. Whatever the Auditor, a store
	// that implements [storage.AuditStore] keeps them too, for
	// [Provider.AuditEvents] and the admin API's GET /audit.
	Auditor Auditor

	// AuditRetention is how long stored audit events are kept:
	// [Provider.SweepAudit] removes older ones. Zero means 90 days; a
	// negative value keeps them forever.
	AuditRetention time.Duration

	// AuditQueueSize bounds the events waiting to be written in the
	// background (token issuance and the other events of requests; the
	// administration events are written before the call returns). An
	// event that finds the queue full is dropped, counted in
	// [Provider.AuditStats] and logged. Zero means 10000 (a few MB).
	AuditQueueSize int

	// AuditDisabled turns the audit trail off: no event is recorded,
	// stored or given to the Auditor, and responses carry no
	// X-Request-Id. For a host that records these events itself; the
	// zero value records them.
	AuditDisabled bool
}

// Lockout is a policy of growing delays after repeated failures.
type Lockout struct {
	// MaxFailures failures in a row lock; 0 means 5, a negative value
	// turns the lockout off (for a host whose authenticator limits attempts
	// itself).
	MaxFailures int
	// BaseDelay is the first lock (0 means 30 s); each further failure
	// doubles it, up to MaxDelay (0 means 15 min).
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

// delay is how long the failures-th failure in a row locks, or 0.
func (l Lockout) delay(failures int) time.Duration {
	if l.MaxFailures < 0 || failures < l.MaxFailures {
		return 0
	}
	d := l.BaseDelay
	for i := l.MaxFailures; i < failures && d < l.MaxDelay; i++ {
		d *= 2
	}
	return min(d, l.MaxDelay)
}

// withDefaults fills the zero fields of l with the given defaults.
func (l Lockout) withDefaults(maxFailures int, base, maxDelay time.Duration) Lockout {
	if l.MaxFailures == 0 {
		l.MaxFailures = maxFailures
	}
	if l.BaseDelay == 0 {
		l.BaseDelay = base
	}
	if l.MaxDelay == 0 {
		l.MaxDelay = maxDelay
	}
	return l
}

// check reports what is wrong with l, or "".
func (l Lockout) check() string {
	switch {
	case l.BaseDelay < 0 || l.MaxDelay < 0:
		return "delays must not be negative"
	case l.MaxDelay < l.BaseDelay:
		return fmt.Sprintf("MaxDelay %v is shorter than BaseDelay %v", l.MaxDelay, l.BaseDelay)
	}
	return ""
}

// FlowLimits bound the pending authorization flows. A flow is stored when
// an authorization request needs a page (login, MFA, tenant, consent) and
// lives for Config.FlowLifetime; the limits count the flows started in the
// current window of that length, so at most twice the limit is pending at
// any time. Requests answered without a page (prompt=none, or a login
// session with remembered consent) store nothing and are not counted. A
// request over a limit gets a 429 page that says to try again later, and
// nothing is stored.
//
// The counts are throttle records in the Store, updated atomically, so
// they hold across replicas sharing a store. The address is the client's
// as Config.TrustedProxies resolve it; an IPv4-mapped IPv6 address counts
// as its IPv4 address, and an IPv6 address counts for its whole /64
// prefix, since whoever has one address usually has the whole /64 (so
// clients of one IPv6 network share PerAddress, as clients behind one IPv4
// NAT do).
//
// Each stored flow holds at most 8 KiB of decoded request parameters
// (longer authorization requests are refused with 414, and unknown
// parameters are not stored), usually a few hundred bytes.
type FlowLimits struct {
	// PerAddress is how many flows one client address (IPv6: one /64) may
	// start per window; 0 means 30, negative means no limit.
	PerAddress int
	// Total is how many flows all addresses together may start per
	// window; 0 means 100000, negative means no limit.
	Total int
}

// Paths are the endpoint paths, relative to the issuer's path. Each must be
// a clean absolute path ("/oauth2/token": no "//", "." or ".." segment, no
// trailing "/") of letters, digits and -._~!$&'()*+,;=:@, and no two
// endpoints may share one; [New] reports any other value as a
// [*ConfigError] naming the field.
type Paths struct {
	Authorize   string // default "/oauth2/authorize"
	Token       string // default "/oauth2/token"
	Introspect  string // default "/oauth2/introspect"
	Revoke      string // default "/oauth2/revoke"
	Userinfo    string // default "/userinfo"
	Logout      string // default "/oauth2/logout"
	Discovery   string // default "/.well-known/openid-configuration"
	JWKS        string // default "/.well-known/jwks.json"
	Interaction string // default "/oauth2/interaction": the login and consent pages
	// Account is where the account pages are served: Account + "/apps"
	// (connected apps), Account + "/security" (the second factor) and
	// Account + "/login"; Account itself redirects to the apps. No other
	// endpoint may be below it. Default "/account".
	Account string
}

// endpoint is one endpoint the provider mounts: its field of [Paths], the
// field's default, and its handler.
type endpoint struct {
	field   string
	def     string
	path    func(*Paths) *string
	handler func(*Provider) http.Handler
}

// endpoints are every endpoint the provider mounts, in the order Handler's
// doc lists them. The defaults (Paths.withDefaults), the checks
// (checkPaths) and the routes ([Provider.Handler]) are all made from this
// list, so an endpoint added here is defaulted, checked and served.
var endpoints = []endpoint{
	{"Discovery", "/.well-known/openid-configuration", func(p *Paths) *string { return &p.Discovery }, (*Provider).DiscoveryHandler},
	{"JWKS", "/.well-known/jwks.json", func(p *Paths) *string { return &p.JWKS }, (*Provider).JWKSHandler},
	{"Authorize", "/oauth2/authorize", func(p *Paths) *string { return &p.Authorize }, (*Provider).AuthorizeHandler},
	{"Interaction", "/oauth2/interaction", func(p *Paths) *string { return &p.Interaction }, (*Provider).InteractionHandler},
	{"Token", "/oauth2/token", func(p *Paths) *string { return &p.Token }, (*Provider).TokenHandler},
	{"Introspect", "/oauth2/introspect", func(p *Paths) *string { return &p.Introspect }, (*Provider).IntrospectHandler},
	{"Revoke", "/oauth2/revoke", func(p *Paths) *string { return &p.Revoke }, (*Provider).RevokeHandler},
	{"Userinfo", "/userinfo", func(p *Paths) *string { return &p.Userinfo }, (*Provider).UserinfoHandler},
	{"Logout", "/oauth2/logout", func(p *Paths) *string { return &p.Logout }, (*Provider).LogoutHandler},
	{"Account", "/account", func(p *Paths) *string { return &p.Account }, (*Provider).AccountHandler},
}

// subtree reports whether ep serves the paths below its own too (the
// account pages).
func (ep endpoint) subtree() bool { return ep.field == "Account" }

func (p Paths) withDefaults() Paths {
	for _, ep := range endpoints {
		if v := ep.path(&p); *v == "" {
			*v = ep.def
		}
	}
	return p
}

// ConfigError reports one invalid Config field.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	return "provider: Config." + e.Field + ": " + e.Reason
}

// normalize fills c's defaults (setDefaults), checks the result (check)
// and trims the issuer's trailing slash. It reports every problem at once.
func (c *Config) normalize() error {
	c.setDefaults()
	err := c.check()
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	return err
}

// setDefaults fills the zero fields of c that have a default. A negative
// value is left for check to report.
func (c *Config) setDefaults() {
	if c.SigningAlgorithm == "" {
		c.SigningAlgorithm = "ES256"
	}
	for _, d := range c.lifetimes() {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	c.PasswordLockout = c.PasswordLockout.withDefaults(5, 30*time.Second, 15*time.Minute)
	c.ClientAuthLockout = c.ClientAuthLockout.withDefaults(10, time.Second, 5*time.Minute)
	if c.PasswordGrantCeiling == 0 {
		c.PasswordGrantCeiling = 10 * max(c.PasswordLockout.MaxFailures, 1)
	}
	c.APIKeyLockout = c.APIKeyLockout.withDefaults(10, time.Second, 5*time.Minute)
	if c.APIKeyLifetime == 0 {
		c.APIKeyLifetime = 365 * 24 * time.Hour
	}
	if c.ClientSecretLifetime == 0 {
		c.ClientSecretLifetime = 365 * 24 * time.Hour
	}
	if c.SecretHashConcurrency == 0 {
		c.SecretHashConcurrency = max(runtime.GOMAXPROCS(0)/2, 1)
	}
	if c.FlowLimits.PerAddress == 0 {
		c.FlowLimits.PerAddress = 30
	}
	if c.FlowLimits.Total == 0 {
		c.FlowLimits.Total = 100000
	}
	c.Paths = c.Paths.withDefaults()
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Auditor == nil {
		c.Auditor = LogAuditor(c.Logger)
	}
	if c.AuditRetention == 0 {
		c.AuditRetention = 90 * 24 * time.Hour
	}
	if c.AuditQueueSize == 0 {
		c.AuditQueueSize = 10000
	}
}

// lifetime is a duration field of Config and its default.
type lifetime struct {
	name string
	v    *time.Duration
	def  time.Duration
}

// lifetimes lists c's lifetime fields.
func (c *Config) lifetimes() []lifetime {
	return []lifetime{
		{"AccessTokenLifetime", &c.AccessTokenLifetime, time.Hour},
		{"RefreshTokenLifetime", &c.RefreshTokenLifetime, 30 * 24 * time.Hour},
		{"AuthCodeLifetime", &c.AuthCodeLifetime, 5 * time.Minute},
		{"IDTokenLifetime", &c.IDTokenLifetime, time.Hour},
		{"LoginSessionLifetime", &c.LoginSessionLifetime, 12 * time.Hour},
		{"ConsentLifetime", &c.ConsentLifetime, 90 * 24 * time.Hour},
		{"FlowLifetime", &c.FlowLifetime, 15 * time.Minute},
		{"DeviceCookieLifetime", &c.DeviceCookieLifetime, 90 * 24 * time.Hour},
		{"AccountMaxAge", &c.AccountMaxAge, 15 * time.Minute},
	}
}

// configErrors collects the problems check finds.
type configErrors []error

func (e *configErrors) bad(field, format string, args ...any) {
	*e = append(*e, &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// check reports every problem of c (with its defaults filled), one
// concern at a time.
func (c *Config) check() error {
	var e configErrors
	for _, check := range []func(*configErrors){
		c.checkIssuer,
		c.checkRequired,
		c.checkSecrets,
		c.checkLifetimes,
		c.checkLimits,
		c.checkExtensions,
		c.checkHTTP,
		c.checkPageSources,
		c.checkMessages,
	} {
		check(&e)
	}
	return errors.Join(e...)
}

// checkIssuer checks that the issuer is an absolute https URL (http only
// for a loopback host) without query or fragment.
func (c *Config) checkIssuer(e *configErrors) {
	u, err := url.Parse(c.Issuer)
	switch {
	case err != nil || c.Issuer == "" || !u.IsAbs() || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		e.bad("Issuer", "must be an absolute URL without query or fragment, got %q", c.Issuer)
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())):
		e.bad("Issuer", "must be an https URL (http only for a loopback host), got %q", c.Issuer)
	case !cleanIssuerPath(u):
		e.bad("Issuer", `must have a clean path, without "//", "." or ".." segments (the endpoints are served below it, and requests are cleaned before they are routed), got %q`, c.Issuer)
	}
}

// cleanIssuerPath reports whether the issuer's path, less a trailing "/",
// is a clean prefix for the endpoints' routes.
func cleanIssuerPath(u *url.URL) bool {
	route := strings.TrimSuffix(u.EscapedPath(), "/") + "/x"
	return path.Clean(route) == route
}

// checkRequired checks the fields without a default.
func (c *Config) checkRequired(e *configErrors) {
	if c.Store == nil {
		e.bad("Store", "is required: use memory.New() for tests or postgres for production")
	} else if _, ok := c.Store.(storage.DenyListStore); c.StatelessAccessTokens && !ok {
		e.bad("StatelessAccessTokens", "needs a Store that is a storage.DenyListStore, to keep the revocations of tokens it does not store (memory and postgres are); %T is not", c.Store)
	}
	if c.Authenticator == nil {
		e.bad("Authenticator", "is required: it checks usernames and passwords on the login page")
	}
}

// checkSecrets checks the token secrets' lengths and the signing algorithm.
func (c *Config) checkSecrets(e *configErrors) {
	if c.GlobalSecret != nil && len(c.GlobalSecret) < 32 {
		e.bad("GlobalSecret", "must be at least 32 bytes, got %d", len(c.GlobalSecret))
	}
	for i, s := range c.RotatedGlobalSecrets {
		if len(s) < 32 {
			e.bad(fmt.Sprintf("RotatedGlobalSecrets[%d]", i), "must be at least 32 bytes, got %d", len(s))
		}
	}
	if c.SigningAlgorithm != "ES256" && c.SigningAlgorithm != "RS256" {
		e.bad("SigningAlgorithm", `must be "ES256" or "RS256", got %q`, c.SigningAlgorithm)
	}
}

// checkLifetimes checks the lifetimes and the refresh reuse grace.
func (c *Config) checkLifetimes(e *configErrors) {
	for _, d := range c.lifetimes() {
		if *d.v < 0 {
			e.bad(d.name, "must not be negative, got %v", *d.v)
		}
	}
	if c.RefreshReuseGrace < 0 || c.RefreshReuseGrace > time.Minute {
		e.bad("RefreshReuseGrace", "must be between 0 and 60s, got %v", c.RefreshReuseGrace)
	}
}

// checkLimits checks the lockouts, the password grant's ceiling, the
// hashing concurrency, the code lifetime's bound and the trusted proxies.
func (c *Config) checkLimits(e *configErrors) {
	if msg := c.PasswordLockout.check(); msg != "" {
		e.bad("PasswordLockout", "%s", msg)
	}
	if msg := c.ClientAuthLockout.check(); msg != "" {
		e.bad("ClientAuthLockout", "%s", msg)
	}
	if msg := c.APIKeyLockout.check(); msg != "" {
		e.bad("APIKeyLockout", "%s", msg)
	}
	if c.PasswordGrantCeiling < 0 {
		e.bad("PasswordGrantCeiling", "must not be negative, got %d", c.PasswordGrantCeiling)
	}
	if c.SecretHashConcurrency < 0 {
		e.bad("SecretHashConcurrency", "must not be negative, got %d", c.SecretHashConcurrency)
	}
	if c.AuditQueueSize < 0 {
		e.bad("AuditQueueSize", "must not be negative, got %d (0: the default of 10000)", c.AuditQueueSize)
	}
	if c.AuthCodeLifetime > 10*time.Minute {
		e.bad("AuthCodeLifetime", "must be at most 10 minutes (RFC 6749 §4.1.2), got %v", c.AuthCodeLifetime)
	}
	if _, err := ipfilter.Parse(c.TrustedProxies); err != nil {
		e.bad("TrustedProxies", "%v", err)
	}
}

// checkExtensions checks the host's factors, claim scopes and catalog.
func (c *Config) checkExtensions(e *configErrors) {
	names := map[string]bool{}
	for i, f := range c.Factors {
		switch {
		case f == nil:
			e.bad(fmt.Sprintf("Factors[%d]", i), "is nil")
		case f.Name() == "" || names[f.Name()]:
			e.bad(fmt.Sprintf("Factors[%d]", i), "needs a unique, non-empty Name, got %q", f.Name())
		default:
			names[f.Name()] = true
		}
	}
	if c.EnrollMFAAtLogin && !slices.ContainsFunc(c.Factors, func(f mfa.Factor) bool { _, ok := f.(*mfa.TOTP); return ok }) {
		e.bad("EnrollMFAAtLogin", "needs an *mfa.TOTP in Factors: it is the factor users enroll")
	}
	for s, f := range c.Claims {
		switch {
		case slices.Contains(claimScopes, s):
			e.bad("Claims", "scope %q is built in; choose another name", s)
		case scope.Check(s) != nil || strings.HasSuffix(s, "*"):
			e.bad("Claims", "scope %q is not a valid scope name", s)
		case f == nil:
			e.bad("Claims", "scope %q has a nil function", s)
		}
	}
	for name, set := range c.Catalog {
		if err := scope.Check(name); err != nil {
			e.bad("Catalog", "name %q: %v", name, err)
		}
		for _, perm := range set {
			if err := scope.Check(perm); err != nil {
				e.bad("Catalog", "entry %q: %v", name, err)
			}
		}
	}
}

// checkHTTP checks the endpoint paths, the request body limit and the
// CORS origins.
func (c *Config) checkHTTP(e *configErrors) {
	c.checkPaths(e)
	if c.MaxBodyBytes < 0 {
		e.bad("MaxBodyBytes", "must not be negative")
	}
	for i, o := range c.CORSOrigins {
		if msg := checkCORSOrigin(o); msg != "" {
			e.bad(fmt.Sprintf("CORSOrigins[%d]", i), "%s", msg)
		}
	}
}

// checkPaths checks the path of every mounted endpoint: each must be a path
// that net/http's ServeMux takes as one literal path (not a pattern with a
// method, host or wildcard, nor a subtree), that a cleaned request path can
// reach, and that no other endpoint has, so that mounting them all (routes)
// cannot panic.
func (c *Config) checkPaths(e *configErrors) {
	owner := map[string]string{} // path -> the first field that has it
	for _, ep := range endpoints {
		field, p := "Paths."+ep.field, *ep.path(&c.Paths)
		if msg := checkPath(p); msg != "" {
			e.bad(field, "%s, got %q", msg, p)
			continue
		}
		if first, ok := owner[p]; ok {
			e.bad(field, "is %q, the path of Paths.%s too; give each endpoint its own path", p, first)
			continue
		}
		owner[p] = ep.field
	}
	// The account pages serve every path below Paths.Account: an endpoint
	// there would shadow one of them.
	account := c.Paths.Account
	if checkPath(account) != "" {
		return
	}
	for _, ep := range endpoints {
		if p := *ep.path(&c.Paths); !ep.subtree() && strings.HasPrefix(p, account+"/") {
			e.bad("Paths."+ep.field, "is %q, below Paths.Account %q, where the account pages are served; give it a path outside", p, account)
		}
	}
}

// checkPath reports what is wrong with an endpoint path, or "".
func checkPath(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return `must be an absolute path starting with "/", such as "/oauth2/token"`
	case strings.HasSuffix(p, "/"):
		return `must not end with "/": net/http would serve every path below it there`
	case strings.ContainsFunc(p, func(r rune) bool { return !isPathChar(r) }):
		return "may hold only letters, digits, / and -._~!$&'()*+,;=:@ (no spaces, %, ?, #, { or })"
	case path.Clean(p) != p:
		return `must be a clean path, without "//", "." or ".." segments (requests are cleaned before they are routed)`
	}
	return ""
}

// isPathChar reports whether r may appear in an endpoint path as it is:
// "/" and RFC 3986's pchar without percent-encoding.
func isPathChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-._~!$&'()*+,;=:@", r)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
