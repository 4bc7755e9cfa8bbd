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
	f := fs[0]
	if name := r.PostForm.Get("factor"); name != "" {
		i := slices.IndexFunc(fs, func(f mfa.Factor) bool { return f.Name() == name })
		if i < 0 {
			return false, msg(msgMFAChooseMethod), nil
		}
		f = fs[i]
	}
	code := r.PostForm.Get("otp")
	if code == "" {
		return false, msg(msgMFAMissing), nil
	}
	if len(code) > 64 {
		return false, msg(msgMFAWrong), nil
	}
	var locked *mfa.LockedError
	switch err := f.Verify(ctx, subject, code); {
	case err == nil:
		p.auditMFA(ctx, fl.client.ID, subject, f.Name(), "", time.Time{})
	case errors.As(err, &locked):
		// The failure that locks is an invalid code too.
		reason := "locked"
		if errors.Is(err, mfa.ErrInvalidCode) {
			reason = "invalid_code"
		}
		p.auditMFA(ctx, fl.client.ID, subject, f.Name(), reason, locked.Until)
		return false, msg(msgMFALocked, wait(locked.Until.Sub(p.cfg.Now()))), nil
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrNotEnrolled):
		p.auditMFA(ctx, fl.client.ID, subject, f.Name(), "invalid_code", time.Time{})
		return false, msg(msgMFAWrong), nil
	default:
		return false, message{}, fmt.Errorf("%w: verify %s: %w", oauth.ErrUnavailable, f.Name(), err)
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

// elevateLogin records a completed second factor: the flow's methods grow,
// and the browser's login session is replaced by a new one (a new cookie
// value: the session's privilege changed) that carries them, so later
// authorizations in the same session need not ask again.
func (p *Provider) elevateLogin(w http.ResponseWriter, r *http.Request, fl *flow, amr []string) error {
	ctx := r.Context()
	if fl.Subject == "" && fl.login != nil {
		fl.Subject, fl.AuthTime = fl.login.Subject, fl.login.AuthTime
	}
	fl.AMR = amr
	if fl.login == nil || fl.login.Subject != fl.Subject {
		return nil
	}
	ls := *fl.login
	token := secret.Token()
	ls.ID = secret.Digest(token)
	ls.SID = loginSID(fl.login) // the same sign-in: a logout ends the grants made before the upgrade too
	ls.AMR = slices.Clone(amr)
	if err := p.store.CreateLoginSession(ctx, ls); err != nil {
		return fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	if err := p.store.DeleteLoginSession(ctx, fl.login.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	p.setCookie(w, sessionCookie, token, 0)
	fl.login = &ls
	return nil
}
