package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/provider/internal/apikey"
	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/storage"
)

// API keys let scripts in without a browser: a key belongs to a user or to
// an application user, and a script presents it in the X-API-Key header,
// at the token endpoint with a client that accepts API keys
// ([storage.Client.AcceptsAPIKeys]), or directly to a resource server that
// opts in ([Requirement.APIKeyClient]). This file is the Go API that makes
// and manages keys; apikey_use.go checks them when they are used.

// ErrAPIKeysUnsupported is returned by the API key methods when
// Config.Store does not implement [storage.APIKeyStore], and by the
// application user methods when it does not implement
// [storage.ApplicationUserStore]. The memory and PostgreSQL stores
// implement both.
var ErrAPIKeysUnsupported = errors.New("provider: the store keeps no API keys or application users (it does not implement storage.APIKeyStore and storage.ApplicationUserStore)")

// ErrInvalidAPIKey is wrapped by every [*APIKeyError]: the error of
// [Provider.CreateAPIKey] and [Provider.RotateAPIKey] for fields that are
// not valid.
var ErrInvalidAPIKey = errors.New("provider: invalid API key")

// ErrAPIKeyRotatedConcurrently is returned by [Provider.RotateAPIKey] when
// another rotation of the same key committed between this one's read and
// its write: the key's secret is the one that rotation returned, and this
// call changed nothing. Of concurrent rotations exactly one returns the
// key's new secret; get the key and rotate again to hold one yourself.
var ErrAPIKeyRotatedConcurrently = errors.New("provider: the API key was rotated by a concurrent request; its new secret went to that request")

// APIKeyError reports one invalid field of an API key.
type APIKeyError struct {
	// KeyID is the key's ID ("" for a key not made yet).
	KeyID string
	// Field is the [storage.APIKey] field at fault, such as "IPRanges";
	// "ExpiresAt" for the [SecretExpiresAt] option.
	Field string
	// Reason says what is wrong and what to do about it.
	Reason string
}

// Error implements error.
func (e *APIKeyError) Error() string {
	return fmt.Sprintf("%v %q: %s: %s", ErrInvalidAPIKey, e.KeyID, e.Field, e.Reason)
}

// Unwrap returns [ErrInvalidAPIKey].
func (e *APIKeyError) Unwrap() error { return ErrInvalidAPIKey }

// keyErrs collects the [APIKeyError]s of one key.
type keyErrs struct {
	id   string
	errs []error
}

func (e *keyErrs) add(field, format string, args ...any) {
	e.errs = append(e.errs, &APIKeyError{KeyID: e.id, Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (e *keyErrs) err() error { return errors.Join(e.errs...) }

// Limits on the fields of keys and application users.
const (
	maxNameLen     = 200
	maxIDLen       = 128
	maxListEntries = 64
)

// keyStoreOrErr returns the key store, or ErrAPIKeysUnsupported.
func (p *Provider) keyStoreOrErr() (storage.APIKeyStore, error) {
	if p.keyStore == nil {
		return nil, ErrAPIKeysUnsupported
	}
	return p.keyStore, nil
}

// CreateAPIKey makes a new API key for k.Owner and returns it as stored
// (without its hash) and the key itself, "gatehouse_ak_<id>_<secret>",
// which is shown this once: only a keyed hash of it is stored. The caller
// sets OwnerType and Owner (a user's subject, or an application user's
// ID), and may set Name, Tenant, PermissionScope, IPRanges and
// ForwardedForRanges; the ID, secret and times are made here (k.ID, Hash,
// CreatedAt, RotatedAt and LastUsedAt are ignored). The key expires after
// Config.APIKeyLifetime, or when [SecretExpiresAt] says (the zero time:
// never).
//
// A user's key needs Config.UserLookup (or an Authenticator that
// implements [UserLookup]): the user must exist, and a Tenant must be one
// of the user's; a user of several tenants must name one. An application
// user's key acts in the application user's tenant (Tenant must be empty
// or the same). Every invalid field is reported at once, as a join of
// [*APIKeyError]s.
//
// It emits the audit event apikey.created.
func (p *Provider) CreateAPIKey(ctx context.Context, k storage.APIKey, opts ...SecretOption) (storage.APIKey, string, error) {
	ks, err := p.keyStoreOrErr()
	if err != nil {
		return storage.APIKey{}, "", err
	}
	k, err = p.prepareAPIKey(ctx, k, opts)
	if err != nil {
		return storage.APIKey{}, "", err
	}
	secret := apikey.NewSecret()
	k.Hash = p.keyHasher.Hash(k.ID, secret)
	if err := ks.CreateAPIKey(ctx, k); err != nil {
		return storage.APIKey{}, "", fmt.Errorf("provider: create API key of %s %q: %w", k.OwnerType, k.Owner, err)
	}
	if err := p.keyEvent(ctx, nil, AuditAPIKeyCreated, k.ID, k.Owner, map[string]string{
		"owner_type": string(k.OwnerType), "name": k.Name, "tenant": k.Tenant, "expires_at": timeText(k.ExpiresAt),
	}); err != nil {
		return storage.APIKey{}, "", err
	}
	return withoutKeyHash(k), apikey.Format(k.ID, secret), nil
}

// prepareAPIKey checks a new key (every invalid field at once, as a join
// of *APIKeyErrors; a backend failure as it is) and returns it with its
// ID, tenant and times set.
func (p *Provider) prepareAPIKey(ctx context.Context, k storage.APIKey, opts []SecretOption) (storage.APIKey, error) {
	now := p.clientTime()
	k.ID = apikey.NewID()
	e := keyErrs{id: k.ID}
	checkKeyFields(&e, k)
	if err := p.checkKeyOwner(ctx, &e, &k); err != nil {
		return storage.APIKey{}, err
	}
	expires, err := p.keyExpiry(k.ID, now, opts)
	if err != nil {
		e.errs = append(e.errs, err)
	}
	if err := e.err(); err != nil {
		return storage.APIKey{}, err
	}
	k.ExpiresAt, k.CreatedAt, k.RotatedAt, k.LastUsedAt = expires, now, time.Time{}, time.Time{}
	return k, nil
}

// checkKeyFields checks the fields of a new key that need no lookup.
func checkKeyFields(e *keyErrs, k storage.APIKey) {
	if msg := checkText(k.Name, maxNameLen); msg != "" {
		e.add("Name", "%s", msg)
	}
	if strings.ContainsFunc(k.Tenant, unicode.IsSpace) || len(k.Tenant) > maxIDLen {
		e.add("Tenant", "must be one tenant ID of at most %d bytes, got %q", maxIDLen, k.Tenant)
	}
	if len(k.PermissionScope) > maxListEntries {
		e.add("PermissionScope", "has %d entries, at most %d allowed", len(k.PermissionScope), maxListEntries)
	}
	for _, s := range k.PermissionScope {
		if err := scope.Check(s); err != nil {
			e.add("PermissionScope", "%v", err)
		}
	}
	for _, f := range []struct {
		name   string
		ranges []string
	}{{"IPRanges", k.IPRanges}, {"ForwardedForRanges", k.ForwardedForRanges}} {
		if len(f.ranges) > maxListEntries {
			e.add(f.name, "has %d entries, at most %d allowed", len(f.ranges), maxListEntries)
		}
		if _, err := ipfilter.Parse(f.ranges); err != nil {
			e.add(f.name, "%v", err)
		}
	}
}

// checkText reports what is wrong with a name or description, or "".
func checkText(s string, maxLen int) string {
	switch {
	case len(s) > maxLen:
		return fmt.Sprintf("must be at most %d bytes, got %d", maxLen, len(s))
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		return "must be UTF-8 text without control characters"
	}
	return ""
}

// checkKeyOwner checks a new key's owner (and, for an application user's
// key, fills its tenant). Invalid fields go to e; a backend failure is
// returned.
func (p *Provider) checkKeyOwner(ctx context.Context, e *keyErrs, k *storage.APIKey) error {
	switch k.OwnerType {
	case storage.PrincipalUser:
		if k.Owner == "" {
			e.add("Owner", "is required: the subject of the user the key acts as")
			return nil
		}
		if p.lookup == nil {
			e.add("Owner", "a user's API key needs Config.UserLookup (or an Authenticator that implements UserLookup), to know the user's permissions when the key is used")
			return nil
		}
		u, err := p.lookup.LookupUser(ctx, k.Owner)
		switch {
		case errors.Is(err, ErrUserNotFound):
			e.add("Owner", "there is no user %q", k.Owner)
			return nil
		case err != nil:
			return fmt.Errorf("%w: lookup user: %w", ErrUnavailable, err)
		}
		if k.Tenant != "" && findMembership(u.Memberships, k.Tenant) == nil {
			e.add("Tenant", "%q is not a tenant of the user %q", k.Tenant, k.Owner)
		}
		if k.Tenant == "" && len(u.Memberships) > 1 {
			e.add("Tenant", "is required: the user %q belongs to several tenants, and a key acts in one", k.Owner)
		}
		if k.RequireMFA && len(p.cfg.Factors) == 0 {
			e.add("RequireMFA", "Config.Factors has no second factor, so a key that requires its owner's could never be used")
		}
	case storage.PrincipalApplication:
		if k.RequireMFA {
			e.add("RequireMFA", "an application user has no second factor to enforce; only a user's key can require one")
		}
		if p.appStore == nil {
			e.add("OwnerType", "the store keeps no application users")
			return nil
		}
		app, err := p.appStore.GetApplicationUser(ctx, k.Owner)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			e.add("Owner", "there is no application user %q", k.Owner)
			return nil
		case err != nil:
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		switch {
		case k.Tenant == "":
			k.Tenant = app.Tenant
		case k.Tenant != app.Tenant:
			e.add("Tenant", "must be the application user's tenant %q (or empty)", app.Tenant)
		}
	default:
		e.add("OwnerType", "must be %q or %q, got %q", storage.PrincipalUser, storage.PrincipalApplication, k.OwnerType)
	}
	return nil
}

// keyExpiry returns when a key made at now expires under opts: the zero
// time for never.
func (p *Provider) keyExpiry(id string, now time.Time, opts []SecretOption) (time.Time, error) {
	o := newSecretOptions(opts)
	if o.expiresAt == nil {
		if p.cfg.APIKeyLifetime < 0 {
			return time.Time{}, nil
		}
		return now.Add(p.cfg.APIKeyLifetime), nil
	}
	t := o.expiresAt.UTC().Truncate(time.Microsecond)
	if !t.IsZero() && !t.After(now) {
		return time.Time{}, &APIKeyError{KeyID: id, Field: "ExpiresAt",
			Reason: fmt.Sprintf("must be in the future, or zero for a key that never expires; got %s", t.Format(time.RFC3339))}
	}
	return t, nil
}

// withoutKeyHash returns k without its hash, as the provider shows keys.
func withoutKeyHash(k storage.APIKey) storage.APIKey {
	k.Hash = ""
	return k
}

// GetAPIKey returns the key (without its hash), or an error wrapping
// [storage.ErrNotFound]. It emits the audit event apikey.read.
func (p *Provider) GetAPIKey(ctx context.Context, id string) (storage.APIKey, error) {
	ks, err := p.keyStoreOrErr()
	if err != nil {
		return storage.APIKey{}, err
	}
	k, err := ks.GetAPIKey(ctx, id)
	if err != nil {
		return storage.APIKey{}, fmt.Errorf("provider: get API key %q: %w", id, err)
	}
	if err := p.keyEvent(ctx, nil, AuditAPIKeyRead, k.ID, k.Owner, map[string]string{"owner_type": string(k.OwnerType)}); err != nil {
		return storage.APIKey{}, err
	}
	return withoutKeyHash(k), nil
}

// FindAPIKeys returns the keys q selects (by owner, a page at a time; see
// [storage.APIKeyQuery]), ordered by ID, without their hashes. It emits
// the audit event apikey.read, once for the listing.
func (p *Provider) FindAPIKeys(ctx context.Context, q storage.APIKeyQuery) ([]storage.APIKey, error) {
	ks, err := p.keyStoreOrErr()
	if err != nil {
		return nil, err
	}
	found, err := ks.FindAPIKeys(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("provider: find API keys: %w", err)
	}
	for i := range found {
		found[i] = withoutKeyHash(found[i])
	}
	if err := p.keyEvent(ctx, nil, AuditAPIKeyRead, "", q.Owner, map[string]string{"owner_type": string(q.OwnerType), "listed": fmt.Sprint(len(found))}); err != nil {
		return nil, err
	}
	return found, nil
}

// RotateAPIKey gives the key a new secret and returns the key as stored
// and the new key string, shown this once. The old secret stops working
// at once, and every token obtained with it is revoked. The new secret
// expires after Config.APIKeyLifetime, or when [SecretExpiresAt] says.
//
// Of concurrent rotations of one key exactly one wins; each other returns
// [ErrAPIKeyRotatedConcurrently] and changes nothing, so a caller that
// gets a key string holds the key's one valid secret until the next
// rotation. An unknown key is an error wrapping [storage.ErrNotFound]. It
// emits the audit event apikey.rotated.
func (p *Provider) RotateAPIKey(ctx context.Context, id string, opts ...SecretOption) (storage.APIKey, string, error) {
	ks, err := p.keyStoreOrErr()
	if err != nil {
		return storage.APIKey{}, "", err
	}
	read, err := ks.GetAPIKey(ctx, id)
	if err == nil && apikey.IsRetired(read.Hash) {
		err = storage.ErrNotFound // being deleted
	}
	if err != nil {
		return storage.APIKey{}, "", fmt.Errorf("provider: rotate API key %q: %w", id, err)
	}
	now := p.clientTime()
	expires, err := p.keyExpiry(id, now, opts)
	if err != nil {
		return storage.APIKey{}, "", err
	}
	secret := apikey.NewSecret()
	hash := p.keyHasher.Hash(id, secret)
	var rotated storage.APIKey
	err = ks.UpdateAPIKey(ctx, id, func(k storage.APIKey) (storage.APIKey, error) {
		if apikey.IsRetired(k.Hash) {
			return k, storage.ErrNotFound // deleted meanwhile
		}
		if k.Hash != read.Hash {
			return k, ErrAPIKeyRotatedConcurrently
		}
		k.Hash, k.RotatedAt, k.ExpiresAt = hash, now, expires
		rotated = k
		return k, nil
	})
	if errors.Is(err, ErrAPIKeyRotatedConcurrently) {
		return storage.APIKey{}, "", err
	}
	if err != nil {
		return storage.APIKey{}, "", fmt.Errorf("provider: rotate API key %q: %w", id, err)
	}
	p.endKeyGrants(ctx, read)
	if err := p.keyEvent(ctx, nil, AuditAPIKeyRotated, id, read.Owner, map[string]string{"owner_type": string(read.OwnerType), "expires_at": timeText(expires)}); err != nil {
		return storage.APIKey{}, "", err
	}
	return withoutKeyHash(rotated), apikey.Format(id, secret), nil
}

// DeleteAPIKey deletes the key; it stops working at once, and every token
// obtained with it is revoked. An unknown key is an error wrapping
// [storage.ErrNotFound]. It emits the audit event apikey.deleted.
func (p *Provider) DeleteAPIKey(ctx context.Context, id string) error {
	return p.deleteKey(ctx, id, func(storage.APIKey) bool { return true }, nil)
}

// deleteKey deletes key id if may allows it (else it is not found), ends
// its grants and emits apikey.deleted with detail.
func (p *Provider) deleteKey(ctx context.Context, id string, may func(storage.APIKey) bool, detail map[string]string) error {
	ks, err := p.keyStoreOrErr()
	if err != nil {
		return err
	}
	k, err := retireKey(ctx, ks, id, may)
	if err == nil {
		err = ks.DeleteAPIKey(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("provider: delete API key %q: %w", id, err)
	}
	p.endKeyGrants(ctx, k)
	d := map[string]string{"owner_type": string(k.OwnerType)}
	maps.Copy(d, detail)
	return p.keyEvent(ctx, nil, AuditAPIKeyDeleted, id, k.Owner, d)
}

// retireKey makes key id unusable before it is deleted, in one atomic
// update, if may allows it (else it is not found), and returns the key as
// it was: from then on no secret verifies and no rotation gives it a new
// one, so the generation returned is its last, and ending its grants ends
// them all. (Reading the key and then deleting it would let a rotation in
// between mint a secret whose tokens outlive the key.)
func retireKey(ctx context.Context, ks storage.APIKeyStore, id string, may func(storage.APIKey) bool) (storage.APIKey, error) {
	var last storage.APIKey
	err := ks.UpdateAPIKey(ctx, id, func(cur storage.APIKey) (storage.APIKey, error) {
		if may != nil && !may(cur) {
			return cur, storage.ErrNotFound
		}
		last = cur
		cur.Hash = apikey.Retire(cur.Hash)
		return cur, nil
	})
	return last, err
}

// APIKeysOf returns the keys of the user subject, without their hashes,
// ordered by ID: for an account page where users see their own keys.
// Unlike [Provider.FindAPIKeys] it emits no audit event (a user reading
// their own keys is not an administrator's read).
func (p *Provider) APIKeysOf(ctx context.Context, subject string) ([]storage.APIKey, error) {
	ks, err := p.keyStoreOrErr()
	if err != nil {
		return nil, err
	}
	if subject == "" {
		return []storage.APIKey{}, nil
	}
	found, err := ks.FindAPIKeys(ctx, storage.APIKeyQuery{OwnerType: storage.PrincipalUser, Owner: subject})
	if err != nil {
		return nil, fmt.Errorf("provider: API keys of %q: %w", subject, err)
	}
	for i := range found {
		found[i] = withoutKeyHash(found[i])
	}
	return found, nil
}

// RevokeOwnAPIKey deletes the key id if it belongs to the user subject,
// as [Provider.DeleteAPIKey] does: for an account page where users revoke
// their own keys. A key of anyone else is answered exactly as an unknown
// one, with an error wrapping [storage.ErrNotFound], so that the page
// tells nothing of other users' keys. It emits the audit event
// apikey.deleted, with revoked_by "owner".
func (p *Provider) RevokeOwnAPIKey(ctx context.Context, subject, id string) error {
	return p.deleteKey(ctx, id, func(k storage.APIKey) bool {
		return subject != "" && k.OwnerType == storage.PrincipalUser && k.Owner == subject
	}, map[string]string{"revoked_by": "owner"})
}

// keyGrantSID is the storage.Request.LoginSID of the grants made with
// key k's current secret: revoking it (endKeyGrants) ends them, and a
// rotation gives the key's next grants another.
func keyGrantSID(k *storage.APIKey) string {
	return "apikey:" + k.ID + ":" + apikey.Generation(k.Hash)
}

// endKeyGrants revokes every token obtained with k's secret as it was,
// and any still being issued with it (RevokeLoginGrants records the SID
// as ended). A failure is logged: the key itself is already gone or
// rotated, and its tokens expire.
func (p *Provider) endKeyGrants(ctx context.Context, k storage.APIKey) {
	p.endGrants(ctx, keyGrantSID(&k), "API key "+k.ID)
}

// endGrants revokes the grants whose LoginSID is sid.
func (p *Provider) endGrants(ctx context.Context, sid, what string) {
	if err := p.engine.Deny(ctx, storage.DenySignIn, oauth.SignInDenyKey(sid), time.Time{}); err != nil {
		p.cfg.Logger.LogAttrs(ctx, slog.LevelError, "deny the stateless tokens of "+what, slog.String("error", err.Error()))
	}
	if err := p.store.RevokeLoginGrants(ctx, sid, p.cfg.Now().Add(endedSignInMemory)); err != nil {
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "revoke the tokens of "+what, slog.String("error", err.Error()))
	}
}

// keyEvent records an audit event about an API key or an application
// user: typ is one of the AuditAPIKey* and AuditAppUser* types; keyID the
// key's ID ("" for an application user's event and for a listing); owner
// the key's owner or the application user's ID, the event's Subject; r the
// request that presented a key (apikey.refused), nil for the Go API.
// facts is what else the event says (its "client_id" the event's
// ClientID, the others its details); it never holds a key or a secret.
//
// A refusal is recorded in the background, like the token endpoint's
// other events, with the presenting client as actor. The Go API's events
// are administration: written before the call returns, with the actor ctx
// names ([WithActor]; the admin API names its administrator), and an error
// that says the change was made but not recorded if they cannot be.
func (p *Provider) keyEvent(ctx context.Context, r *http.Request, typ, keyID, owner string, facts map[string]string) error {
	e := storage.AuditEvent{Type: typ, Subject: owner}
	switch {
	case keyID != "":
		e.Target = "apikey:" + keyID
		e.Details = append(e.Details, detail("key_id", keyID))
	case strings.HasPrefix(typ, "appuser."):
		e.Target = "appuser:" + owner
	case owner != "":
		e.Target = "apikeys:" + owner
	}
	for k, v := range facts {
		switch {
		case k == "client_id":
			e.ClientID = v
		case v != "":
			e.Details = append(e.Details, detail(k, v))
		}
	}
	if r != nil {
		e.Actor = clientActor(e.ClientID)
		if addr, err := p.clientAddr(r); err == nil {
			e.ClientAddr = addr.String()
		}
		p.audit(ctx, e)
		return nil
	}
	if err := p.auditNow(ctx, e); err != nil {
		return fmt.Errorf("provider: %s was done but not recorded: %w", typ, err)
	}
	return nil
}

// timeText is t in RFC 3339, or "never" for the zero time.
func timeText(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
