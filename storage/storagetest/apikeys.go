package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// The APIKeys and ApplicationUsers groups check [storage.APIKeyStore] and
// [storage.ApplicationUserStore], which are optional: they run when the
// store implements them and are skipped, saying so, when it does not. What
// the provider relies on:
//
//   - a key is found by its ID, and the keys of an owner by owner and
//     owner type (a user "alice" and an application user "alice" are
//     different owners);
//   - UpdateAPIKey is atomic, so that of several rotations that each check
//     the hash they read exactly one wins and every other gets the error
//     its update returned: a rotation race leaves exactly one valid key;
//   - TouchAPIKey only ever moves LastUsedAt forward and changes nothing
//     else;
//   - deleting an application user deletes its keys in the same step, and
//     no key can be created for an application user that does not exist.

// withAPIKeys adapts an APIKeys case: it skips it when the store is not a
// [storage.APIKeyStore].
func withAPIKeys(run func(t *testing.T, s storage.Store, ks storage.APIKeyStore)) func(t *testing.T, s storage.Store) {
	return func(t *testing.T, s storage.Store) {
		ks, ok := s.(storage.APIKeyStore)
		if !ok {
			t.Skipf("storagetest: %T does not implement storage.APIKeyStore; the APIKeys cases run only for stores that do", s)
		}
		run(t, s, ks)
	}
}

// withAppUsers adapts an ApplicationUsers case: it skips it when the
// store is not a [storage.ApplicationUserStore].
func withAppUsers(run func(t *testing.T, s storage.Store, us storage.ApplicationUserStore)) func(t *testing.T, s storage.Store) {
	return func(t *testing.T, s storage.Store) {
		us, ok := s.(storage.ApplicationUserStore)
		if !ok {
			t.Skipf("storagetest: %T does not implement storage.ApplicationUserStore; the ApplicationUsers cases run only for stores that do", s)
		}
		run(t, s, us)
	}
}

// newAPIKey returns a key of owner with every field set.
func newAPIKey(id string, ownerType storage.PrincipalType, owner string) storage.APIKey {
	return storage.APIKey{
		ID:                 id,
		Name:               "Nightly export " + id,
		OwnerType:          ownerType,
		Owner:              owner,
		Tenant:             "acme",
		Hash:               "hmac-sha256$" + id,
		PermissionScope:    []string{"assets:read", "registry:*"},
		IPRanges:           []string{"10.0.0.0/8", "2001:db8::/32"},
		ForwardedForRanges: []string{"192.0.2.1-192.0.2.9"},
		RequireMFA:         true,
		ExpiresAt:          at(365 * 24 * time.Hour),
		CreatedAt:          base,
		RotatedAt:          at(time.Hour),
		LastUsedAt:         at(2 * time.Hour),
	}
}

// newAppUser returns an application user with every field set.
func newAppUser(id string) storage.ApplicationUser {
	return storage.ApplicationUser{
		ID:                  id,
		Name:                "Reporting bot " + id,
		Description:         "Runs the weekly report; owner: ops@example.com",
		Tenant:              "acme",
		Roles:               []string{"portal-user", "reporter"},
		Permissions:         []string{"assets:read", "registry:*"},
		AccessTokenLifetime: 10*time.Minute + 500*time.Millisecond,
		CreatedAt:           base,
		UpdatedAt:           at(time.Minute),
	}
}

// ensureAppUser creates the application user id when the store keeps
// them, so that keys of it can be created.
func ensureAppUser(t *testing.T, s storage.Store, id string) {
	t.Helper()
	if us, ok := s.(storage.ApplicationUserStore); ok {
		err := us.CreateApplicationUser(t.Context(), newAppUser(id))
		if !errors.Is(err, storage.ErrAlreadyExists) {
			require.NoError(t, err, "CreateApplicationUser(%q)", id)
		}
	}
}

func testAPIKeysCreateGetDelete(t *testing.T, s storage.Store, ks storage.APIKeyStore) {
	ctx := t.Context()
	ensureAppUser(t, s, "bot")
	alice := newAPIKey("k1", storage.PrincipalUser, "alice")
	bot := inZone(newAPIKey("k2", storage.PrincipalApplication, "bot"), kolkata)
	bot.Tenant, bot.PermissionScope, bot.IPRanges, bot.ForwardedForRanges, bot.RequireMFA = "", nil, nil, nil, false
	bot.ExpiresAt, bot.RotatedAt, bot.LastUsedAt = time.Time{}, time.Time{}, time.Time{} // never expires, never rotated or used
	require.NoError(t, ks.CreateAPIKey(ctx, alice))
	require.NoError(t, ks.CreateAPIKey(ctx, bot))
	for _, want := range []storage.APIKey{alice, bot} {
		got, err := ks.GetAPIKey(ctx, want.ID)
		require.NoError(t, err, want.ID)
		assertSameRecord(t, want, got, "GetAPIKey(%q) returns every field as created", want.ID)
	}

	dup := newAPIKey("k1", storage.PrincipalUser, "mallory")
	dup.Hash = "hmac-sha256$other"
	assert.ErrorIs(t, ks.CreateAPIKey(ctx, dup), storage.ErrAlreadyExists, "CreateAPIKey of an existing ID")
	got, err := ks.GetAPIKey(ctx, "k1")
	require.NoError(t, err)
	assertSameRecord(t, alice, got, "a refused CreateAPIKey keeps the first key")

	_, err = ks.GetAPIKey(ctx, "nope")
	assert.ErrorIs(t, err, storage.ErrNotFound, "GetAPIKey of an unknown ID")
	called := false
	err = ks.UpdateAPIKey(ctx, "nope", func(k storage.APIKey) (storage.APIKey, error) {
		called = true
		return newAPIKey("nope", storage.PrincipalUser, "alice"), nil
	})
	assert.ErrorIs(t, err, storage.ErrNotFound, "UpdateAPIKey of an unknown ID")
	assert.False(t, called, "UpdateAPIKey does not call update for an unknown ID")
	assert.ErrorIs(t, ks.TouchAPIKey(ctx, "nope", at(time.Hour)), storage.ErrNotFound, "TouchAPIKey of an unknown ID")
	_, err = ks.GetAPIKey(ctx, "nope")
	assert.ErrorIs(t, err, storage.ErrNotFound, "UpdateAPIKey and TouchAPIKey of an unknown ID create nothing")
	assert.ErrorIs(t, ks.DeleteAPIKey(ctx, "nope"), storage.ErrNotFound, "DeleteAPIKey of an unknown ID")

	require.NoError(t, ks.DeleteAPIKey(ctx, "k1"))
	_, err = ks.GetAPIKey(ctx, "k1")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a deleted key is gone")
	assert.ErrorIs(t, ks.DeleteAPIKey(ctx, "k1"), storage.ErrNotFound, "a second DeleteAPIKey")
	got, err = ks.GetAPIKey(ctx, "k2")
	require.NoError(t, err, "deleting one key leaves the others")
	assertSameRecord(t, bot, got)
	require.NoError(t, ks.CreateAPIKey(ctx, alice), "a deleted ID can be used again")
}

func testAPIKeysFind(t *testing.T, s storage.Store, ks storage.APIKeyStore) {
	ctx := t.Context()
	ensureAppUser(t, s, "alice")
	ensureAppUser(t, s, "bot")
	// IDs whose byte order differs from a case-insensitive or natural one.
	keys := []storage.APIKey{
		newAPIKey("b", storage.PrincipalUser, "alice"),
		newAPIKey("B", storage.PrincipalUser, "alice"),
		newAPIKey("a0", storage.PrincipalApplication, "alice"), // the application user named like the user
		newAPIKey("a", storage.PrincipalApplication, "bot"),
		newAPIKey("a10", storage.PrincipalUser, "alice2"),
		newAPIKey("a9", storage.PrincipalUser, "Alice"),
	}
	for _, k := range keys {
		require.NoError(t, ks.CreateAPIKey(ctx, k))
	}
	byID := map[string]storage.APIKey{}
	for _, k := range keys {
		byID[k.ID] = k
	}
	pick := func(ids ...string) []storage.APIKey {
		out := []storage.APIKey{}
		for _, id := range ids {
			out = append(out, byID[id])
		}
		return out
	}
	for _, tc := range []struct {
		q    storage.APIKeyQuery
		want []storage.APIKey
	}{
		{storage.APIKeyQuery{}, pick("B", "a", "a0", "a10", "a9", "b")},
		{storage.APIKeyQuery{Owner: "alice"}, pick("B", "a0", "b")},
		{storage.APIKeyQuery{OwnerType: storage.PrincipalUser, Owner: "alice"}, pick("B", "b")},
		{storage.APIKeyQuery{OwnerType: storage.PrincipalApplication, Owner: "alice"}, pick("a0")},
		{storage.APIKeyQuery{OwnerType: storage.PrincipalApplication}, pick("a", "a0")},
		{storage.APIKeyQuery{Owner: "nobody"}, pick()},
		{storage.APIKeyQuery{Limit: 2}, pick("B", "a")},
		{storage.APIKeyQuery{After: "a", Limit: 2}, pick("a0", "a10")},
		{storage.APIKeyQuery{After: "a9"}, pick("b")},
		{storage.APIKeyQuery{After: "b"}, pick()},
		{storage.APIKeyQuery{Owner: "alice", After: "B", Limit: 1}, pick("a0")},
		{storage.APIKeyQuery{Limit: -1}, pick("B", "a", "a0", "a10", "a9", "b")},
	} {
		got, err := ks.FindAPIKeys(ctx, tc.q)
		require.NoError(t, err, "FindAPIKeys(%+v)", tc.q)
		assert.NotNil(t, got, "FindAPIKeys(%+v) returns an empty slice, not nil, when none is selected", tc.q)
		assertSameRecord(t, tc.want, got, "FindAPIKeys(%+v), in byte order of ID", tc.q)
	}
}

func testAPIKeysUpdateAtomic(t *testing.T, s storage.Store, ks storage.APIKeyStore) {
	ctx := t.Context()
	require.NoError(t, ks.CreateAPIKey(ctx, newAPIKey("k", storage.PrincipalUser, "alice")))

	var seen storage.APIKey
	require.NoError(t, ks.UpdateAPIKey(ctx, "k", func(k storage.APIKey) (storage.APIKey, error) {
		seen = normalized(k).(storage.APIKey) // a deep copy: k is changed below
		k.ID = "other"
		k.Hash = "hmac-sha256$rotated"
		k.RotatedAt = at(3 * time.Hour)
		k.IPRanges = append(k.IPRanges, "192.0.2.7")
		k.ExpiresAt = time.Time{}
		return k, nil
	}))
	assertSameRecord(t, newAPIKey("k", storage.PrincipalUser, "alice"), seen, "update receives the current key")
	want := newAPIKey("k", storage.PrincipalUser, "alice")
	want.Hash = "hmac-sha256$rotated"
	want.RotatedAt = at(3 * time.Hour)
	want.IPRanges = append(want.IPRanges, "192.0.2.7")
	want.ExpiresAt = time.Time{}
	got, err := ks.GetAPIKey(ctx, "k")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "the key update returned is stored, under its ID")
	_, err = ks.GetAPIKey(ctx, "other")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the ID update returned is not used")

	boom := errors.New("rotated meanwhile")
	err = ks.UpdateAPIKey(ctx, "k", func(k storage.APIKey) (storage.APIKey, error) {
		k.Hash = "hmac-sha256$lost"
		k.PermissionScope[0] = "not written"
		return k, boom
	})
	assert.ErrorIs(t, err, boom, "update's error is returned")
	got, err = ks.GetAPIKey(ctx, "k")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "a failed update writes nothing")
	err = ks.UpdateAPIKey(ctx, "k", func(k storage.APIKey) (storage.APIKey, error) {
		return k, &lockedError{until: at(time.Minute)}
	})
	var locked *lockedError
	assert.ErrorAs(t, err, &locked, "update's typed error is returned")
}

// errRotatedMeanwhile is what a rotation's update returns when the key's
// hash is no longer the one it read.
var errRotatedMeanwhile = errors.New("the key was rotated by another request")

func testAPIKeysRotateRace(t *testing.T, s storage.Store, ks storage.APIKeyStore) {
	ctx := t.Context()
	for round := range raceRounds {
		id := fmt.Sprintf("k-%d", round)
		k := newAPIKey(id, storage.PrincipalUser, "alice")
		k.Hash = "hmac-sha256$first"
		require.NoError(t, ks.CreateAPIKey(ctx, k))
		// Every rotation read the same hash and replaces it only if it is
		// still there: compare and swap.
		errs := race(raceWidth, func(i int) error {
			return ks.UpdateAPIKey(ctx, id, func(cur storage.APIKey) (storage.APIKey, error) {
				if cur.Hash != "hmac-sha256$first" {
					return cur, errRotatedMeanwhile
				}
				dawdle()
				cur.Hash = fmt.Sprintf("hmac-sha256$rotation-%d", i)
				cur.RotatedAt = at(time.Duration(i) * time.Second)
				return cur, nil
			})
		})
		require.Equal(t, 1, wins(errs), "round %d: exactly one of %d concurrent rotations wins", round, raceWidth)
		winner := -1
		for i, err := range errs {
			if err == nil {
				winner = i
				continue
			}
			assert.ErrorIs(t, err, errRotatedMeanwhile, "round %d: loser %d gets its update's error", round, i)
		}
		got, err := ks.GetAPIKey(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("hmac-sha256$rotation-%d", winner), got.Hash, "round %d: the winner's hash is the one stored: exactly one valid key", round)
		assert.True(t, got.RotatedAt.Equal(at(time.Duration(winner)*time.Second)), "round %d: with the winner's RotatedAt", round)
	}
}

func testAPIKeysTouch(t *testing.T, s storage.Store, ks storage.APIKeyStore) {
	ctx := t.Context()
	k := newAPIKey("k", storage.PrincipalUser, "alice")
	k.LastUsedAt = time.Time{}
	require.NoError(t, ks.CreateAPIKey(ctx, k))

	want := k
	for _, tc := range []struct {
		at   time.Time
		want time.Time
		what string
	}{
		{at(time.Minute).In(newYork), at(time.Minute), "a first touch sets LastUsedAt"},
		{at(3 * time.Minute), at(3 * time.Minute), "a later touch moves it forward"},
		{at(2 * time.Minute), at(3 * time.Minute), "an earlier touch leaves it"},
		{at(3 * time.Minute), at(3 * time.Minute), "an equal touch leaves it"},
		{at(3*time.Minute + time.Microsecond), at(3*time.Minute + time.Microsecond), "a touch a microsecond later moves it"},
	} {
		require.NoError(t, ks.TouchAPIKey(ctx, "k", tc.at))
		want.LastUsedAt = tc.want
		got, err := ks.GetAPIKey(ctx, "k")
		require.NoError(t, err)
		assertSameRecord(t, want, got, tc.what+", and changes nothing else")
	}

	// A touch keeps what an update wrote, and an update sees the touch.
	require.NoError(t, ks.UpdateAPIKey(ctx, "k", func(k storage.APIKey) (storage.APIKey, error) {
		k.Hash = "hmac-sha256$rotated"
		return k, nil
	}))
	require.NoError(t, ks.TouchAPIKey(ctx, "k", at(time.Hour)))
	want.Hash, want.LastUsedAt = "hmac-sha256$rotated", at(time.Hour)
	got, err := ks.GetAPIKey(ctx, "k")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "a touch after an update keeps the update")

	// Concurrent touches: the latest wins, whatever the order they land in.
	errs := race(raceWidth, func(i int) error { return ks.TouchAPIKey(ctx, "k", at(2*time.Hour+time.Duration(i)*time.Second)) })
	for i, err := range errs {
		require.NoError(t, err, "concurrent TouchAPIKey %d", i)
	}
	got, err = ks.GetAPIKey(ctx, "k")
	require.NoError(t, err)
	want.LastUsedAt = at(2*time.Hour + time.Duration(raceWidth-1)*time.Second)
	assertSameRecord(t, want, got, "of %d concurrent touches the latest time stays", raceWidth)
}

func testAPIKeysApplicationOwner(t *testing.T, s storage.Store, ks storage.APIKeyStore) {
	if _, ok := s.(storage.ApplicationUserStore); !ok {
		t.Skipf("storagetest: %T does not implement storage.ApplicationUserStore", s)
	}
	ctx := t.Context()
	err := ks.CreateAPIKey(ctx, newAPIKey("k", storage.PrincipalApplication, "ghost"))
	assert.ErrorIs(t, err, storage.ErrNotFound, "CreateAPIKey of a key of a missing application user")
	_, err = ks.GetAPIKey(ctx, "k")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the refused key is not stored")
	// A user's key needs no application user.
	require.NoError(t, ks.CreateAPIKey(ctx, newAPIKey("k", storage.PrincipalUser, "ghost")))
}

func testAPIKeysIsolation(t *testing.T, s storage.Store, ks storage.APIKeyStore) {
	ctx := t.Context()
	k := newAPIKey("k", storage.PrincipalUser, "alice")
	require.NoError(t, ks.CreateAPIKey(ctx, k))
	scribble(&k)
	got, err := ks.GetAPIKey(ctx, "k")
	require.NoError(t, err)
	assertSameRecord(t, newAPIKey("k", storage.PrincipalUser, "alice"), got, "changing the key after CreateAPIKey does not change the stored one")

	scribble(&got)
	found, err := ks.FindAPIKeys(ctx, storage.APIKeyQuery{})
	require.NoError(t, err)
	scribble(&found)
	var kept storage.APIKey
	require.NoError(t, ks.UpdateAPIKey(ctx, "k", func(k storage.APIKey) (storage.APIKey, error) {
		kept = k
		return k, nil
	}))
	scribble(&kept)
	got, err = ks.GetAPIKey(ctx, "k")
	require.NoError(t, err)
	assertSameRecord(t, newAPIKey("k", storage.PrincipalUser, "alice"), got, "changing what GetAPIKey, FindAPIKeys and UpdateAPIKey returned or stored does not change the stored key")
}

func testAppUsersCreateGetDelete(t *testing.T, s storage.Store, us storage.ApplicationUserStore) {
	ctx := t.Context()
	bot := newAppUser("bot")
	other := inZone(storage.ApplicationUser{ID: "other", Name: "Other", CreatedAt: base, UpdatedAt: base}, kolkata)
	require.NoError(t, us.CreateApplicationUser(ctx, bot))
	require.NoError(t, us.CreateApplicationUser(ctx, other))
	for _, want := range []storage.ApplicationUser{bot, other} {
		got, err := us.GetApplicationUser(ctx, want.ID)
		require.NoError(t, err, want.ID)
		assertSameRecord(t, want, got, "GetApplicationUser(%q) returns every field as created", want.ID)
	}
	dup := newAppUser("bot")
	dup.Permissions = []string{"*"}
	assert.ErrorIs(t, us.CreateApplicationUser(ctx, dup), storage.ErrAlreadyExists, "CreateApplicationUser of an existing ID")
	got, err := us.GetApplicationUser(ctx, "bot")
	require.NoError(t, err)
	assertSameRecord(t, bot, got, "a refused CreateApplicationUser keeps the first")

	_, err = us.GetApplicationUser(ctx, "nope")
	assert.ErrorIs(t, err, storage.ErrNotFound, "GetApplicationUser of an unknown ID")
	called := false
	err = us.UpdateApplicationUser(ctx, "nope", func(u storage.ApplicationUser) (storage.ApplicationUser, error) {
		called = true
		return newAppUser("nope"), nil
	})
	assert.ErrorIs(t, err, storage.ErrNotFound, "UpdateApplicationUser of an unknown ID")
	assert.False(t, called, "UpdateApplicationUser does not call update for an unknown ID")
	assert.ErrorIs(t, us.DeleteApplicationUser(ctx, "nope"), storage.ErrNotFound, "DeleteApplicationUser of an unknown ID")

	list, err := us.ListApplicationUsers(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.ApplicationUser{bot, other}, list, "ListApplicationUsers, by ID")

	require.NoError(t, us.DeleteApplicationUser(ctx, "bot"))
	_, err = us.GetApplicationUser(ctx, "bot")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a deleted application user is gone")
	list, err = us.ListApplicationUsers(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.ApplicationUser{other}, list, "deleting one leaves the others")
	require.NoError(t, us.CreateApplicationUser(ctx, bot), "a deleted ID can be used again")
}

func testAppUsersListOrder(t *testing.T, s storage.Store, us storage.ApplicationUserStore) {
	ctx := t.Context()
	list, err := us.ListApplicationUsers(ctx)
	require.NoError(t, err)
	assert.Empty(t, list, "a new store has none")
	for _, id := range []string{"b", "B", "a10", "a9", "a"} {
		require.NoError(t, us.CreateApplicationUser(ctx, newAppUser(id)))
	}
	list, err = us.ListApplicationUsers(ctx)
	require.NoError(t, err)
	var ids []string
	for _, u := range list {
		ids = append(ids, u.ID)
	}
	assert.Equal(t, []string{"B", "a", "a10", "a9", "b"}, ids, "ordered by ID, byte by byte")
}

func testAppUsersUpdateAtomic(t *testing.T, s storage.Store, us storage.ApplicationUserStore) {
	ctx := t.Context()
	u := newAppUser("bot")
	u.Roles = nil
	require.NoError(t, us.CreateApplicationUser(ctx, u))
	var seen storage.ApplicationUser
	require.NoError(t, us.UpdateApplicationUser(ctx, "bot", func(cur storage.ApplicationUser) (storage.ApplicationUser, error) {
		seen = normalized(cur).(storage.ApplicationUser)
		cur.ID = "other"
		cur.Permissions = []string{"*"}
		cur.AccessTokenLifetime = 0
		return cur, nil
	}))
	assertSameRecord(t, u, seen, "update receives the current record")
	want := u
	want.Permissions, want.AccessTokenLifetime = []string{"*"}, 0
	got, err := us.GetApplicationUser(ctx, "bot")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "the record update returned is stored, under its ID")

	boom := errors.New("invalid")
	err = us.UpdateApplicationUser(ctx, "bot", func(cur storage.ApplicationUser) (storage.ApplicationUser, error) {
		cur.Permissions[0] = "not written"
		return cur, boom
	})
	assert.ErrorIs(t, err, boom, "update's error is returned")
	got, err = us.GetApplicationUser(ctx, "bot")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "a failed update writes nothing")

	errs := race(raceWidth, func(i int) error {
		return us.UpdateApplicationUser(ctx, "bot", func(cur storage.ApplicationUser) (storage.ApplicationUser, error) {
			dawdle()
			cur.Roles = append(cur.Roles, fmt.Sprintf("role-%d", i))
			return cur, nil
		})
	})
	for i, err := range errs {
		require.NoError(t, err, "concurrent UpdateApplicationUser %d", i)
	}
	got, err = us.GetApplicationUser(ctx, "bot")
	require.NoError(t, err)
	assert.Len(t, got.Roles, raceWidth, "no update lost among %d concurrent ones", raceWidth)
}

func testAppUsersDeleteRemovesKeys(t *testing.T, s storage.Store, us storage.ApplicationUserStore) {
	ctx := t.Context()
	require.NoError(t, us.CreateApplicationUser(ctx, newAppUser("alice")))
	require.NoError(t, us.CreateApplicationUser(ctx, newAppUser("alice2")))
	keys := []storage.APIKey{
		newAPIKey("app-1", storage.PrincipalApplication, "alice"),
		newAPIKey("app-2", storage.PrincipalApplication, "alice"),
		newAPIKey("user", storage.PrincipalUser, "alice"), // the user named like the application user
		newAPIKey("app2", storage.PrincipalApplication, "alice2"),
	}
	for _, k := range keys {
		require.NoError(t, us.CreateAPIKey(ctx, k))
	}
	require.NoError(t, us.DeleteApplicationUser(ctx, "alice"))
	for _, id := range []string{"app-1", "app-2"} {
		_, err := us.GetAPIKey(ctx, id)
		assert.ErrorIs(t, err, storage.ErrNotFound, "DeleteApplicationUser(alice) deletes its key %s", id)
	}
	for _, k := range keys[2:] {
		got, err := us.GetAPIKey(ctx, k.ID)
		if assert.NoError(t, err, "DeleteApplicationUser(alice) leaves key %s of %s %s", k.ID, k.OwnerType, k.Owner) {
			assertSameRecord(t, k, got)
		}
	}
	err := us.CreateAPIKey(ctx, newAPIKey("app-3", storage.PrincipalApplication, "alice"))
	assert.ErrorIs(t, err, storage.ErrNotFound, "no key can be created for the deleted application user")

	// Deleting a missing application user removes nothing.
	assert.ErrorIs(t, us.DeleteApplicationUser(ctx, "alice"), storage.ErrNotFound)
	found, err := us.FindAPIKeys(ctx, storage.APIKeyQuery{})
	require.NoError(t, err)
	assertSameRecord(t, []storage.APIKey{keys[3], keys[2]}, found, "the other keys stay (by ID: app2, user)")
}

func testAppUsersIsolation(t *testing.T, s storage.Store, us storage.ApplicationUserStore) {
	ctx := t.Context()
	u := newAppUser("bot")
	require.NoError(t, us.CreateApplicationUser(ctx, u))
	scribble(&u)
	got, err := us.GetApplicationUser(ctx, "bot")
	require.NoError(t, err)
	assertSameRecord(t, newAppUser("bot"), got, "changing the record after CreateApplicationUser does not change the stored one")
	scribble(&got)
	list, err := us.ListApplicationUsers(ctx)
	require.NoError(t, err)
	scribble(&list)
	var kept storage.ApplicationUser
	require.NoError(t, us.UpdateApplicationUser(ctx, "bot", func(cur storage.ApplicationUser) (storage.ApplicationUser, error) {
		kept = cur
		return cur, nil
	}))
	scribble(&kept)
	got, err = us.GetApplicationUser(ctx, "bot")
	require.NoError(t, err)
	assertSameRecord(t, newAppUser("bot"), got, "changing what the reads and UpdateApplicationUser returned or stored does not change the stored record")
}

// principalMethods returns one call of every method of
// storage.ApplicationUserStore (APIKeyStore's included), on the records
// seedPrincipals stores.
func principalMethods(us storage.ApplicationUserStore) []call {
	return []call{
		{"CreateAPIKey", func(ctx context.Context) error {
			return us.CreateAPIKey(ctx, newAPIKey("new-key", storage.PrincipalUser, "alice"))
		}},
		{"GetAPIKey", func(ctx context.Context) error { _, err := us.GetAPIKey(ctx, "key"); return err }},
		{"FindAPIKeys", func(ctx context.Context) error {
			_, err := us.FindAPIKeys(ctx, storage.APIKeyQuery{Owner: "alice", Limit: 1})
			return err
		}},
		{"UpdateAPIKey", func(ctx context.Context) error {
			return us.UpdateAPIKey(ctx, "key", func(k storage.APIKey) (storage.APIKey, error) {
				k.Hash = "changed"
				return k, nil
			})
		}},
		{"TouchAPIKey", func(ctx context.Context) error { return us.TouchAPIKey(ctx, "key", at(1000*time.Hour)) }},
		{"DeleteAPIKey", func(ctx context.Context) error { return us.DeleteAPIKey(ctx, "key") }},
		{"CreateApplicationUser", func(ctx context.Context) error {
			return us.CreateApplicationUser(ctx, newAppUser("new-bot"))
		}},
		{"GetApplicationUser", func(ctx context.Context) error { _, err := us.GetApplicationUser(ctx, "bot"); return err }},
		{"ListApplicationUsers", func(ctx context.Context) error { _, err := us.ListApplicationUsers(ctx); return err }},
		{"UpdateApplicationUser", func(ctx context.Context) error {
			return us.UpdateApplicationUser(ctx, "bot", func(u storage.ApplicationUser) (storage.ApplicationUser, error) {
				u.Name = "changed"
				return u, nil
			})
		}},
		{"DeleteApplicationUser", func(ctx context.Context) error { return us.DeleteApplicationUser(ctx, "bot") }},
	}
}

// seedPrincipals stores an application user "bot" with a key "bot-key",
// and a key "key" of the user alice.
func seedPrincipals(t *testing.T, us storage.ApplicationUserStore) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, us.CreateApplicationUser(ctx, newAppUser("bot")))
	require.NoError(t, us.CreateAPIKey(ctx, newAPIKey("bot-key", storage.PrincipalApplication, "bot")))
	require.NoError(t, us.CreateAPIKey(ctx, newAPIKey("key", storage.PrincipalUser, "alice")))
}

// testPrincipalsContext checks that every method of the application user
// and API key stores returns ctx's error, and changes nothing, when ctx is
// done.
func testPrincipalsContext(done func(context.Context) (context.Context, context.CancelFunc), want error) func(*testing.T, storage.Store, storage.ApplicationUserStore) {
	return func(t *testing.T, s storage.Store, us storage.ApplicationUserStore) {
		seedPrincipals(t, us)
		ctx, cancel := done(t.Context())
		defer cancel()
		for _, c := range principalMethods(us) {
			assert.ErrorIs(t, c.do(ctx), want, "%s with a done context", c.method)
		}
		ctx = t.Context()
		users, err := us.ListApplicationUsers(ctx)
		require.NoError(t, err)
		assertSameRecord(t, []storage.ApplicationUser{newAppUser("bot")}, users, "application users unchanged")
		keys, err := us.FindAPIKeys(ctx, storage.APIKeyQuery{})
		require.NoError(t, err)
		assertSameRecord(t, []storage.APIKey{newAPIKey("bot-key", storage.PrincipalApplication, "bot"), newAPIKey("key", storage.PrincipalUser, "alice")}, keys, "API keys unchanged")
	}
}

func canceled(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	return ctx, cancel
}

func pastDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithDeadline(ctx, time.Unix(0, 0))
}
