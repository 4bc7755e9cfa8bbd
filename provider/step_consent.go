package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

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

func (s consentStep) show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, m message) {
	g, u, ms, err := p.flowGrant(r.Context(), fl)
	if err != nil {
		p.renderError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", msg(msgErrorUnavailable))
		return
	}
	pd := p.stepPage(r, fl, s, msgConsentTitle, m)
	pd.setUser(&u, fl.subject())
	if ms != nil {
		pd.Tenant = &ms.Tenant
		pd.TenantName = cmp.Or(ms.Tenant.Name, ms.Tenant.ID)
	}
	pd.ClientLogoURI = fl.client.LogoURI
	pd.ClientURI = fl.client.ClientURI
	pd.Scopes = g.Scopes
	pd.ScopeGroups = p.scopeGroups(pd.cat, g.Scopes)
	p.render(w, http.StatusOK, "consent", pd)
}

// Scope groups of the consent page with a fixed place: the user's claims
// first, lasting access last, the permissions' groups between them in
// order of ID, and "other" (permissions without a colon) after those.
const (
	scopeGroupIdentity = "identity"
	scopeGroupOffline  = "offline"
	scopeGroupOther    = "other"
)

// scopeGroups groups scopes for the consent page and describes each in
// the language of c (see ScopeGroup and ScopeInfo).
func (p *Provider) scopeGroups(c *catalogue, scopes []string) []ScopeGroup {
	byID := map[string]*ScopeGroup{}
	for _, s := range scopes {
		id := scopeGroupOf(s, p.cfg.Claims)
		g := byID[id]
		if g == nil {
			g = &ScopeGroup{ID: id, Title: id}
			if t, ok := c.lookup(scopeGroupKeyPrefix + id); ok {
				g.Title = t
			}
			byID[id] = g
		}
		info := ScopeInfo{Name: s}
		info.Description, _ = c.lookup(scopeKeyPrefix + s)
		g.Scopes = append(g.Scopes, info)
	}
	rank := func(id string) int {
		switch id {
		case scopeGroupIdentity:
			return 0
		case scopeGroupOther:
			return 2
		case scopeGroupOffline:
			return 3
		}
		return 1
	}
	ids := slices.SortedFunc(maps.Keys(byID), func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b))
	})
	out := make([]ScopeGroup, 0, len(ids))
	for _, id := range ids {
		out = append(out, *byID[id])
	}
	return out
}

// scopeGroupOf returns the group of scope s on the consent page: identity
// for the claim scopes (built in, and the host's claims), offline for
// those that ask for a refresh token, else the permission's prefix before
// its first colon, or other.
func scopeGroupOf(s string, claims map[string]ClaimFunc) string {
	if i := slices.IndexFunc(claimScopeTable, func(c claimScope) bool { return c.name == s }); i >= 0 {
		if claimScopeTable[i].refresh {
			return scopeGroupOffline
		}
		return scopeGroupIdentity
	}
	if _, ok := claims[s]; ok {
		return scopeGroupIdentity
	}
	if prefix, _, ok := strings.Cut(s, ":"); ok && prefix != "" {
		return prefix
	}
	return scopeGroupOther
}

func (consentStep) submit(_ http.ResponseWriter, r *http.Request, p *Provider, fl *flow) (bool, message, error) {
	ctx := r.Context()
	switch r.PostForm.Get("decision") {
	case "allow":
	case "deny":
		return false, message{}, oauth.AccessDenied.Hint("The user denied the request.")
	default:
		return false, msg(msgConsentChoose), nil
	}
	g, _, _, err := p.flowGrant(ctx, fl)
	if err != nil {
		return false, message{}, err
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
		return false, message{}, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	p.audit(ctx, storage.AuditEvent{
		Type: AuditConsentGranted, Actor: userActor(fl.subject()), Target: "client:" + fl.client.ID, ClientID: fl.client.ID, Subject: fl.subject(),
		Details: details("scopes", strings.Join(g.Scopes, " ")),
	})
	return true, message{}, nil
}
