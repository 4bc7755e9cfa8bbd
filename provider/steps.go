package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse/gatehouse/provider/internal/fositeadapter"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// step is one stage of the interaction between the authorization request
// and the redirect back to the client. Steps run in order; each decides
// whether it is needed for a flow, shows its page, and handles its form.
// Later steps (multi-factor authentication, tenant choice) slot in between
// login and consent.
type step interface {
	// name identifies the step in the flow record and in the form's "step"
	// field.
	name() string
	// needed reports whether the step must run for fl.
	needed(ctx context.Context, p *Provider, fl *flow) (bool, error)
	// promptNoneError is the error when the step is needed but the client
	// sent prompt=none.
	promptNoneError() error
	// show writes the step's page, with msg as an error to show.
	show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, msg string)
	// submit handles the step's form. It returns ok when the step is done,
	// or a message to show with the page again, or an error that ends the
	// flow (redirected to the client when possible).
	submit(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow) (ok bool, msg string, err error)
}

func (p *Provider) steps() []step {
	return defaultSteps
}

// defaultSteps is the interaction, in order: who the user is, whether the
// client admits them, the second factor, the tenant, and consent to what
// the grant will hold.
var defaultSteps = []step{loginStep{}, accessStep{}, mfaStep{}, tenantStep{}, consentStep{}}

// subject is the user of the flow: who logged in during it, or the
// browser's login session.
func (fl *flow) subject() string {
	if fl.Subject != "" {
		return fl.Subject
	}
	if fl.login != nil {
		return fl.login.Subject
	}
	return ""
}

// stepPage is the page data every step's page starts from.
func (p *Provider) stepPage(fl *flow, st step, title, msg string) pageData {
	return pageData{
		Title:      title,
		Action:     p.interactionURL(fl),
		CSRF:       fl.CSRF,
		Step:       st.name(),
		Error:      msg,
		ClientName: p.clientName(fl),
	}
}

func (p *Provider) clientName(fl *flow) string {
	if fl.client.Name != "" {
		return fl.client.Name
	}
	return fl.client.ID
}

// loginStep asks for username and password.
type loginStep struct{}

func (loginStep) name() string { return "login" }

func (loginStep) promptNoneError() error {
	return fosite.ErrLoginRequired.WithHint("The user is not signed in and prompt=none forbids asking.")
}

func (loginStep) needed(_ context.Context, p *Provider, fl *flow) (bool, error) {
	if fl.login == nil || fl.hasPrompt("login") {
		return true, nil
	}
	if ma := fl.ar.GetRequestForm().Get("max_age"); ma != "" {
		sec, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || sec < 0 {
			return false, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer.")
		}
		if fl.login.AuthTime.Add(time.Duration(sec) * time.Second).Before(p.cfg.Now()) {
			return true, nil
		}
	}
	return false, nil
}

func (s loginStep) show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, msg string) {
	status := http.StatusOK
	if msg != "" {
		status = http.StatusUnauthorized
	}
	pd := p.stepPage(fl, s, "Sign in", msg)
	pd.Username = r.PostFormValue("username")
	p.render(w, status, "login", pd)
}

func (loginStep) submit(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow) (bool, string, error) {
	ctx := r.Context()
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if username == "" || password == "" {
		return false, "Enter your username and password.", nil
	}
	u, until, err := p.checkPassword(ctx, username, password, p.loginCounts(r, username)...)
	switch {
	case errors.Is(err, errPasswordLocked):
		return false, p.lockMessage(until), nil
	case errors.Is(err, ErrInvalidCredentials):
		return false, "The username or password is wrong.", nil
	case err != nil:
		return false, "", err
	}
	if u.Subject == "" {
		return false, "", fosite.ErrServerError.WithDebug("the authenticator returned a user without a Subject")
	}
	now := p.cfg.Now().UTC()
	userJSON, _ := json.Marshal(u)
	// A fresh session value at every login (no session fixation); an old
	// session of this browser ends.
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = p.store.DeleteLoginSession(ctx, secret.Digest(old.Value))
	}
	token := secret.Token()
	ls := storage.LoginSession{
		ID:        secret.Digest(token),
		Subject:   u.Subject,
		AuthTime:  now,
		AMR:       []string{"pwd"},
		Claims:    userJSON,
		ExpiresAt: now.Add(p.cfg.LoginSessionLifetime),
	}
	if err := p.store.CreateLoginSession(ctx, ls); err != nil {
		return false, "", fmt.Errorf("%w: %w", fositeadapter.ErrUnavailable, err)
	}
	p.setCookie(w, sessionCookie, token, 0)
	if p.cfg.PasswordLockout.MaxFailures >= 0 {
		// This browser is now trusted for this username: guessing
		// elsewhere does not lock it out (loginCounts).
		p.setDeviceCookie(w, username)
	}
	fl.login = &ls
	fl.user = &u
	fl.Subject, fl.AuthTime, fl.AMR = u.Subject, now, []string{"pwd"}
	fl.Data["user"] = string(userJSON)
	// A new sign-in starts the later steps afresh: whatever was done in
	// this flow was done for whoever signed in before.
	fl.Done = nil
	delete(fl.Data, "tenant")
	return true, "", nil
}

// consentStep asks the user to allow the client the scopes it requested,
// unless a remembered consent covers them.
type consentStep struct{}

func (consentStep) name() string { return "consent" }

func (consentStep) promptNoneError() error {
	return fosite.ErrConsentRequired.WithHint("The user has not consented to these scopes and prompt=none forbids asking.")
}

func (consentStep) needed(ctx context.Context, p *Provider, fl *flow) (bool, error) {
	if fl.hasPrompt("consent") {
		return true, nil
	}
	c, err := p.store.GetConsent(ctx, fl.subject(), fl.client.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", fositeadapter.ErrUnavailable, err)
	}
	if !c.ExpiresAt.IsZero() && !p.cfg.Now().Before(c.ExpiresAt) {
		return true, nil
	}
	g, _, _, err := p.flowGrant(ctx, fl)
	if err != nil {
		return false, err
	}
	for _, s := range g.Scopes {
		if !slices.Contains(c.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

func (s consentStep) show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, msg string) {
	g, _, m, err := p.flowGrant(r.Context(), fl)
	if err != nil {
		p.renderError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Please try again in a moment.")
		return
	}
	var tenant *Tenant
	if m != nil {
		tenant = &m.Tenant
	}
	pd := p.stepPage(fl, s, "Allow access", msg)
	pd.Tenant = tenant
	pd.Subject = fl.subject()
	pd.Scopes = g.Scopes
	p.render(w, http.StatusOK, "consent", pd)
}

func (consentStep) submit(_ http.ResponseWriter, r *http.Request, p *Provider, fl *flow) (bool, string, error) {
	ctx := r.Context()
	switch r.PostForm.Get("decision") {
	case "allow":
	case "deny":
		return false, "", fosite.ErrAccessDenied.WithHint("The user denied the request.")
	default:
		return false, "Choose Allow or Deny.", nil
	}
	g, _, _, err := p.flowGrant(ctx, fl)
	if err != nil {
		return false, "", err
	}
	scopes := slices.Clone(g.Scopes)
	if old, err := p.store.GetConsent(ctx, fl.subject(), fl.client.ID); err == nil &&
		(old.ExpiresAt.IsZero() || p.cfg.Now().Before(old.ExpiresAt)) {
		for _, s := range old.Scopes {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	slices.Sort(scopes)
	now := p.cfg.Now().UTC()
	err = p.store.SaveConsent(ctx, storage.Consent{
		Subject:   fl.subject(),
		ClientID:  fl.client.ID,
		Scopes:    scopes,
		GrantedAt: now,
		ExpiresAt: now.Add(p.cfg.ConsentLifetime),
	})
	if err != nil {
		return false, "", fmt.Errorf("%w: %w", fositeadapter.ErrUnavailable, err)
	}
	return true, "", nil
}
