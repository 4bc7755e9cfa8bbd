package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

func testExpiryDeleteExpired(t *testing.T, s storage.Store) {
	ctx := t.Context()
	cut := at(time.Hour)
	expired, live := cut.Add(-time.Millisecond), cut.Add(time.Millisecond)

	// One expired and one live record of every kind. Expired tokens go
	// whether active or not.
	var removed int64
	for i, kind := range storage.Kinds {
		old := newToken(kind, "expired", "req")
		old.ExpiresAt = expired
		old.Active = i%2 == 0
		fresh := newToken(kind, "live", "req")
		fresh.ExpiresAt = live
		fresh.Active = i%2 == 1
		require.NoError(t, s.CreateToken(ctx, old))
		require.NoError(t, s.CreateToken(ctx, fresh))
		removed++
	}
	require.NoError(t, s.UseJTI(ctx, "jti-expired", expired, base))
	require.NoError(t, s.UseJTI(ctx, "jti-live", live, base))
	removed++

	oldConsent, liveConsent, foreverConsent := newConsent("alice", "expired"), newConsent("alice", "live"), newConsent("alice", "forever")
	oldConsent.ExpiresAt, liveConsent.ExpiresAt, foreverConsent.ExpiresAt = expired, live, time.Time{}
	for _, c := range []storage.Consent{oldConsent, liveConsent, foreverConsent} {
		require.NoError(t, s.SaveConsent(ctx, c))
	}
	removed++

	oldSession, liveSession := newLoginSession("expired", "alice"), newLoginSession("live", "alice")
	oldSession.ExpiresAt, liveSession.ExpiresAt = expired, live
	require.NoError(t, s.CreateLoginSession(ctx, oldSession))
	require.NoError(t, s.CreateLoginSession(ctx, liveSession))
	removed++

	oldFlow, liveFlow := newFlow("expired"), newFlow("live")
	oldFlow.ExpiresAt, liveFlow.ExpiresAt = expired, live
	require.NoError(t, s.CreateAuthFlow(ctx, oldFlow))
	require.NoError(t, s.CreateAuthFlow(ctx, liveFlow))
	removed++

	// Keys: one past its ExpiresAt, one retired but still published, one
	// never retired (zero ExpiresAt: it must never be removed).
	oldKey, retiredKey, activeKey := newKey("key-expired", at(-72*time.Hour)), newKey("key-retired", at(-48*time.Hour)), newKey("key-active", at(-24*time.Hour))
	oldKey.RetiredAt, oldKey.ExpiresAt = at(-48*time.Hour), expired
	retiredKey.RetiredAt, retiredKey.ExpiresAt = at(-24*time.Hour), live
	for _, k := range []storage.SigningKey{oldKey, retiredKey, activeKey} {
		require.NoError(t, s.CreateSigningKey(ctx, k))
	}
	removed++

	// Throttles go by their ExpiresAt alone, even one still locked.
	oldThrottle, liveThrottle := newThrottle("password:expired"), newThrottle("password:live")
	oldThrottle.ExpiresAt, oldThrottle.LockedUntil = expired, live
	liveThrottle.ExpiresAt, liveThrottle.LockedUntil = live, expired
	putThrottle(t, s, oldThrottle)
	putThrottle(t, s, liveThrottle)
	removed++

	// MFA records never expire, even with a lockout long over.
	unlocked := newMFA("alice")
	unlocked.LockedUntil = expired
	require.NoError(t, s.CreateMFA(ctx, unlocked))

	n, err := s.DeleteExpired(ctx, longAgo)
	require.NoError(t, err)
	assert.EqualValues(t, 0, n, "nothing had expired before %v", longAgo)

	n, err = s.DeleteExpired(ctx, cut)
	require.NoError(t, err)
	assert.Equal(t, removed, n, "DeleteExpired returns how many records it removed")

	for _, kind := range storage.Kinds {
		_, err := s.GetToken(ctx, kind, "expired")
		assert.ErrorIs(t, err, storage.ErrNotFound, "expired %s removed", kind)
		_, err = s.GetToken(ctx, kind, "live")
		assert.NoError(t, err, "live %s kept", kind)
	}
	// A JWT ID still recorded would be "used" at base; a removed one is not.
	assert.NoError(t, s.UseJTI(ctx, "jti-expired", live, base), "expired JWT ID removed")
	assert.ErrorIs(t, s.UseJTI(ctx, "jti-live", live, base), storage.ErrAlreadyUsed, "live JWT ID kept")

	_, err = s.GetConsent(ctx, "alice", "expired")
	assert.ErrorIs(t, err, storage.ErrNotFound, "expired consent removed")
	consents, err := s.ListConsents(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, []storage.Consent{foreverConsent, liveConsent}, consents, "live consents and those without expiry kept")

	_, err = s.GetLoginSession(ctx, "expired")
	assert.ErrorIs(t, err, storage.ErrNotFound, "expired login session removed")
	_, err = s.GetLoginSession(ctx, "live")
	assert.NoError(t, err, "live login session kept")

	_, err = s.GetAuthFlow(ctx, "expired")
	assert.ErrorIs(t, err, storage.ErrNotFound, "expired flow removed")
	_, err = s.GetAuthFlow(ctx, "live")
	assert.NoError(t, err, "live flow kept")

	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{retiredKey, activeKey}, keys, "keys still published, or never retired, kept")

	_, err = s.GetThrottle(ctx, oldThrottle.Key)
	assert.ErrorIs(t, err, storage.ErrNotFound, "expired throttle removed")
	gotThrottle, err := s.GetThrottle(ctx, liveThrottle.Key)
	if assert.NoError(t, err, "live throttle kept") {
		assertSameRecord(t, liveThrottle, gotThrottle, "live throttle unchanged by DeleteExpired")
	}

	gotMFA, err := s.GetMFA(ctx, "alice")
	if assert.NoError(t, err, "MFA record kept") {
		assertSameRecord(t, unlocked, gotMFA, "MFA record unchanged by DeleteExpired")
	}

	n, err = s.DeleteExpired(ctx, cut)
	require.NoError(t, err)
	assert.EqualValues(t, 0, n, "a second pass finds nothing more")
}
