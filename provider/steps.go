package provider

import (
	"context"
	"net/http"
	"slices"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
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
	// promptNoneError is the error when the step is needed for fl but the
	// client sent prompt=none.
	promptNoneError(fl *flow) error
	// show writes the step's page, with m as an error to show (none: no
	// error).
	show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, m message)
	// submit handles the step's form. It returns ok when the step is done,
	// or a message to show with the page again, or an error that ends the
	// flow (redirected to the client when possible).
	submit(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow) (ok bool, m message, err error)
}

// The interaction, in order: who the user is (identifySteps); then the
// guard admitUser, which ends the flow of a user the client does not
// admit; then, for the user, the second factor (set up first, with
// Config.EnrollMFAAtLogin, by a user who has none), the tenant, and
// consent to what the grant will hold (userSteps).
var (
	identifySteps = []step{loginStep{}}
	userSteps     = []step{mfaEnrollStep{}, mfaRecoveryStep{}, mfaStep{}, tenantStep{}, consentStep{}}
	allSteps      = slices.Concat(identifySteps, userSteps)
)

// admitUser is the guard run once the flow's user is known, before the
// user's steps: it refuses (access_denied) a user the client does not
// admit: one without the client's required role, or not a member of the
// customer the client is bound to.
func (p *Provider) admitUser(ctx context.Context, fl *flow) error {
	_, err := p.flowTenants(ctx, fl)
	return err
}

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

// stepPage is the page data every step's page starts from: in the
// language of r and the authorization request's ui_locales, with the
// client, the form's fields and m, the error to show.
func (p *Provider) stepPage(r *http.Request, fl *flow, st step, title msgID, m message) PageData {
	pd := p.page(r, uiLocalesOf(fl.ar), title)
	pd.Action = p.interactionURL(fl)
	pd.CSRF = fl.CSRF
	pd.Step = st.name()
	pd.Error = pd.cat.render(m)
	pd.ClientID = fl.client.ID
	pd.ClientName = p.clientName(fl)
	return pd
}

// setUser shows u, the flow's user, on pd.
func (pd *PageData) setUser(u *User, subject string) {
	pd.Subject = subject
	pd.SignedInAs = subject
	if u != nil && u.Username != "" {
		pd.Username = u.Username
		pd.SignedInAs = u.Username
	}
}

func (p *Provider) clientName(fl *flow) string {
	if fl.client.Name != "" {
		return fl.client.Name
	}
	return fl.client.ID
}

// flowTenants returns the memberships through which the flow's user may
// use its client (see eligibleTenants).
func (p *Provider) flowTenants(ctx context.Context, fl *flow) ([]Membership, error) {
	u, err := p.userFor(ctx, fl.subject(), fl)
	if err != nil {
		return nil, err
	}
	return eligibleTenants(&fl.client.Client, u)
}

// flowTenant returns the tenant the flow's grant is for: the only eligible
// one, or the one the user chose; nil when the user has none.
func (p *Provider) flowTenant(ctx context.Context, fl *flow) (*Membership, error) {
	ms, err := p.flowTenants(ctx, fl)
	switch {
	case err != nil:
		return nil, err
	case len(ms) == 0:
		return nil, nil
	case len(ms) == 1:
		return &ms[0], nil
	}
	if m := findMembership(ms, fl.chosenTenant()); m != nil {
		return m, nil
	}
	return nil, oauth.InteractionRequired.Hint("No customer was chosen.")
}

// flowGrant is the grant the flow would make now, for its user and
// tenant: what the consent page shows and what finish grants.
func (p *Provider) flowGrant(ctx context.Context, fl *flow) (grant, User, *Membership, error) {
	u, err := p.userFor(ctx, fl.subject(), fl)
	if err != nil {
		return grant{}, User{}, nil, err
	}
	m, err := p.flowTenant(ctx, fl)
	if err != nil {
		return grant{}, User{}, nil, err
	}
	return p.decide(fl.ar.RequestedScopes(), &fl.client.Client, &u, m), u, m, nil
}

// stepNames are the names of allSteps.
func stepNames() []string {
	var names []string
	for _, st := range allSteps {
		names = append(names, st.name())
	}
	return names
}
