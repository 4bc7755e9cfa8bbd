package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse/gatehouse/provider/internal/secret"
)

// accessTokenStrategy issues opaque HMAC access tokens, or RFC 9068 JWT
// access tokens for clients (or providers) that ask for them. Refresh
// tokens and codes are always opaque.
type accessTokenStrategy struct {
	*oauth2.HMACSHAStrategy
	cfg *Config
	mac *opaqueMAC // checks opaque access tokens (hmac.go)
}

// IsJWT reports whether token has the form of a JWT (three parts) rather
// than of an opaque token.
func IsJWT(token string) bool { return strings.Count(token, ".") == 2 }

// AccessTokenSignature returns the storage key of an access token.
func (s *accessTokenStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if IsJWT(token) {
		return token[strings.LastIndexByte(token, '.')+1:]
	}
	return s.HMACSHAStrategy.AccessTokenSignature(ctx, token)
}

func (s *accessTokenStrategy) wantsJWT(c fosite.Client) bool {
	if fc, ok := c.(*Client); ok {
		switch fc.AccessTokenFormat {
		case "jwt":
			return true
		case "opaque":
			return false
		}
	}
	return s.cfg.JWTAccessTokens
}

// GenerateAccessToken issues an access token for r.
func (s *accessTokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if !s.wantsJWT(r.GetClient()) {
		return s.HMACSHAStrategy.GenerateAccessToken(ctx, r)
	}
	now := s.cfg.Now().UTC()
	exp := r.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(s.cfg.AccessTokenLifetime)
	}
	clientID := r.GetClient().GetID()
	sub := r.GetSession().GetSubject()
	if sub == "" {
		sub = clientID // RFC 9068 §2.2: sub is the client for client credentials
	}
	aud := []string(r.GetGrantedAudience())
	if len(aud) == 0 {
		aud = []string{clientID}
	}
	claims := jwt.MapClaims{
		"iss":       s.cfg.Issuer,
		"sub":       sub,
		"aud":       aud,
		"exp":       exp.Unix(),
		"iat":       now.Unix(),
		"jti":       secret.Token()[:22],
		"client_id": clientID,
		"scope":     strings.Join(r.GetGrantedScopes(), " "),
	}
	if sess, ok := r.GetSession().(*Session); ok && sess.Tenant != nil {
		claims["customer_id"] = sess.Tenant.ID
	}
	if sess, ok := r.GetSession().(*Session); ok && r.GetSession().GetSubject() != "" {
		claims["principal_type"] = PrincipalType(sess)
	}
	if s.isStateless(r.GetClient()) {
		now = now.Truncate(time.Millisecond) // iat_ms, exactly
		req := requestOf(ctx)
		if req != nil {
			// A refresh denies the grant's tokens issued before the one
			// it issues (Store.RotateRefreshToken): this one must be
			// issued after the token it replaces, which was issued
			// before the refresh token presented was stored, even when
			// both fall in one millisecond.
			if prev := req.refreshStoredAt().Truncate(time.Millisecond); !prev.IsZero() && !now.After(prev) {
				now = prev.Add(time.Millisecond)
			}
		}
		addStatelessClaims(claims, r, now)
		if req != nil {
			req.setIssued(now)
		}
	}
	if sess, ok := r.GetSession().(*Session); ok && sess.Claims != nil {
		if !sess.Claims.AuthTime.IsZero() {
			claims["auth_time"] = sess.Claims.AuthTime.Unix()
		}
		if len(sess.Claims.AuthenticationMethodsReferences) > 0 {
			claims["amr"] = sess.Claims.AuthenticationMethodsReferences
		}
		if sess.Claims.AuthenticationContextClassReference != "" {
			claims["acr"] = sess.Claims.AuthenticationContextClassReference
		}
	}
	token, sig, err := signer{s.cfg.Keys}.Generate(ctx, claims, &jwt.Headers{Extra: map[string]any{"typ": "at+jwt"}})
	if err != nil {
		return "", "", err
	}
	return token, sig, nil
}

// ValidateAccessToken checks an access token's integrity and expiry.
func (s *accessTokenStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if !IsJWT(token) {
		return s.validateOpaqueAccessToken(ctx, r, token)
	}
	_, err := s.verifiedClaims(ctx, token)
	return err
}

// jwtAccessClaims are the claims of an RFC 9068 access token.
type jwtAccessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience Audience `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
}

// Audience is a JWT aud claim: it accepts both a string and an array.
type Audience []string

func (a *Audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = []string{s}
		return nil
	}
	var l []string
	err := json.Unmarshal(b, &l)
	*a = l
	return err
}

// verifyJWT checks a JWT access token's signature (by kid), typ, issuer
// and expiry, and decodes its claims into c. It does not consult storage.
func (s *accessTokenStrategy) verifyJWT(ctx context.Context, token string, c *statelessClaims) error {
	payload, hdr, err := s.cfg.Keys.Verify(ctx, token)
	if err != nil {
		return fosite.ErrTokenSignatureMismatch.WithWrap(err)
	}
	if typ, _ := hdr.ExtraHeaders["typ"].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return fosite.ErrTokenClaim.WithHint("The token is not an access token.")
	}
	if err := json.Unmarshal(payload, c); err != nil {
		return fosite.ErrInvalidTokenFormat.WithWrap(err)
	}
	if c.Issuer != s.cfg.Issuer {
		return fosite.ErrTokenClaim.WithHint("The token was issued by another issuer.")
	}
	if !s.cfg.Now().Before(time.Unix(c.Expiry, 0)) {
		return fosite.ErrTokenExpired.WithWrap(errors.New("expired"))
	}
	return nil
}

// PrincipalType is the principal_type of a token of sess: "application"
// for an application user's, "user" for any other token with a subject,
// and "" for a client's own.
func PrincipalType(sess *Session) string {
	switch {
	case sess.Principal != "":
		return sess.Principal
	case sess.GetSubject() != "":
		return "user"
	}
	return ""
}
