package provider

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// RevokeHandler returns the revocation endpoint (RFC 7009). The caller
// authenticates as the client the token was issued to; revoking a refresh
// token revokes the whole grant (every access and refresh token of it), and
// revoking someone else's or an unknown token answers 200 and changes
// nothing. Browsers may call it cross-origin from the client's origins (see
// [Config.CORSOrigins]).
func (p *Provider) RevokeHandler() http.Handler {
	return p.instrument(p.tel.endpoint("revoke"), p.withCORS(http.MethodPost, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "The revocation endpoint accepts only POST.")
			return
		}
		if !p.parseForm(w, r) {
			return
		}
		state := oauth.NewRequest()
		state.Present(r.PostForm.Get("token")) // a stateless JWT is rebuilt from it
		ctx = oauth.WithRequest(ctx, state)
		err := p.checkClaimedClientAddr(w, r.WithContext(ctx))
		if err == nil {
			err = p.engine.Revoke(ctx, r)
		}
		if err == nil {
			p.auditRevoked(ctx, state)
		}
		if c := state.AuthenticatedClient(); c != nil {
			p.allowOrigin(w, r, &c.Client)
			telOf(w).setClient(c.ID)
		}
		p.writeRevocationError(ctx, w, err)
	})))
}

// writeRevocationError writes the revocation answer for err (nil: 200)
// through the engine, adding what it leaves out: an invalid_client answer
// carries WWW-Authenticate (RFC 6749 §5.2), its description with the hint
// (why: an expired secret, a lock), and Retry-After when the client is
// locked (Config.ClientAuthLockout); a backend failure is 503
// temporarily_unavailable, where fosite would answer 200 as if the token
// were revoked.
func (p *Provider) writeRevocationError(ctx context.Context, w http.ResponseWriter, err error) {
	a := oauth.Translate(err)
	if err != nil {
		noteError(w, a.Code)
	}
	if a.Status == http.StatusServiceUnavailable {
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "revocation endpoint: backend unavailable", slog.String("error", oauth.Chain(err)))
		p.engine.WriteAccessError(ctx, w, nil, err)
		return
	}
	if a.Code == "invalid_client" {
		p.setRetryAfter(w, err)
		w.Header().Set("WWW-Authenticate", `Basic realm="`+p.cfg.Issuer+`"`)
		// As the token endpoint writes it, description and hint included
		// (an expired secret, a locked client); fosite's revocation writer
		// would drop the hint.
		p.engine.WriteAccessError(ctx, w, nil, err)
		return
	}
	p.engine.WriteRevocationResponse(ctx, w, err)
}

// revokeFamily revokes every access and refresh token of a grant.
func (p *Provider) revokeFamily(ctx context.Context, requestID string) {
	if requestID == "" {
		return
	}
	for _, k := range []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken} {
		if err := p.engine.RevokeFamily(ctx, k, requestID); err != nil {
			p.cfg.Logger.LogAttrs(ctx, slog.LevelError, "revoke token family", slog.String("request_id", requestID), slog.String("error", err.Error()))
		}
	}
}

// checkClaimedClientAddr applies the IP ranges of the client a request
// names (Basic user or client_id) before the engine authenticates it, for
// endpoints where the engine does both in one call.
func (p *Provider) checkClaimedClientAddr(w http.ResponseWriter, r *http.Request) error {
	id := r.PostForm.Get("client_id")
	if u, _, ok := r.BasicAuth(); ok {
		if un, err := url.QueryUnescape(u); err == nil {
			id = un
		}
	}
	if id == "" {
		return nil
	}
	c, err := p.engine.Client(r.Context(), id)
	if err != nil {
		return nil // unknown clients are refused by authentication itself
	}
	return p.checkClientAddr(w, r, c)
}
