package provider

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse/gatehouse/provider/internal/fositeadapter"
)

// TokenHandler returns the token endpoint (RFC 6749 §3.2): POST only, form
// encoded, grants authorization_code, refresh_token, client_credentials and,
// for clients allowed it, password.
func (p *Provider) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint accepts only POST.")
			return
		}
		if !p.parseForm(w, r) {
			return
		}
		switch gt := r.PostForm.Get("grant_type"); {
		case gt == "":
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "The grant_type parameter is missing.")
			return
		case !slices.Contains(knownGrants, gt):
			writeJSONError(w, http.StatusBadRequest, "unsupported_grant_type", "The grant type '"+gt+"' is not supported.")
			return
		}
		sess := fositeadapter.NewSession("")
		ar, err := p.oauth.NewAccessRequest(ctx, r, sess)
		if err != nil {
			err = clientAuthError(err)
			if c := ar.GetClient(); c != nil && c.IsPublic() && ar.GetGrantTypes().ExactOne("client_credentials") {
				// RFC 6749 §5.2; fosite says invalid_grant.
				err = fosite.ErrUnauthorizedClient.WithHint("A public client cannot use the client_credentials grant.")
			}
			p.writeTokenError(ctx, w, ar, err)
			return
		}
		switch {
		case ar.GetGrantTypes().ExactOne("refresh_token"):
			if ctx, err = narrowRefresh(ctx, ar); err != nil {
				p.writeTokenError(ctx, w, ar, err)
				return
			}
		case ar.GetGrantTypes().ExactOne("client_credentials"), ar.GetGrantTypes().ExactOne("password"):
			// fosite has checked each scope and audience against the client;
			// the host grants them here (FOSITE.md 2.4).
			for _, s := range ar.GetRequestedScopes() {
				ar.GrantScope(s)
			}
			for _, a := range ar.GetRequestedAudience() {
				ar.GrantAudience(a)
			}
		}
		resp, err := p.oauth.NewAccessResponse(ctx, ar)
		if err != nil {
			if c := classify(err); c != nil && c.ErrorField == fosite.ErrInvalidGrant.ErrorField {
				// A lost race for an authorization code is code reuse:
				// revoke whatever the code's family holds.
				p.revokeFamily(ctx, ar.GetID())
			}
			p.writeTokenError(ctx, w, ar, err)
			return
		}
		p.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "token issued",
			slog.String("client_id", ar.GetClient().GetID()),
			slog.String("grant_type", ar.GetGrantTypes()[0]),
			slog.String("request_id", ar.GetID()))
		p.oauth.WriteAccessResponse(ctx, w, ar, resp)
	})
}

// clientAuthError maps what fosite returns unwrapped from a failed client
// assertion check (a go-jose validation error) to invalid_client; protocol
// and backend errors pass through.
func clientAuthError(err error) error {
	var rfc *fosite.RFC6749Error
	if err == nil || errors.As(err, &rfc) || errors.Is(err, fositeadapter.ErrUnavailable) || classify(err) != nil {
		return err
	}
	return fosite.ErrInvalidClient.WithHint("The client assertion could not be verified.").WithWrap(err)
}

// narrowRefresh applies a refresh request's scope parameter (RFC 6749 §6),
// which fosite v0.49.0 ignores: asking for a scope the grant does not have is
// invalid_scope; asking for fewer narrows the new access token while the new
// refresh token keeps the grant's full scope.
func narrowRefresh(ctx context.Context, ar fosite.AccessRequester) (context.Context, error) {
	raw, ok := ar.GetRequestForm()["scope"]
	if !ok {
		return ctx, nil
	}
	requested := strings.Fields(strings.Join(raw, " "))
	granted := ar.GetGrantedScopes()
	for _, s := range requested {
		if !granted.Has(s) {
			return ctx, fosite.ErrInvalidScope.WithHintf("The scope '%s' was not granted originally; a refresh can only keep or narrow the grant.", s)
		}
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok || len(requested) == 0 {
		return ctx, nil
	}
	full := slices.Clone([]string(granted))
	req.GrantedScope = fosite.Arguments(requested)
	return fositeadapter.WithRefreshScopes(ctx, full), nil
}
