package storagetest

import (
	"fmt"
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

// testExpiryBoundary pins the cut-off of DeleteExpired(before) for every
// kind of record it sweeps: a record whose expiry is before before goes, one
// whose expiry equals before stays (it has not expired before that
// instant), and so does a later one. The records expire one microsecond
// before the cut-off, exactly at it and one microsecond after (a
// microsecond is the finest precision a backend must keep); three sweeps, a
// microsecond apart, must each remove exactly the records that expired one
// microsecond before their cut-off. A backend comparing with <= instead of
// <, or against a cut-off it rounded, fails.
func testExpiryBoundary(t *testing.T, s storage.Store) {
	ctx := t.Context()
	cut := at(time.Hour)
	edges := []string{"before", "at", "after"}
	expiry := func(i int) time.Time { return cut.Add(time.Duration(i-1) * time.Microsecond) }
	// where says how expiry(i) lies to a sweep's cut-off.
	where := func(i int, sweep time.Time) string {
		switch d := expiry(i).Sub(sweep); {
		case d < 0:
			return fmt.Sprintf("%v before", -d)
		case d > 0:
			return fmt.Sprintf("%v after", d)
		}
		return "exactly at"
	}

	tokens := func(i int) []storage.Token {
		var toks []storage.Token
		for _, kind := range storage.Kinds {
			tok := newToken(kind, edges[i], "req-"+edges[i])
			tok.ExpiresAt = expiry(i)
			toks = append(toks, tok)
		}
		return toks
	}
	consent := func(i int) storage.Consent {
		c := newConsent("alice", edges[i])
		c.ExpiresAt = expiry(i)
		return c
	}
	session := func(i int) storage.LoginSession {
		ls := newLoginSession(edges[i], "alice")
		ls.ExpiresAt = expiry(i)
		return ls
	}
	flow := func(i int) storage.AuthFlow {
		f := newFlow(edges[i])
		f.ExpiresAt = expiry(i)
		return f
	}
	key := func(i int) storage.SigningKey {
		k := newKey("key-"+edges[i], at(time.Duration(i)*time.Minute-72*time.Hour))
		k.RetiredAt, k.ExpiresAt = at(-48*time.Hour), expiry(i)
		return k
	}
	throttle := func(i int) storage.Throttle {
		th := newThrottle("password:" + edges[i])
		th.ExpiresAt = expiry(i)
		return th
	}
	jti := func(i int) string { return "jti-" + edges[i] }

	perEdge := int64(len(storage.Kinds)) + 6 // tokens, and one JWT ID, consent, session, flow, key and throttle
	for i := range edges {
		for _, tok := range tokens(i) {
			require.NoError(t, s.CreateToken(ctx, tok))
		}
		require.NoError(t, s.UseJTI(ctx, jti(i), expiry(i), base))
		require.NoError(t, s.SaveConsent(ctx, consent(i)))
		require.NoError(t, s.CreateLoginSession(ctx, session(i)))
		require.NoError(t, s.CreateAuthFlow(ctx, flow(i)))
		require.NoError(t, s.CreateSigningKey(ctx, key(i)))
		putThrottle(t, s, throttle(i))
	}

	// check asserts that the records of edge i are stored unchanged (keep)
	// or gone (!keep) after the sweep with cut-off sweep, and reports
	// whether they are. A JWT ID is checked by using it at base, before
	// every expiry: that fails with ErrAlreadyUsed while it is recorded, and
	// records a removed one again, until long after every cut-off.
	check := func(i int, sweep time.Time, keep bool) bool {
		t.Helper()
		verb := "removes"
		if keep {
			verb = "keeps"
		}
		msg := func(what string) string {
			return fmt.Sprintf("DeleteExpired(%s) %s the %s expiring %s its cut-off", sweep.Format(time.RFC3339Nano), verb, what, where(i, sweep))
		}
		ok := true
		found := func(what string, want, got any, err error) {
			t.Helper()
			if keep {
				ok = assert.NoError(t, err, msg(what)) && assertSameRecord(t, want, got, msg(what)) && ok
			} else {
				ok = assert.ErrorIs(t, err, storage.ErrNotFound, msg(what)) && ok
			}
		}
		for _, want := range tokens(i) {
			got, err := s.GetToken(ctx, want.Kind, want.Signature)
			found(string(want.Kind), want, got, err)
		}
		if err := s.UseJTI(ctx, jti(i), at(1000*time.Hour), base); keep {
			ok = assert.ErrorIs(t, err, storage.ErrAlreadyUsed, msg("JWT ID")) && ok
		} else {
			ok = assert.NoError(t, err, msg("JWT ID")) && ok
		}
		gotConsent, err := s.GetConsent(ctx, "alice", edges[i])
		found("consent", consent(i), gotConsent, err)
		gotSession, err := s.GetLoginSession(ctx, edges[i])
		found("login session", session(i), gotSession, err)
		gotFlow, err := s.GetAuthFlow(ctx, edges[i])
		found("flow", flow(i), gotFlow, err)
		keys, err := s.ListSigningKeys(ctx)
		require.NoError(t, err)
		gotKey, err := storage.SigningKey{}, storage.ErrNotFound
		for _, k := range keys {
			if k.ID == key(i).ID {
				gotKey, err = k, nil
			}
		}
		found("signing key", key(i), gotKey, err)
		gotThrottle, err := s.GetThrottle(ctx, throttle(i).Key)
		found("throttle", throttle(i), gotThrottle, err)
		return ok
	}

	// The sweep at cut removes what expired a microsecond before it; the
	// next, a microsecond later, what expired at cut; the last the rest.
	for step := range edges {
		sweep := cut.Add(time.Duration(step) * time.Microsecond)
		n, err := s.DeleteExpired(ctx, sweep)
		require.NoError(t, err)
		ok := assert.Equal(t, perEdge, n, "DeleteExpired(%s) removes the %d records expiring %s it, and nothing else",
			sweep.Format(time.RFC3339Nano), perEdge, where(step, sweep))
		ok = check(step, sweep, false) && ok
		for i := step + 1; i < len(edges); i++ {
			ok = check(i, sweep, true) && ok
		}
		if !ok {
			return // the later sweeps would count what this one got wrong
		}
	}
}
