package provider

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// UserinfoHandler returns the userinfo endpoint (OpenID Connect Core §5.3),
// by GET or POST, with the access token in the Authorization header or, for
// POST, in the access_token form field. It returns sub, principal_type
// ("user", or "application" for an application user, whose claims come
// from the store) and the claims of the scopes the token was granted; the
// token must have been granted openid.
// Browsers may call it cross-origin from the origins of the token's client
// (see [Config.CORSOrigins]).
func (p *Provider) UserinfoHandler() http.Handler {
	return p.instrument(p.tel.endpoint("userinfo"), p.withCORS("GET, POST", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "Use GET or POST.")
			return
		}
		token, ok := bearerToken(r)
		if r.Method == http.MethodPost {
			if !p.parseForm(w, r) {
				return
			}
			if t := r.PostForm.Get("access_token"); t != "" {
				if ok {
					p.bearerError(w, http.StatusBadRequest, "invalid_request", "Send the access token in one place only.", nil)
					return
				}
				token, ok = t, true
			}
		}
		if !ok {
			p.bearerError(w, http.StatusUnauthorized, "invalid_token", "An access token is required.", nil)
			return
		}
		info, err := p.Introspect(ctx, token)
		if err != nil {
			if errors.Is(err, ErrUnavailable) {
				writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Retry later.")
				return
			}
			p.bearerError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.", nil)
			return
		}
		p.allowTokenOrigin(w, r, info)
		telOf(w).setClient(info.ClientID)
		if !info.HasScope("openid") || info.Subject == "" {
			p.bearerError(w, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.", []string{"openid"})
			return
		}
		var u User
		if info.PrincipalType == string(storage.PrincipalApplication) {
			// An application user is the store's, not the host's.
			app, err := p.GetApplicationUser(ctx, info.Subject)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				p.bearerError(w, http.StatusUnauthorized, "invalid_token", "The application user no longer exists.", nil)
				return
			case err != nil:
				p.writeTokenError(ctx, w, nil, oauth.TemporarilyUnavailable.Hint("Retry later."))
				return
			}
			u = appUserAsUser(app)
		} else if p.lookup != nil {
			u, err = p.lookup.LookupUser(ctx, info.Subject)
			if errors.Is(err, ErrUserNotFound) {
				p.bearerError(w, http.StatusUnauthorized, "invalid_token", "The user no longer exists.", nil)
				return
			}
			if err != nil {
				p.writeTokenError(ctx, w, nil, oauth.TemporarilyUnavailable.Hint("Retry later."))
				return
			}
		} else if info.session != nil && len(info.session.User) > 0 {
			_ = json.Unmarshal(info.session.User, &u)
		}
		if u.Subject == "" {
			u.Subject = info.Subject
		}
		claims, err := p.claims(ctx, ClaimRequest{User: u, Tenant: info.Tenant, ClientID: info.ClientID, ClientIP: info.ClientIP, Scopes: info.Scopes})
		if err != nil {
			p.writeTokenError(ctx, w, nil, err)
			return
		}
		claims["sub"] = info.Subject
		claims["principal_type"] = info.PrincipalType
		writeJSON(w, http.StatusOK, claims)
	})))
}

// allowTokenOrigin lets the page at r's origin read the userinfo answer
// when the origin belongs to the client the access token was issued to
// (see allowOrigin). The client is read only for a request with an Origin
// header; if it cannot be read, no origin is allowed.
func (p *Provider) allowTokenOrigin(w http.ResponseWriter, r *http.Request, info TokenInfo) {
	if r.Header.Get("Origin") == "" {
		return
	}
	c, err := p.engine.Client(r.Context(), info.ClientID)
	if err != nil {
		return
	}
	p.allowOrigin(w, r, &c.Client)
}
