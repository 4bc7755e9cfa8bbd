package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

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
		case !p.supported.tokenGrantEnabled(gt):
			writeJSONError(w, http.StatusBadRequest, "unsupported_grant_type", "The grant type '"+gt+"' is not supported.")
			return
		}
		addr, err := p.clientAddr(r)
		if err != nil {
			p.writeTokenError(ctx, w, nil, err)
			return
		}
		ctx = fositeadapter.WithClientCache(ctx)
		sess := fositeadapter.NewSession("")
		var ropc *ropcUser
		if r.PostForm.Get("grant_type") == "password" {
			ropc = &ropcUser{addr: addr}
			ctx = context.WithValue(ctx, ropcUserKey{}, ropc)
		}
		ar, err := p.oauth.NewAccessRequest(ctx, r, sess)
		if err != nil {
			err = clientAuthError(err)
			p.setRetryAfter(w, err)
			if c := ar.GetClient(); c != nil && c.IsPublic() && ar.GetGrantTypes().ExactOne("client_credentials") {
				// RFC 6749 §5.2; fosite says invalid_grant.
				err = fosite.ErrUnauthorizedClient.WithHint("A public client cannot use the client_credentials grant.")
			}
			p.writeTokenError(ctx, w, ar, err)
			return
		}
		client, _ := ar.GetClient().(*fositeadapter.Client)
		if client == nil || !client.AllowedFrom(addr) {
			p.writeTokenError(ctx, w, ar, errIPRefused(fosite.ErrInvalidClient))
			return
		}
		switch gt := ar.GetGrantTypes(); {
		case gt.ExactOne("refresh_token"):
			if err := p.recheckRefresh(ctx, ar, client); err != nil {
				if !errors.Is(err, fositeadapter.ErrUnavailable) {
					// The user lost what the grant needs: it ends. A
					// backend failure ends nothing; the client retries.
					p.revokeFamily(ctx, ar.GetID())
				}
				p.writeTokenError(ctx, w, ar, err)
				return
			}
			if ctx, err = narrowRefresh(ctx, ar); err != nil {
				p.writeTokenError(ctx, w, ar, err)
				return
			}
		case gt.ExactOne("client_credentials"), gt.ExactOne("password"):
			// fosite has checked each scope and audience against the client;
			// the host grants them here: requested ∩ the client's
			// permission scope (∩ the user's permissions).
			var g grant
			if ropc != nil {
				if g, err = p.passwordGrant(ctx, r, ar, client, ropc.user, sess); err != nil {
					p.writeTokenError(ctx, w, ar, err)
					return
				}
			} else {
				g = p.decide(ar.GetRequestedScopes(), &client.Client, nil, nil)
			}
			for _, s := range g.Scopes {
				ar.GrantScope(s)
			}
			for _, a := range ar.GetRequestedAudience() {
				ar.GrantAudience(a)
			}
			sess.ClientIP = addr.String()
		}
		resp, err := p.oauth.NewAccessResponse(ctx, ar)
		if err != nil {
			if isCodeReuse(ar, err) {
				// A lost race for an authorization code is code reuse:
				// revoke whatever the code's family holds. (A lost race
				// for a refresh token is not reuse, and revokes nothing.)
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

// ropcUser carries the client address from the token handler to the
// storage callback fosite makes for the password grant (the lockout counts
// per address), and the user it authenticated back.
type ropcUser struct {
	user User
	addr netip.Addr
}

type ropcUserKey struct{}

// passwordGrant applies the access rules to a password grant, which has no
// interaction: a client or user that needs a second factor is refused (the
// grant cannot ask for one), and a user of several eligible tenants must
// name one in the tenant parameter.
func (p *Provider) passwordGrant(ctx context.Context, r *http.Request, ar fosite.AccessRequester, c *fositeadapter.Client, u User, sess *fositeadapter.Session) (grant, error) {
	fs, err := p.enrolledFactors(ctx, u.Subject)
	if err != nil {
		return grant{}, err
	}
	if c.RequireMFA || len(fs) > 0 {
		return grant{}, fosite.ErrInvalidGrant.WithHint("multi-factor authentication required: the password grant cannot ask for a second factor; use the authorization code flow.")
	}
	ms, err := eligibleTenants(&c.Client, u)
	if err != nil {
		return grant{}, fosite.ErrInvalidGrant.WithHint(fosite.ErrorToRFC6749Error(err).HintField)
	}
	var m *Membership
	switch want := r.PostForm.Get("tenant"); {
	case want != "":
		if m = findMembership(ms, want); m == nil {
			return grant{}, fosite.ErrInvalidGrant.WithHint("The user may not use this client for the tenant named.")
		}
	case len(ms) == 1:
		m = &ms[0]
	case len(ms) > 1:
		return grant{}, fosite.ErrInvalidRequest.WithHint("The user belongs to several tenants: send the tenant parameter with the ID of one.")
	}
	sess.Username = u.Username
	// The ID token a later refresh issues (openid granted) needs its
	// subject; fosite sets only the session's.
	sess.Claims.Subject = u.Subject
	sess.Tenant = sessionTenant(m)
	sess.Claims.AuthenticationMethodsReferences = []string{"pwd"}
	sess.Claims.AuthenticationContextClassReference = acrFor(nil)
	sess.Claims.AuthTime = p.cfg.Now().UTC().Truncate(time.Second)
	if b, err := json.Marshal(u); err == nil {
		sess.User = b
	}
	return p.decide(ar.GetRequestedScopes(), &c.Client, &u, m), nil
}

// recheckRefresh checks a refresh against the client and the user as they
// are now (fosite re-checks only the client's scopes).
func (p *Provider) recheckRefresh(ctx context.Context, ar fosite.AccessRequester, c *fositeadapter.Client) error {
	sess, _ := ar.GetSession().(*fositeadapter.Session)
	if sess == nil {
		return fosite.ErrServerError.WithDebug("unexpected session type")
	}
	subject := sess.GetSubject()
	if subject == "" {
		// Client credentials do not issue refresh tokens; nothing to check
		// for a user.
		return nil
	}
	var u User
	if p.lookup != nil {
		var err error
		u, err = p.lookup.LookupUser(ctx, subject)
		if errors.Is(err, ErrUserNotFound) {
			return fosite.ErrInvalidGrant.WithHint("The user no longer exists.")
		}
		if err != nil {
			return fmt.Errorf("%w: lookup user: %w", fositeadapter.ErrUnavailable, err)
		}
	} else {
		// Without a lookup the user is as they were at the grant.
		u = User{Subject: subject}
		if len(sess.User) > 0 {
			_ = json.Unmarshal(sess.User, &u)
		}
	}
	return p.recheck(&c.Client, u, sess, ar.GetGrantedScopes())
}
