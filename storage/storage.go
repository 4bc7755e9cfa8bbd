// Package storage defines what a Gatehouse backend stores and the contract
// each backend must honour.
//
// Records are plain structs with exported fields and times in UTC; behaviour
// is a handful of role-sized interfaces gathered in [Store]. A backend never
// sees OAuth protocol types: the provider serialises its session state into
// [Request.Session] once, in one place, and backends keep it as opaque bytes.
//
// Tokens, codes and client secrets are stored only as signatures or hashes.
// The token "signature" is the part of an opaque token after the last dot
// (an HMAC); the database never holds a usable token.
//
// Every method takes a context first and must honour its cancellation and
// deadline. Time is always passed in (now, before); backends never read the
// clock themselves, which keeps expiry testable.
//
// The dangerous operations are atomic primitives rather than get-then-update
// sequences: [TokenStore.ConsumeAuthCode], [TokenStore.RotateRefreshToken] and
// [TokenStore.UseJTI] return [ErrAlreadyUsed] to every caller but one, even
// when many provider replicas share the backend.
//
// Two interfaces are optional, found by type assertion: [Transactor], for
// backends that can run several operations as one transaction, and
// [AuditStore], for backends that keep the provider's audit trail.
//
// The conformance suite in package storagetest checks all of this; run it in
// the unit tests of any custom backend.
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends may wrap them (fmt.Errorf("...: %w", ErrNotFound));
// callers must test with [errors.Is].
var (
	// ErrNotFound is returned when the record asked for does not exist (or
	// has been deleted).
	ErrNotFound = errors.New("storage: not found")
	// ErrAlreadyExists is returned when a record with the same key exists.
	ErrAlreadyExists = errors.New("storage: already exists")
	// ErrAlreadyUsed is returned by the single-use primitives to every caller
	// but the first: an authorization code already exchanged, a refresh token
	// already rotated, a JWT ID already seen.
	ErrAlreadyUsed = errors.New("storage: already used")
)

// TokenKind says which kind of token a [Token] record is: one of the kinds
// [Kinds] lists, which are all the provider stores. A [TokenStore] may
// refuse to create a token of any other kind (the memory store does: it
// keeps a kind in a byte).
type TokenKind string

// The token kinds a [TokenStore] keeps. Each kind is its own key space: the
// same signature may exist under two kinds.
const (
	KindAuthCode     TokenKind = "authorization_code"
	KindAccessToken  TokenKind = "access_token"
	KindRefreshToken TokenKind = "refresh_token"
	// KindPKCE holds the PKCE challenge of an authorization code, keyed by the
	// code's signature.
	KindPKCE TokenKind = "pkce"
	// KindOIDC holds the OpenID Connect session of an authorization code,
	// keyed by the code's signature.
	KindOIDC TokenKind = "oidc"
)

// Kinds lists every [TokenKind], for backends that keep one table each.
var Kinds = []TokenKind{KindAuthCode, KindAccessToken, KindRefreshToken, KindPKCE, KindOIDC}

// Request is the authorization grant behind a token: who asked, for what, and
// what was granted. Every token of one grant (the code, and every access and
// refresh token issued from it, across refreshes) shares the same ID, which
// is therefore the token family.
type Request struct {
	// ID identifies the grant and its token family.
	ID string
	// RequestedAt is when the grant was first requested.
	RequestedAt time.Time
	// ClientID is the client the grant was made to.
	ClientID string
	// Subject is the user the grant is on behalf of; empty for client
	// credentials.
	Subject string
	// RequestedScopes and GrantedScopes are the scopes asked for and given.
	RequestedScopes []string
	GrantedScopes   []string
	// RequestedAudience and GrantedAudience are the audiences asked for and
	// given.
	RequestedAudience []string
	GrantedAudience   []string
	// Form holds the request parameters the protocol needs later (for
	// example redirect_uri, code_challenge, nonce). Secrets such as passwords
	// and client secrets are removed before the request is stored.
	Form map[string][]string
	// Session is the provider's serialised session state. Backends store it
	// as it is and return it byte for byte.
	Session []byte
	// LoginSID is the [LoginSession.SID] of the browser sign-in the grant
	// was made in, for a grant made through an interactive login (the
	// authorization endpoint). A grant made with a credential that can be
	// revoked on its own carries that credential's ID instead, prefixed so
	// that it never equals a sign-in's: "apikey:..." for one made with an
	// API key, "appuser:..." for one made by a client linked to an
	// application user. It is "" for every other grant (client
	// credentials, the password grant, and grants stored before the field
	// existed). Every token of the grant carries it, so that
	// [TokenStore.RevokeLoginGrants] ends them when that sign-in (or that
	// credential) is ended.
	LoginSID string
}

// Token is a stored code or token, keyed by [TokenKind] and Signature.
type Token struct {
	// Signature is the key: the token's HMAC signature, never the token.
	Signature string
	// Kind is the token kind.
	Kind TokenKind
	// Request is the grant the token belongs to. Request.ID is the family.
	Request Request
	// AccessSignature links a refresh token to the access token issued with
	// it; empty for other kinds.
	AccessSignature string
	// ExpiresAt is when the token stops being valid. A backend must still
	// return an expired token from Get until [Store.DeleteExpired] removes it;
	// the provider checks expiry itself.
	ExpiresAt time.Time
	// Active is false once a code has been consumed, a refresh token rotated,
	// or a token revoked. Inactive tokens are kept (until they expire) so reuse
	// can be detected.
	Active bool
	// CreatedAt is when the provider stored the token (the time of the
	// code exchange, refresh or authorization that issued it), as given to
	// [TokenStore.CreateToken]; a backend stores it as given. Zero for
	// tokens stored before the field existed. [TokenStore.ListGrants] reads
	// it to tell when a client last obtained tokens for a user.
	CreatedAt time.Time
	// RotatedAt is when [TokenStore.RotateRefreshToken] made a refresh token
	// inactive: the now it was given, set in the same atomic step. It is zero
	// for a token never rotated (active, or made inactive only by
	// [TokenStore.RevokeFamily], which leaves it alone). The provider reads
	// it to tell a refresh token presented moments after its rotation (a
	// lost race, within the provider's grace period) from reuse. A backend
	// stores it as given on create.
	RotatedAt time.Time
}

// TokenStore keeps codes and tokens. Implementations must be safe for
// concurrent use, and the single-use operations must be atomic across every
// process that shares the backend.
type TokenStore interface {
	// CreateToken stores t. It returns [ErrAlreadyExists] if a token of the
	// same kind and signature exists.
	CreateToken(ctx context.Context, t Token) error
	// GetToken returns the token of that kind and signature, active or not.
	// It returns [ErrNotFound] if there is none.
	GetToken(ctx context.Context, kind TokenKind, signature string) (Token, error)
	// DeleteToken removes the token. It returns [ErrNotFound] if there is none.
	DeleteToken(ctx context.Context, kind TokenKind, signature string) error
	// ConsumeAuthCode marks an active authorization code inactive and returns
	// it. If the code was already consumed it returns the code together with
	// [ErrAlreadyUsed], so the caller can revoke its family; of any number of
	// concurrent callers exactly one succeeds. It returns [ErrNotFound] for an
	// unknown code.
	ConsumeAuthCode(ctx context.Context, signature string) (Token, error)
	// RotateRefreshToken marks an active refresh token inactive, sets its
	// [Token.RotatedAt] to now, and deletes the access token issued with it,
	// all in one atomic step. If the refresh token is already inactive it
	// returns [ErrAlreadyUsed] and changes nothing; of any number of
	// concurrent callers exactly one succeeds. It returns [ErrNotFound] for
	// an unknown token.
	RotateRefreshToken(ctx context.Context, signature string, now time.Time) error
	// RevokeLoginGrants ends the browser sign-in sid. It marks every token
	// whose Request.LoginSID is sid inactive, of every kind and however
	// many there are, and changes nothing else: no other field of them,
	// and no token with another LoginSID (compared byte for byte, as in
	// RevokeFamily). It also records the sign-in as ended until until:
	// from then on, a token created with that LoginSID is stored inactive,
	// whatever its Active says, until [Store.DeleteExpired] removes the
	// record (with a cut-off after until; a later call with a later until
	// extends it). That ends the tokens of a code exchange or refresh that
	// was under way when the sign-in ended, which would otherwise be
	// created after the revocation and stay active.
	//
	// A backend that implements [Transactor] must also reach the tokens of
	// a transaction that created them before the sign-in was recorded as
	// ended, having consumed a code or rotated a refresh token of sid, and
	// that has not committed yet: RevokeLoginGrants waits for such a
	// transaction to end and then revokes what it committed.
	//
	// An empty sid revokes and records nothing (tokens without a LoginSID
	// belong to no sign-in). Revoking a sid with no tokens is not an
	// error.
	RevokeLoginGrants(ctx context.Context, sid string, until time.Time) error
	// RevokeFamily marks every token of kind with the given request ID
	// inactive, however many are active, and changes nothing else: no
	// other field of them, and no token of another kind or another request
	// ID (IDs compare byte for byte: "fam" is neither "FAM" nor "fam2").
	// Revoking a family with no tokens is not an error.
	RevokeFamily(ctx context.Context, kind TokenKind, requestID string) error
	// RevokeUserClientGrants ends every grant of subject to clientID: it
	// marks every token, of every kind, whose Request.Subject is subject
	// and whose Request.ClientID is clientID inactive (both compared byte
	// for byte, as in RevokeFamily), and changes nothing else: no other
	// field of them, and no token of another subject or client. It also
	// records the request IDs (token families) of those tokens as revoked
	// until until: from then on, a token created with one of those
	// Request.IDs is stored inactive, whatever its Active says, until
	// [Store.DeleteExpired] removes the record (with a cut-off after
	// until; a later call with a later until extends it). That ends the
	// tokens of a code exchange or refresh of such a grant that was under
	// way, which would otherwise be created after the revocation and stay
	// active; a grant made later has a new request ID and is not affected.
	//
	// A backend that implements [Transactor] must also reach the tokens of
	// a transaction that created them before the revocation, having
	// consumed a code or rotated a refresh token of such a grant, and that
	// has not committed yet, as [TokenStore.RevokeLoginGrants] does.
	//
	// An empty subject or clientID revokes and records nothing. Revoking
	// grants that have no tokens is not an error.
	RevokeUserClientGrants(ctx context.Context, subject, clientID string, until time.Time) error
	// ListGrants returns, for every client that holds an active access or
	// refresh token of subject not expired at now (ExpiresAt after now),
	// the newest such token: the one with the latest CreatedAt, and of
	// those the greatest signature (then kind) byte by byte. The result
	// has one token per client ID, ordered by client ID byte by byte; a
	// subject with none is an empty result, not an error. An empty subject
	// (client credentials grants) lists nothing.
	ListGrants(ctx context.Context, subject string, now time.Time) ([]Token, error)
	// UseJTI records a JWT ID (of a client assertion) as used until
	// expiresAt. It returns [ErrAlreadyUsed] if the ID is recorded and not yet
	// expired at now.
	UseJTI(ctx context.Context, jti string, expiresAt, now time.Time) error
}

// TokenSetGetter is an optional extension of [TokenStore] for backends that
// can read several records in one step. A code exchange reads the
// authorization code and the PKCE and OpenID Connect records stored under
// the code's signature; a backend that implements TokenSetGetter gives all
// three in one call, which on a database is one round trip instead of
// three. The provider uses it when the store has it, and GetToken
// otherwise.
type TokenSetGetter interface {
	// GetTokenSet returns the tokens of the given kinds stored under
	// signature, in the order of kinds, each as GetToken would return it
	// (active or not, expired or not). A kind with no such token has the
	// zero Token (empty Signature) in its place; that is not an error.
	GetTokenSet(ctx context.Context, signature string, kinds ...TokenKind) ([]Token, error)
}

// StatusReader is an optional extension of [Store] for backends in the
// provider's own process, where telling whether a record changed costs far
// less than reading and decoding it: the memory store implements it. A
// backend with a round trip per call gains nothing from it and should not
// implement it.
//
// With it, the provider keeps what it has decoded, a few thousand records
// at most, and checks it rather than reading it again:
//
//   - An access token introspected before (a resource server introspects
//     the same token on every call it serves): TokenStatus tells whether
//     it is still stored and active, so a revoked or deleted token is seen
//     at its next introspection. This is sound because of [TokenStore]'s
//     contract: the revocations change a token's Active and nothing else,
//     RotateRefreshToken changes a refresh token and deletes an access
//     token, and the provider never stores two different tokens under one
//     kind and signature (a signature is an HMAC of a random key).
//   - A client loaded before (every token, introspection and revocation
//     request loads its client): it is used again until a client is
//     written (ClientsVersion) or one of its secrets expires.
type StatusReader interface {
	// TokenStatus reports whether a token of that kind and signature is
	// stored (expired or not, as GetToken finds it) and, if it is, whether
	// it is active. An unknown token is found false, not an error.
	TokenStatus(ctx context.Context, kind TokenKind, signature string) (found, active bool, err error)
	// ClientsVersion returns a number that changes after every write of
	// a client (CreateClient, UpdateClient, DeleteClient), before the call
	// returns; it may change at other times too. The provider keeps a
	// client it read by GetClient between two calls of ClientsVersion that
	// returned the same number, and uses it while ClientsVersion still
	// returns that number: once a write's call has returned, no more.
	ClientsVersion() uint64
}

// SecretHash is one hashed client secret. A client has one or more during a
// rotation; each may expire.
type SecretHash struct {
	// Hash is the encoded hash, self-describing (for example "sha256$..." or
	// a bcrypt string). It is never the secret itself.
	Hash string
	// CreatedAt is when the secret was made.
	CreatedAt time.Time
	// ExpiresAt is when the secret stops being accepted; zero means never.
	ExpiresAt time.Time
}

// Client is a registered OAuth 2.0 client.
type Client struct {
	// ID is the client_id.
	ID string
	// Name is shown to users on the consent page.
	Name string
	// Description is a note for administrators (what the client is, who
	// runs it); it is never shown to users.
	Description string
	// LogoURI is the URL of the client's logo (RFC 7591 §2 logo_uri),
	// shown on the consent page. The provider accepts an absolute https URL
	// (http only on a loopback host) of at most 2048 bytes; empty shows no
	// logo. Its JSON name, for the admin API, is "logo_uri".
	LogoURI string
	// ClientURI is the client's home page (RFC 7591 §2 client_uri), linked
	// from the consent page. The provider accepts what it accepts for
	// LogoURI; empty shows no link. Its JSON name, for the admin API, is
	// "client_uri".
	ClientURI string
	// Secrets are the client's hashed secrets, newest first. Empty for a
	// public client and for private_key_jwt clients.
	Secrets []SecretHash
	// Public marks a client that cannot keep a secret (auth method "none";
	// PKCE is then required).
	Public bool
	// RedirectURIs are matched exactly.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the registered targets of RP-initiated
	// logout, matched exactly.
	PostLogoutRedirectURIs []string
	// GrantTypes the client may use (authorization_code, refresh_token,
	// client_credentials, implicit, password).
	GrantTypes []string
	// ResponseTypes the client may use at the authorization endpoint
	// ("code", "token", "id_token", "code id_token", ...).
	ResponseTypes []string
	// Scopes the client may ask for.
	Scopes []string
	// Audience values the client may ask for.
	Audience []string
	// TokenEndpointAuthMethod is client_secret_basic, client_secret_post,
	// private_key_jwt or none. The first two are interchangeable at the
	// endpoints (the secret is accepted by HTTP Basic and in the body,
	// whichever is registered); private_key_jwt and none are exclusive.
	TokenEndpointAuthMethod string
	// TokenEndpointAuthSigningAlg is the JWS alg of private_key_jwt
	// assertions (RS256 or ES256).
	TokenEndpointAuthSigningAlg string
	// JWKS is the client's public JSON Web Key Set (JSON), for
	// private_key_jwt.
	JWKS []byte
	// RequirePKCE makes PKCE (S256) mandatory for this confidential client
	// too; public clients always need it.
	RequirePKCE bool
	// AccessTokenFormat is "jwt" for RFC 9068 JWT access tokens, "opaque"
	// for HMAC tokens; empty uses the provider's default.
	AccessTokenFormat string
	// RequiredRole, if set, is a role the user must hold (in the tenant the
	// session is for, or in every tenant) to use the client; users without
	// it are refused with access_denied, at authorization and at refresh.
	RequiredRole string
	// Customer, if set, binds the client to one tenant (customer) ID: only
	// the user's membership of that tenant counts, and users who are not
	// members are refused.
	Customer string
	// PermissionScope is the outer bound on the permissions the client's
	// sessions may get: permissions, "prefix:*" patterns, or names that the
	// provider's catalog expands. Empty means no bound beyond Scopes.
	PermissionScope []string
	// IntrospectAudiences makes the client a resource server at the
	// introspection endpoint (RFC 7662): besides its own tokens it may
	// introspect the access tokens whose granted audience includes one of
	// these values, compared exactly. The granted audience is what the
	// token's client asked for with the audience parameter (and lists in
	// Audience); the client ID that a JWT access token issued without one
	// carries in "aud" does not count. Refresh tokens are shown only to
	// their own client whatever their audience, and every other token is
	// answered {"active":false}. The provider accepts at most 64 values of
	// 1-1024 bytes without spaces, and only on confidential clients. Its
	// JSON name, for the admin API, is "introspect_audiences".
	IntrospectAudiences []string
	// IPRanges, if set, are the only client addresses the client may be
	// used from (addresses, CIDR prefixes or "a-b" ranges, IPv4 and IPv6;
	// see package ipfilter). Requests from elsewhere are refused at the
	// token, authorization, introspection and revocation endpoints.
	IPRanges []string
	// RequireMFA makes the user complete a second factor during
	// authorization; users without an enrolled factor are refused.
	RequireMFA bool
	// AcceptsAPIKeys makes the client the way scripts present API keys at
	// the token endpoint: a public client (auth method none) whose only
	// grant is client_credentials, authenticated by a valid key in the
	// X-API-Key header instead of a secret; its tokens are sessions of the
	// key's owner. It cannot require MFA. Its JSON name, for the admin
	// API, is "accepts_api_keys".
	AcceptsAPIKeys bool
	// ApplicationUser, if set, links a confidential client (grant
	// client_credentials only) to the [ApplicationUser] of that ID: its
	// tokens are that application user's, with its permissions. Its JSON
	// name, for the admin API, is "application_user".
	ApplicationUser string
	// RefreshBoundToLogin makes the client's refresh tokens live no longer
	// than the browser sign-in their grant was made in: a refresh, or the
	// introspection of a refresh token, of a grant made through an
	// interactive login needs that sign-in (its [LoginSession.SID]) to be
	// live still, and is refused once it has expired, been replaced by
	// another user's sign-in in that browser, or ended. Without it (the
	// default) only the end of the sign-in by logout revokes the grant, and
	// a refresh token outlives the sign-in's mere expiry (offline access,
	// OpenID Connect Core 1.0 §11). Grants not made through a browser
	// sign-in (client credentials, the password grant) are not affected.
	// Its JSON name, for the admin API, is "refresh_bound_to_login".
	RefreshBoundToLogin bool
	// Lifetimes override the provider's defaults when non-zero.
	AccessTokenLifetime  time.Duration
	RefreshTokenLifetime time.Duration
	AuthCodeLifetime     time.Duration
	IDTokenLifetime      time.Duration
	// CreatedAt and UpdatedAt are maintained by the caller.
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ClientStore keeps clients.
type ClientStore interface {
	// CreateClient stores c; [ErrAlreadyExists] if the ID is taken.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client or [ErrNotFound].
	GetClient(ctx context.Context, id string) (Client, error)
	// UpdateClient replaces a client with what update returns, atomically:
	// update receives the current record and may be called more than once if
	// a backend retries. An error from update is returned as it is and
	// nothing is written. [ErrNotFound] if there is no such client.
	UpdateClient(ctx context.Context, id string, update func(Client) (Client, error)) error
	// DeleteClient removes the client and, in the same atomic step,
	// everything made for it: every token of every kind whose
	// Request.ClientID is id, every consent whose ClientID is id, and every
	// authorization flow whose ClientID is id (IDs compare byte for byte).
	// A client registered later under the same ID therefore starts with
	// nothing. It returns [ErrNotFound], and removes nothing, if there is
	// no such client.
	DeleteClient(ctx context.Context, id string) error
	// ListClients returns every client, ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// FindClients returns the clients q selects, ordered by ID (byte
	// order), at most q.Limit of them when it is positive: a page of an
	// admin listing. No client is an empty result, not an error.
	FindClients(ctx context.Context, q ClientQuery) ([]Client, error)
}

// ClientQuery selects clients for [ClientStore.FindClients]. Its zero value
// selects every client. The conditions combine: a client is selected when
// it meets all of them.
type ClientQuery struct {
	// Customer, if not empty, selects the clients whose Customer is
	// exactly this (byte for byte).
	Customer string
	// SecretExpiresBefore, if not zero, selects the clients whose newest
	// secret (Secrets[0]) has a non-zero ExpiresAt before it (strictly).
	// Clients without secrets, and those whose newest secret never
	// expires, are not selected.
	SecretExpiresBefore time.Time
	// After, if not empty, selects the clients whose ID sorts after it,
	// byte by byte: the last ID of the previous page.
	After string
	// Limit, if positive, is the most clients returned (the first ones by
	// ID); zero or negative means no limit.
	Limit int
}

// Consent is a user's remembered approval of scopes for a client.
type Consent struct {
	Subject   string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
	// ExpiresAt is when the consent lapses; zero means never.
	ExpiresAt time.Time
}

// ConsentStore keeps remembered consents, one per subject and client.
type ConsentStore interface {
	// SaveConsent creates or replaces the consent of c.Subject for c.ClientID.
	SaveConsent(ctx context.Context, c Consent) error
	// GetConsent returns the consent or [ErrNotFound].
	GetConsent(ctx context.Context, subject, clientID string) (Consent, error)
	// ListConsents returns every consent of subject, ordered by client ID.
	ListConsents(ctx context.Context, subject string) ([]Consent, error)
	// RevokeConsent removes the consent or returns [ErrNotFound].
	RevokeConsent(ctx context.Context, subject, clientID string) error
}

// LoginSession is a user's browser session at the provider (the SSO
// cookie). The cookie holds a random value; ID is its hash.
type LoginSession struct {
	ID string
	// SID identifies the browser's sign-in across the records that carry
	// it: the provider replaces the record (and the cookie value) when the
	// session gains a second factor, or when the same user signs in again
	// in that browser, and the replacement keeps the SID; another user's
	// sign-in gets a new one. Grants made in the sign-in record it
	// ([Request.LoginSID]). A session stored before the field existed has
	// an empty SID, which the provider reads as SID = ID.
	SID      string
	Subject  string
	AuthTime time.Time
	// AMR lists the authentication methods used (RFC 8176: "pwd", "otp").
	AMR []string
	// Claims is the user as the host's authenticator returned it at login
	// (JSON), used for ID tokens and userinfo when the host gives no user
	// lookup.
	Claims    []byte
	ExpiresAt time.Time
}

// AuthFlow is an authorization request in progress: the steps between the
// authorization endpoint and the redirect back to the client (login, MFA,
// tenant choice, consent). The browser holds a random handle; ID is its hash.
type AuthFlow struct {
	ID string
	// Query is the original authorization request's query string.
	Query string
	// ClientID of the request.
	ClientID string
	// Subject is set once the user has logged in.
	Subject string
	// AuthTime is when the user authenticated in this flow (or in the login
	// session it reused).
	AuthTime time.Time
	// AMR lists the methods done so far.
	AMR []string
	// Done lists the steps completed, by name.
	Done []string
	// RequestedAt is when the authorization request first arrived (whole
	// seconds); it becomes the tokens' requested_at.
	RequestedAt time.Time
	// ClientIP is the address of the client that started the grant, as
	// netip.Addr.String gives it; "" if unknown.
	ClientIP string
	// Browser is the digest of the browser cookie of the browser that
	// started the flow: only that browser may continue it.
	Browser string
	// Tenant is the ID of the tenant the user chose, or "".
	Tenant string
	// User is the user (JSON) who signed in during the flow, or nil if the
	// flow reuses a login session.
	User []byte
	// Data holds step-specific extras of custom steps, by key. The
	// provider's own values have the fields above; it reads Data only for
	// flows stored before those fields existed.
	Data map[string]string
	// CSRF is the anti-forgery token every form of this flow must carry.
	CSRF      string
	ExpiresAt time.Time
}

// SessionStore keeps login sessions and authorization flows in progress.
type SessionStore interface {
	// CreateLoginSession stores s; [ErrAlreadyExists] if the ID is taken.
	CreateLoginSession(ctx context.Context, s LoginSession) error
	// GetLoginSession returns the session or [ErrNotFound].
	GetLoginSession(ctx context.Context, id string) (LoginSession, error)
	// DeleteLoginSession removes the session or returns [ErrNotFound].
	DeleteLoginSession(ctx context.Context, id string) error
	// LoginSessionsBySubject returns every login session of subject,
	// expired or not (the caller checks ExpiresAt), ordered by ID compared
	// byte by byte; none is not an error.
	LoginSessionsBySubject(ctx context.Context, subject string) ([]LoginSession, error)
	// DeleteLoginSessionsBySubject removes every session of subject and
	// returns how many it removed. It revokes no grant made in them (the
	// provider's EndUserSessions does both).
	DeleteLoginSessionsBySubject(ctx context.Context, subject string) (int64, error)
	// CreateAuthFlow stores f; [ErrAlreadyExists] if the ID is taken.
	CreateAuthFlow(ctx context.Context, f AuthFlow) error
	// GetAuthFlow returns the flow or [ErrNotFound].
	GetAuthFlow(ctx context.Context, id string) (AuthFlow, error)
	// UpdateAuthFlow replaces the flow with what update returns, atomically
	// (see [ClientStore.UpdateClient]); [ErrNotFound] if there is none.
	UpdateAuthFlow(ctx context.Context, id string, update func(AuthFlow) (AuthFlow, error)) error
	// DeleteAuthFlow removes the flow or returns [ErrNotFound].
	DeleteAuthFlow(ctx context.Context, id string) error
}

// SigningKey is a key the provider signs ID tokens and JWT access tokens
// with. A key is published in the JWKS from CreatedAt until RetiredAt plus
// the longest token lifetime, and signs from ActiveAt until it is retired.
type SigningKey struct {
	// ID is the JWS kid.
	ID string
	// Algorithm is the JWS alg: "ES256" or "RS256".
	Algorithm string
	// PrivateKey is the PKCS #8 DER encoding of the private key.
	PrivateKey []byte
	CreatedAt  time.Time
	// ActiveAt is when the key starts signing: a new key is published before
	// it signs so that relying parties have fetched it in time.
	ActiveAt time.Time
	// RetiredAt is when the key stopped signing; zero while it may sign.
	RetiredAt time.Time
	// ExpiresAt is when the key leaves the JWKS: after every token it signed
	// has expired. Zero while it is not retired.
	ExpiresAt time.Time
}

// KeyStore keeps signing keys.
type KeyStore interface {
	// CreateSigningKey stores k; [ErrAlreadyExists] if the kid is taken.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	// ListSigningKeys returns every key, oldest first (by CreatedAt, then ID).
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	// UpdateSigningKey replaces a key with what update returns, atomically
	// (see [ClientStore.UpdateClient]); [ErrNotFound] if there is none.
	UpdateSigningKey(ctx context.Context, id string, update func(SigningKey) (SigningKey, error)) error
	// DeleteSigningKey removes the key or returns [ErrNotFound].
	DeleteSigningKey(ctx context.Context, id string) error
}

// Store is everything the provider needs from a backend. Implementations
// must be safe for concurrent use by many goroutines and, for shared
// backends, by many processes.
type Store interface {
	ClientStore
	TokenStore
	ConsentStore
	SessionStore
	KeyStore
	MFAStore
	ThrottleStore
	// DeleteExpired removes what expired before the given time: tokens,
	// login sessions, flows, consents with an expiry, used JWT IDs,
	// throttles and signing keys whose ExpiresAt has passed, and the
	// records of ended sign-ins (see [TokenStore.RevokeLoginGrants]) and
	// of revoked grants (see [TokenStore.RevokeUserClientGrants]) whose
	// until has. The cut-off is
	// strict: a record goes when its expiry is before before, and one whose
	// expiry equals before is kept (a later call removes it). It returns
	// how many records it removed.
	DeleteExpired(ctx context.Context, before time.Time) (int64, error)
}
