package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// Cookie names. The session cookie holds a random value whose hash is the
// login session's ID; the browser cookie binds authorization flows to the
// browser that started them.
const (
	sessionCookie = "gatehouse_session"
	browserCookie = "gatehouse_browser"
)

// AuthorizeHandler returns the authorization endpoint (RFC 6749 §3.1). It
// validates the request, then runs the interaction steps that are needed
// (login, consent) and redirects back to the client. Errors before the
// redirect URI is known to be registered are shown as a page, never
// redirected (RFC 9700 §4.11). A query or form over 8 KiB is refused with
// 414; request objects (request, request_uri) are refused as discovery
// says; of the rest only the parameters in authorizeParams are kept, and
// only they are stored with a flow.
func (p *Provider) AuthorizeHandler() http.Handler {
	return p.instrument(p.tel.endpoint("authorize"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.parseAuthorizeRequest(w, r) {
			return
		}
		addr, err := p.clientAddr(r)
		if err != nil {
			p.writeAuthorizeError(r.Context(), w, r, nil, err)
			return
		}
		if refusal := requestObjectRefusal(r.Form); refusal != nil {
			p.refuseRequestObject(w, r, refusal)
			return
		}
		// r.Form: the query, and for POST the body too.
		fl := &flow{AuthFlow: storage.AuthFlow{Query: knownParams(r.Form).Encode(), Data: map[string]string{}}}
		fl.setRequestedAt(p.cfg.Now())
		// The address that started the grant: recorded in its session.
		fl.setClientIP(addr)
		p.advance(w, r, fl)
	}))
}

// authorizeParams are the authorization request parameters the provider or
// fosite reads (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core 1.0
// §3.1.2.1, OAuth 2.0 Multiple Response Types, fosite's audience). Others
// are dropped before fosite sees the request and are never stored: unknown
// parameters must be ignored (OpenID Connect Core 1.0 §3.1.2.1), and
// storing them would let anyone park data in the flow table. "registration"
// is kept so that fosite refuses it with registration_not_supported;
// "request" and "request_uri" are refused before (requestObjectRefusal);
// "claims" is not supported (claims_parameter_supported is false) and is
// ignored.
var authorizeParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state", "response_mode",
	"code_challenge", "code_challenge_method",
	"nonce", "prompt", "max_age", "display", "login_hint", "id_token_hint",
	"ui_locales", "claims_locales", "acr_values",
	"audience", "registration",
}

// knownParams returns the parameters of form listed in authorizeParams.
func knownParams(form url.Values) url.Values {
	out := url.Values{}
	for _, k := range authorizeParams {
		if v, ok := form[k]; ok {
			out[k] = v
		}
	}
	return out
}

// requestObjectRefusal returns the error for a request object, which the
// provider does not support (discovery says request_parameter_supported
// and request_uri_parameter_supported false), or nil. Left to fosite, an
// unsigned (alg none) request object would override the query's
// parameters, and a request_uri would be fetched. Empty values count as
// absent (RFC 6749 §3.1).
func requestObjectRefusal(form url.Values) error {
	switch {
	case form.Get("request") != "":
		return oauth.RequestNotSupported.Hint("Request objects are not supported; send the authorization request's parameters in the query.")
	case form.Get("request_uri") != "":
		return oauth.RequestURINotSupported.Hint("request_uri is not supported; send the authorization request's parameters in the query.")
	}
	return nil
}

// refuseRequestObject answers an authorization request that carries a
// request object with refusal: redirected to the client, with the query's
// state, when the client and its redirect URI check out without the
// request object (RFC 6749 §4.1.2.1), and shown as a page otherwise.
func (p *Provider) refuseRequestObject(w http.ResponseWriter, r *http.Request, refusal error) {
	ctx := oauth.WithRequest(r.Context(), oauth.NewRequest())
	ar, _ := p.newAuthorizeRequest(ctx, r, r.Form)
	p.writeAuthorizeError(ctx, w, r, ar, refusal)
}

// newAuthorizeRequest has the engine validate the authorization request made
// of the authorizeParams in form, after checking its redirect_uri exactly
// (redirectURIRegistered): fosite's own check lets variants of a loopback
// URI through, such as an added userinfo, an upper-case scheme or a
// percent-encoded path. A redirect_uri that is not registered returns a nil
// request, so that its error is shown and never redirected (RFC 9700
// §4.1).
func (p *Provider) newAuthorizeRequest(ctx context.Context, r *http.Request, form url.Values) (*oauth.AuthorizeRequest, error) {
	q := knownParams(form)
	if got := q.Get("redirect_uri"); got != "" {
		// An unknown client, or a store failure, is the engine's to report.
		if c, err := p.engine.Client(ctx, q.Get("client_id")); err == nil && !redirectURIRegistered(c.RedirectURIs, got) {
			return nil, oauth.InvalidRequest.Hint("The redirect_uri is not registered for this client. It must equal a registered one exactly; only the port of an http://127.0.0.1 or http://[::1] redirect URI may differ.")
		}
	}
	req := r.Clone(ctx)
	req.Method = http.MethodGet
	req.URL.RawQuery = q.Encode()
	req.Body = http.NoBody
	req.Form, req.PostForm = nil, nil
	return p.engine.NewAuthorizeRequest(ctx, req)
}

// flow is an authorization request in progress.
type flow struct {
	storage.AuthFlow
	handle string // the value in the URL; AuthFlow.ID is its digest
	ar     *oauth.AuthorizeRequest
	client *oauth.Client
	login  *storage.LoginSession
	user   *User
	prompt []string
}

func (f *flow) done(step string) bool { return slices.Contains(f.Done, step) }

// amr is how the flow's user authenticated: in this flow, or in the login
// session it reuses.
func (f *flow) amr() []string {
	if f.Subject == "" && f.login != nil {
		return f.login.AMR
	}
	return f.AMR
}

func (f *flow) hasPrompt(v string) bool { return slices.Contains(f.prompt, v) }

// load validates the flow's authorization request and finds the browser's
// login session. It writes the error and returns false on failure.
func (p *Provider) load(w http.ResponseWriter, r *http.Request, fl *flow) bool {
	// One client lookup serves the redirect URI check and the engine.
	ctx := oauth.WithRequest(r.Context(), oauth.NewRequest())
	form, _ := url.ParseQuery(fl.Query) // encoded by AuthorizeHandler
	ar, err := p.newAuthorizeRequest(ctx, r, form)
	if err != nil {
		p.writeAuthorizeError(ctx, w, r, ar, err)
		return false
	}
	fl.ar = ar
	fl.client = ar.Client()
	fl.ClientID = fl.client.ID
	telOf(w).setClient(fl.client.ID)
	fl.prompt = strings.Fields(ar.Form().Get("prompt"))
	if err := precheck(ar, fl.client, p.supported); err != nil {
		p.writeAuthorizeError(ctx, w, r, ar, err)
		return false
	}
	// Every request of the flow must come from the client's networks.
	addr, err := p.clientAddr(r)
	if err == nil && !fl.client.AllowedFrom(addr) {
		err = p.refuseIP(ctx, w, oauth.AccessDenied, fl.client)
	}
	if err != nil {
		p.writeAuthorizeError(ctx, w, r, ar, err)
		return false
	}
	if ls, err := p.currentLogin(ctx, r); err != nil {
		p.writeAuthorizeError(ctx, w, r, ar, err)
		return false
	} else if ls != nil {
		fl.login = ls
	}
	return true
}

// currentLogin returns the browser's valid login session, or nil.
func (p *Provider) currentLogin(ctx context.Context, r *http.Request) (*storage.LoginSession, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	ls, err := p.store.GetLoginSession(ctx, secret.Digest(c.Value))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	if !p.cfg.Now().Before(ls.ExpiresAt) {
		return nil, nil
	}
	return &ls, nil
}

// advance runs the flow: it shows the first step still needed, or finishes
// the authorization when none is. The guard admitUser runs between the
// steps that identify the user and the user's steps.
func (p *Provider) advance(w http.ResponseWriter, r *http.Request, fl *flow) {
	ctx := r.Context()
	if fl.ar == nil && !p.load(w, r, fl) {
		return
	}
	if p.runStep(w, r, fl, identifySteps) {
		return
	}
	if err := p.admitUser(ctx, fl); err != nil {
		p.writeAuthorizeError(ctx, w, r, fl.ar, err)
		return
	}
	if p.runStep(w, r, fl, userSteps) {
		return
	}
	p.finish(w, r, fl)
}

// runStep finds the first of steps still needed for fl and shows its page
// (or redirects to the interaction endpoint, starting the flow record). It
// reports whether it wrote a response: a page, a redirect or an error.
func (p *Provider) runStep(w http.ResponseWriter, r *http.Request, fl *flow, steps []step) bool {
	ctx := r.Context()
	for _, st := range steps {
		if fl.done(st.name()) {
			continue
		}
		need, err := st.needed(ctx, p, fl)
		if err != nil {
			p.writeAuthorizeError(ctx, w, r, fl.ar, err)
			return true
		}
		if !need {
			continue
		}
		p.showStep(w, r, fl, st)
		return true
	}
	return false
}

// showStep shows the page of st, a step needed for fl: an error under
// prompt=none, and a redirect to the interaction endpoint unless the
// request is a GET of it.
func (p *Provider) showStep(w http.ResponseWriter, r *http.Request, fl *flow, st step) {
	ctx := r.Context()
	if fl.hasPrompt("none") {
		p.writeAuthorizeError(ctx, w, r, fl.ar, st.promptNoneError(fl))
		return
	}
	if fl.ID == "" {
		err := p.startFlow(w, r, fl)
		if errors.Is(err, errTooManyFlows) {
			// Not the client's error, and nothing it could fix: tell
			// the user, without a redirect.
			w.Header().Set("Retry-After", strconv.Itoa(int(p.cfg.FlowLifetime.Seconds())))
			p.renderError(w, r, http.StatusTooManyRequests, "temporarily_unavailable", msg(msgErrorTooManyFlows))
			return
		}
		if err != nil {
			p.writeAuthorizeError(ctx, w, r, fl.ar, err)
			return
		}
	}
	if rt := telOf(w); rt != nil && rt.step == "" {
		rt.setStep(st.name()) // the step a GET shows, or an authorization goes to
	}
	if r.Method == http.MethodGet && r.URL.Path == p.issuerPath+p.cfg.Paths.Interaction {
		st.show(w, r, p, fl, message{})
		return
	}
	http.Redirect(w, r, p.interactionURL(fl), http.StatusSeeOther)
}

func (p *Provider) interactionURL(fl *flow) string {
	return p.issuerPath + p.cfg.Paths.Interaction + "?flow=" + url.QueryEscape(fl.handle)
}

// startFlow persists fl and binds it to the browser. The flow counts
// against Config.FlowLimits: over a limit it returns errTooManyFlows and
// neither stores nor sets anything.
func (p *Provider) startFlow(w http.ResponseWriter, r *http.Request, fl *flow) error {
	addr, err := p.clientAddr(r)
	if err != nil {
		return err
	}
	release, err := p.reserveFlow(r.Context(), addr)
	if err != nil {
		return err
	}
	browser := ""
	if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) >= 32 {
		browser = c.Value
	} else {
		browser = secret.Token()
		p.setCookie(w, browserCookie, browser, 0)
	}
	fl.handle = secret.Token()
	fl.ID = secret.Digest(fl.handle)
	fl.CSRF = secret.Token()
	fl.setBrowserDigest(secret.Digest(browser))
	fl.ExpiresAt = p.cfg.Now().Add(p.cfg.FlowLifetime).UTC()
	if err := p.store.CreateAuthFlow(r.Context(), fl.AuthFlow); err != nil {
		release()
		return fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	return nil
}

// setCookie sets an HttpOnly, SameSite=Lax cookie scoped to the issuer's
// path; Secure whenever the issuer is https. maxAge 0 makes a browser-session
// cookie, negative deletes it.
func (p *Provider) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	path := p.issuerPath
	if path == "" {
		path = "/"
	}
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   strings.HasPrefix(p.cfg.Issuer, "https://"),
		SameSite: http.SameSiteLaxMode,
	})
}

// InteractionHandler returns the handler of the login and consent pages
// (GET shows the current step, POST submits it). Every POST must carry the
// flow's CSRF token and come from the browser that started the flow.
func (p *Provider) InteractionHandler() http.Handler {
	return p.instrument(p.tel.endpoint("interaction", stepNames()...), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if !p.parsePageRequest(w, r) {
			return
		}
		handle := r.URL.Query().Get("flow")
		if handle == "" {
			p.renderError(w, r, http.StatusBadRequest, "invalid_request", msg(msgErrorFlowMissing))
			return
		}
		af, err := p.store.GetAuthFlow(ctx, secret.Digest(handle))
		if errors.Is(err, storage.ErrNotFound) || (err == nil && !p.cfg.Now().Before(af.ExpiresAt)) {
			p.renderError(w, r, http.StatusBadRequest, "invalid_request", msg(msgErrorFlowExpired))
			return
		}
		if err != nil {
			p.renderError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", msg(msgErrorUnavailable))
			return
		}
		// The flow must continue in the browser that started it: a link to
		// someone else's flow is useless (session swapping, RFC 9700 §4.7).
		fl := &flow{AuthFlow: af, handle: handle}
		bc, cerr := r.Cookie(browserCookie)
		if cerr != nil || !secret.Equal(secret.Digest(bc.Value), fl.browserDigest()) {
			p.renderError(w, r, http.StatusForbidden, "access_denied", msg(msgErrorOtherBrowser))
			return
		}
		if r.Method == http.MethodGet {
			p.advance(w, r, fl)
			return
		}
		if !secret.Equal(r.PostForm.Get("csrf_token"), af.CSRF) {
			p.renderError(w, r, http.StatusForbidden, "invalid_request", msg(msgErrorCSRF))
			return
		}
		if !p.load(w, r, fl) {
			return
		}
		st := p.currentStep(ctx, fl)
		if st != nil {
			telOf(w).setStep(st.name())
		}
		if st == nil || r.PostForm.Get("step") != st.name() {
			// A stale or forged submission: show the current state instead.
			http.Redirect(w, r, p.interactionURL(fl), http.StatusSeeOther)
			return
		}
		ok, m, err := st.submit(w, r, p, fl)
		if err != nil {
			p.deleteFlow(ctx, fl)
			p.writeAuthorizeError(ctx, w, r, fl.ar, err)
			return
		}
		if !ok {
			st.show(w, r, p, fl, m)
			return
		}
		if fl.Subject == "" && fl.login != nil {
			// Pin the flow to the user of the login session it reused, so
			// that a session swapped in the browser later cannot inherit the
			// steps this user completed (RFC 9700 §4.7).
			fl.Subject, fl.AuthTime, fl.AMR = fl.login.Subject, fl.login.AuthTime, fl.login.AMR
		}
		if name := st.name(); !fl.done(name) {
			fl.Done = append(fl.Done, name)
		}
		err = p.store.UpdateAuthFlow(ctx, fl.ID, func(cur storage.AuthFlow) (storage.AuthFlow, error) {
			cur.Done, cur.Subject, cur.AuthTime, cur.AMR, cur.Data = fl.Done, fl.Subject, fl.AuthTime, fl.AMR, fl.Data
			cur.Tenant, cur.User = fl.Tenant, fl.User // the steps set them (flow_data.go)
			return cur, nil
		})
		if err != nil {
			p.writeAuthorizeError(ctx, w, r, fl.ar, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err))
			return
		}
		// Post/Redirect/Get: the next step's page is a 303 away (RFC 9700
		// §4.12); a step that refuses ends the flow; with none left the
		// authorization finishes.
		p.advance(w, r, fl)
	}))
}

// currentStep returns the first step still needed, or nil.
func (p *Provider) currentStep(ctx context.Context, fl *flow) step {
	for _, st := range allSteps {
		if fl.done(st.name()) {
			continue
		}
		if need, err := st.needed(ctx, p, fl); err == nil && need {
			return st
		}
	}
	return nil
}

func (p *Provider) deleteFlow(ctx context.Context, fl *flow) {
	if fl.ID == "" {
		return
	}
	if err := p.store.DeleteAuthFlow(ctx, fl.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "delete auth flow", slog.String("error", err.Error()))
	}
}

// finish grants the request and redirects to the client.
func (p *Provider) finish(w http.ResponseWriter, r *http.Request, fl *flow) {
	ctx := r.Context()
	ar := fl.ar
	subject, authTime, amr := fl.Subject, fl.AuthTime, fl.amr()
	if subject == "" && fl.login != nil {
		subject, authTime = fl.login.Subject, fl.login.AuthTime
	}
	if subject == "" {
		p.writeAuthorizeError(ctx, w, r, ar, oauth.ServerError.Debug("flow finished without a subject"))
		return
	}
	// The grant belongs to the browser's sign-in (logout ends it), which
	// must still be the flow user's.
	if fl.login == nil || fl.login.Subject != subject {
		p.deleteFlow(ctx, fl)
		p.writeAuthorizeError(ctx, w, r, ar, errSignInEnded)
		return
	}
	g, user, m, err := p.flowGrant(ctx, fl)
	if err != nil {
		p.writeAuthorizeError(ctx, w, r, ar, err)
		return
	}
	ar.Grant(g.Scopes)
	if len(g.Dropped) > 0 {
		p.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "authorization narrowed",
			slog.String("client_id", fl.client.ID), slog.Any("dropped", g.Dropped))
	}
	sess := oauth.NewSession(subject)
	sess.Username = user.Username
	sess.Tenant = sessionTenant(m)
	sess.ClientIP = fl.clientIP()
	sess.LoginSID = loginSID(fl.login)
	sess.SetRequestedAt(fl.requestedAt())
	sess.SetAuthentication(authTime, amr, acrFor(amr))
	extra, err := p.claims(ctx, ClaimRequest{User: user, Tenant: tenantOf(sess.Tenant), ClientID: fl.client.ID, ClientIP: sess.ClientIP, Scopes: ar.GrantedScopes()})
	if err != nil {
		p.writeAuthorizeError(ctx, w, r, ar, err)
		return
	}
	sess.AddIDTokenClaims(extra)
	if userJSON, err := json.Marshal(user); err == nil {
		sess.User = userJSON
	}
	// The response names the issuer (RFC 9207: mix-up defence).
	resp, err := p.engine.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		p.writeAuthorizeError(ctx, w, r, ar, err)
		return
	}
	// If the sign-in ended since it was read (a logout in another tab),
	// the code just stored belongs to an ended sign-in, which the store
	// keeps inactive: refuse rather than redirect with a code that cannot
	// be exchanged, and revoke it (for a sign-in that merely expired, or
	// was replaced by another user's, in between).
	if live, err := p.loginStillLive(ctx, fl.login); err != nil || !live {
		p.revokeGrant(ctx, ar.ID())
		if err == nil {
			err = errSignInEnded
		}
		p.deleteFlow(ctx, fl)
		p.writeAuthorizeError(ctx, w, r, ar, err)
		return
	}
	p.deleteFlow(ctx, fl)
	p.engine.WriteAuthorizeResponse(ctx, w, ar, resp)
	if slices.Contains(ar.ResponseTypes(), "token") || slices.Contains(ar.ResponseTypes(), "id_token") {
		// The legacy implicit and hybrid grants issue tokens here.
		p.audit(ctx, storage.AuditEvent{
			Type: AuditTokenIssued, Actor: clientActor(fl.client.ID), Target: "grant:" + ar.ID(), ClientID: fl.client.ID, Subject: subject,
			Details: details("grant", "implicit", "response_type", strings.Join(ar.ResponseTypes(), " "),
				"scopes", strings.Join(ar.GrantedScopes(), " "), "grant_id", ar.ID()),
		})
	}
}

// userFor returns the user's current data: from the host's lookup, or from
// what the authenticator returned at login.
func (p *Provider) userFor(ctx context.Context, subject string, fl *flow) (User, error) {
	if fl != nil && fl.user != nil && fl.user.Subject == subject {
		return *fl.user, nil
	}
	u, err := p.loadUser(ctx, subject, fl)
	if err == nil && fl != nil {
		fl.user = &u
	}
	return u, err
}

func (p *Provider) loadUser(ctx context.Context, subject string, fl *flow) (User, error) {
	if p.lookup != nil {
		u, err := p.lookup.LookupUser(ctx, subject)
		if errors.Is(err, ErrUserNotFound) {
			return User{}, oauth.AccessDenied.Hint("The user no longer exists.")
		}
		if err != nil {
			return User{}, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
		}
		return u, nil
	}
	var raw []byte
	if fl != nil && len(fl.userJSON()) > 0 {
		raw = fl.userJSON()
	} else if fl != nil && fl.login != nil {
		raw = fl.login.Claims
	}
	u := User{Subject: subject}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &u)
	}
	return u, nil
}

// writeAuthorizeError redirects the error to the client when the redirect
// URI has been validated, and shows it as a page otherwise.
func (p *Provider) writeAuthorizeError(ctx context.Context, w http.ResponseWriter, r *http.Request, ar *oauth.AuthorizeRequest, err error) {
	a := oauth.Translate(err)
	noteError(w, a.Code)
	if a.Status >= 500 {
		p.cfg.Logger.LogAttrs(ctx, slog.LevelError, "authorization failed", slog.String("error", oauth.Chain(err)))
	}
	if !ar.RedirectURIValid() {
		uiLocales := uiLocalesOf(ar)
		if uiLocales == "" && r.Form != nil {
			uiLocales = r.Form.Get("ui_locales") // the authorization request's own
		}
		p.renderProtocolError(w, r, uiLocales, a)
		return
	}
	p.engine.WriteAuthorizeError(ctx, w, ar, err)
}

// precheck refuses, before any page is shown, what the engine would refuse
// only when the response is built: a user should not sign in for a request
// that cannot succeed. A response type the client is registered for but
// whose grant is not enabled (a client stored with the implicit grant, when
// Config.AllowLegacyGrants is off) is such a request: the engine has no
// handler for it.
func precheck(ar *oauth.AuthorizeRequest, c *oauth.Client, sup supported) error {
	if rt := strings.Join(ar.ResponseTypes(), " "); !sup.responseTypeEnabled(rt) {
		return oauth.UnsupportedResponseType.Hintf("The response type %q is not enabled on this server.", rt)
	}
	form := ar.Form()
	challenge, method := form.Get("code_challenge"), form.Get("code_challenge_method")
	switch {
	case challenge != "" && method != "S256":
		return oauth.InvalidRequest.Hint("code_challenge_method must be S256; plain is not supported.")
	case challenge == "" && method != "":
		return oauth.InvalidRequest.Hint("code_challenge_method was sent without code_challenge.")
	case challenge == "" && slices.Contains(ar.ResponseTypes(), "code") && (c.Public || c.RequirePKCE):
		return oauth.InvalidRequest.Hint("This client must use PKCE: send code_challenge with code_challenge_method S256.")
	}
	prompts := strings.Fields(form.Get("prompt"))
	for _, v := range prompts {
		if !slices.Contains(promptValues, v) {
			return oauth.InvalidRequest.Hintf("Unknown prompt value %q.", v)
		}
	}
	if slices.Contains(prompts, "none") && len(prompts) > 1 {
		return oauth.InvalidRequest.Hint("prompt=none cannot be combined with other values.")
	}
	return nil
}
