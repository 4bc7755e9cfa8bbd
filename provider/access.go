package provider

import (
	"slices"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/storage"
)

// isPermission reports whether s is a permission rather than a claim scope
// (built in, or registered in Config.Claims).
func (p *Provider) isPermission(s string) bool {
	if slices.Contains(claimScopes, s) {
		return false
	}
	_, custom := p.cfg.Claims[s]
	return !custom
}

// clientScopeStrategy is fosite's check of a requested scope against the
// client's allowed scopes: exact, or covered by a "prefix:*" pattern.
func clientScopeStrategy(allowed []string, requested string) bool {
	return scope.Set(allowed).Covers(requested)
}

// eligibleTenants returns the memberships through which u may use client c:
// the one tenant a bound client allows, and only those where the required
// role holds. An empty result without error means the user may use the
// client without a tenant (no memberships, and none is needed). The error is
// access_denied with a description the user can act on.
func eligibleTenants(c *storage.Client, u User) ([]Membership, error) {
	ms := u.Memberships
	if c.Customer != "" {
		ms = nil
		for _, m := range u.Memberships {
			if m.Tenant.ID == c.Customer {
				ms = append(ms, m)
			}
		}
		if len(ms) == 0 {
			return nil, oauth.AccessDenied.Hint("This application is reserved for a customer organisation you are not a member of.")
		}
	}
	if c.RequiredRole == "" || slices.Contains(u.Roles, c.RequiredRole) {
		return ms, nil
	}
	var withRole []Membership
	for _, m := range ms {
		if slices.Contains(m.Roles, c.RequiredRole) {
			withRole = append(withRole, m)
		}
	}
	if len(withRole) == 0 {
		return nil, oauth.AccessDenied.Hintf("This application requires the role '%s', which your account does not hold.", c.RequiredRole)
	}
	return withRole, nil
}

// findMembership returns the membership of tenant id among ms, or nil.
func findMembership(ms []Membership, id string) *Membership {
	for i := range ms {
		if ms[i].Tenant.ID == id {
			return &ms[i]
		}
	}
	return nil
}

// userPermissions returns what u holds in tenant m (nil for no tenant):
// the user's own permissions and roles plus the membership's, expanded
// through the catalog.
func (p *Provider) userPermissions(u User, m *Membership) scope.Set {
	perms := slices.Clone(u.Permissions)
	roles := slices.Clone(u.Roles)
	if m != nil {
		perms = append(perms, m.Permissions...)
		roles = append(roles, m.Roles...)
	}
	set := p.cfg.Catalog.Expand(perms...)
	for _, r := range roles {
		// A role grants only what the catalog says it does; a role name is
		// never taken as a permission itself.
		if rs, ok := p.cfg.Catalog[r]; ok {
			set = set.Union(rs)
		}
	}
	return set
}

// clientBound is the client's permission scope, expanded; nil when the
// client sets none.
func (p *Provider) clientBound(c *storage.Client) scope.Set {
	if len(c.PermissionScope) == 0 {
		return nil
	}
	return p.cfg.Catalog.Expand(c.PermissionScope...)
}

// grant is what a session gets: the claim scopes requested (fosite has
// checked them against the client) and requested ∩ client ∩ user of the
// permissions.
type grant struct {
	Scopes  []string
	Dropped []scope.Dropped
}

// decide computes the grant for requested scopes. user nil means a
// client acting for itself (client credentials): only the client's bound
// applies.
func (p *Provider) decide(requested []string, c *storage.Client, user *User, m *Membership) grant {
	userSet := scope.Set{"*"}
	if user != nil {
		userSet = p.userPermissions(*user, m)
	}
	return p.decideWithin(requested, c, userSet)
}

// decideWithin is decide for a principal whose permissions are userSet.
func (p *Provider) decideWithin(requested []string, c *storage.Client, userSet scope.Set) grant {
	var out []string
	var perms []string
	for _, s := range requested {
		switch {
		case !p.isPermission(s):
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		case scope.Check(s) == nil:
			perms = append(perms, s)
		}
	}
	// Every member of perms passed scope.Check, so New cannot fail; were
	// it to, the nil set grants no permission (fails closed), where
	// MustNew would panic in the request.
	requestedSet, _ := scope.New(perms...)
	res := scope.Intersect(requestedSet, p.clientBound(c), userSet)
	return grant{Scopes: append(out, res.Granted...), Dropped: res.Dropped}
}

// recheck is the refresh-time check of a grant against the client and
// user as they are now: the user must still be allowed the client (role,
// customer binding, tenant membership) and still hold every permission
// granted. A refresh can never widen a grant, so nothing is added. The
// client's permission scope is not checked here: a grant it no longer
// covers is narrowed instead (see narrowToClient).
func (p *Provider) recheck(c *storage.Client, u User, sess *oauth.Session, granted []string) error {
	ms, err := eligibleTenants(c, u)
	if err != nil {
		return oauth.InvalidGrant.Hint("The user may no longer use this application: " + oauth.HintOf(err))
	}
	var m *Membership
	tenant := ""
	if sess.Tenant != nil {
		tenant = sess.Tenant.ID
	}
	switch {
	case c.Customer != "" && tenant != c.Customer:
		return oauth.InvalidGrant.Hint("The grant is not for the customer this application is bound to.")
	case tenant != "":
		if m = findMembership(ms, tenant); m == nil {
			return oauth.InvalidGrant.Hint("The user is no longer a member of the grant's customer, or no longer holds the required role there.")
		}
	case len(ms) > 0 && c.RequiredRole != "" && !slices.Contains(u.Roles, c.RequiredRole):
		return oauth.InvalidGrant.Hint("The grant was made without a customer, but the application's role is now held only in customers.")
	}
	bound := p.userPermissions(u, m)
	for _, s := range granted {
		if p.isPermission(s) && !bound.Covers(s) {
			return oauth.InvalidGrant.Hintf("The permission '%s' is no longer held; authorize again.", s)
		}
	}
	if c.RequireMFA && !hasSecondFactor(sess.AMR()) {
		return oauth.InvalidGrant.Hint("This application now requires multi-factor authentication; authorize again.")
	}
	return nil
}

// narrowToClient returns the scopes of granted that the client's
// permission scope, as it is now, still covers: claim scopes and covered
// permissions, in order. dropped is true if it left any out. A refresh
// narrows its grant to these, so that an administrator's narrowing of a
// client's permission scope reaches existing grants at their next refresh
// without ending them.
func (p *Provider) narrowToClient(c *storage.Client, granted []string) (kept []string, dropped bool) {
	cb := p.clientBound(c)
	if cb == nil {
		return granted, false
	}
	kept = make([]string, 0, len(granted))
	for _, s := range granted {
		if p.isPermission(s) && !cb.Covers(s) {
			dropped = true
			continue
		}
		kept = append(kept, s)
	}
	return kept, dropped
}

// hasSecondFactor reports whether amr names a method beyond the password.
func hasSecondFactor(amr []string) bool {
	for _, m := range amr {
		if m != "pwd" {
			return true
		}
	}
	return false
}

// acrFor is the authentication context class of amr: "2" with a second
// factor, "1" with a password alone.
func acrFor(amr []string) string {
	if hasSecondFactor(amr) {
		return "2"
	}
	return "1"
}

// sessionTenant converts a membership's tenant for the session.
func sessionTenant(m *Membership) *oauth.Tenant {
	if m == nil {
		return nil
	}
	t := m.Tenant
	return &oauth.Tenant{ID: t.ID, DomainID: t.DomainID, ShortName: t.ShortName, Name: t.Name}
}

// tenantOf converts a session's tenant back.
func tenantOf(t *oauth.Tenant) *Tenant {
	if t == nil {
		return nil
	}
	return &Tenant{ID: t.ID, DomainID: t.DomainID, ShortName: t.ShortName, Name: t.Name}
}
