package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// LogoutHandler returns the end-session endpoint (OpenID Connect
// RP-Initiated Logout 1.0). It ends the user's login session at the
// provider. With a valid id_token_hint it logs out at once; without one it
// asks the user to confirm (a POST with a CSRF token). It redirects only to
// a post_logout_redirect_uri registered for the client named by the hint
// (or by client_id), with state echoed; otherwise it shows a page.
func (p *Provider) LogoutHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if !p.parsePageRequest(w, r) {
			return
		}
		hint := r.Form.Get("id_token_hint")
		clientID := r.Form.Get("client_id")
		redirect := r.Form.Get("post_logout_redirect_uri")
		state := r.Form.Get("state")

		var hintSub string
		if hint != "" {
			claims, err := p.verifyIDTokenHint(ctx, hint)
			if err != nil {
				p.renderError(w, http.StatusBadRequest, "invalid_request", "The id_token_hint is not an ID token issued by this provider.")
				return
			}
			hintSub = claims.Subject
			if clientID != "" && !slices.Contains(claims.Audience, clientID) {
				p.renderError(w, http.StatusBadRequest, "invalid_request", "The client_id does not match the id_token_hint.")
				return
			}
			if clientID == "" && len(claims.Audience) > 0 {
				clientID = claims.Audience[0]
			}
		}
		var target *url.URL
		if redirect != "" {
			if clientID == "" {
				p.renderError(w, http.StatusBadRequest, "invalid_request", "A post_logout_redirect_uri needs an id_token_hint or client_id to be checked.")
				return
			}
			c, err := p.store.GetClient(ctx, clientID)
			if errors.Is(err, storage.ErrNotFound) || (err == nil && !slices.Contains(c.PostLogoutRedirectURIs, redirect)) {
				p.renderError(w, http.StatusBadRequest, "invalid_request", "The post_logout_redirect_uri is not registered for this client.")
				return
			}
			if err != nil {
				p.renderError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Please try again in a moment.")
				return
			}
			target, _ = url.Parse(redirect)
		}

		cookie, _ := r.Cookie(sessionCookie)
		var ls *storage.LoginSession
		if cookie != nil && cookie.Value != "" {
			if s, err := p.store.GetLoginSession(ctx, secret.Digest(cookie.Value)); err == nil {
				ls = &s
			}
		}
		// Confirm unless the hint proves the request comes from the user's
		// own relying party for this very session.
		confirmed := ls == nil || (hintSub != "" && hintSub == ls.Subject)
		if !confirmed {
			want := secret.Digest("logout:" + cookie.Value)
			if r.Method != http.MethodPost || !secret.Equal(r.PostForm.Get("csrf_token"), want) {
				params := map[string]string{}
				for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"} {
					if v := r.Form.Get(k); v != "" {
						params[k] = v
					}
				}
				p.render(w, http.StatusOK, "logout", pageData{Title: "Sign out", Action: p.issuerPath + p.cfg.Paths.Logout, CSRF: want, Params: params})
				return
			}
		}
		if ls != nil {
			if err := p.store.DeleteLoginSession(ctx, ls.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
				p.renderError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Please try again in a moment.")
				return
			}
		}
		p.setCookie(w, sessionCookie, "", -1)
		if target != nil {
			if state != "" {
				q := target.Query()
				q.Set("state", state)
				target.RawQuery = q.Encode()
			}
			http.Redirect(w, r, target.String(), http.StatusSeeOther)
			return
		}
		p.render(w, http.StatusOK, "logout", pageData{Title: "Signed out", Done: true})
	})
}

// idTokenClaims are the ID token claims logout checks.
type idTokenClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
}

// verifyIDTokenHint checks that hint is an ID token this provider signed
// with a key it still publishes. An expired hint is accepted (OpenID Connect
// RP-Initiated Logout 1.0 §2); a JWT access token is not an ID token.
func (p *Provider) verifyIDTokenHint(ctx context.Context, hint string) (idTokenClaims, error) {
	payload, hdr, err := p.keys.Verify(ctx, hint)
	if err != nil {
		return idTokenClaims{}, err
	}
	if typ, _ := hdr.ExtraHeaders["typ"].(string); strings.EqualFold(typ, "at+jwt") {
		return idTokenClaims{}, errors.New("provider: an access token is not an id_token_hint")
	}
	var c idTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return idTokenClaims{}, err
	}
	if c.Issuer != p.cfg.Issuer || c.Subject == "" {
		return idTokenClaims{}, errors.New("provider: id_token_hint from another issuer")
	}
	return c, nil
}
