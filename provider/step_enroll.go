package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider/internal/oauth"
)

// Setting up a second factor during an authorization
// (Config.EnrollMFAAtLogin): for a client that requires one, a user who
// has none sets up an authenticator app (mfaEnrollStep), is shown recovery
// codes (mfaRecoveryStep), and goes on with the factor in the sign-in.
// Without EnrollMFAAtLogin neither runs, and mfaStep refuses such a user.

// mfaEnrollStep shows the QR code of a new authenticator app and confirms
// it with a first code.
type mfaEnrollStep struct{}

func (mfaEnrollStep) name() string { return "mfa-enroll" }

func (mfaEnrollStep) promptNoneError(*flow) error {
	return oauth.InteractionRequired.Hint("A second factor must be set up and prompt=none forbids asking.")
}

func (mfaEnrollStep) needed(ctx context.Context, p *Provider, fl *flow) (bool, error) {
	if !p.cfg.EnrollMFAAtLogin || p.totp == nil || !fl.client.RequireMFA {
		return false, nil
	}
	fs, err := p.enrolledFactors(ctx, fl.subject())
	if err != nil {
		return false, err
	}
	return len(fs) == 0, nil
}

func (s mfaEnrollStep) show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, m message) {
	ctx := r.Context()
	subject := fl.subject()
	u, err := p.userFor(ctx, subject, fl)
	if err != nil {
		p.writeAuthorizeError(ctx, w, r, fl.ar, err)
		return
	}
	// The enrollment waiting for its code, or a new one.
	st, err := p.totp.Status(ctx, subject)
	if err == nil && !st.Pending {
		_, err = p.totp.Enroll(ctx, subject, accountName(&u))
	}
	pd := p.stepPage(r, fl, s, msgMFAEnrollTitle, m)
	pd.setUser(&u, subject)
	pd.Account = &AccountPage{}
	if err == nil {
		pd.Account.Setup, err = p.totpSetup(ctx, &pd, subject, &u)
	}
	if err != nil {
		p.writeAuthorizeError(ctx, w, r, fl.ar, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err))
		return
	}
	status := http.StatusOK
	if !m.none() {
		status = http.StatusUnauthorized
	}
	p.render(w, status, "mfa-enroll", pd)
}

func (mfaEnrollStep) submit(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow) (bool, message, error) {
	code, m := postedCode(r)
	if !m.none() {
		return false, m, nil
	}
	ctx := r.Context()
	subject := fl.subject()
	err := p.totp.Confirm(ctx, subject, code)
	if !errors.Is(err, mfa.ErrAlreadyEnrolled) { // confirmed meanwhile: mfaStep asks for a code
		if m, err := p.codeAnswer(r.Context(), err, p.totp.Name(), subject, fl.client.ID); !m.none() || err != nil {
			return false, m, err
		}
		if err := p.accountEvent(ctx, r, AuditMFAEnrolled, subject, fl.client.ID); err != nil {
			return false, message{}, err
		}
		amr := slices.Clone(fl.amr())
		if !slices.Contains(amr, p.totp.Method()) {
			amr = append(amr, p.totp.Method())
		}
		if err := p.elevateLogin(w, r, fl, amr); err != nil {
			return false, message{}, err
		}
	}
	return true, message{}, nil
}

// mfaRecoveryStep shows the recovery codes of the factor just set up,
// once: each showing makes a new set (the codes are stored only as
// hashes), so a page reloaded shows new codes, and the ones shown before
// no longer work.
type mfaRecoveryStep struct{}

func (mfaRecoveryStep) name() string { return "mfa-recovery" }

func (mfaRecoveryStep) promptNoneError(*flow) error {
	return oauth.InteractionRequired.Hint("Recovery codes must be shown and prompt=none forbids asking.")
}

func (mfaRecoveryStep) needed(_ context.Context, p *Provider, fl *flow) (bool, error) {
	return p.totp != nil && fl.done(mfaEnrollStep{}.name()) && slices.Contains(fl.amr(), p.totp.Method()), nil
}

func (s mfaRecoveryStep) show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, m message) {
	ctx := r.Context()
	codes, err := p.totp.RegenerateRecoveryCodes(ctx, fl.subject())
	if err != nil {
		p.writeAuthorizeError(ctx, w, r, fl.ar, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err))
		return
	}
	pd := p.stepPage(r, fl, s, msgMFARecoveryTitle, m)
	pd.setUser(fl.user, fl.subject())
	pd.Account = &AccountPage{RecoveryCodes: codes}
	p.render(w, http.StatusOK, "mfa-recovery", pd)
}

func (mfaRecoveryStep) submit(http.ResponseWriter, *http.Request, *Provider, *flow) (bool, message, error) {
	return true, message{}, nil
}
