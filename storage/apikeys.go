package storage

import (
	"context"
	"time"
)

// PrincipalType says what kind of principal a token or an API key is for.
type PrincipalType string

// The principal types.
const (
	// PrincipalUser is an end user: the host's, known through its
	// authenticator and user lookup.
	PrincipalUser PrincipalType = "user"
	// PrincipalApplication is an [ApplicationUser], kept in the store.
	PrincipalApplication PrincipalType = "application"
)

// APIKey is a long-lived credential a script presents instead of a
// password or client secret. It belongs to a user or to an application
// user, and the provider accepts it only within its rules. The key itself
// is never stored: only a keyed hash of it.
type APIKey struct {
	// ID identifies the key; it is the public part of the key string the
	// provider hands out, so a key is looked up by it without scanning.
	ID string
	// Name is a note for people ("nightly export on build-7").
	Name string
	// OwnerType and Owner are who the key acts as: a user's subject, or an
	// application user's ID.
	OwnerType PrincipalType
	Owner     string
	// Tenant, if set, is the one tenant (customer) the key acts in.
	Tenant string
	// Hash is the keyed hash of the key's secret, self-describing (the
	// provider writes "hmac-sha256$..."). It is never the key.
	Hash string
	// PermissionScope, if set, bounds what the key can ever be granted,
	// beyond its owner's permissions (permissions, "prefix:*" patterns or
	// catalog names).
	PermissionScope []string
	// IPRanges, if set, are the only caller addresses the key is accepted
	// from (addresses, CIDR prefixes or "a-b" ranges; see package
	// ipfilter).
	IPRanges []string
	// ForwardedForRanges, if set, are the only originating addresses the
	// key is accepted for behind a load balancer: the request must then
	// carry exactly one X-Forwarded-For value, in these ranges.
	ForwardedForRanges []string
	// RequireMFA makes the key enforce its owner's second factor: a
	// request must also carry a current one-time code of the owner's
	// (a user's key only).
	RequireMFA bool
	// ExpiresAt is when the key stops being accepted; zero means never.
	// Expired keys are kept (until deleted) so that their owners see them.
	ExpiresAt time.Time
	// CreatedAt is when the key was made; RotatedAt when its secret was
	// last replaced (zero if never).
	CreatedAt time.Time
	RotatedAt time.Time
	// LastUsedAt is when the key was last accepted, kept coarsely: the
	// provider writes it at most about once a minute per key.
	LastUsedAt time.Time
}

// APIKeyQuery selects API keys for [APIKeyStore.FindAPIKeys]. Its zero
// value selects every key; the conditions combine.
type APIKeyQuery struct {
	// OwnerType, if not empty, selects the keys of that type of owner.
	OwnerType PrincipalType
	// Owner, if not empty, selects the keys whose Owner is exactly this
	// (byte for byte).
	Owner string
	// After, if not empty, selects the keys whose ID sorts after it, byte
	// by byte: the last ID of the previous page.
	After string
	// Limit, if positive, is the most keys returned (the first ones by
	// ID); zero or negative means no limit.
	Limit int
}

// APIKeyStore keeps API keys. It is optional: the provider offers API keys
// only on a store that implements it (the memory and PostgreSQL stores
// do). storagetest's APIKeys group checks it.
type APIKeyStore interface {
	// CreateAPIKey stores k; [ErrAlreadyExists] if the ID is taken. A key
	// whose OwnerType is [PrincipalApplication] needs its application user
	// to exist (in a store that is also an [ApplicationUserStore]): if it
	// does not, CreateAPIKey returns [ErrNotFound] and stores nothing.
	CreateAPIKey(ctx context.Context, k APIKey) error
	// GetAPIKey returns the key or [ErrNotFound].
	GetAPIKey(ctx context.Context, id string) (APIKey, error)
	// FindAPIKeys returns the keys q selects, ordered by ID (byte order),
	// at most q.Limit of them when it is positive. None is an empty
	// result, not an error.
	FindAPIKeys(ctx context.Context, q APIKeyQuery) ([]APIKey, error)
	// UpdateAPIKey replaces a key with what update returns, atomically
	// (see [ClientStore.UpdateClient]): of concurrent updates each sees the
	// result of the one before, so an update that checks the key's Hash
	// and replaces it (a rotation) wins for exactly one of several callers
	// that read the same Hash. The key keeps its ID whatever update
	// returns. [ErrNotFound] if there is no such key.
	UpdateAPIKey(ctx context.Context, id string, update func(APIKey) (APIKey, error)) error
	// TouchAPIKey records a use of the key at at: LastUsedAt becomes at if
	// at is later, and nothing else changes (a touch never moves
	// LastUsedAt back, and never undoes a concurrent update). It is one
	// cheap write; [ErrNotFound] if there is no such key.
	TouchAPIKey(ctx context.Context, id string, at time.Time) error
	// DeleteAPIKey removes the key or returns [ErrNotFound].
	DeleteAPIKey(ctx context.Context, id string) error
}

// ApplicationUser is a service principal: an identity of its own that
// never signs in interactively, obtains tokens only through client
// credentials (a client linked to it by [Client.ApplicationUser], or one
// of its API keys), and carries its own permissions.
type ApplicationUser struct {
	// ID is its identifier, the sub of its tokens.
	ID string
	// Name and Description are for people.
	Name        string
	Description string
	// Tenant, if set, is the tenant (customer) it belongs to; its roles
	// and permissions are held there.
	Tenant string
	// Roles and Permissions are what it holds (permissions may be
	// "prefix:*" patterns or catalog names; roles expand through the
	// provider's catalog).
	Roles       []string
	Permissions []string
	// AccessTokenLifetime, if not zero, is the lifetime of its access
	// tokens, whatever the client's.
	AccessTokenLifetime time.Duration
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// ApplicationUserStore keeps application users, and their API keys. It is
// optional, like [APIKeyStore]; storagetest's ApplicationUsers group
// checks it.
type ApplicationUserStore interface {
	APIKeyStore
	// CreateApplicationUser stores u; [ErrAlreadyExists] if the ID is
	// taken.
	CreateApplicationUser(ctx context.Context, u ApplicationUser) error
	// GetApplicationUser returns the application user or [ErrNotFound].
	GetApplicationUser(ctx context.Context, id string) (ApplicationUser, error)
	// ListApplicationUsers returns every application user, ordered by ID
	// (byte order).
	ListApplicationUsers(ctx context.Context) ([]ApplicationUser, error)
	// UpdateApplicationUser replaces one with what update returns,
	// atomically (see [ClientStore.UpdateClient]); it keeps its ID.
	// [ErrNotFound] if there is none.
	UpdateApplicationUser(ctx context.Context, id string, update func(ApplicationUser) (ApplicationUser, error)) error
	// DeleteApplicationUser removes the application user and, in the same
	// atomic step, every API key it owns (OwnerType
	// [PrincipalApplication] and Owner id; a user's keys whose Owner is
	// the same string stay). It returns [ErrNotFound], and removes
	// nothing, if there is no such application user.
	DeleteApplicationUser(ctx context.Context, id string) error
}
