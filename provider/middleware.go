package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
)

// TokenTypeAPIKey is the [TokenInfo.Type] of a request that presented an
// API key directly to a resource server ([Requirement.APIKeyClient])
// rather than an access token.
const TokenTypeAPIKey = "api_key"

// TokenInfo describes a valid token, as introspection sees it, or an API
// key a request presented directly.
type TokenInfo struct {
	// Type is "access_token" or "refresh_token"; [TokenTypeAPIKey] for an
	// API key presented directly.
	Type string
	// Subject is the user, or the application user; empty for a client's
	// own client-credentials tokens.
	Subject string
	// PrincipalType says what Subject is: "user" or "application" (an
	// application user); "" for a client's own tokens.
	PrincipalType string
	// APIKeyID is the ID of the API key the token was obtained with, or
	// that the request presented; "" for every other token.
	APIKeyID string
	// Username is the user's login name, if known.
	Username string
	// ClientID is the client the token was issued to.
	ClientID string
	// Scopes and Audience are what was granted.
	Scopes   []string
	Audience []string
	// IssuedAt is when the grant was made; ExpiresAt when the token expires.
	IssuedAt  time.Time
	ExpiresAt time.Time
	// AuthTime, AMR and ACR say when and how the user authenticated.
	AuthTime time.Time
	AMR      []string
	ACR      string
	// Tenant is the tenant (customer) the grant is for, or nil.
	Tenant *Tenant
	// ClientIP is the client address that started the grant.
	ClientIP string
	// Issuer is the provider's issuer.
	Issuer string
	// JWT is true for an RFC 9068 JWT access token.
	JWT bool

	requestID string
	session   *oauth.Session
}

// HasScope reports whether s was granted.
func (i TokenInfo) HasScope(s string) bool { return slices.Contains(i.Scopes, s) }

type tokenInfoKey struct{}

// TokenFromContext returns the token that [Provider.RequireScopes] (or
// [Provider.Require]) accepted for the request: an access token, or, with
// [Requirement.APIKeyClient], an API key presented directly, which has
// Type [TokenTypeAPIKey]. Its PrincipalType and APIKeyID say who the
// request acts as and whether a key was involved.
func TokenFromContext(ctx context.Context) (TokenInfo, bool) {
	i, ok := ctx.Value(tokenInfoKey{}).(TokenInfo)
	return i, ok
}

// Introspect checks an access token locally, as the introspection endpoint
// would, and returns what it grants. Its errors are Gatehouse's, for
// [errors.Is]: one wrapping [ErrInvalidToken] for a missing, malformed,
// unknown, expired or revoked token, or one that is not an access token
// (answer 401 invalid_token); one wrapping [ErrUnavailable] when the token
// could not be checked (answer 503 and let the client retry).
func (p *Provider) Introspect(ctx context.Context, token string) (TokenInfo, error) {
	i, err := p.introspect(ctx, token, oauth.AccessToken)
	if err != nil {
		return TokenInfo{}, oauth.ForHost(err)
	}
	if i.Type != string(oauth.AccessToken) {
		return TokenInfo{}, fmt.Errorf("%w: not an access token", ErrInvalidToken)
	}
	return i, nil
}

// RequireScopes returns middleware for a resource server in the same
// process: it accepts a request only with a valid bearer access token
// (RFC 6750 §2.1, Authorization header) granting every one of scopes. A
// missing, bad or expired token gets 401 with WWW-Authenticate: Bearer
// error="invalid_token"; a token lacking a scope gets 403 with
// error="insufficient_scope". The next handler reads the token with
// [TokenFromContext]. It is Require(Requirement{Scopes: scopes}).
func (p *Provider) RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	return p.Require(Requirement{Scopes: scopes})
}

// Requirement is what [Provider.Require] asks of a request's token.
type Requirement struct {
	// Scopes must all have been granted.
	Scopes []string
	// SameClientIP refuses a token presented from another address than the
	// one that started its grant (invalid_token), so a stolen token is of
	// no use elsewhere. The address is resolved as at the provider's
	// endpoints (Config.TrustedProxies).
	SameClientIP bool
	// APIKeyClient, if set, makes the middleware accept an API key
	// presented directly in the X-API-Key header (instead of an access
	// token), under the rules of this client, which must accept API keys
	// ([storage.Client.AcceptsAPIKeys]): the key is checked as at the token
	// endpoint (its expiry, its address and X-Forwarded-For rules, its
	// owner, the client's IP ranges, role and customer binding), and it
	// grants each of Scopes that requested ∩ the client's permission scope
	// ∩ the owner's permissions ∩ the key's bound allows. A refused key
	// gets 401 invalid_token; a request with both a bearer token and a key
	// gets 400 invalid_request. Empty (the default): keys are not
	// accepted, and the header is ignored.
	APIKeyClient string
}

// Require returns resource-server middleware enforcing req; see
// [Provider.RequireScopes] for the answers it gives.
func (p *Provider) Require(req Requirement) func(http.Handler) http.Handler {
	required := slices.Clone(req.Scopes)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var info TokenInfo
			var err error
			token, ok := bearerToken(r)
			keys := r.Header.Values(APIKeyHeader)
			switch {
			case req.APIKeyClient != "" && len(keys) > 0:
				if ok || r.Header.Get("Authorization") != "" {
					p.bearerError(w, http.StatusBadRequest, "invalid_request", "Send an access token or an API key, not both.", nil)
					return
				}
				if len(keys) > 1 {
					p.bearerError(w, http.StatusUnauthorized, "invalid_token", "Send exactly one X-API-Key header.", nil)
					return
				}
				info, err = p.apiKeyInfo(r, req.APIKeyClient, keys[0], required)
				if err != nil {
					a := oauth.Translate(err)
					if a.Status == http.StatusServiceUnavailable {
						writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The API key could not be checked; retry later.")
						return
					}
					desc := a.Hint
					if desc == "" {
						desc = "The API key is invalid, expired or revoked."
					}
					p.setRetryAfter(w, err)
					p.bearerError(w, http.StatusUnauthorized, "invalid_token", desc, nil)
					return
				}
			case !ok:
				p.bearerError(w, http.StatusUnauthorized, "invalid_token", "An access token is required.", nil)
				return
			default:
				info, err = p.Introspect(r.Context(), token)
			}
			if err != nil {
				if errors.Is(err, ErrUnavailable) {
					writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The token could not be checked; retry later.")
					return
				}
				p.bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.", nil)
				return
			}
			if req.SameClientIP {
				addr, err := p.clientAddr(r)
				if err != nil {
					p.bearerError(w, http.StatusBadRequest, "invalid_request", "The client address cannot be determined.", nil)
					return
				}
				if info.ClientIP == "" || addr.String() != info.ClientIP {
					p.bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token was issued to another network address.", nil)
					return
				}
			}
			for _, s := range required {
				if !info.HasScope(s) {
					p.bearerError(w, http.StatusForbidden, "insufficient_scope", "The access token lacks a required scope.", required)
					return
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenInfoKey{}, info)))
		})
	}
}

// bearerToken reads an RFC 6750 §2.1 bearer token from the Authorization
// header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(h[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// bearerError writes an RFC 6750 §3 error.
func (p *Provider) bearerError(w http.ResponseWriter, status int, code, desc string, scopes []string) {
	v := `Bearer realm="` + p.cfg.Issuer + `", error="` + code + `", error_description="` + desc + `"`
	if len(scopes) > 0 {
		v += `, scope="` + strings.Join(scopes, " ") + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	writeJSONError(w, status, code, desc)
}
