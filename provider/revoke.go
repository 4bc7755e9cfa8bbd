package provider

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse/storage"
)

// RevokeHandler returns the revocation endpoint (RFC 7009). The caller
// authenticates as the client the token was issued to; revoking a refresh
// token revokes the whole grant (every access and refresh token of it), and
// revoking someone else's or an unknown token answers 200 and changes
// nothing.
func (p *Provider) RevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "The revocation endpoint accepts only POST.")
			return
		}
		if !p.parseForm(w, r) {
			return
		}
		err := p.oauth.NewRevocationRequest(ctx, r)
		if c := classify(err); c != nil {
			err = c
		}
		p.oauth.WriteRevocationResponse(ctx, w, err)
	})
}

// revokeFamily revokes every access and refresh token of a grant.
func (p *Provider) revokeFamily(ctx context.Context, requestID string) {
	if requestID == "" {
		return
	}
	for _, k := range []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken} {
		if err := p.store.RevokeFamily(ctx, k, requestID); err != nil {
			p.cfg.Logger.LogAttrs(ctx, slog.LevelError, "revoke token family", slog.String("request_id", requestID), slog.String("error", err.Error()))
		}
	}
}
