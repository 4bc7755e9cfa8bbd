package oauth

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// Request is the state of one request to an endpoint that calls fosite:
// the endpoint creates it with [NewRequest], sets what its request needs,
// and hands it to fosite with [WithRequest]. fosite's storage interfaces
// receive only a context, so the context is how the value reaches the
// [Store]; [WithRequest] and the Store's unexported accessor are the only
// code that puts it there or reads it back. A Request serves one HTTP
// request only, so that a changed or deleted client takes effect at the
// next.
type Request struct {
	mu sync.Mutex
	// clients are the clients loaded, one or two in a request: a slice
	// searched in order costs less than a map.
	clients []cachedClient

	// codeRecords are the records of the authorization code being
	// exchanged, by kind: the code and the PKCE and OpenID Connect records
	// stored under its signature, read together once (fosite reads the
	// code twice and the others once each). A consumed code is dropped, so
	// nothing reads a stale one.
	codeSig     string
	codeRecords map[storage.TokenKind]storage.Token

	refreshScopes []string

	// authenticated is the client the request authenticated as, once the
	// engine's client authentication has succeeded.
	authenticated *Client

	// loaded are the grants of the tokens the store loaded, by request ID,
	// and events what it saw happen to them (see [Request.GrantEvents]).
	loaded []GrantRef
	events []GrantEvent

	// Password backs the resource-owner password grant of this request;
	// nil refuses every password (the store answers fosite.ErrNotFound,
	// which fosite turns into invalid_grant).
	Password Authenticator

	// issued is when the request issued a stateless access token (its
	// iat_ms), or zero: a refresh's rotation denies the grant's tokens
	// issued before it (see Store.RotateRefreshToken).
	issued time.Time
	// refreshStored is when the refresh token the request presents was
	// stored, once the store has read it.
	refreshStored time.Time

	// presented is the access token the request presents (introspection,
	// revocation, a resource), so that the store can rebuild a stateless
	// JWT's grant from it; verified is its claims once checked.
	presented string
	verified  *statelessClaims

	// basic is the request's HTTP Basic credentials, decoded once (when
	// decoded is set): the client authentication's steps each read them.
	basic basicCreds

	// shared is set by Engine.Introspect: the access token it reads may be
	// one the Store keeps and shares (kept.go).
	shared bool
}

type basicCreds struct {
	header, user, pass string
	ok, decoded        bool
}

// BasicAuth returns r.BasicAuth(), decoded once for the Request that ctx
// carries (and again if the Authorization header is not the one decoded).
func BasicAuth(ctx context.Context, r *http.Request) (user, pass string, ok bool) {
	q := requestOf(ctx)
	if q == nil {
		return r.BasicAuth()
	}
	h := r.Header.Get("Authorization")
	q.mu.Lock()
	defer q.mu.Unlock()
	if b := &q.basic; b.decoded && b.header == h {
		return b.user, b.pass, b.ok
	}
	user, pass, ok = r.BasicAuth()
	q.basic = basicCreds{header: h, user: user, pass: pass, ok: ok, decoded: true}
	return user, pass, ok
}

// refreshStoredAt returns when the refresh token the request presents was
// stored, or zero.
func (r *Request) refreshStoredAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refreshStored
}

func (r *Request) setRefreshStored(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshStored = t
}

// shareReads marks the request as Engine.Introspect's; sharedReads
// reports whether it is.
func (r *Request) shareReads() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shared = true
}

func (r *Request) sharedReads() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shared
}

// issuedAt returns when the request issued its stateless access token,
// or zero.
func (r *Request) issuedAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.issued
}

func (r *Request) setIssued(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.issued = t
}

// Present records the token the request presents, for a stateless JWT
// access token's lookup by signature (see Store.GetAccessTokenSession).
func (r *Request) Present(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.presented != token {
		r.presented, r.verified = token, nil
	}
}

// NewRequest returns the state of a new request. The store loads each
// client at most once per Request: a token request reads its client to
// authenticate it and again with every record it loads (code, PKCE, OpenID
// Connect session); within one request these are the same record, and on a
// database each read is a round trip.
func NewRequest() *Request {
	return &Request{}
}

type cachedClient struct {
	id string
	c  *Client
}

// KeepRefreshScopes makes a refresh token the store creates for this
// request keep the given granted scopes rather than the request's: a
// refresh that narrows the new access token's scope leaves the grant's full
// scope on the new refresh token (RFC 6749 §6).
func (r *Request) KeepRefreshScopes(full []string) {
	r.refreshScopes = full
}

func (r *Request) cachedClient(id string) (*Client, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.clients {
		if e.id == id {
			return e.c, true
		}
	}
	return nil, false
}

func (r *Request) cacheClient(id string, c *Client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.clients {
		if r.clients[i].id == id {
			r.clients[i].c = c
			return
		}
	}
	r.clients = append(r.clients, cachedClient{id, c})
}

// cachedCodeRecord returns the record of kind under the code signature sig
// read earlier in this request; found is false if none was read. A record
// read and absent is returned as the zero Token with found true.
func (r *Request) cachedCodeRecord(kind storage.TokenKind, sig string) (t storage.Token, found bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.codeRecords == nil || r.codeSig != sig {
		return storage.Token{}, false
	}
	t, found = r.codeRecords[kind]
	return t, found
}

// cacheCodeRecords keeps the records read for the code signature sig.
func (r *Request) cacheCodeRecords(sig string, records map[storage.TokenKind]storage.Token) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.codeSig, r.codeRecords = sig, records
}

// forgetCodeRecord drops the cached record of kind under sig (after a
// write changed it).
func (r *Request) forgetCodeRecord(kind storage.TokenKind, sig string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.codeSig == sig {
		delete(r.codeRecords, kind)
	}
}

// AuthenticatedClient returns the client the request authenticated as
// (through the engine's client authentication, at any endpoint), or nil if
// none has yet.
func (r *Request) AuthenticatedClient() *Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.authenticated
}

func (r *Request) setAuthenticated(c *Client) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.authenticated = c
}

// ReuseDetected reports whether the request presented a refresh token
// again after its rotation, or an authorization code again after it was
// exchanged (or its sign-in ended): the engine has refused it and revoked
// the grant's tokens (RFC 9700 §4.14, RFC 6749 §4.1.2).
func (r *Request) ReuseDetected() bool {
	_, code := r.Saw(CodeReplayed)
	_, refresh := r.Saw(RefreshReused)
	return code || refresh
}

// GrantRef names a grant: its request ID, client and subject.
type GrantRef struct {
	ID, ClientID, Subject string
}

// GrantEventKind is what the store saw happen to a grant.
type GrantEventKind int

// The grant events.
const (
	// CodeReplayed: a consumed (or revoked) authorization code was
	// presented again, and fosite revokes the tokens of its grant.
	CodeReplayed GrantEventKind = iota + 1
	// RefreshReused: a refresh token rotated earlier (beyond the reuse
	// grace period) was presented again, and fosite revokes its grant.
	RefreshReused
	// GrantRevoked: the grant's access and refresh tokens were revoked by
	// request ID (at the revocation endpoint, or by fosite after a reuse).
	GrantRevoked
)

// GrantEvent is one thing the store saw happen to a grant during the
// request, for the provider's audit trail.
type GrantEvent struct {
	Kind  GrantEventKind
	Grant GrantRef
}

// GrantEvents returns what the store saw happen to grants during the
// request, in order, each at most once.
func (r *Request) GrantEvents() []GrantEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Saw reports whether the store saw kind happen during the request, and
// to which grant.
func (r *Request) Saw(kind GrantEventKind) (GrantRef, bool) {
	for _, e := range r.GrantEvents() {
		if e.Kind == kind {
			return e.Grant, true
		}
	}
	return GrantRef{}, false
}

// noteLoaded remembers the grant of a token the store loaded.
func (r *Request) noteLoaded(rec storage.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := GrantRef{ID: rec.ID, ClientID: rec.ClientID, Subject: rec.Subject}
	for i := range r.loaded {
		if r.loaded[i].ID == rec.ID {
			r.loaded[i] = g
			return
		}
	}
	r.loaded = append(r.loaded, g)
}

// note records that kind happened to the grant with request ID id (once).
func (r *Request) note(kind GrantEventKind, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := GrantRef{ID: id}
	for _, l := range r.loaded {
		if l.ID == id {
			g = l
		}
	}
	e := GrantEvent{Kind: kind, Grant: g}
	if !slices.Contains(r.events, e) {
		r.events = append(r.events, e)
	}
}

type requestKey struct{}

// WithRequest returns a context carrying r, for the fosite calls of r's
// request.
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// LoadedClient returns the client with that ID if ctx's request has
// already loaded it from the store, without loading it: for telling a
// registered client from an unknown ID after the fact.
func LoadedClient(ctx context.Context, id string) (*Client, bool) {
	r := requestOf(ctx)
	if r == nil {
		return nil, false
	}
	return r.cachedClient(id)
}

// requestOf returns the Request ctx carries, or nil (a context from
// outside an endpoint, such as a test's or a background job's).
func requestOf(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}
