package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse/gatehouse/storage"
)

// Stateless access tokens (Config.StatelessAccessTokens): JWT access
// tokens that are not stored. Such a token carries what introspection
// answers (statelessClaims), and what revokes it is recorded on the deny
// list (storage.DenyListStore) by the keys it carries: its grant, its
// client, the sign-in it was made in, its user and client.

// statelessClaims are the claims of a JWT access token: RFC 9068's, and
// those a stateless token adds so that it can be introspected without a
// stored record.
type statelessClaims struct {
	jwtAccessClaims
	// GrantID is the grant's request ID (the token family); empty in a
	// token issued while stateless tokens were off, which is stored.
	GrantID string `json:"gid"`
	// IssuedAtMs is iat in milliseconds: a revocation denies the tokens
	// issued before it (storage.Deny.IssuedBefore), and a token issued in
	// the same second after it must not be.
	IssuedAtMs int64    `json:"iat_ms"`
	SignIn     string   `json:"lsid"`
	ClientIP   string   `json:"client_ip"`
	APIKeyID   string   `json:"api_key_id"`
	Principal  string   `json:"principal_type"`
	Tenant     *Tenant  `json:"tenant"`
	AuthTime   int64    `json:"auth_time"`
	AMR        []string `json:"amr"`
	ACR        string   `json:"acr"`
}

// denyDigest is the digest that stands for a value on the deny list:
// 128 bits of SHA-256, base64url.
func denyDigest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// SignInDenyKey is the deny-list key (storage.DenySignIn) of the grants
// made in the sign-in sid (a storage.Request.LoginSID).
func SignInDenyKey(sid string) string { return denyDigest("sign-in", sid) }

// UserClientDenyKey is the deny-list key (storage.DenyUserClient) of
// subject's grants to clientID.
func UserClientDenyKey(subject, clientID string) string {
	return denyDigest("user-client", subject, clientID)
}

// denyKeys are the deny-list keys a stateless token carries.
func denyKeys(c *statelessClaims) []storage.DenyKey {
	keys := []storage.DenyKey{
		{Kind: storage.DenyGrant, Key: c.GrantID},
		{Kind: storage.DenyClient, Key: c.ClientID},
	}
	if c.SignIn != "" {
		keys = append(keys, storage.DenyKey{Kind: storage.DenySignIn, Key: c.SignIn})
	}
	if c.Principal != "" {
		keys = append(keys, storage.DenyKey{Kind: storage.DenyUserClient, Key: UserClientDenyKey(c.Subject, c.ClientID)})
	}
	return keys
}

// isStateless reports whether access tokens of client c are stateless:
// JWTs, with stateless tokens on.
func (s *accessTokenStrategy) isStateless(c fosite.Client) bool {
	return s.cfg.StatelessAccessTokens && s.wantsJWT(c)
}

// addStatelessClaims adds to a stateless token's claims what its
// introspection needs.
func addStatelessClaims(claims map[string]any, r fosite.Requester, now time.Time) {
	claims["gid"] = r.GetID()
	claims["iat_ms"] = now.UnixMilli()
	sess, ok := r.GetSession().(*Session)
	if !ok {
		return
	}
	if sess.LoginSID != "" {
		claims["lsid"] = SignInDenyKey(sess.LoginSID)
	}
	if sess.ClientIP != "" {
		claims["client_ip"] = sess.ClientIP
	}
	if sess.APIKeyID != "" {
		claims["api_key_id"] = sess.APIKeyID
	}
	if sess.Tenant != nil {
		claims["tenant"] = sess.Tenant
	}
}

// verifiedClaims returns token's claims, checked (verifyJWT), once per
// request.
func (s *accessTokenStrategy) verifiedClaims(ctx context.Context, token string) (*statelessClaims, error) {
	req := requestOf(ctx)
	if req != nil {
		req.mu.Lock()
		c := req.verified
		ok := c != nil && req.presented == token
		req.mu.Unlock()
		if ok {
			return c, nil
		}
	}
	c := &statelessClaims{}
	if err := s.verifyJWT(ctx, token, c); err != nil {
		return nil, err
	}
	if req != nil {
		req.mu.Lock()
		if req.presented == token {
			req.verified = c
		}
		req.mu.Unlock()
	}
	return c, nil
}

// presentedJWT returns the JWT the request presents if its signature is
// sig, else "".
func (r *Request) presentedJWT(sig string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.presented
	if !IsJWT(t) || t[strings.LastIndexByte(t, '.')+1:] != sig {
		return ""
	}
	return t
}

// Deny records that the access tokens with key of kind are revoked: those
// issued before issuedBefore, or every one if it is zero. It does nothing
// unless stateless tokens are on. The entry lives as long as the longest
// access token (Config.DenyTTL).
func (e *Engine) Deny(ctx context.Context, kind storage.DenyKind, key string, issuedBefore time.Time) error {
	if e.deny == nil || key == "" {
		return nil
	}
	err := e.deny.AddDenials(ctx, storage.Deny{Kind: kind, Key: key, IssuedBefore: issuedBefore, ExpiresAt: e.cfg.Now().Add(e.cfg.DenyTTL)})
	if err != nil {
		return fmt.Errorf("%w: deny %s %q: %w", ErrUnavailable, kind, key, err)
	}
	return nil
}

// RevokeFamily revokes every token of kind of the grant requestID, as a
// revocation by the protocol does: with stateless access tokens, revoking
// the access tokens also puts the grant on the deny list.
func (e *Engine) RevokeFamily(ctx context.Context, kind storage.TokenKind, requestID string) error {
	return e.store.revoke(ctx, kind, requestID)
}

// rebuildStateless returns the grant of a stateless JWT access token from
// its claims, checking its signature, its client (which must still exist)
// and the deny list: a denied token is returned with
// fosite.ErrInactiveToken, as a revoked stored one is. A JWT without a
// grant ID was issued while stateless tokens were off: it is stored, and
// looked up as such.
func (e *Engine) rebuildStateless(ctx context.Context, token string, session fosite.Session) (fosite.Requester, error) {
	c, err := e.strategy.verifiedClaims(ctx, token)
	if err != nil {
		return nil, err
	}
	if c.GrantID == "" {
		return e.store.get(ctx, storage.KindAccessToken, e.strategy.AccessTokenSignature(ctx, token), session, fosite.ErrInactiveToken)
	}
	client, err := e.store.client(ctx, c.ClientID)
	if err != nil {
		return nil, err
	}
	issued := time.Unix(c.IssuedAt, 0).UTC()
	if c.IssuedAtMs/1000 == c.IssuedAt {
		issued = time.UnixMilli(c.IssuedAtMs).UTC()
	}
	denied, err := e.deny.Denied(ctx, issued, denyKeys(c)...)
	if err != nil {
		return nil, e.store.mapErr(err)
	}
	sess, _ := session.(*Session)
	if sess == nil {
		sess = NewSession("")
	}
	sess.normalize()
	if c.Principal != "" { // a user's or an application user's token
		sess.Subject, sess.Claims.Subject = c.Subject, c.Subject
		if c.Principal == "application" {
			sess.Principal = c.Principal
		}
	}
	sess.ExpiresAt[fosite.AccessToken] = time.Unix(c.Expiry, 0).UTC()
	sess.Tenant, sess.ClientIP, sess.APIKeyID = c.Tenant, c.ClientIP, c.APIKeyID
	if c.AuthTime > 0 {
		sess.Claims.AuthTime = time.Unix(c.AuthTime, 0).UTC()
	}
	sess.Claims.AuthenticationMethodsReferences = c.AMR
	sess.Claims.AuthenticationContextClassReference = c.ACR
	scopes := fosite.Arguments(strings.Fields(c.Scope))
	req := &fosite.Request{
		ID:                c.GrantID,
		RequestedAt:       issued,
		Client:            client,
		RequestedScope:    scopes,
		GrantedScope:      scopes,
		RequestedAudience: fosite.Arguments(c.Audience),
		GrantedAudience:   fosite.Arguments(c.Audience),
		Form:              url.Values{},
		Session:           sess,
	}
	if state := requestOf(ctx); state != nil {
		state.noteLoaded(storage.Request{ID: c.GrantID, ClientID: c.ClientID, Subject: sess.Subject})
	}
	if denied {
		return req, fosite.ErrInactiveToken
	}
	return req, nil
}
