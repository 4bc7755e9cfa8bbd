package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

func testKeysCreateListDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	active := newKey("key-active", base)
	retired := newKey("key-retired", at(-48*time.Hour))
	retired.Algorithm = "RS256"
	retired.PrivateKey = binary(1218, 0x42)
	retired.RetiredAt = at(-time.Hour)
	retired.ExpiresAt = at(24 * time.Hour)
	for _, k := range []storage.SigningKey{active, retired} {
		require.NoError(t, s.CreateSigningKey(ctx, k))
	}
	list, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{retired, active}, list, "every key, every field as created")

	require.NoError(t, s.DeleteSigningKey(ctx, retired.ID))
	list, err = s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{active}, list, "a deleted key is not listed")
	require.NoError(t, s.CreateSigningKey(ctx, retired), "a deleted kid can be used again")
}

func testKeysListOrder(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// Oldest first, ties broken by ID. The IDs run against the creation
	// order, and so do the wall-clock readings of the zones the times are
	// given in: only comparing instants gets it right.
	early := newKey("k-3", base.In(kolkata))               // 08:34 on the wall
	mid := newKey("k-2", at(time.Hour))                    // 04:04
	late := newKey("k-1", at(2*time.Hour).In(newYork))     // 00:04
	tieA := newKey("k-tie-a", at(3*time.Hour).In(kolkata)) // same instant as tieB
	tieB := newKey("k-tie-b", at(3*time.Hour).In(newYork))
	for _, k := range []storage.SigningKey{tieB, mid, late, tieA, early} {
		require.NoError(t, s.CreateSigningKey(ctx, k))
	}
	list, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{early, mid, late, tieA, tieB}, list, "ordered by CreatedAt (as instants), then ID")
}

func testKeysUpdateAtomic(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateSigningKey(ctx, newKey("kid", base)))

	var seen storage.SigningKey
	require.NoError(t, s.UpdateSigningKey(ctx, "kid", func(k storage.SigningKey) (storage.SigningKey, error) {
		seen = normalized(k).(storage.SigningKey) // a deep copy: k is changed below
		k.RetiredAt = at(time.Hour)
		k.ExpiresAt = at(25 * time.Hour)
		return k, nil
	}))
	assertSameRecord(t, newKey("kid", base), seen, "update receives the current record")
	want := newKey("kid", base)
	want.RetiredAt, want.ExpiresAt = at(time.Hour), at(25*time.Hour)
	list, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{want}, list, "the record update returned is stored")

	boom := errors.New("update refused")
	err = s.UpdateSigningKey(ctx, "kid", func(k storage.SigningKey) (storage.SigningKey, error) {
		k.PrivateKey[0] ^= 0xff
		k.RetiredAt = time.Time{}
		return k, boom
	})
	assert.ErrorIs(t, err, boom, "update's error is returned")
	list, err = s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{want}, list, "a failed update writes nothing, even what update changed in place")

	n := raceWidth
	errs := race(n, func(i int) error {
		return s.UpdateSigningKey(ctx, "kid", func(k storage.SigningKey) (storage.SigningKey, error) {
			dawdle()
			k.PrivateKey = append(k.PrivateKey, byte(i))
			return k, nil
		})
	})
	for i, err := range errs {
		require.NoError(t, err, "concurrent UpdateSigningKey %d", i)
	}
	list, err = s.ListSigningKeys(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Len(t, list[0].PrivateKey, len(want.PrivateKey)+n, "no update lost among %d concurrent ones", n)
	assert.Equal(t, want.PrivateKey, list[0].PrivateKey[:len(want.PrivateKey)])
	appended := map[byte]bool{}
	for _, b := range list[0].PrivateKey[len(want.PrivateKey):] {
		appended[b] = true
	}
	assert.Len(t, appended, n, "every concurrent update's byte is there once")
}
