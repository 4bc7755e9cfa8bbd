package provider

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// LogoutHandler returns the end-session endpoint (OpenID Connect
// RP-Initiated Logout 1.0). It ends the user's login session at the
// provider and revokes every grant made in it: its codes, access and
// refresh tokens, for every client (docs/grant-lifecycle.md). With a
// valid id_token_hint it logs out at once; without one it asks the user
// to confirm (a POST with a CSRF token). It redirects only to a
// post_logout_redirect_uri registered for the client named by the hint
// (or by client_id), with state echoed; otherwise it shows a page.
func (p *Provider) LogoutHandler() http.Handler {
	return p.instrument(p.tel.endpoint("logout"), http.HandlerFunc(p.serveLogout))
}

// logoutRequest is what a logout request asks, once checked.
type logoutRequest struct {
	hintSub  string   // the subject of a valid id_token_hint, or ""
	clientID string   // from client_id or the hint's audience
	target   *url.URL // the checked post_logout_redirect_uri, or nil
}

// logoutRefusal is a logout request refused with an error page.
type logoutRefusal struct {
	status int
	code   string
	why    msgID
}

var errLogoutUnavailable = &logoutRefusal{http.StatusServiceUnavailable, "temporarily_unavailable", msgErrorUnavailable}

func badLogout(why msgID) *logoutRefusal {
	return &logoutRefusal{http.StatusBadRequest, "invalid_request", why}
}

// refuseLogout shows the error page of a refused logout.
func (p *Provider) refuseLogout(w http.ResponseWriter, r *http.Request, f *logoutRefusal) {
	p.renderError(w, r, f.status, f.code, msg(f.why))
}

// serveLogout serves the end-session endpoint: it checks the request
// (checkLogout), asks the user to confirm unless the hint names the
// session's user (logoutConfirmed), ends the login session and redirects or
// shows the signed-out page.
func (p *Provider) serveLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !p.parsePageRequest(w, r) {
		return
	}
	lr, refusal := p.checkLogout(ctx, r)
	if refusal != nil {
		p.refuseLogout(w, r, refusal)
		return
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
	if ls != nil && (lr.hintSub == "" || lr.hintSub != ls.Subject) && !p.logoutConfirmed(w, r, cookie) {
		return
	}
	if ls != nil {
		// The sign-in ends, and every grant made in it.
		if err := p.endLogin(ctx, ls); err != nil {
			p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "logout: backend unavailable", slog.String("error", err.Error()))
			p.refuseLogout(w, r, errLogoutUnavailable)
			return
		}
		p.audit(ctx, storage.AuditEvent{
			Type: AuditSessionEnded, Actor: userActor(ls.Subject), Target: "user:" + ls.Subject, ClientID: lr.clientID, Subject: ls.Subject,
			Details: details("reason", "logout", "sessions", "1"),
		})
	}
	p.setCookie(w, sessionCookie, "", -1)
	if lr.target != nil {
		if state := r.Form.Get("state"); state != "" {
			q := lr.target.Query()
			q.Set("state", state)
			lr.target.RawQuery = q.Encode()
		}
		http.Redirect(w, r, lr.target.String(), http.StatusSeeOther)
		return
	}
	pd := p.page(r, r.Form.Get("ui_locales"), msgLogoutDoneTitle)
	pd.Done = true
	p.render(w, http.StatusOK, "logout", pd)
}

// checkLogout checks the id_token_hint, the client_id and the
// post_logout_redirect_uri of a logout request.
func (p *Provider) checkLogout(ctx context.Context, r *http.Request) (logoutRequest, *logoutRefusal) {
	lr := logoutRequest{clientID: r.Form.Get("client_id")}
	if hint := r.Form.Get("id_token_hint"); hint != "" {
		claims, err := p.verifyIDTokenHint(ctx, hint)
		if err != nil {
			return lr, badLogout(msgLogoutBadHint)
		}
		lr.hintSub = claims.Subject
		if lr.clientID != "" && !slices.Contains(claims.Audience, lr.clientID) {
			return lr, badLogout(msgLogoutClientMismatch)
		}
		if lr.clientID == "" && len(claims.Audience) > 0 {
			lr.clientID = claims.Audience[0]
		}
	}
	redirect := r.Form.Get("post_logout_redirect_uri")
	if redirect == "" {
		return lr, nil
	}
	if lr.clientID == "" {
		return lr, badLogout(msgLogoutNeedsClient)
	}
	c, err := p.store.GetClient(ctx, lr.clientID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !slices.Contains(c.PostLogoutRedirectURIs, redirect)) {
		return lr, badLogout(msgLogoutUnregisteredRedirect)
	}
	if err != nil {
		return lr, errLogoutUnavailable
	}
	lr.target, _ = url.Parse(redirect)
	return lr, nil
}

// logoutConfirmed reports whether r is the user's confirmation of the
// logout (a POST with the CSRF token bound to the login session cookie);
// if not, it shows the confirmation page.
func (p *Provider) logoutConfirmed(w http.ResponseWriter, r *http.Request, cookie *http.Cookie) bool {
	want := secret.Digest("logout:" + cookie.Value)
	if r.Method == http.MethodPost && secret.Equal(r.PostForm.Get("csrf_token"), want) {
		return true
	}
	params := map[string]string{}
	for _, k := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "ui_locales"} {
		if v := r.Form.Get(k); v != "" {
			params[k] = v
		}
	}
	pd := p.page(r, r.Form.Get("ui_locales"), msgLogoutTitle)
	pd.Action = p.issuerPath + p.cfg.Paths.Logout
	pd.CSRF = want
	pd.Params = params
	p.render(w, http.StatusOK, "logout", pd)
	return false
}

// idTokenClaims are the ID token claims logout checks.
type idTokenClaims struct {
	Issuer   string         `json:"iss"`
	Subject  string         `json:"sub"`
	Audience oauth.Audience `json:"aud"`
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
