package storage

import (
	"context"
	"time"
)

// Throttle counts the recent failures of one key, for example the password
// attempts for one username, so that guessing can be slowed down by every
// replica alike.
type Throttle struct {
	// Key names what is counted (the provider uses a kind and a digest,
	// for example "password:" + the SHA-256 of the lower-cased username).
	Key string
	// Failures counts failures since the last success.
	Failures int
	// LockedUntil is when attempts are accepted again; zero when not
	// locked.
	LockedUntil time.Time
	// ExpiresAt is when the record may be forgotten ([Store.DeleteExpired]).
	ExpiresAt time.Time
}

// ThrottleStore keeps throttles.
type ThrottleStore interface {
	// GetThrottle returns the throttle of key or [ErrNotFound].
	GetThrottle(ctx context.Context, key string) (Throttle, error)
	// UpdateThrottle replaces the throttle of key with what update returns,
	// atomically (see [ClientStore.UpdateClient]). If there is none, update
	// receives Throttle{Key: key} and what it returns is created. A result
	// with zero Failures and a zero LockedUntil removes the record. The
	// record keeps its key whatever update returns; an error from update is
	// returned as it is and nothing is written.
	UpdateThrottle(ctx context.Context, key string, update func(Throttle) (Throttle, error)) error
}
