package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/storage"
)

// ErrInvalidClient is wrapped by every error that [Provider.CreateClient],
// [Provider.CreateClientWithSecret], [Provider.UpdateClient] and
// [Provider.RotateClientSecret] return for a client that is not valid:
// each [*ClientError] unwraps to it.
var ErrInvalidClient = errors.New("provider: invalid client")

// ClientError reports one invalid field of a client. Registration and
// update report every invalid field at once, as an [errors.Join] of
// ClientErrors: errors.Is(err, ErrInvalidClient) holds, errors.As finds the
// first, and the join's Unwrap() []error lists them all (for an admin API
// that answers field by field).
type ClientError struct {
	// ClientID is the client's ID.
	ClientID string
	// Field is the [storage.Client] field at fault, such as "GrantTypes"
	// or "RedirectURIs"; "secret" for the secret given to
	// [Provider.CreateClientWithSecret].
	Field string
	// Reason says what is wrong and what to do about it.
	Reason string
}

// Error implements error.
func (e *ClientError) Error() string {
	return fmt.Sprintf("%v %q: %s: %s", ErrInvalidClient, e.ClientID, e.Field, e.Reason)
}

// Unwrap returns [ErrInvalidClient].
func (e *ClientError) Unwrap() error { return ErrInvalidClient }

// clientErrs collects the [ClientError]s of one client.
type clientErrs struct {
	id   string
	errs []error
}

func (e *clientErrs) add(field, format string, args ...any) {
	e.errs = append(e.errs, &ClientError{ClientID: e.id, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// err is the join of the errors, or nil.
func (e *clientErrs) err() error { return errors.Join(e.errs...) }

// CreateClient registers c and returns it as stored (without secret
// hashes; see [Provider.GetClient]) and its secret. If c.ID is empty an ID
// is generated. A confidential client using a secret gets a new 256-bit
// secret from crypto/rand, returned here once and stored only as a hash;
// c.Secrets is ignored. Public and private_key_jwt clients get no secret
// ("").
//
// Defaults: GrantTypes ["authorization_code"]; ResponseTypes derived from
// the grants; TokenEndpointAuthMethod client_secret_basic (none for public
// clients). The implicit and password grants are granted only when listed
// explicitly, never to public clients (password), and only when
// Config.AllowLegacyGrants is set. refresh_token needs a grant that issues
// refresh tokens (authorization_code, or password).
//
// Redirect URIs and post-logout redirect URIs are matched exactly and must
// be absolute https URLs, http only on a loopback host (RFC 8252 §7.3), in
// normal form, without fragment or wildcard host. A public client (a
// native app) may also register a private-use scheme named after a reverse
// domain name, as "com.example.app:/oauth2redirect" (RFC 8252 §7.1); a
// request whose code goes to such a URI always shows the consent page and
// is never answered under prompt=none, since any app on the device could
// claim the scheme (RFC 8252 §8.6). Schemes such as javascript:, data: or
// file: are refused for every client.
//
// The secret expires after Config.ClientSecretLifetime, or when
// [SecretExpiresAt] says.
//
// A client with AcceptsAPIKeys (scripts present API keys to it) must be
// public with the client_credentials grant alone, and cannot require MFA;
// one with ApplicationUser must be confidential with the
// client_credentials grant alone, and that application user must exist.
//
// Every invalid field is reported at once, as a join of [*ClientError]s.
//
// The registration is recorded in the audit trail (client.created, with the actor of
// [WithActor]) before CreateClient returns; if the event cannot be written, the
// call fails with an error wrapping [ErrUnavailable] and, on a store that
// is a [storage.Transactor], nothing is changed (docs/audit.md).
func (p *Provider) CreateClient(ctx context.Context, c storage.Client, opts ...SecretOption) (storage.Client, string, error) {
	c, expires, err := p.prepareClientWithSecret(c, opts)
	if err != nil {
		return storage.Client{}, "", err
	}
	if err := p.checkLinkedUser(ctx, c); err != nil {
		return storage.Client{}, "", err
	}
	var plain string
	if usesSecret(c) {
		var hash string
		plain, hash = secret.Generate()
		c.Secrets = []storage.SecretHash{{Hash: hash, CreatedAt: c.CreatedAt, ExpiresAt: expires}}
	}
	if err := p.createClient(ctx, c); err != nil {
		return storage.Client{}, "", err
	}
	return withoutSecretHashes(c), plain, nil
}

// createClient stores a registration and records it (client.created).
func (p *Provider) createClient(ctx context.Context, c storage.Client) error {
	return p.auditChange(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		if err := p.store.CreateClient(ctx, c); err != nil {
			return storage.AuditEvent{}, fmt.Errorf("provider: create client %q: %w", c.ID, err)
		}
		return clientEvent(AuditClientCreated, c.ID, details(
			"grant_types", strings.Join(c.GrantTypes, " "),
			"token_endpoint_auth_method", c.TokenEndpointAuthMethod,
		)), nil
	})
}

// clientEvent is the event of an administrator's action on client id.
func clientEvent(typ, id string, details []storage.AuditDetail) storage.AuditEvent {
	return storage.AuditEvent{Type: typ, Target: "client:" + id, ClientID: id, Details: details}
}

// CreateClientWithSecret registers a confidential client with a secret the
// host chose (for example a fixed demo secret), and returns it as stored,
// without the secret's hash. The secret is hashed with bcrypt, because its
// entropy is unknown; it must be 12 to 72 bytes. Prefer
// [Provider.CreateClient], whose generated secrets are both stronger and
// cheaper to verify. The secret expires as [Provider.CreateClient]'s does.
//
// The registration is recorded in the audit trail (client.created, with the actor of
// [WithActor]) before CreateClientWithSecret returns; if the event cannot be written, the
// call fails with an error wrapping [ErrUnavailable] and, on a store that
// is a [storage.Transactor], nothing is changed (docs/audit.md).
func (p *Provider) CreateClientWithSecret(ctx context.Context, c storage.Client, plain string, opts ...SecretOption) (storage.Client, error) {
	c, expires, err := p.prepareClientWithSecret(c, opts)
	if err != nil {
		return storage.Client{}, err
	}
	if !usesSecret(c) {
		return storage.Client{}, errNoSecret(c.ID)
	}
	if err := p.checkLinkedUser(ctx, c); err != nil {
		return storage.Client{}, err
	}
	hash, err := secret.HashSupplied(plain)
	if err != nil {
		return storage.Client{}, &ClientError{ClientID: c.ID, Field: "secret", Reason: strings.TrimPrefix(err.Error(), "secret: ")}
	}
	c.Secrets = []storage.SecretHash{{Hash: hash, CreatedAt: c.CreatedAt, ExpiresAt: expires}}
	if err := p.createClient(ctx, c); err != nil {
		return storage.Client{}, err
	}
	return withoutSecretHashes(c), nil
}

// errNoSecret is the error for a secret given to a client that does not
// authenticate with one.
func errNoSecret(id string) error {
	return &ClientError{ClientID: id, Field: "TokenEndpointAuthMethod",
		Reason: "the client does not authenticate with a secret (it is public or uses private_key_jwt), so it cannot be given one"}
}

// GetClient returns the client, or an error wrapping [storage.ErrNotFound].
//
// Its Secrets carry each secret's CreatedAt and ExpiresAt but never the
// hash (Hash is ""): enough for an admin page to show when the secrets were
// made and when rotated ones stop working, and nothing that could be
// cracked offline (a host-chosen secret's hash is bcrypt, whose strength
// is the secret's). The hashes stay in the store; change the secrets with
// [Provider.RotateClientSecret].
//
// The read is recorded in the audit trail (client.read) before the client
// is returned; if it cannot be, the call fails with an error wrapping
// [ErrUnavailable].
func (p *Provider) GetClient(ctx context.Context, id string) (storage.Client, error) {
	c, err := p.getClient(ctx, id)
	if err != nil {
		return storage.Client{}, err
	}
	if err := p.auditNow(ctx, clientEvent(AuditClientRead, id, nil)); err != nil {
		return storage.Client{}, fmt.Errorf("provider: get client %q: %w", id, err)
	}
	return c, nil
}

// getClient is GetClient without the audit trail, for the provider's own
// reads.
func (p *Provider) getClient(ctx context.Context, id string) (storage.Client, error) {
	c, err := p.store.GetClient(ctx, id)
	if err != nil {
		return storage.Client{}, fmt.Errorf("provider: get client %q: %w", id, err)
	}
	return withoutSecretHashes(c), nil
}

// auditListed records a listing of clients (client.listed).
func (p *Provider) auditListed(ctx context.Context, q storage.ClientQuery, n int) error {
	d := details("count", strconv.Itoa(n), "customer", q.Customer)
	if !q.SecretExpiresBefore.IsZero() {
		d = append(d, detail("secret_expires_before", q.SecretExpiresBefore.UTC().Format(time.RFC3339)))
	}
	if err := p.auditNow(ctx, storage.AuditEvent{Type: AuditClientListed, Details: d}); err != nil {
		return fmt.Errorf("provider: list clients: %w", err)
	}
	return nil
}

// FindClients returns the clients q selects (by customer, by the expiry of
// their newest secret, a page at a time; see [storage.ClientQuery]),
// ordered by ID, with secrets' metadata but not their hashes, as
// [Provider.GetClient] does.
//
// The listing is recorded in the audit trail (client.listed) before the
// clients are returned; if it cannot be, the call fails with an error
// wrapping [ErrUnavailable].
func (p *Provider) FindClients(ctx context.Context, q storage.ClientQuery) ([]storage.Client, error) {
	found, err := p.store.FindClients(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("provider: find clients: %w", err)
	}
	for i := range found {
		found[i] = withoutSecretHashes(found[i])
	}
	if err := p.auditListed(ctx, q, len(found)); err != nil {
		return nil, err
	}
	return found, nil
}

// ListClients returns every client, ordered by ID, with secrets' metadata
// but not their hashes, as [Provider.GetClient] does.
//
// The listing is recorded in the audit trail (client.listed) before the
// clients are returned; if it cannot be, the call fails with an error
// wrapping [ErrUnavailable].
func (p *Provider) ListClients(ctx context.Context) ([]storage.Client, error) {
	all, err := p.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("provider: list clients: %w", err)
	}
	for i := range all {
		all[i] = withoutSecretHashes(all[i])
	}
	if err := p.auditListed(ctx, storage.ClientQuery{}, len(all)); err != nil {
		return nil, err
	}
	return all, nil
}

// UpdateClient changes a client atomically. update receives the client as
// stored, as [Provider.GetClient] returns it (secrets without their
// hashes), and returns the new version. That is checked as a registration
// is ([Provider.CreateClient]), defaults included, and every invalid field
// is reported at once as a join of [*ClientError]s; nothing is written
// then. ID, CreatedAt and Secrets cannot be changed (a *ClientError names
// the field): secrets change only through [Provider.RotateClientSecret].
// UpdatedAt is set to now, whatever update returns. A client that stops
// authenticating with a secret (made public, or switched to
// private_key_jwt) loses its secrets, so that they cannot come back later;
// one that starts has none until RotateClientSecret gives it one.
//
// update may be called more than once, if the store retries a conflicting
// write, so it must only compute the new version from the one it gets. An
// error it returns ends the update and is returned wrapped. A stored client
// that no longer passes the checks (for example one with the implicit
// grant, once Config.AllowLegacyGrants is off) must be corrected in the
// same update.
//
// It returns the client as stored, without secret hashes; an unknown id is
// an error wrapping [storage.ErrNotFound]. A client newly linked to an
// application user (ApplicationUser) needs that application user to exist:
// update is run once on the stored client first to learn which it is.
//
// The function form is for an admin API taking JSON merge patches
// (RFC 7396): the patch is applied inside update to the current version,
// so two concurrent patches of different fields both take effect, and an
// If-Match precondition can compare UpdatedAt there.
//
// The change is recorded in the audit trail (client.updated, naming the fields changed, with the actor of
// [WithActor]) before UpdateClient returns; if the event cannot be written, the
// call fails with an error wrapping [ErrUnavailable] and, on a store that
// is a [storage.Transactor], nothing is changed (docs/audit.md).
func (p *Provider) UpdateClient(ctx context.Context, id string, update func(storage.Client) (storage.Client, error)) (storage.Client, error) {
	if err := p.previewLinkedUser(ctx, id, update); err != nil {
		return storage.Client{}, err
	}
	var stored storage.Client
	err := p.auditChange(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		var before storage.Client
		var err error
		before, stored, err = p.updateClient(ctx, id, update)
		if err != nil {
			return storage.AuditEvent{}, err
		}
		return clientEvent(AuditClientUpdated, id, details("fields", strings.Join(changedFields(before, stored), " "))), nil
	})
	if err != nil {
		return storage.Client{}, err
	}
	return stored, nil
}

// changedFields returns the names of the fields of storage.Client whose
// values differ between a and b (which have no secret hashes), but for
// UpdatedAt, in the struct's order.
func changedFields(a, b storage.Client) []string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	var out []string
	for i := range va.NumField() {
		name := va.Type().Field(i).Name
		if name != "UpdatedAt" && !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			out = append(out, name)
		}
	}
	return out
}

// updateClient is UpdateClient without the audit trail: it returns the
// client as it was and as it is stored now, both without secret hashes.
func (p *Provider) updateClient(ctx context.Context, id string, update func(storage.Client) (storage.Client, error)) (before, after storage.Client, err error) {
	var stored storage.Client
	var invalid error
	err = p.store.UpdateClient(ctx, id, func(cur storage.Client) (storage.Client, error) {
		before = withoutSecretHashes(cur)
		shown := withoutSecretHashes(cur)
		next, err := update(withoutSecretHashes(cur)) // its own copy of Secrets, compared with shown
		if err != nil {
			invalid = nil
			return cur, err
		}
		next, invalid = p.checkUpdate(shown, next)
		if invalid != nil {
			return cur, invalid
		}
		next.Secrets = nil
		if usesSecret(next) {
			next.Secrets = cur.Secrets
		}
		stored = next
		return next, nil
	})
	switch {
	case err != nil && invalid != nil && errors.Is(err, invalid):
		return storage.Client{}, storage.Client{}, invalid
	case err != nil:
		return storage.Client{}, storage.Client{}, fmt.Errorf("provider: update client %q: %w", id, err)
	}
	return before, withoutSecretHashes(stored), nil
}

// previewLinkedUser runs update on the client as stored now, and checks
// that an application user it links the client to exists: the store's
// update function cannot look it up (it must not call back into the
// store), and update may be called more than once anyway. An application
// user deleted between this check and the write leaves a client linked to
// none, which the token endpoint refuses.
func (p *Provider) previewLinkedUser(ctx context.Context, id string, update func(storage.Client) (storage.Client, error)) error {
	cur, err := p.store.GetClient(ctx, id)
	if err != nil {
		return nil // UpdateClient reports it
	}
	next, err := update(withoutSecretHashes(cur))
	if err != nil || next.ApplicationUser == "" || next.ApplicationUser == cur.ApplicationUser {
		return nil
	}
	return p.checkLinkedUser(ctx, next)
}

// checkUpdate checks next, the new version of the client shown to the
// update function, and returns it with its defaults and UpdatedAt set.
func (p *Provider) checkUpdate(shown, next storage.Client) (storage.Client, error) {
	e := clientErrs{id: shown.ID}
	if next.ID != shown.ID {
		e.add("ID", "cannot be changed (got %q); register a new client and delete this one", next.ID)
	}
	if !next.CreatedAt.Equal(shown.CreatedAt) {
		e.add("CreatedAt", "cannot be changed")
	}
	if !slices.EqualFunc(next.Secrets, shown.Secrets, func(a, b storage.SecretHash) bool {
		return a.Hash == b.Hash && a.CreatedAt.Equal(b.CreatedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
	}) {
		e.add("Secrets", "cannot be changed by an update; use RotateClientSecret")
	}
	if err := e.err(); err != nil {
		return next, err
	}
	next, err := p.checkClient(next)
	if err != nil {
		return next, err
	}
	next.UpdatedAt = p.clientTime()
	return next, nil
}

// clientTime is the time for a client's CreatedAt, UpdatedAt and secret
// times: now, in UTC, to the microsecond that PostgreSQL keeps, so that the
// client the provider returns is the one the store holds.
func (p *Provider) clientTime() time.Time { return p.cfg.Now().UTC().Truncate(time.Microsecond) }

// withoutSecretHashes returns c with a copy of its secrets that keeps their
// times but not their hashes.
func withoutSecretHashes(c storage.Client) storage.Client {
	if c.Secrets == nil {
		return c
	}
	shown := make([]storage.SecretHash, len(c.Secrets))
	for i, s := range c.Secrets {
		shown[i] = storage.SecretHash{CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt}
	}
	c.Secrets = shown
	return c
}

// RotateClientSecret gives a confidential client a new generated secret and
// returns it. The previous secrets stay valid for grace (expiring at
// now+grace, or earlier if they expire earlier), so deployed clients can
// switch over; a zero grace ends them at once. The new secret expires after
// Config.ClientSecretLifetime, or when [SecretExpiresAt] says. An unknown
// client is an error wrapping [storage.ErrNotFound]; a client without a
// secret (public, or private_key_jwt) a [*ClientError].
//
// The rotation is recorded in the audit trail (client.secret_rotated, with the actor of
// [WithActor]) before RotateClientSecret returns; if the event cannot be written, the
// call fails with an error wrapping [ErrUnavailable] and, on a store that
// is a [storage.Transactor], nothing is changed (docs/audit.md).
func (p *Provider) RotateClientSecret(ctx context.Context, clientID string, grace time.Duration, opts ...SecretOption) (string, error) {
	if grace < 0 {
		return "", fmt.Errorf("provider: rotate secret of %q: negative grace period", clientID)
	}
	plain, hash := secret.Generate()
	now := p.clientTime()
	expires, err := p.secretExpiry(clientID, now, newSecretOptions(opts))
	if err != nil {
		return "", err
	}
	err = p.auditChange(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		if err := p.rotateClientSecret(ctx, clientID, storage.SecretHash{Hash: hash, CreatedAt: now, ExpiresAt: expires}, grace); err != nil {
			return storage.AuditEvent{}, err
		}
		expiresAt := "never"
		if !expires.IsZero() {
			expiresAt = expires.Format(time.RFC3339)
		}
		d := details("grace_period", strconv.FormatInt(int64(grace/time.Second), 10), "secret_expires_at", expiresAt)
		return clientEvent(AuditClientSecretRotated, clientID, d), nil
	})
	if err != nil {
		return "", err
	}
	return plain, nil
}

// rotateClientSecret stores next as the client's newest secret, keeping
// the others for grace (see RotateClientSecret).
func (p *Provider) rotateClientSecret(ctx context.Context, clientID string, next storage.SecretHash, grace time.Duration) error {
	now := next.CreatedAt
	err := p.store.UpdateClient(ctx, clientID, func(c storage.Client) (storage.Client, error) {
		if !usesSecret(c) {
			return c, errNoSecret(clientID)
		}
		kept := []storage.SecretHash{next}
		if grace > 0 {
			for _, s := range c.Secrets {
				if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
					continue
				}
				if s.ExpiresAt.IsZero() || s.ExpiresAt.After(now.Add(grace)) {
					s.ExpiresAt = now.Add(grace)
				}
				kept = append(kept, s)
			}
		}
		c.Secrets = kept
		c.UpdatedAt = now
		return c, nil
	})
	if err != nil {
		return fmt.Errorf("provider: rotate secret of %q: %w", clientID, err)
	}
	return nil
}

// DeleteClient removes a client and, in the same atomic step, every token,
// remembered consent and pending authorization flow of it
// ([storage.ClientStore.DeleteClient]): its tokens stop working at once,
// and a client registered later under the same ID starts with nothing. An
// unknown client is an error wrapping [storage.ErrNotFound].
//
// The deletion is recorded in the audit trail (client.deleted, with the actor of
// [WithActor]) before DeleteClient returns; if the event cannot be written, the
// call fails with an error wrapping [ErrUnavailable] and, on a store that
// is a [storage.Transactor], nothing is changed (docs/audit.md).
func (p *Provider) DeleteClient(ctx context.Context, clientID string) error {
	return p.auditChange(ctx, func(ctx context.Context) (storage.AuditEvent, error) {
		if err := p.engine.Deny(ctx, storage.DenyClient, clientID, p.cfg.Now()); err != nil {
			return storage.AuditEvent{}, fmt.Errorf("provider: delete client %q: %w", clientID, err)
		}
		if err := p.store.DeleteClient(ctx, clientID); err != nil {
			return storage.AuditEvent{}, fmt.Errorf("provider: delete client %q: %w", clientID, err)
		}
		return clientEvent(AuditClientDeleted, clientID, nil), nil
	})
}

// AuthorizedClients returns the clients the user may sign in to, ordered by
// ID, for a host's "apps" page: clients with an enabled user-facing grant
// (authorization_code; implicit or password with Config.AllowLegacyGrants)
// whose required role and customer binding the user meets in some tenant.
// Secrets are left out. It needs Config.UserLookup (or an Authenticator
// that implements [UserLookup]) to know the user's memberships.
func (p *Provider) AuthorizedClients(ctx context.Context, subject string) ([]storage.Client, error) {
	if p.lookup == nil {
		return nil, errors.New("provider: AuthorizedClients needs Config.UserLookup to read the user's roles and tenants")
	}
	u, err := p.lookup.LookupUser(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("provider: authorized clients of %q: %w", subject, err)
	}
	all, err := p.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("provider: authorized clients of %q: %w", subject, err)
	}
	var out []storage.Client
	for _, c := range all {
		if !slices.ContainsFunc(c.GrantTypes, p.supported.userFacing) {
			continue
		}
		if _, err := eligibleTenants(&c, u); err != nil {
			continue
		}
		c.Secrets = nil
		out = append(out, c)
	}
	return out, nil
}

func usesSecret(c storage.Client) bool {
	return !c.Public && c.TokenEndpointAuthMethod != "private_key_jwt"
}

// prepareClient fills the defaults of a registration, checks it, and sets
// its times; the secrets are the caller's to add.
func (p *Provider) prepareClient(c storage.Client) (storage.Client, error) {
	if c.ID == "" {
		c.ID = secret.Token()[:24]
	}
	c, err := p.checkClient(c)
	if err != nil {
		return storage.Client{}, err
	}
	now := p.clientTime()
	c.CreatedAt, c.UpdatedAt = now, now
	c.Secrets = nil
	return c, nil
}

// checkClient fills the defaults of c and checks every field but the
// secrets and times, for registration and update alike. Each concern has
// its own check; all problems are reported at once.
func (p *Provider) checkClient(c storage.Client) (storage.Client, error) {
	c = p.clientDefaults(c)
	e := clientErrs{id: c.ID}
	checkClientID(&e, c)
	p.checkGrantTypes(&e, c)
	checkAuthMethod(&e, c)
	p.checkResponseTypes(&e, c)
	checkRedirectURIs(&e, c)
	checkScopes(&e, c)
	checkAccess(&e, c)
	checkTokenSettings(&e, c)
	checkClientDisplay(&e, c)
	checkPrincipalLinks(&e, c)
	return c, e.err()
}

// checkPrincipalLinks checks the two ways a client acts as a principal
// other than a signed-in user: AcceptsAPIKeys (a public client whose only
// grant is client_credentials, authenticated by an API key) and
// ApplicationUser (a confidential client whose only grant is
// client_credentials, acting as that application user). Neither can
// require MFA: no one is there to give a second factor.
func checkPrincipalLinks(e *clientErrs, c storage.Client) {
	onlyCC := len(c.GrantTypes) == 1 && c.GrantTypes[0] == "client_credentials"
	if c.AcceptsAPIKeys {
		if !c.Public {
			e.add("AcceptsAPIKeys", "needs a public client (TokenEndpointAuthMethod none): the API key authenticates the request, never a client secret")
		}
		if !onlyCC {
			e.add("AcceptsAPIKeys", "needs GrantTypes to be exactly [client_credentials], got %v", c.GrantTypes)
		}
		if c.RequireMFA {
			e.add("RequireMFA", "a client that requires multi-factor authentication cannot accept API keys: a key is a single factor, and a script cannot give a second one")
		}
		if c.ApplicationUser != "" {
			e.add("ApplicationUser", "cannot be set on a client that accepts API keys: the key says whom the token is for")
		}
	}
	if c.ApplicationUser == "" {
		return
	}
	if !validID(c.ApplicationUser) {
		e.add("ApplicationUser", "must be the ID of an application user, got %q", c.ApplicationUser)
	}
	if c.Public {
		e.add("ApplicationUser", "needs a confidential client: an application user authenticates with the client's credentials")
	}
	if !onlyCC {
		e.add("ApplicationUser", "needs GrantTypes to be exactly [client_credentials] (an application user never signs in interactively), got %v", c.GrantTypes)
	}
	if c.RequireMFA {
		e.add("RequireMFA", "a client linked to an application user cannot require multi-factor authentication")
	}
}

// checkLinkedUser checks that the application user c is linked to exists
// (a [*ClientError] otherwise); a backend failure is returned as it is.
func (p *Provider) checkLinkedUser(ctx context.Context, c storage.Client) error {
	if c.ApplicationUser == "" {
		return nil
	}
	if p.appStore == nil {
		return &ClientError{ClientID: c.ID, Field: "ApplicationUser", Reason: "the store keeps no application users"}
	}
	_, err := p.appStore.GetApplicationUser(ctx, c.ApplicationUser)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return &ClientError{ClientID: c.ID, Field: "ApplicationUser", Reason: fmt.Sprintf("there is no application user %q; create it first", c.ApplicationUser)}
	case err != nil:
		return fmt.Errorf("provider: client %q: application user: %w: %w", c.ID, ErrUnavailable, err)
	}
	return nil
}

// clientDefaults fills the grant types, the authentication method and the
// response types when they are empty.
func (p *Provider) clientDefaults(c storage.Client) storage.Client {
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code"}
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = "client_secret_basic"
		if c.Public {
			c.TokenEndpointAuthMethod = "none"
		}
	}
	if len(c.ResponseTypes) == 0 {
		// Every enabled response type whose grants the client has.
		for _, rt := range responseTypes {
			if p.supported.responseTypeEnabled(rt) && responseTypeGrantsHeld(rt, c.GrantTypes) {
				c.ResponseTypes = append(c.ResponseTypes, rt)
			}
		}
	}
	return c
}

// responseTypeGrantsHeld reports whether grants has the grant of every
// part of the response type rt.
func responseTypeGrantsHeld(rt string, grants []string) bool {
	for _, part := range strings.Fields(rt) {
		if !slices.Contains(grants, responseTypePartGrant[part]) {
			return false
		}
	}
	return true
}

func checkClientID(e *clientErrs, c storage.Client) {
	if c.ID == "" || len(c.ID) > 128 || strings.ContainsFunc(c.ID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
	}) {
		e.add("ID", "must be 1-128 characters of A-Z a-z 0-9 - . _ ~, got %q", c.ID)
	}
}

// checkGrantTypes checks that each grant is known and enabled, and allowed
// to the kind of client.
func (p *Provider) checkGrantTypes(e *clientErrs, c storage.Client) {
	for _, g := range c.GrantTypes {
		t, known := lookupGrant(g)
		switch {
		case !known:
			e.add("GrantTypes", "unknown grant type %q (want one of %s)", g, strings.Join(p.supported.grantTypes, ", "))
		case !p.supported.grantEnabled(g):
			e.add("GrantTypes", "%q is a legacy grant, off because %s; set Config.AllowLegacyGrants to allow it", g, t.why)
		}
	}
	if c.Public && (slices.Contains(c.GrantTypes, "client_credentials") && !c.AcceptsAPIKeys || slices.Contains(c.GrantTypes, "password")) {
		e.add("GrantTypes", "a public client cannot use the client_credentials or password grant (unless it accepts API keys, AcceptsAPIKeys)")
	}
	if slices.Contains(c.GrantTypes, "refresh_token") && !slices.ContainsFunc(c.GrantTypes, func(g string) bool {
		t, _ := lookupGrant(g)
		return t.refreshes
	}) {
		e.add("GrantTypes", "refresh_token only renews the refresh tokens another grant issues, and none of the client's grants issues them; add %s, or remove refresh_token", p.refreshingGrants())
	}
}

// refreshingGrants names the enabled grants that issue refresh tokens.
func (p *Provider) refreshingGrants() string {
	var names []string
	for _, t := range grantTypes {
		if t.refreshes && p.supported.grantEnabled(t.name) {
			names = append(names, t.name)
		}
	}
	return strings.Join(names, " or ")
}

// checkAuthMethod checks the token endpoint authentication method against
// the kind of client, and a private_key_jwt client's keys.
func checkAuthMethod(e *clientErrs, c storage.Client) {
	i := slices.IndexFunc(authMethods, func(m authMethod) bool { return m.name == c.TokenEndpointAuthMethod })
	switch {
	case i < 0:
		e.add("TokenEndpointAuthMethod", "must be one of %s, got %q", strings.Join(authMethodNames(true), ", "), c.TokenEndpointAuthMethod)
	case authMethods[i].public && !c.Public:
		e.add("TokenEndpointAuthMethod", "%q is only for public clients; set Public", c.TokenEndpointAuthMethod)
	case !authMethods[i].public && c.Public:
		e.add("TokenEndpointAuthMethod", "a public client cannot use %s; use none", c.TokenEndpointAuthMethod)
	}
	if c.TokenEndpointAuthMethod != "private_key_jwt" {
		return
	}
	if !slices.Contains(assertionAlgs, c.TokenEndpointAuthSigningAlg) {
		e.add("TokenEndpointAuthSigningAlg", "private_key_jwt needs one of %s, got %q", strings.Join(assertionAlgs, ", "), c.TokenEndpointAuthSigningAlg)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(c.JWKS, &set); err != nil || len(set.Keys) == 0 {
		e.add("JWKS", "private_key_jwt needs a JSON Web Key Set with at least one key")
		return
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			e.add("JWKS", "must hold public keys only (key %q is private)", k.KeyID)
		}
	}
}

// checkResponseTypes checks that each response type is known, enabled and
// backed by the client's grants.
func (p *Provider) checkResponseTypes(e *clientErrs, c storage.Client) {
	for _, rt := range c.ResponseTypes {
		for _, part := range strings.Fields(rt) {
			g, known := responseTypePartGrant[part]
			if !known {
				e.add("ResponseTypes", "unknown response type %q (want one of %s)", rt, strings.Join(p.supported.responseTypes, ", "))
				break
			}
			if !p.supported.grantEnabled(g) {
				e.add("ResponseTypes", "response type %q returns tokens from the authorization endpoint, which needs the legacy %s grant; set Config.AllowLegacyGrants to allow it", rt, g)
				break
			}
			if !slices.Contains(c.GrantTypes, g) {
				e.add("ResponseTypes", "response type %q needs the %s grant, which must be listed in GrantTypes", rt, g)
				break
			}
		}
	}
}

// checkRedirectURIs checks the redirect and post-logout redirect URIs.
func checkRedirectURIs(e *clientErrs, c storage.Client) {
	if (slices.Contains(c.GrantTypes, "authorization_code") || slices.Contains(c.GrantTypes, "implicit")) && len(c.RedirectURIs) == 0 {
		e.add("RedirectURIs", "is required for the authorization_code and implicit grants")
	}
	for _, u := range c.RedirectURIs {
		if err := checkRedirectURI(u, c.Public); err != nil {
			e.add("RedirectURIs", "%v", err)
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := checkRedirectURI(u, c.Public); err != nil {
			e.add("PostLogoutRedirectURIs", "%v", err)
		}
	}
}

// checkScopes checks the allowed scopes and the permission scope.
func checkScopes(e *clientErrs, c storage.Client) {
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\n\"\\") {
			e.add("Scopes", "invalid scope %q", s)
		}
	}
	for _, s := range c.PermissionScope {
		if err := scope.Check(s); err != nil {
			e.add("PermissionScope", "%v", err)
		}
	}
}

// checkAccess checks who may use the client and from where: IP ranges,
// introspection audiences and the required role.
func checkAccess(e *clientErrs, c storage.Client) {
	if _, err := ipfilter.Parse(c.IPRanges); err != nil {
		e.add("IPRanges", "%v", err)
	}
	if c.Public && len(c.IntrospectAudiences) > 0 {
		e.add("IntrospectAudiences", "needs a confidential client: a public client cannot introspect")
	}
	if len(c.IntrospectAudiences) > 64 {
		e.add("IntrospectAudiences", "has %d values, at most 64 allowed", len(c.IntrospectAudiences))
	}
	for _, a := range c.IntrospectAudiences {
		if a == "" || len(a) > 1024 || !utf8.ValidString(a) || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			e.add("IntrospectAudiences", "%q must be one audience value of 1-1024 bytes without spaces or control characters", a)
		}
	}
	if strings.ContainsAny(c.RequiredRole, " \t\n") {
		e.add("RequiredRole", "must be one role name, got %q", c.RequiredRole)
	}
}

// checkTokenSettings checks the access token format and the lifetimes:
// each zero (the provider's default) or positive and at most its bound.
// (maxClientTokenLifetime also bounds how long a retired signing key stays
// published.)
func checkTokenSettings(e *clientErrs, c storage.Client) {
	switch c.AccessTokenFormat {
	case "", "jwt", "opaque":
	default:
		e.add("AccessTokenFormat", `must be "", "jwt" or "opaque", got %q`, c.AccessTokenFormat)
	}
	for _, d := range []struct {
		name     string
		v, limit time.Duration
		why      string
	}{
		{"AccessTokenLifetime", c.AccessTokenLifetime, maxClientTokenLifetime, "24 hours (an access token, a JWT above all, should be short-lived)"},
		{"RefreshTokenLifetime", c.RefreshTokenLifetime, 365 * 24 * time.Hour, "365 days"},
		{"AuthCodeLifetime", c.AuthCodeLifetime, 10 * time.Minute, "10 minutes (RFC 6749 §4.1.2)"},
		{"IDTokenLifetime", c.IDTokenLifetime, maxClientTokenLifetime, "24 hours"},
	} {
		switch {
		case d.v < 0:
			e.add(d.name, "must not be negative (zero: the provider's default), got %v", d.v)
		case d.v > d.limit:
			e.add(d.name, "must be at most %s, got %v", d.why, d.v)
		}
	}
}

// checkRedirectURI checks a redirect or post-logout redirect URI of a
// client; public says whether the client is public. It accepts an absolute
// https URL with a host; http only on a loopback host (RFC 8252 §7.3); and,
// for a public client only, a native app's private-use scheme named after a
// reverse domain name, in the form "com.example.app:/path" (RFC 8252
// §7.1). None may have a fragment (RFC 6749 §3.1.2) or a wildcard host
// (redirect URIs are compared exactly, so a wildcard would match only
// itself); schemes that run or embed content, such as javascript: or
// data:, are refused for every client.
func checkRedirectURI(raw string, public bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("redirect URI %q must be an absolute URL, such as https://app.example.com/callback", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q must not have a fragment", raw)
	}
	switch {
	case slices.Contains(unsafeRedirectSchemes, u.Scheme):
		return fmt.Errorf("redirect URI %q: the %s: scheme is never a redirect target; use an https URL", raw, u.Scheme)
	case u.Scheme == "https" || u.Scheme == "http":
		err = checkWebRedirectURI(raw, u, public)
	case strings.Contains(u.Scheme, "."):
		err = checkPrivateUseRedirectURI(raw, u, public)
	case public:
		err = fmt.Errorf("redirect URI %q must use https (http only on a loopback host), or, for a native app, a private-use scheme named after a domain the app's owner controls, such as com.example.app:/callback (RFC 8252 §7.1)", raw)
	default:
		err = fmt.Errorf("redirect URI %q must use https (http only on a loopback host)", raw)
	}
	if err == nil && u.String() != raw {
		// The authorization endpoint matches the registered string but
		// redirects to the parsed URL: they must be the same.
		err = fmt.Errorf("redirect URI %q must be written in normal form (lower-case scheme, percent-encoded path), as %q", raw, u.String())
	}
	return err
}

// unsafeRedirectSchemes are schemes that run, embed or read content in the
// browser rather than deliver the response to a client; no client may
// register them.
var unsafeRedirectSchemes = []string{"javascript", "vbscript", "data", "blob", "file", "filesystem", "about", "view-source"}

// checkWebRedirectURI checks an http or https redirect URI.
func checkWebRedirectURI(raw string, u *url.URL, public bool) error {
	switch {
	case u.Host == "" || u.Opaque != "":
		return fmt.Errorf("redirect URI %q must be an absolute URL with a host, such as https://app.example.com/callback", raw)
	case strings.Contains(u.Host, "*"):
		return fmt.Errorf("redirect URI %q has a wildcard host; redirect URIs are compared exactly, so register the full URI of each host", raw)
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		if public {
			return fmt.Errorf("redirect URI %q must use https (http only on a loopback host, such as http://127.0.0.1/callback for a native app)", raw)
		}
		return fmt.Errorf("redirect URI %q must use https (http only on a loopback host)", raw)
	}
	return nil
}

// checkPrivateUseRedirectURI checks a redirect URI whose scheme has a dot:
// a native app's private-use scheme (RFC 8252 §7.1).
func checkPrivateUseRedirectURI(raw string, u *url.URL, public bool) error {
	switch {
	case !public:
		return fmt.Errorf("redirect URI %q uses a private-use scheme, which is for native apps; a native app is a public client (RFC 8252 §8.4), so set Public (with TokenEndpointAuthMethod none), or use an https redirect URI", raw)
	case !reverseDomainScheme(u.Scheme) || !strings.HasPrefix(raw, u.Scheme+":"):
		return fmt.Errorf("redirect URI %q: a private-use scheme must be a reverse domain name in lower case, such as com.example.app (RFC 8252 §7.1)", raw)
	case !isPrivateUseRedirect(u):
		return fmt.Errorf("redirect URI %q: a private-use scheme is followed by a single \"/\" and a path, as in %s:/callback (RFC 8252 §7.1)", raw, u.Scheme)
	}
	return nil
}

// reverseDomainScheme reports whether scheme is a domain name of at least
// two labels of lower-case letters, digits and hyphens, such as
// "com.example.app".
func reverseDomainScheme(scheme string) bool {
	labels := strings.Split(scheme, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || strings.ContainsFunc(l, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') }) {
			return false
		}
	}
	return true
}

// isPrivateUseRedirect reports whether u is a native app's private-use
// scheme redirect URI in the form of RFC 8252 §7.1: a reverse domain name
// scheme, ":", and a path starting with a single "/" (no authority).
func isPrivateUseRedirect(u *url.URL) bool {
	return reverseDomainScheme(u.Scheme) && u.OmitHost && u.Host == "" && u.User == nil && u.Opaque == "" && strings.HasPrefix(u.Path, "/")
}

// redirectURISecure is fosite's RedirectSecureChecker: it accepts the kinds
// of redirect URI that registration accepts (checkRedirectURI): https, http
// on a loopback host, and a private-use scheme (registered for public
// clients only). fosite calls it for the redirect URI it matched against
// the registered ones, and, for a public client asking prompt=none, to
// decide whether the client may be answered without the user.
func redirectURISecure(_ context.Context, u *url.URL) bool {
	return u.Scheme == "https" || u.Scheme == "http" && isLoopbackHost(u.Hostname()) || isPrivateUseRedirect(u)
}
