package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// loginStep asks for username and password.
type loginStep struct{}

func (loginStep) name() string { return "login" }

func (loginStep) promptNoneError(*flow) error {
	return oauth.LoginRequired.Hint("The user is not signed in and prompt=none forbids asking.")
}

func (loginStep) needed(_ context.Context, p *Provider, fl *flow) (bool, error) {
	if fl.login == nil || fl.hasPrompt("login") {
		return true, nil
	}
	if ma := fl.ar.Form().Get("max_age"); ma != "" {
		sec, err := strconv.ParseInt(ma, 10, 64)
		if err != nil || sec < 0 {
			return false, oauth.InvalidRequest.Hint("max_age must be a non-negative integer.")
		}
		if fl.login.AuthTime.Add(time.Duration(sec) * time.Second).Before(p.cfg.Now()) {
			return true, nil
		}
	}
	return false, nil
}

func (s loginStep) show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, m message) {
	status := http.StatusOK
	if !m.none() {
		status = http.StatusUnauthorized
	}
	pd := p.stepPage(r, fl, s, msgLoginTitle, m)
	pd.Username = r.PostFormValue("username")
	p.render(w, status, "login", pd)
}

func (loginStep) submit(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow) (bool, message, error) {
	ls, u, userJSON, m, err := p.passwordSignIn(w, r, fl.client.ID, fl.login)
	if ls == nil {
		return false, m, err
	}
	fl.login = ls
	fl.user = u
	fl.Subject, fl.AuthTime, fl.AMR = u.Subject, ls.AuthTime, []string{"pwd"}
	fl.setUserJSON(userJSON)
	// A new sign-in starts the later steps afresh: whatever was done in
	// this flow was done for whoever signed in before.
	fl.Done = nil
	fl.chooseTenant("")
	return true, message{}, nil
}

// passwordSignIn checks the username and password r posted (counted by the
// password lockout) and, when they are right, starts a new login session
// of the browser: the cookie is set, current (the browser's session
// before, or nil) is deleted. It returns the new session, the user and
// their JSON; or a nil session and a message to show with the form again,
// or an error that ends the request. clientID is the client the sign-in is
// for, for the audit trail; "" for the account pages.
func (p *Provider) passwordSignIn(w http.ResponseWriter, r *http.Request, clientID string, current *storage.LoginSession) (*storage.LoginSession, *User, []byte, message, error) {
	ctx := r.Context()
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if username == "" || password == "" {
		return nil, nil, nil, msg(msgLoginMissing), nil
	}
	u, until, err := p.checkPassword(ctx, signInLoginPage, username, password, p.loginCounts(r, username)...)
	p.auditSignIn(ctx, clientID, username, u, until, err)
	switch {
	case errors.Is(err, errPasswordLocked):
		return nil, nil, nil, p.lockMessage(until), nil
	case errors.Is(err, ErrInvalidCredentials):
		return nil, nil, nil, msg(msgLoginWrong), nil
	case err != nil:
		return nil, nil, nil, message{}, err
	}
	if u.Subject == "" {
		return nil, nil, nil, message{}, oauth.ServerError.Debug("the authenticator returned a user without a Subject")
	}
	switch app, err := p.isApplicationUser(ctx, u.Subject); {
	case err != nil:
		return nil, nil, nil, message{}, err
	case app:
		// An application user never signs in interactively, whatever
		// the host's authenticator says of its ID.
		return nil, nil, nil, msg(msgLoginAppUser), nil
	}
	now := p.cfg.Now().UTC()
	userJSON, _ := json.Marshal(u)
	// The same user signing in again in this browser (prompt=login,
	// max_age) goes on with the same sign-in: its SID stays, so a logout
	// ends the grants made before too. Anyone else starts a new one.
	sid := secret.Token()
	if current != nil && current.Subject == u.Subject {
		sid = loginSID(current)
	}
	token := secret.Token()
	ls := storage.LoginSession{
		ID:        secret.Digest(token),
		SID:       sid,
		Subject:   u.Subject,
		AuthTime:  now,
		AMR:       []string{"pwd"},
		Claims:    userJSON,
		ExpiresAt: now.Add(p.cfg.LoginSessionLifetime),
	}
	if err := p.store.CreateLoginSession(ctx, ls); err != nil {
		return nil, nil, nil, message{}, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	// A fresh session value at every login (no session fixation); an old
	// session of this browser ends, once the new one exists (so that a
	// sign-in kept is never without a session: see loginStillLive). Its
	// grants stay: this ends it the way an expiry does, not a logout.
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = p.store.DeleteLoginSession(ctx, secret.Digest(old.Value))
	}
	p.setCookie(w, sessionCookie, token, 0)
	if p.cfg.PasswordLockout.MaxFailures >= 0 {
		// This browser is now trusted for this username: guessing
		// elsewhere does not lock it out (loginCounts).
		p.setDeviceCookie(w, username)
	}
	return &ls, &u, userJSON, message{}, nil
}
