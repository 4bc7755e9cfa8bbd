package provider

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/storage"
)

// Application users are service principals kept in the store: they never
// sign in interactively (the login page and the password grant refuse
// them), and obtain tokens only through client credentials, by a client
// linked to them ([storage.Client.ApplicationUser]) or with one of their
// API keys. Their tokens carry their ID as sub and principal_type
// "application".

// ErrInvalidApplicationUser is wrapped by every [*ApplicationUserError].
var ErrInvalidApplicationUser = errors.New("provider: invalid application user")

// ApplicationUserError reports one invalid field of an application user.
type ApplicationUserError struct {
	// ID is the application user's ID.
	ID string
	// Field is the [storage.ApplicationUser] field at fault.
	Field string
	// Reason says what is wrong and what to do about it.
	Reason string
}

// Error implements error.
func (e *ApplicationUserError) Error() string {
	return fmt.Sprintf("%v %q: %s: %s", ErrInvalidApplicationUser, e.ID, e.Field, e.Reason)
}

// Unwrap returns [ErrInvalidApplicationUser].
func (e *ApplicationUserError) Unwrap() error { return ErrInvalidApplicationUser }

// maxDescriptionLen bounds an application user's description.
const maxDescriptionLen = 2000

// maxAppUserLifetime bounds an application user's access token lifetime,
// as a client's is bounded.
const maxAppUserLifetime = 24 * time.Hour

// appStoreOrErr returns the application user store, or
// ErrAPIKeysUnsupported.
func (p *Provider) appStoreOrErr() (storage.ApplicationUserStore, error) {
	if p.appStore == nil {
		return nil, ErrAPIKeysUnsupported
	}
	return p.appStore, nil
}

// CreateApplicationUser stores a new application user and returns it as
// stored. If u.ID is empty one is generated; it must be 1-128 characters
// of A-Z a-z 0-9 - . _ ~, must not be a client's ID and, when the host
// has a [UserLookup], must not be the subject of one of its users (all
// three can be the sub of tokens).
// Every invalid field is reported at once, as a join of
// [*ApplicationUserError]s. It emits the audit event appuser.created.
func (p *Provider) CreateApplicationUser(ctx context.Context, u storage.ApplicationUser) (storage.ApplicationUser, error) {
	us, err := p.appStoreOrErr()
	if err != nil {
		return storage.ApplicationUser{}, err
	}
	if u.ID == "" {
		u.ID = "app-" + strings.ToLower(secret.Token()[:16])
	}
	if err := p.checkAppUser(ctx, u, true); err != nil {
		return storage.ApplicationUser{}, err
	}
	now := p.clientTime()
	u.CreatedAt, u.UpdatedAt = now, now
	if err := us.CreateApplicationUser(ctx, u); err != nil {
		return storage.ApplicationUser{}, fmt.Errorf("provider: create application user %q: %w", u.ID, err)
	}
	if err := p.keyEvent(ctx, nil, AuditAppUserCreated, "", u.ID, appUserDetail(u)); err != nil {
		return storage.ApplicationUser{}, err
	}
	return u, nil
}

// appUserDetail is what an audit event says of u.
func appUserDetail(u storage.ApplicationUser) map[string]string {
	return map[string]string{
		"principal_type": string(storage.PrincipalApplication), "name": u.Name, "tenant": u.Tenant,
		"roles": strings.Join(u.Roles, " "), "permissions": strings.Join(u.Permissions, " "),
	}
}

// checkAppUser checks every field of u; isNew also checks that its ID is
// no user's subject. A backend failure is returned as it is.
func (p *Provider) checkAppUser(ctx context.Context, u storage.ApplicationUser, isNew bool) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ApplicationUserError{ID: u.ID, Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if !validID(u.ID) {
		bad("ID", "must be 1-%d characters of A-Z a-z 0-9 - . _ ~, got %q", maxIDLen, u.ID)
	} else if isNew && p.lookup != nil {
		_, err := p.lookup.LookupUser(ctx, u.ID)
		switch {
		case err == nil:
			bad("ID", "%q is the subject of a user, and tokens of both would carry it as sub; choose another ID", u.ID)
		case !errors.Is(err, ErrUserNotFound):
			return fmt.Errorf("%w: lookup user: %w", ErrUnavailable, err)
		}
	}
	if validID(u.ID) && isNew {
		_, err := p.store.GetClient(ctx, u.ID)
		switch {
		case err == nil:
			bad("ID", "%q is a client's ID, and a client's own JWT access tokens carry it as sub; choose another ID", u.ID)
		case !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	if msg := checkText(u.Name, maxNameLen); msg != "" {
		bad("Name", "%s", msg)
	}
	if msg := checkText(strings.NewReplacer("\n", " ", "\t", " ").Replace(u.Description), maxDescriptionLen); msg != "" { // lines and tabs allowed
		bad("Description", "%s", msg)
	}
	if strings.ContainsFunc(u.Tenant, unicode.IsSpace) || len(u.Tenant) > maxIDLen {
		bad("Tenant", "must be one tenant ID of at most %d bytes, got %q", maxIDLen, u.Tenant)
	}
	if len(u.Roles) > maxListEntries || len(u.Permissions) > maxListEntries {
		bad("Roles", "at most %d roles and %d permissions", maxListEntries, maxListEntries)
	}
	for _, r := range u.Roles {
		if r == "" || strings.ContainsFunc(r, unicode.IsSpace) || len(r) > maxIDLen {
			bad("Roles", "%q must be one role name", r)
		}
	}
	for _, s := range u.Permissions {
		if err := scope.Check(s); err != nil {
			bad("Permissions", "%v", err)
		}
	}
	switch {
	case u.AccessTokenLifetime < 0:
		bad("AccessTokenLifetime", "must not be negative (zero: the client's), got %v", u.AccessTokenLifetime)
	case u.AccessTokenLifetime > maxAppUserLifetime:
		bad("AccessTokenLifetime", "must be at most 24 hours, got %v", u.AccessTokenLifetime)
	}
	return errors.Join(errs...)
}

// validID reports whether id is 1-128 characters of A-Z a-z 0-9 - . _ ~.
func validID(id string) bool {
	return id != "" && len(id) <= maxIDLen && !strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
	})
}

// GetApplicationUser returns the application user, or an error wrapping
// [storage.ErrNotFound].
func (p *Provider) GetApplicationUser(ctx context.Context, id string) (storage.ApplicationUser, error) {
	us, err := p.appStoreOrErr()
	if err != nil {
		return storage.ApplicationUser{}, err
	}
	u, err := us.GetApplicationUser(ctx, id)
	if err != nil {
		return storage.ApplicationUser{}, fmt.Errorf("provider: get application user %q: %w", id, err)
	}
	return u, nil
}

// ListApplicationUsers returns every application user, ordered by ID.
func (p *Provider) ListApplicationUsers(ctx context.Context) ([]storage.ApplicationUser, error) {
	us, err := p.appStoreOrErr()
	if err != nil {
		return nil, err
	}
	all, err := us.ListApplicationUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("provider: list application users: %w", err)
	}
	return all, nil
}

// UpdateApplicationUser changes an application user atomically: update
// receives it as stored and returns the new version, which is checked as
// at creation (ID and CreatedAt cannot change); UpdatedAt is set to now.
// update may be called more than once, so it must only compute the new
// version from the one it gets; its error ends the update and is returned
// wrapped. Tokens already issued keep their scopes until they expire
// (application users' tokens have no refresh). It emits the audit event
// appuser.updated.
func (p *Provider) UpdateApplicationUser(ctx context.Context, id string, update func(storage.ApplicationUser) (storage.ApplicationUser, error)) (storage.ApplicationUser, error) {
	us, err := p.appStoreOrErr()
	if err != nil {
		return storage.ApplicationUser{}, err
	}
	var stored storage.ApplicationUser
	var invalid error
	err = us.UpdateApplicationUser(ctx, id, func(cur storage.ApplicationUser) (storage.ApplicationUser, error) {
		invalid = nil
		next, err := update(cur)
		if err != nil {
			return cur, err
		}
		var errs []error
		if next.ID != cur.ID {
			errs = append(errs, &ApplicationUserError{ID: cur.ID, Field: "ID", Reason: "cannot be changed; create a new application user and delete this one"})
		}
		if !next.CreatedAt.Equal(cur.CreatedAt) {
			errs = append(errs, &ApplicationUserError{ID: cur.ID, Field: "CreatedAt", Reason: "cannot be changed"})
		}
		next.ID = cur.ID
		if err := p.checkAppUser(ctx, next, false); err != nil {
			errs = append(errs, err)
		}
		if invalid = errors.Join(errs...); invalid != nil {
			return cur, invalid
		}
		next.UpdatedAt = p.clientTime()
		stored = next
		return next, nil
	})
	switch {
	case err != nil && invalid != nil && errors.Is(err, invalid):
		return storage.ApplicationUser{}, invalid
	case err != nil:
		return storage.ApplicationUser{}, fmt.Errorf("provider: update application user %q: %w", id, err)
	}
	if err := p.keyEvent(ctx, nil, AuditAppUserUpdated, "", id, appUserDetail(stored)); err != nil {
		return storage.ApplicationUser{}, err
	}
	return stored, nil
}

// DeleteApplicationUser deletes the application user and its API keys
// (one atomic step in the store), and revokes every token it holds: those
// of the clients linked to it and those obtained with its keys. Clients
// linked to it stay, and are refused at the token endpoint until they are
// linked to another or deleted. An unknown ID is an error wrapping
// [storage.ErrNotFound]. It emits appuser.deleted, and apikey.deleted for
// each of its keys.
func (p *Provider) DeleteApplicationUser(ctx context.Context, id string) error {
	us, err := p.appStoreOrErr()
	if err != nil {
		return err
	}
	u, err := us.GetApplicationUser(ctx, id)
	if err != nil {
		return fmt.Errorf("provider: delete application user %q: %w", id, err)
	}
	keys, err := us.FindAPIKeys(ctx, storage.APIKeyQuery{OwnerType: storage.PrincipalApplication, Owner: id})
	if err != nil {
		return fmt.Errorf("provider: delete application user %q: %w", id, err)
	}
	// Retire its keys first (retireKey), so that no rotation between the
	// listing and the deletion mints a secret whose tokens outlive them:
	// the generations kept here are their last.
	for i := range keys {
		last, err := retireKey(ctx, us, keys[i].ID, nil)
		switch {
		case err == nil:
			keys[i] = last
		case !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("provider: delete application user %q: retire API key %q: %w", id, keys[i].ID, err)
		}
	}
	if err := us.DeleteApplicationUser(ctx, id); err != nil {
		return fmt.Errorf("provider: delete application user %q: %w", id, err)
	}
	p.endGrants(ctx, appUserGrantSID(&u), "application user "+id)
	var errs []error
	for _, k := range keys {
		p.endKeyGrants(ctx, k)
		errs = append(errs, p.keyEvent(ctx, nil, AuditAPIKeyDeleted, k.ID, id, map[string]string{"owner_type": string(k.OwnerType), "reason": "application user deleted"}))
	}
	errs = append(errs, p.keyEvent(ctx, nil, AuditAppUserDeleted, "", id, map[string]string{"principal_type": string(storage.PrincipalApplication), "keys_deleted": strconv.Itoa(len(keys))}))
	return errors.Join(errs...)
}

// appUserGrantSID is the storage.Request.LoginSID of the grants of the
// clients linked to u: deleting u revokes it. It names this application
// user (by its ID and creation time), so that one made later with the
// same ID starts afresh.
func appUserGrantSID(u *storage.ApplicationUser) string {
	return "appuser:" + u.ID + ":" + digest(u.ID + "\x00" + strconv.FormatInt(u.CreatedAt.UnixNano(), 10))[:16]
}

// isApplicationUser reports whether subject is an application user's ID:
// such a subject never passes the login page or the password grant.
func (p *Provider) isApplicationUser(ctx context.Context, subject string) (bool, error) {
	if p.appStore == nil {
		return false, nil
	}
	_, err := p.appStore.GetApplicationUser(ctx, subject)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// appUserAsUser is the application user as the access rules see a user:
// its roles and permissions held in its tenant (or everywhere, without
// one).
func appUserAsUser(a storage.ApplicationUser) User {
	u := User{Subject: a.ID, Username: a.ID, Name: a.Name}
	if a.Tenant == "" {
		u.Roles, u.Permissions = a.Roles, a.Permissions
		return u
	}
	u.Memberships = []Membership{{Tenant: Tenant{ID: a.Tenant}, Roles: a.Roles, Permissions: a.Permissions}}
	return u
}
