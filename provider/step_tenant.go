package provider

import (
	"context"
	"net/http"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
)

// tenantStep lets a user who may use the client through several tenants
// choose one. It is skipped for a client bound to a customer and for users
// with one eligible tenant or none.
type tenantStep struct{}

func (tenantStep) name() string { return "tenant" }

func (tenantStep) promptNoneError(*flow) error {
	return oauth.InteractionRequired.Hint("The user must choose a customer and prompt=none forbids asking.")
}

func (tenantStep) needed(ctx context.Context, p *Provider, fl *flow) (bool, error) {
	ms, err := p.flowTenants(ctx, fl)
	if err != nil {
		return false, err
	}
	return len(ms) > 1 && findMembership(ms, fl.chosenTenant()) == nil, nil
}

func (s tenantStep) show(w http.ResponseWriter, r *http.Request, p *Provider, fl *flow, m message) {
	ms, err := p.flowTenants(r.Context(), fl)
	if err != nil {
		p.renderError(w, r, http.StatusServiceUnavailable, "temporarily_unavailable", msg(msgErrorUnavailable))
		return
	}
	var ts []Tenant
	for _, m := range ms {
		ts = append(ts, m.Tenant)
	}
	status := http.StatusOK
	if !m.none() {
		status = http.StatusBadRequest
	}
	pd := p.stepPage(r, fl, s, msgTenantTitle, m)
	pd.setUser(fl.user, fl.subject())
	pd.Tenants = ts
	p.render(w, status, "tenant", pd)
}

func (tenantStep) submit(_ http.ResponseWriter, r *http.Request, p *Provider, fl *flow) (bool, message, error) {
	ms, err := p.flowTenants(r.Context(), fl)
	if err != nil {
		return false, message{}, err
	}
	id := r.PostForm.Get("tenant")
	if findMembership(ms, id) == nil {
		return false, msg(msgTenantChoose), nil
	}
	fl.chooseTenant(id)
	return true, message{}, nil
}
