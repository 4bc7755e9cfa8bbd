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
	"github.com/gatehouse/gatehouse/storage"
)

// TokenHandler returns the token endpoint (RFC 6749 §3.2): POST only, form
// encoded, grants authorization_code, refresh_token, client_credentials and,
// for clients allowed it, password.
func (p *Provider) TokenHandler() http.Handler {
	return http.HandlerFunc(p.serveToken)
}

// tokenRequest is the state of one token request, created once by
// serveToken and passed to each step of the grant.
type tokenRequest struct {
	r     *http.Request
	grant string     // the grant_type parameter, an enabled token grant
	addr  netip.Addr // the client's address
	// state is the request's state in the fosite storage adapter: its
	// client cache, the refresh scopes and the password authenticator.
	state *fositeadapter.Request
	sess  *fositeadapter.Session
	// ar and client are set once fosite has accepted the request.
	ar     fosite.AccessRequester
	client *fositeadapter.Client
	// user is the password grant's user, set when the password checks out.
	user *User
}

// serveToken serves the token endpoint: fosite validates the request,
// each grant's extra checks and scope decisions run (tokenGrant), and
// fosite issues the tokens.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	grant, ok := p.acceptTokenRequest(w, r)
	if !ok {
		return
	}
	addr, err := p.clientAddr(r)
	if err != nil {
		p.writeTokenError(ctx, w, nil, err)
		return
	}
	tr := &tokenRequest{r: r, grant: grant, addr: addr, state: fositeadapter.NewRequest(), sess: fositeadapter.NewSession("")}
	if grant == "password" {
		tr.state.Password = p.passwordAuthenticator(tr)
	}
	ctx = fositeadapter.WithRequest(ctx, tr.state)
	ar, err := p.oauth.NewAccessRequest(ctx, r, tr.sess)
	if err != nil {
		p.writeAccessRequestError(ctx, w, ar, err)
		return
	}
	tr.ar = ar
	tr.client, _ = ar.GetClient().(*fositeadapter.Client)
	if tr.client == nil || !tr.client.AllowedFrom(addr) {
		p.writeTokenError(ctx, w, ar, errIPRefused(fosite.ErrInvalidClient))
		return
	}
	if err := p.tokenGrant(ctx, tr); err != nil {
		p.writeTokenError(ctx, w, ar, err)
		return
	}
	p.issueTokens(ctx, w, ar)
}

// acceptTokenRequest checks the method, the form and the grant type of a
// token request and returns the grant type. It writes the error and
// returns false on failure.
func (p *Provider) acceptTokenRequest(w http.ResponseWriter, r *http.Request) (string, bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint accepts only POST.")
		return "", false
	}
	if !p.parseForm(w, r) {
		return "", false
	}
	switch gt := r.PostForm.Get("grant_type"); {
	case gt == "":
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "The grant_type parameter is missing.")
		return "", false
	case !p.supported.tokenGrantEnabled(gt):
		writeJSONError(w, http.StatusBadRequest, "unsupported_grant_type", "The grant type '"+gt+"' is not supported.")
		return "", false
	default:
		return gt, true
	}
}

// writeAccessRequestError answers a token request fosite refused.
func (p *Provider) writeAccessRequestError(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error) {
	err = clientAuthError(err)
	p.setRetryAfter(w, err)
	if c := ar.GetClient(); c != nil && c.IsPublic() && ar.GetGrantTypes().ExactOne("client_credentials") {
		// RFC 6749 §5.2; fosite says invalid_grant.
		err = fosite.ErrUnauthorizedClient.WithHint("A public client cannot use the client_credentials grant.")
	}
	p.writeTokenError(ctx, w, ar, err)
}

// tokenGrant does a grant's work beyond fosite's: the authorization code
// grant has none.
func (p *Provider) tokenGrant(ctx context.Context, tr *tokenRequest) error {
	switch tr.grant {
	case "refresh_token":
		return p.refreshGrant(ctx, tr)
	case "client_credentials":
		p.grantScopes(tr, p.decide(tr.ar.GetRequestedScopes(), &tr.client.Client, nil, nil))
		return nil
	case "password":
		return p.passwordGrant(ctx, tr)
	default:
		return nil
	}
}

// refreshGrant re-checks a refresh against the client and the user as they
// are now, and applies its scope parameter.
func (p *Provider) refreshGrant(ctx context.Context, tr *tokenRequest) error {
	if err := p.recheckRefresh(ctx, tr.ar, tr.client); err != nil {
		if !errors.Is(err, fositeadapter.ErrUnavailable) {
			// The user lost what the grant needs: it ends. A backend
			// failure ends nothing; the client retries.
			p.revokeFamily(ctx, tr.ar.GetID())
		}
		return err
	}
	return narrowRefresh(tr.ar, tr.state)
}

// grantScopes grants a client_credentials or password request its scopes
// and audiences: fosite has checked each scope and audience against the
// client; the host grants them here: requested ∩ the client's permission
// scope (∩ the user's permissions).
func (p *Provider) grantScopes(tr *tokenRequest, g grant) {
	for _, s := range g.Scopes {
		tr.ar.GrantScope(s)
	}
	for _, a := range tr.ar.GetRequestedAudience() {
		tr.ar.GrantAudience(a)
	}
	tr.sess.ClientIP = tr.addr.String()
}

// issueTokens has fosite issue the tokens of an accepted request and writes
// the response.
func (p *Provider) issueTokens(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester) {
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
}

// narrowRefresh applies a refresh request's scope parameter (RFC 6749 §6),
// which fosite v0.49.0 ignores: asking for a scope the grant does not have is
// invalid_scope; asking for fewer narrows the new access token while the new
// refresh token keeps the grant's full scope.
func narrowRefresh(ar fosite.AccessRequester, state *fositeadapter.Request) error {
	raw, ok := ar.GetRequestForm()["scope"]
	if !ok {
		return nil
	}
	requested := strings.Fields(strings.Join(raw, " "))
	granted := ar.GetGrantedScopes()
	for _, s := range requested {
		if !granted.Has(s) {
			return fosite.ErrInvalidScope.WithHintf("The scope '%s' was not granted originally; a refresh can only keep or narrow the grant.", s)
		}
	}
	req, ok := ar.(*fosite.AccessRequest)
	if !ok || len(requested) == 0 {
		return nil
	}
	state.KeepRefreshScopes(slices.Clone([]string(granted)))
	req.GrantedScope = fosite.Arguments(requested)
	return nil
}

// passwordAuthenticator returns the password check of tr's password grant:
// its failures count per (username, tr.addr), and the user it
// authenticates is kept in tr.user.
func (p *Provider) passwordAuthenticator(tr *tokenRequest) fositeadapter.Authenticator {
	return func(ctx context.Context, username, password string) (string, error) {
		u, err := p.authenticateROPC(ctx, tr.addr, username, password)
		if err != nil {
			return "", err
		}
		tr.user = &u
		return u.Subject, nil
	}
}

// passwordGrant applies the access rules to a password grant, which has no
// interaction: a client or user that needs a second factor is refused (the
// grant cannot ask for one), and a user of several eligible tenants must
// name one in the tenant parameter. It grants the request its scopes.
func (p *Provider) passwordGrant(ctx context.Context, tr *tokenRequest) error {
	if tr.user == nil {
		return fosite.ErrServerError.WithDebug("the password grant has no authenticated user")
	}
	u, c, sess := *tr.user, tr.client, tr.sess
	fs, err := p.enrolledFactors(ctx, u.Subject)
	if err != nil {
		return err
	}
	if c.RequireMFA || len(fs) > 0 {
		return fosite.ErrInvalidGrant.WithHint("multi-factor authentication required: the password grant cannot ask for a second factor; use the authorization code flow.")
	}
	m, err := passwordTenant(&c.Client, u, tr.r.PostForm.Get("tenant"))
	if err != nil {
		return err
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
	p.grantScopes(tr, p.decide(tr.ar.GetRequestedScopes(), &c.Client, &u, m))
	return nil
}

// passwordTenant picks the tenant of a password grant: the one named in the
// tenant parameter (want), or the user's only eligible one.
func passwordTenant(c *storage.Client, u User, want string) (*Membership, error) {
	ms, err := eligibleTenants(c, u)
	if err != nil {
		return nil, fosite.ErrInvalidGrant.WithHint(fosite.ErrorToRFC6749Error(err).HintField)
	}
	switch {
	case want != "":
		m := findMembership(ms, want)
		if m == nil {
			return nil, fosite.ErrInvalidGrant.WithHint("The user may not use this client for the tenant named.")
		}
		return m, nil
	case len(ms) == 1:
		return &ms[0], nil
	case len(ms) > 1:
		return nil, fosite.ErrInvalidRequest.WithHint("The user belongs to several tenants: send the tenant parameter with the ID of one.")
	default:
		return nil, nil
	}
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
