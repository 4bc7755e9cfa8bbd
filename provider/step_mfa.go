package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// errMFARequired ends a flow whose client requires a second factor the user
// has not enrolled.
var errMFARequired = oauth.AccessDenied.Hint("multi-factor authentication required: this application requires a second factor, and your account has none enrolled.")

// mfaStep asks for a second factor when the user has one enrolled or the
// client requires one, unless this sign-in already used it.
type mfaStep struct{}

func (mfaStep) name() string { return "mfa" }

func (mfaStep) promptNoneError(*flow) error {
	return oauth.InteractionRequired.Hint("A second factor is required and prompt=none forbids asking.")
}

// enrolledFactors returns the factors the user has set up, in the
// provider's order.
func (p *Provider) enrolledFactors(ctx context.Context, subject string) ([]mfa.Factor, error) {
	var out []mfa.Factor
	for _, f := range p.cfg.Factors {
		ok, err := f.Enrolled(ctx, subject)
		if err != nil {
			return nil, fmt.Errorf("%w: factor %s: %w", oauth.ErrUnavailable, f.Name(), err)
		}
		if ok {
			out = append(out, f)
		}
	}
	return out, nil
}

func (mfaStep) needed(ctx context.Context, p *Provider, fl *flow) (bool, error) {
	if len(p.cfg.Factors) == 0 && !fl.client.RequireMFA {
		return false, nil
	}
	fs, err := p.enrolledFactors(ctx, fl.subject())
	if err != nil {
		return false, err
	}
	if len(fs) == 0 {
		if fl.client.RequireMFA {
			return false, errMFARequired
		}
		return false, nil
	}
	amr := fl.amr()
	for _, f := range fs {
		if slices.Contains(amr, f.Method()) {
			return false, nil
		}
	}
	return true, nil
}

func (s mfaStep) show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, m message) {
	fs, err := p.enrolledFactors(r.Context(), fl.subject())
	if err != nil {
		p.renderError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", msg(msgErrorUnavailable))
		return
	}
	status := http.StatusOK
	if !m.none() {
		status = http.StatusUnauthorized
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name())
	}
	pd := p.stepPage(r, fl, s, msgMFATitle, m)
	pd.setUser(fl.user, fl.subject())
	pd.Factors = names
	p.render(w, status, "mfa", pd)
}

func (mfaStep) submit(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow) (bool, message, error) {
	ctx := r.Context()
	subject := fl.subject()
	fs, err := p.enrolledFactors(ctx, subject)
	if err != nil {
		return false, message{}, err
	}
	if len(fs) == 0 {
		return false, message{}, errMFARequired
	}
	f, m, err := p.verifyFactor(r, fl.client.ID, subject, fs)
	if f == nil {
		return false, m, err
	}
	amr := slices.Clone(fl.amr())
	if !slices.Contains(amr, f.Method()) {
		amr = append(amr, f.Method())
	}
	if err := p.elevateLogin(w, r, fl, amr); err != nil {
		return false, message{}, err
	}
	return true, message{}, nil
}

// maxCodeLen bounds a one-time or recovery code: a longer one is wrong
// without being checked (and counted).
const maxCodeLen = 64

// verifyFactor checks the code r posted ("otp") with the factor it chose
// ("factor", the first of fs when empty), one of subject's enrolled
// factors fs. It returns the factor on success; otherwise nil and a
// message to show with the form again (wrong code, lockout), or an error
// that ends the request. Wrong codes count towards the factor's lockout.
func (p *Provider) verifyFactor(r *http.Request, clientID, subject string, fs []mfa.Factor) (mfa.Factor, message, error) {
	f := fs[0]
	if name := r.PostForm.Get("factor"); name != "" {
		i := slices.IndexFunc(fs, func(f mfa.Factor) bool { return f.Name() == name })
		if i < 0 {
			return nil, msg(msgMFAChooseMethod), nil
		}
		f = fs[i]
	}
	code := r.PostForm.Get("otp")
	if code == "" {
		return nil, msg(msgMFAMissing), nil
	}
	if len(code) > maxCodeLen {
		return nil, msg(msgMFAWrong), nil
	}
	if m, err := p.codeAnswer(r.Context(), f.Verify(r.Context(), subject, code), f.Name(), subject, clientID); !m.none() || err != nil {
		return nil, m, err
	}
	return f, message{}, nil
}

// codeAnswer turns the error of a factor's check of a code into what the
// page shows: no message for success, a message for a wrong code or a
// lockout, and an error (unavailable) for anything else.
// Every check is counted in the MFA metrics (and a lockout it causes) and
// recorded in the audit trail as subject's, for clientID ("" on the
// account pages).
func (p *Provider) codeAnswer(ctx context.Context, err error, factor, subject, clientID string) (message, error) {
	var locked *mfa.LockedError
	switch {
	case err == nil:
		p.tel.mfaVerified(ctx, factor, "success")
		p.auditMFA(ctx, clientID, subject, factor, "", time.Time{})
		return message{}, nil
	case errors.As(err, &locked):
		// The failure that locks is an invalid code too.
		reason := "locked"
		if errors.Is(err, mfa.ErrInvalidCode) { // this wrong code locked the user out
			reason = "invalid_code"
			p.tel.mfaVerified(ctx, factor, "invalid_code")
			p.tel.lockedOut(ctx, "mfa")
		} else {
			p.tel.mfaVerified(ctx, factor, "locked")
		}
		p.auditMFA(ctx, clientID, subject, factor, reason, locked.Until)
		return msg(msgMFALocked, wait(locked.Until.Sub(p.cfg.Now()))), nil
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrNotEnrolled):
		p.tel.mfaVerified(ctx, factor, "invalid_code")
		p.auditMFA(ctx, clientID, subject, factor, "invalid_code", time.Time{})
		return msg(msgMFAWrong), nil
	}
	return message{}, fmt.Errorf("%w: %s: %w", oauth.ErrUnavailable, factor, err)
}

// elevateLogin records a completed second factor: the flow's methods grow,
// and the browser's login session is replaced by a new one (a new cookie
// value: the session's privilege changed) that carries them, so later
// authorizations in the same session need not ask again.
func (p *Provider) elevateLogin(w http.ResponseWriter, r *http.Request, fl *flow, amr []string) error {
	if fl.Subject == "" && fl.login != nil {
		fl.Subject, fl.AuthTime = fl.login.Subject, fl.login.AuthTime
	}
	fl.AMR = amr
	if fl.login == nil || fl.login.Subject != fl.Subject {
		return nil
	}
	ls, err := p.upgradeLogin(w, r, fl.login, amr)
	if err != nil {
		return err
	}
	fl.login = ls
	return nil
}

// upgradeLogin replaces the browser's login session cur by a new one with
// the methods amr, under a new cookie value; it keeps the sign-in (SID).
func (p *Provider) upgradeLogin(w http.ResponseWriter, r *http.Request, cur *storage.LoginSession, amr []string) (*storage.LoginSession, error) {
	ctx := r.Context()
	ls := *cur
	token := secret.Token()
	ls.ID = secret.Digest(token)
	ls.SID = loginSID(cur) // the same sign-in: a logout ends the grants made before the upgrade too
	ls.AMR = slices.Clone(amr)
	if err := p.store.CreateLoginSession(ctx, ls); err != nil {
		return nil, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	if err := p.store.DeleteLoginSession(ctx, cur.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	p.setCookie(w, sessionCookie, token, 0)
	return &ls, nil
}
