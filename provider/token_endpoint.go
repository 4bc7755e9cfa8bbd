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

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// TokenHandler returns the token endpoint (RFC 6749 §3.2): POST only, form
// encoded, grants authorization_code, refresh_token, client_credentials and,
// for clients allowed it, password. Browsers may call it cross-origin from
// the client's origins (see [Config.CORSOrigins]).
func (p *Provider) TokenHandler() http.Handler {
	return p.instrument(p.tel.endpoint("token", p.supported.grantTypes...), p.withCORS(http.MethodPost, http.HandlerFunc(p.serveToken)))
}

// tokenRequest is the state of one token request, created once by
// serveToken and passed to each step of the grant.
type tokenRequest struct {
	r     *http.Request
	grant string     // the grant_type parameter, an enabled token grant
	addr  netip.Addr // the client's address
	// addrText is addr.String(), made once (addrString).
	addrText string
	// state is the request's state in the engine's store adapter: its
	// client cache, the refresh scopes and the password authenticator.
	state *oauth.Request
	sess  *oauth.Session
	// ar and client are set once the engine has accepted the request.
	ar     *oauth.AccessRequest
	client *oauth.Client
	// user is the password grant's user, set when the password checks out.
	user *User
	// principal is who a client_credentials grant acts as: the owner of
	// the API key the request presented (set by apiKeyTokenRequest), or
	// the application user of a linked client (set by tokenGrant); nil
	// for a client acting for itself.
	principal *principal
}

// clientID returns the ID of the request's client: the authenticated one
// once the engine has accepted the request, else the one the request
// authenticated as so far, else "".
func (tr *tokenRequest) clientID() string {
	if tr.client != nil {
		return tr.client.ID
	}
	if c := tr.state.AuthenticatedClient(); c != nil {
		return c.ID
	}
	return ""
}

// serveToken serves the token endpoint: the engine validates the request,
// each grant's extra checks and scope decisions run (tokenGrant), and the
// engine issues the tokens.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	grant, ok := p.acceptTokenRequest(w, r)
	if !ok {
		return
	}
	rt := telOf(w)
	rt.setGrant(grant)
	addr, err := p.clientAddr(r)
	if err != nil {
		if len(r.Header.Values(APIKeyHeader)) > 0 {
			// A key's X-Forwarded-For rules allow exactly one readable value.
			err = oauth.InvalidClient.Wrap("An API key allows exactly one X-Forwarded-For value, and the request's cannot be read.", err)
		}
		p.writeTokenError(ctx, w, nil, err)
		return
	}
	tr := &tokenRequest{r: r, grant: grant, addr: addr, state: oauth.NewRequest(), sess: oauth.NewSession("")}
	if grant == "password" {
		tr.state.Password = p.passwordAuthenticator(tr)
	}
	ctx = oauth.WithRequest(ctx, tr.state)
	if ctx, err = p.apiKeyTokenRequest(ctx, tr); err != nil {
		p.setRetryAfter(w, err)
		p.writeTokenError(ctx, w, nil, err)
		return
	}
	ar, err := p.engine.NewAccessRequest(ctx, r, tr.sess)
	if c := ar.Client(); c != nil {
		// The client authenticated: its page may read the answer,
		// tokens or error.
		p.allowOrigin(w, r, &c.Client)
		rt.setClient(c.ID)
	}
	if err != nil {
		if tr.state.ReuseDetected() {
			p.tel.reuseDetected(ctx, grant, clientIDOf(ar))
		}
		if c := ar.Client(); c != nil {
			p.auditReuse(ctx, tr.state, c.ID, nil)
		}
		p.writeAccessRequestError(ctx, w, ar, err)
		return
	}
	tr.ar = ar
	tr.client = ar.Client()
	if tr.client == nil || !tr.client.AllowedFrom(addr) {
		p.writeTokenError(ctx, w, ar, p.refuseIP(ctx, w, oauth.InvalidClient, tr.client))
		return
	}
	if err := p.tokenGrant(ctx, tr); err != nil {
		p.writeTokenError(ctx, w, ar, err)
		return
	}
	p.issueTokens(ctx, w, tr)
}

// clientIDOf returns the ID of the client ar authenticated, or "".
func clientIDOf(ar *oauth.AccessRequest) string {
	if c := ar.Client(); c != nil {
		return c.ID
	}
	return ""
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

// writeAccessRequestError answers a token request the engine refused.
func (p *Provider) writeAccessRequestError(ctx context.Context, w http.ResponseWriter, ar *oauth.AccessRequest, err error) {
	p.setRetryAfter(w, err)
	if c := ar.Client(); c != nil && c.Public && ar.GrantType() == "client_credentials" {
		// RFC 6749 §5.2; fosite says invalid_grant.
		err = oauth.UnauthorizedClient.Hint("A public client cannot use the client_credentials grant.")
	}
	p.writeTokenError(ctx, w, ar, err)
}

// tokenGrant does a grant's work beyond the engine's: the authorization code
// grant has none.
func (p *Provider) tokenGrant(ctx context.Context, tr *tokenRequest) error {
	switch tr.grant {
	case "refresh_token":
		return p.refreshGrant(ctx, tr)
	case "client_credentials":
		if tr.principal == nil && tr.client.ApplicationUser != "" {
			pr, err := p.linkedPrincipal(ctx, &tr.client.Client)
			if err != nil {
				return err
			}
			tr.principal = pr
		}
		if tr.principal != nil {
			p.principalGrant(tr, tr.principal)
			return nil
		}
		p.grantScopes(tr, p.decide(tr.ar.RequestedScopes(), &tr.client.Client, nil, nil))
		return nil
	case "password":
		return p.passwordGrant(ctx, tr)
	default:
		return nil
	}
}

// refreshGrant re-checks a refresh against the client and the user as they
// are now, narrows the grant to the client's current permission scope, and
// applies its scope parameter.
func (p *Provider) refreshGrant(ctx context.Context, tr *tokenRequest) error {
	if err := p.recheckRefresh(ctx, tr.ar, tr.client); err != nil {
		if !errors.Is(err, oauth.ErrUnavailable) {
			// The user lost what the grant needs: it ends. A backend
			// failure ends nothing; the client retries.
			p.revokeFamily(ctx, tr.ar.ID())
		}
		return err
	}
	if kept, dropped := p.narrowToClient(&tr.client.Client, tr.ar.GrantedScopes()); dropped {
		if err := tr.ar.Restrict(kept); err != nil {
			return err
		}
	}
	return narrowRefresh(tr.ar, tr.state)
}

// grantScopes grants a client_credentials or password request its scopes
// and audiences: the engine has checked each scope and audience against the
// client; the provider grants them here: requested ∩ the client's
// permission scope (∩ the user's permissions).
func (p *Provider) grantScopes(tr *tokenRequest, g grant) {
	tr.ar.Grant(g.Scopes)
	tr.sess.ClientIP = tr.addrString()
}

// addrString returns the client's address as text, made once per request.
func (tr *tokenRequest) addrString() string {
	if tr.addrText == "" {
		tr.addrText = tr.addr.String()
	}
	return tr.addrText
}

// issueTokens has the engine issue the tokens of an accepted request and
// write the response.
func (p *Provider) issueTokens(ctx context.Context, w http.ResponseWriter, tr *tokenRequest) {
	ar := tr.ar
	if err := p.engine.IssueTokens(ctx, w, ar); err != nil {
		var race *oauth.AccessRequest
		if oauth.IsCodeReuse(ar, err) {
			// A lost race for an authorization code is code reuse:
			// revoke whatever the code's family holds. (A lost race
			// for a refresh token is not reuse, and revokes nothing.)
			p.tel.reuseDetected(ctx, ar.GrantType(), ar.Client().ID)
			p.revokeFamily(ctx, ar.ID())
			race = ar
		}
		p.auditReuse(ctx, tr.state, tr.client.ID, race)
		p.writeTokenError(ctx, w, ar, err)
		return
	}
	p.tel.tokenIssued(ctx, ar.GrantType(), ar.Client().ID)
	p.auditTokens(ctx, tr)
	p.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "token issued",
		slog.String("client_id", ar.Client().ID),
		slog.String("grant_type", ar.GrantType()),
		slog.String("request_id", ar.ID()))
}

// narrowRefresh applies a refresh request's scope parameter (RFC 6749 §6),
// which fosite v0.49.0 ignores: asking for a scope the grant does not have is
// invalid_scope; asking for fewer narrows the new access token while the new
// refresh token keeps the grant's full scope.
func narrowRefresh(ar *oauth.AccessRequest, state *oauth.Request) error {
	raw, ok := ar.Form()["scope"]
	if !ok {
		return nil
	}
	requested := strings.Fields(strings.Join(raw, " "))
	granted := ar.GrantedScopes()
	for _, s := range requested {
		if !slices.Contains(granted, s) {
			return oauth.InvalidScope.Hintf("The scope '%s' was not granted originally; a refresh can only keep or narrow the grant.", s)
		}
	}
	if len(requested) == 0 {
		return nil
	}
	return ar.Narrow(requested, state)
}

// passwordAuthenticator returns the password check of tr's password grant:
// its failures count per (username, tr.addr), and the user it
// authenticates is kept in tr.user.
func (p *Provider) passwordAuthenticator(tr *tokenRequest) oauth.Authenticator {
	return func(ctx context.Context, username, password string) (string, error) {
		u, err := p.authenticateROPC(ctx, tr.clientID(), tr.addr, username, password)
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
		return oauth.ServerError.Debug("the password grant has no authenticated user")
	}
	u, c, sess := *tr.user, tr.client, tr.sess
	switch app, err := p.isApplicationUser(ctx, u.Subject); {
	case err != nil:
		return err
	case app:
		return oauth.InvalidGrant.Hint("This account is an application user: it cannot sign in with a password, only use client credentials or an API key.")
	}
	fs, err := p.enrolledFactors(ctx, u.Subject)
	if err != nil {
		return err
	}
	if c.RequireMFA || len(fs) > 0 {
		return oauth.InvalidGrant.Hint("multi-factor authentication required: the password grant cannot ask for a second factor; use the authorization code flow.")
	}
	m, err := passwordTenant(&c.Client, u, tr.r.PostForm.Get("tenant"))
	if err != nil {
		return err
	}
	sess.Username = u.Username
	// The ID token a later refresh issues (openid granted) needs its
	// subject; fosite sets only the session's.
	sess.SetIDTokenSubject(u.Subject)
	sess.Tenant = sessionTenant(m)
	sess.SetAuthentication(p.cfg.Now(), []string{"pwd"}, acrFor(nil))
	if b, err := json.Marshal(u); err == nil {
		sess.User = b
	}
	p.grantScopes(tr, p.decide(tr.ar.RequestedScopes(), &c.Client, &u, m))
	return nil
}

// passwordTenant picks the tenant of a password grant: the one named in the
// tenant parameter (want), or the user's only eligible one.
func passwordTenant(c *storage.Client, u User, want string) (*Membership, error) {
	ms, err := eligibleTenants(c, u)
	if err != nil {
		return nil, oauth.InvalidGrant.Hint(oauth.HintOf(err))
	}
	switch {
	case want != "":
		m := findMembership(ms, want)
		if m == nil {
			return nil, oauth.InvalidGrant.Hint("The user may not use this client for the tenant named.")
		}
		return m, nil
	case len(ms) == 1:
		return &ms[0], nil
	case len(ms) > 1:
		return nil, oauth.InvalidRequest.Hint("The user belongs to several tenants: send the tenant parameter with the ID of one.")
	default:
		return nil, nil
	}
}

// recheckRefresh checks a refresh against the client and the user as they
// are now (fosite re-checks only the client's scopes).
func (p *Provider) recheckRefresh(ctx context.Context, ar *oauth.AccessRequest, c *oauth.Client) error {
	sess := ar.Session()
	if sess == nil {
		return oauth.ServerError.Debug("unexpected session type")
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
			return oauth.InvalidGrant.Hint("The user no longer exists.")
		}
		if err != nil {
			return fmt.Errorf("%w: lookup user: %w", oauth.ErrUnavailable, err)
		}
	} else {
		// Without a lookup the user is as they were at the grant.
		u = User{Subject: subject}
		if len(sess.User) > 0 {
			_ = json.Unmarshal(sess.User, &u)
		}
	}
	if err := p.recheck(&c.Client, u, sess, ar.GrantedScopes()); err != nil {
		return err
	}
	return p.recheckRefreshSignIn(ctx, &c.Client, subject, sess)
}

// recheckRefreshSignIn refuses a refresh token of a client with
// RefreshBoundToLogin whose grant was made in a browser sign-in that is no
// longer live (errRefreshSignInEnded).
func (p *Provider) recheckRefreshSignIn(ctx context.Context, c *storage.Client, subject string, sess *oauth.Session) error {
	if sess.LoginSID == "" || !c.RefreshBoundToLogin {
		return nil
	}
	live, err := p.loginLive(ctx, subject, sess.LoginSID)
	if err != nil {
		return err
	}
	if !live {
		return errRefreshSignInEnded
	}
	return nil
}
