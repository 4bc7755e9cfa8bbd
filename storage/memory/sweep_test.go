package memory

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSweepReleasesTheLock sweeps a store of many tokens while other calls
// create, read and delete tokens between the sweep's batches. Those calls
// must get the lock (a sweep holding it throughout would block them, and the
// test would fail on its timeout), and the sweep must still remove every
// token that had expired when it began and keep every live one.
func TestSweepReleasesTheLock(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := New()
	const n = 5 * sweepBatch
	for i := range n {
		tok := ccAccessToken(i, now)
		if i%2 == 0 {
			tok.ExpiresAt = now.Add(-time.Minute)
		}
		require.NoError(t, s.CreateToken(ctx, tok))
	}
	batches := 0
	s.afterSweepBatch = func() {
		batches++
		done := make(chan error, 1)
		go func() {
			i := n + batches
			fresh := ccAccessToken(i, now)
			err := s.CreateToken(ctx, fresh)
			if err == nil {
				_, err = s.GetToken(ctx, storage.KindAccessToken, fresh.Signature)
			}
			if err == nil {
				err = s.DeleteToken(ctx, storage.KindAccessToken, ccAccessToken(1, now).Signature)
				if errors.Is(err, storage.ErrNotFound) {
					err = nil // deleted by an earlier batch's call
				}
			}
			done <- err
		}()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("a call made between two batches of the sweep did not get the lock")
		}
	}
	deleted, err := s.DeleteExpired(ctx, now)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, batches, n/sweepBatch-1, "the sweep released the lock between batches")
	assert.EqualValues(t, n/2, deleted, "every token expired before the sweep, and only those")
	for i := range n {
		_, err := s.GetToken(ctx, storage.KindAccessToken, ccAccessToken(i, now).Signature)
		switch {
		case i == 1:
			assert.ErrorIs(t, err, storage.ErrNotFound, "deleted between batches")
		case i%2 == 0:
			assert.ErrorIs(t, err, storage.ErrNotFound, fmt.Sprintf("expired token %d swept", i))
		default:
			assert.NoError(t, err, "live token %d kept", i)
		}
	}
	for b := 1; b <= batches; b++ {
		_, err := s.GetToken(ctx, storage.KindAccessToken, ccAccessToken(n+b, now).Signature)
		assert.NoError(t, err, "a live token created during the sweep is kept")
	}
}
