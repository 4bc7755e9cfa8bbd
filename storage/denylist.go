package storage

import (
	"context"
	"time"
)

// DenyKind is what a deny-list entry names: the access tokens it denies
// are those that carry its key in the claim of that kind. Keys are text
// without NUL bytes (PostgreSQL's text cannot hold them).
type DenyKind string

// The kinds of deny-list entries, each the key a stateless access token
// carries (see [DenyListStore]).
const (
	// DenyGrant denies the tokens of one grant: Key is its request ID
	// (a token family: every access token a code, a refresh or a client
	// credentials request issued in it).
	DenyGrant DenyKind = "grant"
	// DenyClient denies the tokens of a client: Key is its ID.
	DenyClient DenyKind = "client"
	// DenySignIn denies the tokens of the grants made in one sign-in (a
	// browser sign-in, an API key's secret, an application user): Key is
	// a digest of its [Request.LoginSID].
	DenySignIn DenyKind = "sign_in"
	// DenyUserClient denies a user's tokens for a client: Key is a digest
	// of the subject and the client ID.
	DenyUserClient DenyKind = "user_client"
)

// Deny is one deny-list entry.
type Deny struct {
	Kind DenyKind
	Key  string
	// IssuedBefore, if not zero, limits the entry to tokens issued before
	// it (a token's iat, whole seconds, strictly before); zero denies every
	// token with the key, whenever issued.
	IssuedBefore time.Time
	// ExpiresAt is when the entry may be forgotten ([Store.DeleteExpired]):
	// the latest expiry of a token it denies.
	ExpiresAt time.Time
}

// DenyKey is a (kind, key) pair a token carries, for
// [DenyListStore.Denied].
type DenyKey struct {
	Kind DenyKind
	Key  string
}

// DenyListStore keeps the deny list of stateless access tokens: JWT access
// tokens the provider does not store (Config.StatelessAccessTokens), whose
// revocation is recorded here instead, by grant, client, sign-in or user
// and client, and checked at introspection. It is optional; the suite's
// DenyList group checks it. [Store.DeleteExpired] removes entries whose
// ExpiresAt has passed.
type DenyListStore interface {
	// AddDenials records entries, atomically as a whole. An entry for a
	// (Kind, Key) already recorded merges with it: the later ExpiresAt,
	// and the wider IssuedBefore (zero, every token, is the widest).
	AddDenials(ctx context.Context, entries ...Deny) error
	// Denied reports whether an entry for one of keys denies a token
	// issued at issuedAt: one whose IssuedBefore is zero or after
	// issuedAt. Entries are consulted until they are deleted, whether or
	// not their ExpiresAt has passed.
	Denied(ctx context.Context, issuedAt time.Time, keys ...DenyKey) (bool, error)
}
