package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/gatehouse/gatehouse/storage"
)

// Authenticator checks a resource owner's password for the password grant
// and returns the subject. An unknown user or a wrong password is an error
// wrapping [ErrPasswordRefused] (invalid_grant); any other error fails the
// request as it says.
type Authenticator func(ctx context.Context, username, password string) (subject string, err error)

// Store implements the fosite storage interfaces on a storage.Store.
type Store struct {
	S storage.Store
	// Now is the clock used for expiry checks.
	Now func() time.Time
	// CodeSignature maps an authorization code to its signature; fosite
	// keys OpenID Connect sessions by the whole code, and the store must
	// never hold a usable code.
	CodeSignature func(ctx context.Context, code string) string
	// RefreshReuseGrace is how long after its rotation a refresh token
	// presented again is answered with [ErrRecentlyRotated] (a lost race)
	// rather than treated as reuse; zero means never.
	RefreshReuseGrace time.Duration

	// With stateless access tokens (set by New): unstored reports whether
	// a client's access tokens are not stored; rebuild returns the grant
	// of a presented stateless token; onRevokeAccess puts a grant whose
	// access tokens are revoked on the deny list.
	unstored       func(fosite.Client) bool
	rebuild        func(ctx context.Context, token string, session fosite.Session) (fosite.Requester, error)
	onRevokeAccess func(ctx context.Context, requestID string, issuedBefore time.Time) error

	// kept are the access tokens decoded for introspection, keptClients
	// the clients loaded (kept.go).
	kept        kept[keptToken]
	keptClients keptClientMap
}

var (
	_ fosite.Storage                                      = (*Store)(nil)
	_ oauth2.CoreStorage                                  = (*Store)(nil)
	_ oauth2.TokenRevocationStorage                       = (*Store)(nil)
	_ oauth2.ResourceOwnerPasswordCredentialsGrantStorage = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage                  = (*Store)(nil)
	_ pkce.PKCERequestStorage                             = (*Store)(nil)
	_ fositestorage.Transactional                         = (*Store)(nil)
)

// sensitiveForm lists request parameters never written to storage.
var sensitiveForm = []string{"password", "client_secret", "client_assertion", "code", "code_verifier", "refresh_token", "access_token", "token"}

// ToRecord converts a fosite request to a storage request.
func ToRecord(r fosite.Requester) (storage.Request, error) {
	var sess []byte
	var err error
	if s, ok := r.GetSession().(*Session); ok && s != nil {
		sess, err = s.AppendJSON(make([]byte, 0, 256))
	} else {
		sess, err = json.Marshal(r.GetSession())
	}
	if err != nil {
		return storage.Request{}, fmt.Errorf("oauth: encode session: %w", err)
	}
	// The values are shared, not copied: a store keeps its own copy of
	// what it is given (storagetest checks that it does).
	src := r.GetRequestForm()
	form := make(url.Values, len(src))
	for k, v := range src {
		if !slices.Contains(sensitiveForm, k) {
			form[k] = v
		}
	}
	rec := storage.Request{
		ID:                r.GetID(),
		RequestedAt:       r.GetRequestedAt().UTC(),
		RequestedScopes:   r.GetRequestedScopes(),
		GrantedScopes:     r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(),
		GrantedAudience:   r.GetGrantedAudience(),
		Form:              form,
		Session:           sess,
	}
	if c := r.GetClient(); c != nil {
		rec.ClientID = c.GetID()
	}
	if s := r.GetSession(); s != nil {
		rec.Subject = s.GetSubject()
	}
	if s, ok := r.GetSession().(*Session); ok && s != nil {
		rec.LoginSID = s.LoginSID
	}
	return rec, nil
}

func (s *Store) fromRecord(ctx context.Context, rec storage.Request, session fosite.Session) (*fosite.Request, error) {
	c, err := s.client(ctx, rec.ClientID)
	if err != nil {
		return nil, err
	}
	if session != nil {
		if err := unmarshalSession(rec.Session, session); err != nil {
			return nil, fmt.Errorf("oauth: decode session: %w", err)
		}
	}
	return requestOfRecord(rec, c, session), nil
}

// requestOfRecord is the fosite request of a record, its client loaded and
// its session decoded; it shares the record's slices and form.
func requestOfRecord(rec storage.Request, c *Client, session fosite.Session) *fosite.Request {
	return &fosite.Request{
		ID:                rec.ID,
		RequestedAt:       rec.RequestedAt,
		Client:            c,
		RequestedScope:    rec.RequestedScopes,
		GrantedScope:      rec.GrantedScopes,
		Form:              url.Values(rec.Form),
		Session:           session,
		RequestedAudience: rec.RequestedAudience,
		GrantedAudience:   rec.GrantedAudience,
	}
}

// mapErr turns storage sentinels into the errors fosite branches on,
// keeping the original in the chain.
func (s *Store) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return fosite.ErrNotFound.WithWrap(err)
	case errors.Is(err, storage.ErrAlreadyUsed), errors.Is(err, storage.ErrAlreadyExists):
		return err
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// errNoExpiry is the error of a record whose session gives no expiry.
var errNoExpiry = errors.New("oauth: the session sets no expiry time for the token; refusing to store a token without one")

// create stores r as a record of kind, expiring when r's session says token
// type tt expires. Every fosite handler sets that time (from the global or
// the client's lifetime) before it stores a token, so a session without it
// is a bug upstream of the store, such as a session load that dropped the
// handler's expiry times. It is an error rather than a guessed lifetime: a
// guess silently gives a token a lifetime nobody configured (it once made
// every code-flow token live 24 hours), while the error fails the request
// (server_error) and the bug shows.
func (s *Store) create(ctx context.Context, kind storage.TokenKind, sig, accessSig string, r fosite.Requester, tt fosite.TokenType) error {
	exp := r.GetSession().GetExpiresAt(tt)
	if exp.IsZero() {
		return fmt.Errorf("%w (%s record, %s expiry)", errNoExpiry, kind, tt)
	}
	rec, err := ToRecord(r)
	if err != nil {
		return err
	}
	created := s.Now().UTC()
	if state := requestOf(ctx); state != nil && kind == storage.KindRefreshToken {
		// Never before the stateless access token issued with it, whose
		// iat_ms may be a millisecond ahead (GenerateAccessToken): the
		// next refresh issues its token after this time.
		if issued := state.issuedAt(); issued.After(created) {
			created = issued
		}
	}
	return s.mapErr(s.S.CreateToken(ctx, storage.Token{
		Signature:       sig,
		Kind:            kind,
		Request:         rec,
		AccessSignature: accessSig,
		ExpiresAt:       exp.UTC(),
		Active:          true,
		CreatedAt:       created,
	}))
}

// get loads a token and rehydrates it. An expired token is not found; an
// inactive one is returned with errInactive.
//
// An access token that Engine.Introspect reads from a store with
// TokenStatus is kept decoded for the next introspection (see kept.go).
func (s *Store) get(ctx context.Context, kind storage.TokenKind, sig string, session fosite.Session, errInactive error) (fosite.Requester, error) {
	if kind == storage.KindAccessToken {
		if state := requestOf(ctx); state != nil && state.sharedReads() {
			if st, ok := s.S.(storage.StatusReader); ok {
				return s.getKept(ctx, st, state, sig, session)
			}
		}
	}
	_, req, err := s.read(ctx, kind, sig, session, errInactive)
	return req, err
}

// read is get without kept tokens; it also returns the record read.
func (s *Store) read(ctx context.Context, kind storage.TokenKind, sig string, session fosite.Session, errInactive error) (storage.Token, fosite.Requester, error) {
	t, err := s.getToken(ctx, kind, sig)
	if err != nil {
		return t, nil, s.mapErr(err)
	}
	if !s.Now().Before(t.ExpiresAt) {
		return t, nil, fosite.ErrNotFound.WithHint("The token has expired.")
	}
	req, err := s.fromRecord(ctx, t.Request, session)
	if err != nil {
		return t, nil, err
	}
	state := requestOf(ctx)
	if state != nil {
		state.noteLoaded(t.Request)
	}
	if !t.Active {
		if state != nil && kind == storage.KindAuthCode {
			state.note(CodeReplayed, t.Request.ID)
		}
		return t, req, errInactive
	}
	return t, req, nil
}

func (s *Store) del(ctx context.Context, kind storage.TokenKind, sig string) error {
	return s.mapErr(s.S.DeleteToken(ctx, kind, sig))
}

// codeKinds are the records stored under an authorization code's
// signature, which a code exchange reads together.
var codeKinds = []storage.TokenKind{storage.KindAuthCode, storage.KindPKCE, storage.KindOIDC}

// getToken reads a token. In a request, the records of an authorization
// code are read together on the first read of any of them (in one call
// when the backend is a storage.TokenSetGetter) and kept for the rest of
// the request: a code exchange then reads the store once where fosite asks
// four times. Keeping them is safe because the exchange's one decisive
// step, consuming the code, is atomic in the store and drops the cached
// code (see InvalidateAuthorizeCodeSession).
func (s *Store) getToken(ctx context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	req := requestOf(ctx)
	g, batch := s.S.(storage.TokenSetGetter)
	if req == nil || !batch || !slices.Contains(codeKinds, kind) {
		return s.S.GetToken(ctx, kind, sig)
	}
	if t, found := req.cachedCodeRecord(kind, sig); found {
		if t.Signature == "" {
			return storage.Token{}, fmt.Errorf("oauth: %s %q (read earlier in the request): %w", kind, sig, storage.ErrNotFound)
		}
		return t, nil
	}
	set, err := g.GetTokenSet(ctx, sig, codeKinds...)
	if err != nil {
		return storage.Token{}, err
	}
	records := make(map[storage.TokenKind]storage.Token, len(codeKinds))
	for i, k := range codeKinds {
		records[k] = set[i]
	}
	req.cacheCodeRecords(sig, records)
	if t := records[kind]; t.Signature != "" {
		return t, nil
	}
	return storage.Token{}, fmt.Errorf("oauth: %s %q: %w", kind, sig, storage.ErrNotFound)
}

// GetClient implements fosite.ClientManager.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.client(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// client loads a client, at most once per [Request], and, from a store
// that is a storage.StatusReader, once until a client is written (kept.go).
func (s *Store) client(ctx context.Context, id string) (*Client, error) {
	req := requestOf(ctx)
	if req != nil {
		if c, ok := req.cachedClient(id); ok {
			return c, nil
		}
	}
	st, keeps := s.S.(storage.StatusReader)
	var version uint64
	if keeps {
		version = st.ClientsVersion()
		if c := s.keptClients.get(id, version, s.Now()); c != nil {
			if req != nil {
				req.cacheClient(id, c)
			}
			return c, nil
		}
	}
	c, at, err := s.readClient(ctx, id)
	if err != nil {
		return nil, err
	}
	if keeps && st.ClientsVersion() == version {
		s.keptClients.put(id, &keptClient{c: c, version: version, until: c.secretsChangeAfter(at)})
	}
	if req != nil {
		req.cacheClient(id, c)
	}
	return c, nil
}

// readClient reads a client from the store and makes its Client, with
// the secrets valid at the time it returns. It is
// not inlined into client: the storage.Client it copies is over half a
// kilobyte, and in client's frame it made the goroutine's stack grow on
// every request, kept client or not (runtime.newstack in the profile).
//
//go:noinline
func (s *Store) readClient(ctx context.Context, id string) (*Client, time.Time, error) {
	rec, err := s.S.GetClient(ctx, id)
	if err != nil {
		return nil, time.Time{}, s.mapErr(err)
	}
	now := s.Now()
	return NewClient(rec, now), now, nil
}

// ClientAssertionJWTValid implements fosite.ClientManager: the check is
// done atomically by SetClientAssertionJWT, so this reports nothing.
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	// The check and the mark are one atomic operation in SetClientAssertionJWT.
	return nil
}

// SetClientAssertionJWT implements fosite.ClientManager. It records jti
// atomically and fails with invalid_client if it was already used.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	err := s.S.UseJTI(ctx, jti, exp.UTC(), s.Now())
	if errors.Is(err, storage.ErrAlreadyUsed) {
		return fosite.ErrInvalidClient.WithHint("The client assertion was already used (its jti is known).")
	}
	return s.mapErr(err)
}

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. A
// client's own AuthCodeLifetime replaces the global one here: fosite v0.49.0
// sets a code's expiry from the global lifespan only
// (flow_authorize_code_auth.go, flow_hybrid.go), just before it calls this.
// The time is set on the request's session, which fosite shares with the
// PKCE and OpenID Connect records it stores next for the same code, so all
// three expire together, and fosite's own check at the exchange reads it
// back. It is computed from time.Now, as fosite computes the global one.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, sig string, r fosite.Requester) error {
	if c, ok := r.GetClient().(*Client); ok && c.AuthCodeLifetime > 0 && r.GetSession() != nil {
		r.GetSession().SetExpiresAt(fosite.AuthorizeCode, time.Now().UTC().Add(c.AuthCodeLifetime))
	}
	return s.create(ctx, storage.KindAuthCode, sig, "", r, fosite.AuthorizeCode)
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. A consumed
// code comes back with fosite.ErrInvalidatedAuthorizeCode and its request,
// so fosite revokes the tokens issued from it.
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, storage.KindAuthCode, sig, session, fosite.ErrInvalidatedAuthorizeCode)
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. Of
// concurrent exchanges of one code only one gets nil; the others get an
// error wrapping storage.ErrAlreadyUsed, which the token endpoint maps to
// invalid_grant.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, sig string) error {
	if req := requestOf(ctx); req != nil {
		req.forgetCodeRecord(storage.KindAuthCode, sig)
	}
	_, err := s.S.ConsumeAuthCode(ctx, sig)
	return s.mapErr(err)
}

// CreateAccessTokenSession implements oauth2.AccessTokenStorage.
// A stateless access token is not stored.
func (s *Store) CreateAccessTokenSession(ctx context.Context, sig string, r fosite.Requester) error {
	if s.unstored != nil && s.unstored(r.GetClient()) {
		return nil
	}
	return s.create(ctx, storage.KindAccessToken, sig, "", r, fosite.AccessToken)
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage. With
// stateless access tokens, a JWT the request presents ([Request.Present])
// is rebuilt from its claims and checked against the deny list.
func (s *Store) GetAccessTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	if s.rebuild != nil {
		if req := requestOf(ctx); req != nil {
			if token := req.presentedJWT(sig); token != "" {
				return s.rebuild(ctx, token, session)
			}
		}
	}
	return s.get(ctx, storage.KindAccessToken, sig, session, fosite.ErrInactiveToken)
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, sig string) error {
	return s.del(ctx, storage.KindAccessToken, sig)
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage. When the
// refresh that issues the token narrowed the access token's scope (see
// [Request.KeepRefreshScopes]), the refresh token keeps the grant's full
// scope (RFC 6749 §6).
func (s *Store) CreateRefreshTokenSession(ctx context.Context, sig, accessSig string, r fosite.Requester) error {
	if req := requestOf(ctx); req != nil && req.refreshScopes != nil {
		full := req.refreshScopes
		if req, ok := r.(*fosite.Request); ok {
			c := *req
			c.GrantedScope = full
			r = &c
		}
	}
	return s.create(ctx, storage.KindRefreshToken, sig, accessSig, r, fosite.RefreshToken)
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. An inactive
// token comes back with fosite.ErrInactiveToken and its request, so fosite
// treats it as reuse and revokes the family (RFC 9700 section 4.14),
// except a token rotated less than RefreshReuseGrace ago: that one gets
// [ErrRecentlyRotated] and no request, which fosite passes on (wrapped in
// server_error) without revoking anything, and the provider answers
// invalid_grant.
func (s *Store) GetRefreshTokenSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	t, err := s.S.GetToken(ctx, storage.KindRefreshToken, sig)
	if err != nil {
		return nil, s.mapErr(err)
	}
	now := s.Now()
	if !now.Before(t.ExpiresAt) {
		return nil, fosite.ErrNotFound.WithHint("The token has expired.")
	}
	if !t.Active && !t.RotatedAt.IsZero() && now.Before(t.RotatedAt.Add(s.RefreshReuseGrace)) {
		return nil, fmt.Errorf("%w (at %s, %v ago)", ErrRecentlyRotated, t.RotatedAt.Format(time.RFC3339Nano), now.Sub(t.RotatedAt))
	}
	req, err := s.fromRecord(ctx, t.Request, session)
	if err != nil {
		return nil, err
	}
	state := requestOf(ctx)
	if state != nil {
		state.noteLoaded(t.Request)
		state.setRefreshStored(t.CreatedAt)
	}
	if !t.Active {
		if state != nil && !t.RotatedAt.IsZero() {
			// Rotated, not merely revoked: reuse (RFC 9700 §4.14.2).
			state.note(RefreshReused, t.Request.ID)
		}
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage. fosite
// calls it only for a reused refresh token, just before it revokes the
// token's family; the record is kept (inactive, with its RotatedAt) until
// it expires, so that every later presentation of the token is again seen
// as reuse, and so that concurrent reuses do not race to delete it (the
// loser of that race would get invalid_request instead of invalid_grant).
func (s *Store) DeleteRefreshTokenSession(context.Context, string) error {
	return nil
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage: the store marks
// the token inactive, with Now as its RotatedAt, in one atomic step. The
// loser of a concurrent rotation gets fosite.ErrSerializationFailure
// (wrapping storage.ErrAlreadyUsed); fosite rolls its transaction back and
// the provider answers invalid_grant, revoking nothing.
//
// The store deletes the access token issued with the rotated refresh
// token. A stateless one is not stored: the grant's access tokens issued
// before the one this refresh issued (fosite makes it first) go on the
// deny list instead, so that a refresh ends what it replaces either way.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID string, sig string) error {
	err := s.S.RotateRefreshToken(ctx, sig, s.Now().UTC())
	if errors.Is(err, storage.ErrAlreadyUsed) {
		return fosite.ErrSerializationFailure.WithWrap(err)
	}
	if err != nil {
		return s.mapErr(err)
	}
	if s.onRevokeAccess != nil {
		if req := requestOf(ctx); req != nil {
			if issued := req.issuedAt(); !issued.IsZero() {
				return s.onRevokeAccess(ctx, requestID, issued)
			}
		}
	}
	return nil
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage: it revokes
// every refresh token of the family.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.revoke(ctx, storage.KindRefreshToken, requestID)
}

// revoke revokes every token of kind of the family, and notes the
// revocation in the request's state.
//
// With stateless access tokens, revoking a grant's access tokens also puts
// every one of them on the deny list.
func (s *Store) revoke(ctx context.Context, kind storage.TokenKind, requestID string) error {
	state := requestOf(ctx)
	if kind == storage.KindAccessToken && s.onRevokeAccess != nil {
		if err := s.onRevokeAccess(ctx, requestID, time.Time{}); err != nil {
			return err
		}
	}
	if err := s.S.RevokeFamily(ctx, kind, requestID); err != nil {
		return s.mapErr(err)
	}
	if state != nil {
		state.note(GrantRevoked, requestID)
	}
	return nil
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage: it revokes
// every access token of the family.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.revoke(ctx, storage.KindAccessToken, requestID)
}

// Authenticate implements oauth2.ResourceOwnerPasswordCredentialsGrantStorage
// with the [Request]'s Password authenticator.
func (s *Store) Authenticate(ctx context.Context, name, secret string) (string, error) {
	req := requestOf(ctx)
	if req == nil || req.Password == nil {
		return "", fosite.ErrNotFound
	}
	subject, err := req.Password(ctx, name, secret)
	if errors.Is(err, ErrPasswordRefused) {
		// fosite answers ErrNotFound with invalid_grant.
		return "", fosite.ErrNotFound.WithWrap(err)
	}
	return subject, err
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) error {
	return s.create(ctx, storage.KindOIDC, s.CodeSignature(ctx, code), "", r, fosite.AuthorizeCode)
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, code string, r fosite.Requester) (fosite.Requester, error) {
	req, err := s.get(ctx, storage.KindOIDC, s.CodeSignature(ctx, code), r.GetSession(), nil)
	if errors.Is(err, fosite.ErrNotFound) {
		return nil, openid.ErrNoSessionFound
	}
	return req, err
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
// It keeps the record, as DeletePKCERequestSession keeps the PKCE one: it
// holds nothing secret (the nonce and the ID token's claims), it is only
// ever read with its code, which the exchange has consumed by now, and it
// expires with the code; deleting it cost a code exchange two more round
// trips on a database.
func (s *Store) DeleteOpenIDConnectSession(context.Context, string) error {
	return nil
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) CreatePKCERequestSession(ctx context.Context, sig string, r fosite.Requester) error {
	return s.create(ctx, storage.KindPKCE, sig, "", r, fosite.AuthorizeCode)
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) GetPKCERequestSession(ctx context.Context, sig string, session fosite.Session) (fosite.Requester, error) {
	return s.get(ctx, storage.KindPKCE, sig, session, nil)
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage. It keeps the
// PKCE record: fosite deletes it before it checks the verifier, so a request
// with a wrong verifier would otherwise strip the code of its PKCE binding,
// and a later request without any verifier would pass (a downgrade for
// confidential clients), and two concurrent exchanges would race on the
// delete. The record expires with its code.
func (s *Store) DeletePKCERequestSession(context.Context, string) error {
	return nil
}

// BeginTX implements fosite's storage.Transactional, which fosite uses to
// make the writes of a code exchange and of a refresh atomic. With a
// backend that is a storage.Transactor it starts a transaction; with any
// other backend it and Commit and Rollback do nothing.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	t, ok := s.S.(storage.Transactor)
	if !ok {
		return ctx, nil
	}
	txCtx, err := t.BeginTx(ctx)
	if err != nil {
		return ctx, s.mapErr(err)
	}
	// The tokens are written last, so the store may send them with the
	// COMMIT; a failed write fails the request either way.
	return storage.DeferInserts(txCtx), nil
}

// Commit implements fosite's storage.Transactional.
func (s *Store) Commit(ctx context.Context) error {
	if t, ok := s.S.(storage.Transactor); ok {
		return s.mapErr(t.Commit(ctx))
	}
	return nil
}

// Rollback implements fosite's storage.Transactional.
func (s *Store) Rollback(ctx context.Context) error {
	if t, ok := s.S.(storage.Transactor); ok {
		return s.mapErr(t.Rollback(ctx))
	}
	return nil
}
