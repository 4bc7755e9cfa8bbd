package storagetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// inZone returns a copy of record with every non-zero time.Time field,
// including those inside slices, given in loc: the same instants, other
// wall clocks.
func inZone[T any](record T, loc *time.Location) T {
	v := reflect.ValueOf(&record).Elem()
	moveTimes(v, loc)
	return record
}

func moveTimes(v reflect.Value, loc *time.Location) {
	if v.Type() == timeType {
		if tm := v.Interface().(time.Time); !tm.IsZero() {
			v.Set(reflect.ValueOf(tm.In(loc)))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			moveTimes(v.Field(i), loc)
		}
	case reflect.Slice:
		for i := range v.Len() {
			moveTimes(v.Index(i), loc)
		}
	}
}

func testTimeUTCRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, loc := range []*time.Location{kolkata, newYork} {
		name := loc.String()

		client := inZone(newClient("client-"+name), loc)
		require.NoError(t, s.CreateClient(ctx, client))
		gotClient, err := s.GetClient(ctx, client.ID)
		require.NoError(t, err)
		assertSameRecord(t, client, gotClient, "client times given in %s come back as the same instants", name)

		tok := inZone(newToken(storage.KindAccessToken, "token-"+name, "req"), loc)
		require.NoError(t, s.CreateToken(ctx, tok))
		gotTok, err := s.GetToken(ctx, tok.Kind, tok.Signature)
		require.NoError(t, err)
		assertSameRecord(t, tok, gotTok, "token times given in %s", name)

		consent := inZone(newConsent("alice", "client-"+name), loc)
		require.NoError(t, s.SaveConsent(ctx, consent))
		gotConsent, err := s.GetConsent(ctx, consent.Subject, consent.ClientID)
		require.NoError(t, err)
		assertSameRecord(t, consent, gotConsent, "consent times given in %s", name)

		session := inZone(newLoginSession("session-"+name, "alice"), loc)
		require.NoError(t, s.CreateLoginSession(ctx, session))
		gotSession, err := s.GetLoginSession(ctx, session.ID)
		require.NoError(t, err)
		assertSameRecord(t, session, gotSession, "login session times given in %s", name)

		flow := inZone(newFlow("flow-"+name), loc)
		require.NoError(t, s.CreateAuthFlow(ctx, flow))
		require.NoError(t, s.UpdateAuthFlow(ctx, flow.ID, func(f storage.AuthFlow) (storage.AuthFlow, error) {
			f.AuthTime = at(time.Minute).In(loc)
			f.RequestedAt = at(2 * time.Minute).In(loc)
			return f, nil
		}))
		flow.AuthTime, flow.RequestedAt = at(time.Minute), at(2*time.Minute)
		gotFlow, err := s.GetAuthFlow(ctx, flow.ID)
		require.NoError(t, err)
		assertSameRecord(t, flow, gotFlow, "flow times given in %s, by create and by update", name)

		key := newKey("key-"+name, base)
		key.RetiredAt, key.ExpiresAt = at(time.Hour), at(2*time.Hour)
		key = inZone(key, loc)
		require.NoError(t, s.CreateSigningKey(ctx, key))
		keys, err := s.ListSigningKeys(ctx)
		require.NoError(t, err)
		if assert.NotEmpty(t, keys) {
			assertSameRecord(t, key, keys[len(keys)-1], "signing key times given in %s", name)
		}
		require.NoError(t, s.DeleteSigningKey(ctx, key.ID))
	}
}

func testTimeZonesCompareByInstant(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// Each case sets a trap for a backend that compared wall clocks: the
	// instants say one thing, the wall-clock readings the opposite.

	// Expires at 23:04 New York (04:04 UTC); checked at 09:33 Kolkata
	// (04:03 UTC): still used.
	require.NoError(t, s.UseJTI(ctx, "jti-1", at(time.Hour).In(newYork), base))
	assert.ErrorIs(t, s.UseJTI(ctx, "jti-1", at(time.Hour), at(59*time.Minute).In(kolkata)), storage.ErrAlreadyUsed,
		"a JWT ID is used until its expiry instant, whatever the zones")
	// Expires at 09:34 Kolkata (04:04 UTC); checked at 23:05 New York
	// (04:05 UTC): free again.
	require.NoError(t, s.UseJTI(ctx, "jti-2", at(time.Hour).In(kolkata), base))
	assert.NoError(t, s.UseJTI(ctx, "jti-2", at(3*time.Hour), at(61*time.Minute).In(newYork)),
		"a JWT ID is free after its expiry instant, whatever the zones")

	// DeleteExpired at 05:04 UTC: the token that expired at 04:04 UTC
	// (09:34 on the Kolkata wall) goes; the one expiring at 06:04 UTC (01:04
	// on the New York wall) stays.
	gone := newToken(storage.KindAccessToken, "gone", "r")
	gone.ExpiresAt = at(time.Hour).In(kolkata)
	kept := newToken(storage.KindAccessToken, "kept", "r")
	kept.ExpiresAt = at(3 * time.Hour).In(newYork)
	require.NoError(t, s.CreateToken(ctx, gone))
	require.NoError(t, s.CreateToken(ctx, kept))
	goneSession := newLoginSession("gone", "alice")
	goneSession.ExpiresAt = at(time.Hour).In(kolkata)
	keptSession := newLoginSession("kept", "alice")
	keptSession.ExpiresAt = at(3 * time.Hour).In(newYork)
	require.NoError(t, s.CreateLoginSession(ctx, goneSession))
	require.NoError(t, s.CreateLoginSession(ctx, keptSession))

	n, err := s.DeleteExpired(ctx, at(2*time.Hour))
	require.NoError(t, err)
	// jti-1 (04:04 UTC) has expired too; jti-2 was recorded again until
	// 06:04 UTC.
	assert.EqualValues(t, 3, n, "one token, one login session and one JWT ID had expired")
	_, err = s.GetToken(ctx, storage.KindAccessToken, "gone")
	assert.ErrorIs(t, err, storage.ErrNotFound, "expired by instant")
	_, err = s.GetToken(ctx, storage.KindAccessToken, "kept")
	assert.NoError(t, err, "not expired by instant")
	_, err = s.GetLoginSession(ctx, "gone")
	assert.ErrorIs(t, err, storage.ErrNotFound, "expired by instant")
	_, err = s.GetLoginSession(ctx, "kept")
	assert.NoError(t, err, "not expired by instant")
}
