package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// withDenyList runs a DenyList case on a store that implements
// storage.DenyListStore, and skips it, saying so, on one that does not.
func withDenyList(run func(t *testing.T, s storage.Store, d storage.DenyListStore)) func(t *testing.T, s storage.Store) {
	return func(t *testing.T, s storage.Store) {
		d, ok := s.(storage.DenyListStore)
		if !ok {
			t.Skipf("storagetest: %T does not implement storage.DenyListStore; the DenyList cases run only for stores that do", s)
		}
		run(t, s, d)
	}
}

// denied asserts what Denied answers for a token issued at iat with keys.
func denied(t *testing.T, d storage.DenyListStore, want bool, iat time.Time, msg string, keys ...storage.DenyKey) {
	t.Helper()
	got, err := d.Denied(t.Context(), iat, keys...)
	require.NoError(t, err, msg)
	assert.Equal(t, want, got, msg)
}

// testDenyListDenied: an entry denies the tokens with its (kind, key),
// every one when IssuedBefore is zero, else those issued strictly before
// it; any one of a token's keys is enough; the kinds and keys are
// separate, compared byte for byte.
func testDenyListDenied(t *testing.T, _ storage.Store, d storage.DenyListStore) {
	ctx := t.Context()
	grant := storage.DenyKey{Kind: storage.DenyGrant, Key: "req-1"}
	client := storage.DenyKey{Kind: storage.DenyClient, Key: "client-ü"}
	denied(t, d, false, at(0), "an empty list denies nothing", grant, client)
	require.NoError(t, d.AddDenials(ctx,
		storage.Deny{Kind: storage.DenyGrant, Key: "req-1", ExpiresAt: at(time.Hour)},
		storage.Deny{Kind: storage.DenyClient, Key: "client-ü", IssuedBefore: at(10 * time.Second), ExpiresAt: at(time.Hour)},
	))
	denied(t, d, true, at(-time.Hour), "a grant's entry denies a token issued long before", grant)
	denied(t, d, true, at(2*time.Hour), "and one issued after it", grant)
	denied(t, d, true, at(9*time.Second), "a client's entry denies a token issued before its IssuedBefore", client)
	denied(t, d, false, at(10*time.Second), "not one issued at it", client)
	denied(t, d, false, at(11*time.Second), "nor after", client)
	denied(t, d, true, at(11*time.Second), "one of a token's keys is enough", client, grant)
	denied(t, d, false, at(0), "another kind with the same key is not denied", storage.DenyKey{Kind: storage.DenyClient, Key: "req-1"})
	denied(t, d, false, at(0), "keys are compared byte for byte", storage.DenyKey{Kind: storage.DenyGrant, Key: "REQ-1"})
	denied(t, d, false, at(0), "no keys, nothing denied")
	require.NoError(t, d.AddDenials(ctx, storage.Deny{Kind: storage.DenyUserClient, Key: "alice web ü", IssuedBefore: at(time.Second), ExpiresAt: at(time.Hour)}))
	denied(t, d, true, at(0), "a key with spaces and non-ASCII", storage.DenyKey{Kind: storage.DenyUserClient, Key: "alice web ü"})
	denied(t, d, false, at(0), "its prefix is another key", storage.DenyKey{Kind: storage.DenyUserClient, Key: "alice"})
}

// testDenyListMerge: a second entry for a (kind, key) widens it: the later
// IssuedBefore, zero (every token) over any time, and the later expiry;
// never narrower; within one AddDenials call too.
func testDenyListMerge(t *testing.T, s storage.Store, d storage.DenyListStore) {
	ctx := t.Context()
	k := storage.DenyKey{Kind: storage.DenyClient, Key: "web"}
	add := func(before, expires time.Duration, zero bool) {
		t.Helper()
		e := storage.Deny{Kind: k.Kind, Key: k.Key, ExpiresAt: at(expires)}
		if !zero {
			e.IssuedBefore = at(before)
		}
		require.NoError(t, d.AddDenials(ctx, e))
	}
	add(10*time.Second, time.Hour, false)
	add(5*time.Second, time.Minute, false)
	denied(t, d, true, at(9*time.Second), "an earlier IssuedBefore does not narrow the entry", k)
	add(20*time.Second, time.Minute, false)
	denied(t, d, true, at(19*time.Second), "a later one widens it", k)
	denied(t, d, false, at(20*time.Second), "to its time", k)

	// The expiry kept is the later: the entry outlives a sweep at 30 min.
	_, err := s.DeleteExpired(ctx, at(30*time.Minute))
	require.NoError(t, err)
	denied(t, d, true, at(0), "the later expiry was kept", k)

	add(0, time.Minute, true)
	denied(t, d, true, at(time.Hour), "zero IssuedBefore denies every token", k)
	add(50*time.Second, time.Minute, false)
	denied(t, d, true, at(time.Hour), "and stays so", k)

	other := storage.DenyKey{Kind: storage.DenyGrant, Key: "req-2"}
	require.NoError(t, d.AddDenials(ctx,
		storage.Deny{Kind: other.Kind, Key: other.Key, IssuedBefore: at(time.Second), ExpiresAt: at(time.Hour)},
		storage.Deny{Kind: other.Kind, Key: other.Key, ExpiresAt: at(time.Minute)},
	))
	denied(t, d, true, at(time.Hour), "in one call, zero IssuedBefore wins too", other)
}

// testDenyListExpiry: DeleteExpired removes entries whose ExpiresAt is
// before its cut-off (counted), and keeps the others; until then an
// entry is consulted whatever its expiry.
func testDenyListExpiry(t *testing.T, s storage.Store, d storage.DenyListStore) {
	ctx := t.Context()
	gone := storage.DenyKey{Kind: storage.DenySignIn, Key: "sid-gone"}
	kept := storage.DenyKey{Kind: storage.DenySignIn, Key: "sid-kept"}
	require.NoError(t, d.AddDenials(ctx,
		storage.Deny{Kind: gone.Kind, Key: gone.Key, ExpiresAt: at(time.Minute)},
		storage.Deny{Kind: kept.Kind, Key: kept.Key, ExpiresAt: at(time.Hour)},
	))
	denied(t, d, true, at(2*time.Hour), "an entry past its expiry is consulted until swept", gone)
	n, err := s.DeleteExpired(ctx, at(time.Minute))
	require.NoError(t, err)
	assert.Zero(t, n, "an expiry equal to the cut-off has not passed")
	n, err = s.DeleteExpired(ctx, at(2*time.Minute))
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
	denied(t, d, false, at(0), "swept", gone)
	denied(t, d, true, at(0), "the other stays", kept)
}

// testDenyListContext: both methods answer a cancelled or expired context
// with its error, and AddDenials then records nothing.
func testDenyListContext(t *testing.T, _ storage.Store, d storage.DenyListStore) {
	for _, c := range []struct {
		ctx  func(context.Context) (context.Context, context.CancelFunc)
		want error
	}{{canceled, context.Canceled}, {pastDeadline, context.DeadlineExceeded}} {
		ctx, cancel := c.ctx(t.Context())
		err := d.AddDenials(ctx, storage.Deny{Kind: storage.DenyGrant, Key: "req-ctx", ExpiresAt: at(time.Hour)})
		assert.ErrorIs(t, err, c.want)
		_, err = d.Denied(ctx, at(0), storage.DenyKey{Kind: storage.DenyGrant, Key: "req-ctx"})
		assert.ErrorIs(t, err, c.want)
		cancel()
	}
	denied(t, d, false, at(0), "nothing was recorded", storage.DenyKey{Kind: storage.DenyGrant, Key: "req-ctx"})
}
