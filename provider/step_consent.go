package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/provider/internal/fositeadapter"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/ory/fosite"
)

// consentStep asks the user to allow the client the scopes it requested,
// unless a remembered consent covers them and the redirect goes to a web
// or loopback address (see nativeRedirect).
type consentStep struct{}

func (consentStep) name() string { return "consent" }

func (consentStep) promptNoneError() error {
	return fosite.ErrConsentRequired.WithHint("The user has not consented to these scopes and prompt=none forbids asking.")
}

func (consentStep) needed(ctx context.Context, p *Provider, fl *flow) (bool, error) {
	if fl.hasPrompt("consent") || nativeRedirect(fl) {
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

// nativeRedirect reports whether the flow's code goes to a public client's
// private-use scheme redirect URI (com.example.app:/callback). Any app on
// the device can claim such a scheme, so the client's identity is not
// assured, and the request is never answered without the user (RFC 8252
// §8.6): the consent page is shown even when a remembered consent covers
// the scopes, and prompt=none is answered consent_required.
func nativeRedirect(fl *flow) bool {
	return fl.client.Public && isPrivateUseRedirect(fl.ar.GetRedirectURI())
}
