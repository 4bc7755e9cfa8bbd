package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// consentStep asks the user to allow the client the scopes it requested,
// unless a remembered consent covers them and may be applied to the request
// (consentRememberable).
type consentStep struct{}

func (consentStep) name() string { return "consent" }

func (consentStep) promptNoneError(fl *flow) error {
	hint := "The user has not consented to these scopes and prompt=none forbids asking."
	if !consentRememberable(fl) {
		hint = "This public client uses a redirect URI that is not https, which does not prove which application receives the response, so the user must approve every request on the consent page; send the request without prompt=none."
	}
	return oauth.ConsentRequired.Hint(hint)
}

// consentRememberable reports whether a remembered consent may stand in for
// the consent page in fl. It may for a confidential client, and for a public
// client whose request uses an https redirect URI; it may not for a public
// client whose request uses any other redirect URI: a loopback one
// (http://127.0.0.1, http://[::1], http://localhost) or a private-use scheme
// (com.example.app:/cb).
//
// Without a secret, only the redirect URI says which application gets the
// code. Any program on the user's machine can listen on a loopback port or
// register a private-use scheme, and so can run under a public client's ID
// and have codes sent to it; if remembered consent applied, the user would
// see nothing. So, when the identity of the client cannot be assured, the
// request is treated as if no consent had been given (RFC 6749 §10.2,
// RFC 8252 §8.6; Ory Hydra does the same). An https redirect URI delivers
// the code to a host that the client's owner controls, which an impersonator
// cannot read it from.
//
// The judgement is of the redirect URI the request uses (the one the engine
// resolved, so also the registered one a request without redirect_uri
// falls back to), not of the client's registration: the risk lies in where
// this response goes. A public client registered with both an https and a
// loopback URI keeps remembered consent (and prompt=none) on its https URI,
// where an impersonator cannot receive the code, and gets the consent page
// every time on its loopback URI, where one can; judging by the client as a
// whole would either let the loopback requests through silently or take
// silent sign-in from the https ones for no gain. Consent given on such a
// page is still remembered: the user saw it.
func consentRememberable(fl *flow) bool {
	if !fl.client.Public {
		return true
	}
	u := fl.ar.RedirectURI()
	return u != nil && u.Scheme == "https"
}

func (consentStep) needed(ctx context.Context, p *Provider, fl *flow) (bool, error) {
	if fl.hasPrompt("consent") || !consentRememberable(fl) {
		return true, nil
	}
	c, err := p.store.GetConsent(ctx, fl.subject(), fl.client.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
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
		return false, "", oauth.AccessDenied.Hint("The user denied the request.")
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
		return false, "", fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	return true, "", nil
}
