package provider

import (
	"context"
	"errors"
)

// ErrInvalidCredentials is what a [UserAuthenticator] returns for an
// unknown user or a wrong password. The provider shows the same message for
// both. Any other error means the user backend failed (the user sees a
// "try again later" page and the token endpoint answers 503).
var ErrInvalidCredentials = errors.New("provider: invalid username or password")

// ErrUserNotFound is what a [UserLookup] returns for a subject that no
// longer exists; tokens of that user then stop working at userinfo.
var ErrUserNotFound = errors.New("provider: user not found")

// User is an end user as the host knows it. Subject is required and must
// never be reused for another person; the other fields feed the claims of
// the scopes profile, email and groups.
type User struct {
	// Subject is the stable, unique user identifier (the sub claim).
	Subject string `json:"sub"`
	// Username is the login name (preferred_username and username claims).
	Username string `json:"username,omitempty"`
	// Name is the full name.
	Name string `json:"name,omitempty"`
	// GivenName and FamilyName are the name parts.
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	// Picture is a URL of the user's picture.
	Picture string `json:"picture,omitempty"`
	// Email and EmailVerified feed the email scope.
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	// Groups feed the groups and groupstring scopes.
	Groups []string `json:"groups,omitempty"`

	// Roles and Permissions are held in every tenant (or, for a host without
	// tenants, they are all there is). Permissions may be "prefix:*"
	// patterns or names from Config.Catalog; roles expand to permissions
	// through the catalog.
	Roles       []string `json:"roles,omitempty"`
	Permissions []string `json:"permissions,omitempty"`
	// Memberships are the user's tenants (customers), each with the roles
	// and permissions the user holds there.
	Memberships []Membership `json:"memberships,omitempty"`
}

// Tenant is a customer of a multi-tenant host. Its fields feed the
// customer scope's claims.
type Tenant struct {
	// ID is the tenant's stable identifier (customer_id); required.
	ID string `json:"customer_id"`
	// DomainID is the tenant's domain identifier (domain_id).
	DomainID string `json:"domain_id,omitempty"`
	// ShortName and Name are shown on the tenant page and become
	// customer_shortname and customer_name.
	ShortName string `json:"customer_shortname,omitempty"`
	Name      string `json:"customer_name,omitempty"`
}

// Membership is what a user holds in one tenant.
type Membership struct {
	Tenant Tenant `json:"tenant"`
	// Roles held in the tenant; they expand through Config.Catalog.
	Roles []string `json:"roles,omitempty"`
	// Permissions held in the tenant: permissions, patterns or catalog
	// names.
	Permissions []string `json:"permissions,omitempty"`
}

// UserAuthenticator checks a username and password. It must return
// [ErrInvalidCredentials] for an unknown user or a wrong password, and
// should take the same time in both cases.
type UserAuthenticator interface {
	Authenticate(ctx context.Context, username, password string) (User, error)
}

// UserAuthenticatorFunc adapts a function to [UserAuthenticator].
type UserAuthenticatorFunc func(ctx context.Context, username, password string) (User, error)

// Authenticate calls f.
func (f UserAuthenticatorFunc) Authenticate(ctx context.Context, username, password string) (User, error) {
	return f(ctx, username, password)
}

// UserLookup returns a user's current data by subject, or
// [ErrUserNotFound].
type UserLookup interface {
	LookupUser(ctx context.Context, subject string) (User, error)
}

// UserLookupFunc adapts a function to [UserLookup].
type UserLookupFunc func(ctx context.Context, subject string) (User, error)

// LookupUser calls f.
func (f UserLookupFunc) LookupUser(ctx context.Context, subject string) (User, error) {
	return f(ctx, subject)
}
