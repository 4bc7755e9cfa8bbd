package storagetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

func testTokensCreateGetDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, kind := range storage.Kinds {
		tok := newToken(kind, "sig-"+string(kind), "req-"+string(kind))
		require.NoError(t, s.CreateToken(ctx, tok), kind)
	}
	for _, kind := range storage.Kinds {
		want := newToken(kind, "sig-"+string(kind), "req-"+string(kind))
		got, err := s.GetToken(ctx, kind, want.Signature)
		require.NoError(t, err, kind)
		assertSameRecord(t, want, got, "GetToken(%s) returns every field as created", kind)
	}
	for i, kind := range storage.Kinds {
		require.NoError(t, s.DeleteToken(ctx, kind, "sig-"+string(kind)), kind)
		_, err := s.GetToken(ctx, kind, "sig-"+string(kind))
		assert.ErrorIs(t, err, storage.ErrNotFound, "a deleted %s is gone", kind)
		for _, other := range storage.Kinds[i+1:] {
			_, err := s.GetToken(ctx, other, "sig-"+string(other))
			assert.NoError(t, err, "deleting the %s leaves the %s", kind, other)
		}
	}
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAccessToken, "sig-access_token", "r")),
		"a deleted signature can be used again")
}

func testTokensKindsAreSeparate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// One signature under every kind, each with its own family and state.
	for _, kind := range storage.Kinds {
		tok := newToken(kind, "shared", "req-"+string(kind))
		require.NoError(t, s.CreateToken(ctx, tok), "the same signature under kind %s", kind)
	}
	for _, kind := range storage.Kinds {
		got, err := s.GetToken(ctx, kind, "shared")
		require.NoError(t, err, kind)
		assertSameRecord(t, newToken(kind, "shared", "req-"+string(kind)), got, "GetToken(%s) finds that kind's token", kind)
	}
	require.NoError(t, s.DeleteToken(ctx, storage.KindAccessToken, "shared"))
	_, err := s.GetToken(ctx, storage.KindAccessToken, "shared")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	for _, kind := range storage.Kinds {
		if kind == storage.KindAccessToken {
			continue
		}
		_, err := s.GetToken(ctx, kind, "shared")
		assert.NoError(t, err, "deleting the access token leaves the %s of the same signature", kind)
	}
}

func testTokensGetReturnsInactiveAndExpired(t *testing.T, s storage.Store) {
	ctx := t.Context()
	inactive := newToken(storage.KindAccessToken, "inactive", "r1")
	inactive.Active = false
	expired := newToken(storage.KindRefreshToken, "expired", "r2")
	expired.ExpiresAt = longAgo
	expired.Request.RequestedAt = longAgo.Add(-time.Hour)
	for _, tok := range []storage.Token{inactive, expired} {
		require.NoError(t, s.CreateToken(ctx, tok))
		got, err := s.GetToken(ctx, tok.Kind, tok.Signature)
		require.NoError(t, err, "GetToken returns %s tokens too", tok.Signature)
		assertSameRecord(t, tok, got)
	}
}

func testTokensSessionBytesRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	large := make([]byte, 64<<10)
	for i := range large {
		large[i] = byte(rng.UintN(256))
	}
	sessions := map[string][]byte{
		"nil":          nil,
		"empty":        {},
		"json":         []byte(`{"subject":"alice","extra":{"k":[1,2,3]},"s":"\u00e9\n"}`),
		"every-byte":   binary(256, 0),
		"nul-and-high": {0, 0, 0xff, 0xfe, 0x80, 0, '\\', '\'', '"', 0xc3, 0x28},
		"invalid-utf8": {0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80},
		"trailing-nul": []byte("session\x00"),
		"spaces":       []byte("  padded  "),
		"64KiB-random": large,
	}
	for name, session := range sessions {
		tok := newToken(storage.KindAccessToken, "sig-"+name, "req-"+name)
		tok.Request.Session = session
		require.NoError(t, s.CreateToken(ctx, tok), name)
	}
	for name, session := range sessions {
		got, err := s.GetToken(ctx, storage.KindAccessToken, "sig-"+name)
		require.NoError(t, err, name)
		// assert.Equal compares []byte with bytes.Equal: nil equals empty.
		assert.Equal(t, session, got.Request.Session, "session %q comes back byte for byte", name)
	}
}

func testTokensFormRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	forms := []map[string][]string{
		nil,
		{},
		{"redirect_uri": {"https://app.example.com/cb?a=1&b=2#frag"}},
		{
			"scope":         {"openid", "email"}, // several values, in order
			"claims":        {`{"id_token":{"acr":{"essential":true}}}`},
			"empty":         {""},
			"two-empty":     {"", ""},
			"ünïcödé ключ":  {"värde 値 🔑"},
			"a b&c=d":       {"x y+z%20"},
			"resource[]":    {"urn:b", "urn:a", "urn:b"},
			"code_verifier": {"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
		},
	}
	for i, form := range forms {
		tok := newToken(storage.KindAuthCode, fmt.Sprintf("code-%d", i), fmt.Sprintf("req-%d", i))
		tok.Request.Form = form
		require.NoError(t, s.CreateToken(ctx, tok))
		got, err := s.GetToken(ctx, storage.KindAuthCode, tok.Signature)
		require.NoError(t, err)
		assertSameRecord(t, form, got.Request.Form, "form %d: keys, values and their order come back", i)
	}
}

func testAuthCodesConsumeOnce(t *testing.T, s storage.Store) {
	ctx := t.Context()
	code := newToken(storage.KindAuthCode, "code", "req-code")
	require.NoError(t, s.CreateToken(ctx, code))

	got, err := s.ConsumeAuthCode(ctx, "code")
	require.NoError(t, err, "the first consumer wins")
	want := code
	want.Active = got.Active // the contract leaves the returned Active open
	assertSameRecord(t, want, got, "ConsumeAuthCode returns the code")

	stored, err := s.GetToken(ctx, storage.KindAuthCode, "code")
	require.NoError(t, err, "a consumed code is kept so reuse can be detected")
	want.Active = false
	assertSameRecord(t, want, stored, "a consumed code is inactive and otherwise unchanged")

	for range 2 {
		again, err := s.ConsumeAuthCode(ctx, "code")
		assert.ErrorIs(t, err, storage.ErrAlreadyUsed, "a consumed code cannot be consumed again")
		assert.Equal(t, "req-code", again.Request.ID, "the used code comes back with ErrAlreadyUsed, so its family can be revoked")
		assert.Equal(t, "code", again.Signature)
	}
}

func testAuthCodesConsumeRevoked(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAuthCode, "code", "req-code")))
	require.NoError(t, s.RevokeFamily(ctx, storage.KindAuthCode, "req-code"))
	got, err := s.ConsumeAuthCode(ctx, "code")
	assert.ErrorIs(t, err, storage.ErrAlreadyUsed, "a revoked code is as good as used")
	assert.Equal(t, "req-code", got.Request.ID)

	inactive := newToken(storage.KindAuthCode, "created-inactive", "req-2")
	inactive.Active = false
	require.NoError(t, s.CreateToken(ctx, inactive))
	got, err = s.ConsumeAuthCode(ctx, "created-inactive")
	assert.ErrorIs(t, err, storage.ErrAlreadyUsed, "an inactive code cannot be consumed")
	assert.Equal(t, "req-2", got.Request.ID)
}

func testAuthCodesConsumeOnlyAuthCodes(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, kind := range storage.Kinds {
		if kind != storage.KindAuthCode {
			require.NoError(t, s.CreateToken(ctx, newToken(kind, "sig", "req")))
		}
	}
	_, err := s.ConsumeAuthCode(ctx, "sig")
	assert.ErrorIs(t, err, storage.ErrNotFound, "ConsumeAuthCode looks only at authorization codes")
	for _, kind := range storage.Kinds {
		if kind == storage.KindAuthCode {
			continue
		}
		got, err := s.GetToken(ctx, kind, "sig")
		require.NoError(t, err)
		assert.True(t, got.Active, "ConsumeAuthCode left the %s alone", kind)
	}
}

func testAuthCodesConsume50Concurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for round := range raceRounds {
		sig, family := fmt.Sprintf("code-%d", round), fmt.Sprintf("req-%d", round)
		require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAuthCode, sig, family)))

		got := make([]storage.Token, raceWidth)
		errs := race(raceWidth, func(i int) error {
			var err error
			got[i], err = s.ConsumeAuthCode(ctx, sig)
			return err
		})
		ok := assert.Equal(t, 1, wins(errs), "round %d: exactly one of %d concurrent consumers wins", round, raceWidth)
		for i, err := range errs {
			if err != nil {
				ok = assert.ErrorIs(t, err, storage.ErrAlreadyUsed, "round %d: consumer %d", round, i) && ok
			}
			ok = assert.Equal(t, family, got[i].Request.ID, "round %d: consumer %d gets the code back, winner or not", round, i) && ok
		}
		stored, err := s.GetToken(ctx, storage.KindAuthCode, sig)
		require.NoError(t, err)
		ok = assert.False(t, stored.Active, "round %d: the code ends inactive", round) && ok
		if !ok {
			return
		}
	}
}

func testRefreshRotate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rt := newToken(storage.KindRefreshToken, "rt", "fam")
	require.NoError(t, s.CreateToken(ctx, rt))
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAccessToken, rt.AccessSignature, "fam")))
	code := newToken(storage.KindAuthCode, "rt", "fam") // same signature, other kind
	require.NoError(t, s.CreateToken(ctx, code))

	rotatedAt := at(5 * time.Minute)
	require.NoError(t, s.RotateRefreshToken(ctx, "rt", rotatedAt.In(kolkata)), "the first rotation wins")
	got, err := s.GetToken(ctx, storage.KindRefreshToken, "rt")
	require.NoError(t, err, "a rotated refresh token is kept so reuse can be detected")
	want := rt
	want.Active = false
	want.RotatedAt = rotatedAt
	assertSameRecord(t, want, got, "a rotated refresh token is inactive, RotatedAt is the now given, and it is otherwise unchanged")
	assert.Equal(t, time.UTC, got.RotatedAt.Location(), "RotatedAt comes back in UTC")

	for i := range 2 {
		assert.ErrorIs(t, s.RotateRefreshToken(ctx, "rt", at(time.Duration(6+i)*time.Minute)), storage.ErrAlreadyUsed,
			"a rotated refresh token cannot be rotated again")
	}
	got, err = s.GetToken(ctx, storage.KindRefreshToken, "rt")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "a failed rotation changes nothing: RotatedAt stays the time of the one that won")

	gotCode, err := s.GetToken(ctx, storage.KindAuthCode, "rt")
	require.NoError(t, err)
	assertSameRecord(t, code, gotCode, "rotation touches only the refresh token kind")

	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAccessToken, "only-access", "fam")))
	assert.ErrorIs(t, s.RotateRefreshToken(ctx, "only-access", base), storage.ErrNotFound,
		"RotateRefreshToken looks only at refresh tokens")

	revoked := newToken(storage.KindRefreshToken, "revoked", "fam2")
	revoked.RotatedAt = time.Time{}
	require.NoError(t, s.CreateToken(ctx, revoked))
	require.NoError(t, s.RevokeFamily(ctx, storage.KindRefreshToken, "fam2"))
	assert.ErrorIs(t, s.RotateRefreshToken(ctx, "revoked", base), storage.ErrAlreadyUsed, "a revoked refresh token cannot be rotated")
	got, err = s.GetToken(ctx, storage.KindRefreshToken, "revoked")
	require.NoError(t, err)
	assert.True(t, got.RotatedAt.IsZero(), "revoking a never-rotated refresh token sets no RotatedAt, and neither does a failed rotation: %v", got.RotatedAt)
}

func testRefreshRotateRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for round := range raceRounds {
		rt := newToken(storage.KindRefreshToken, fmt.Sprintf("rt-%d", round), "fam")
		require.NoError(t, s.CreateToken(ctx, rt))
		require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAccessToken, rt.AccessSignature, "fam")))

		// Each rotation passes its own now, so the stored RotatedAt shows
		// which one wrote it.
		nowOf := func(i int) time.Time { return at(time.Duration(i+1) * time.Second) }
		errs := race(raceWidth, func(i int) error { return s.RotateRefreshToken(ctx, rt.Signature, nowOf(i)) })
		ok := assert.Equal(t, 1, wins(errs), "round %d: exactly one of %d concurrent rotations wins", round, raceWidth)
		winner := -1
		for i, err := range errs {
			if err != nil {
				ok = assert.ErrorIs(t, err, storage.ErrAlreadyUsed, "round %d: rotation %d", round, i) && ok
			} else {
				winner = i
			}
		}
		got, err := s.GetToken(ctx, storage.KindRefreshToken, rt.Signature)
		require.NoError(t, err)
		ok = assert.False(t, got.Active, "round %d: the refresh token ends inactive", round) && ok
		if winner >= 0 {
			ok = assert.True(t, nowOf(winner).Equal(got.RotatedAt), "round %d: RotatedAt is the winner's now (%v), not a loser's: %v",
				round, nowOf(winner), got.RotatedAt) && ok
		}
		_, err = s.GetToken(ctx, storage.KindAccessToken, rt.AccessSignature)
		ok = assert.ErrorIs(t, err, storage.ErrNotFound, "round %d: the linked access token ends deleted", round) && ok
		if !ok {
			return
		}
	}
}

func testRefreshRotateDeletesLinkedAccessToken(t *testing.T, s storage.Store) {
	ctx := t.Context()
	rt := newToken(storage.KindRefreshToken, "rt", "fam")
	rt.AccessSignature = "at-linked"
	require.NoError(t, s.CreateToken(ctx, rt))
	linked := newToken(storage.KindAccessToken, "at-linked", "fam")
	sibling := newToken(storage.KindAccessToken, "at-sibling", "fam") // same family, not linked
	oidc := newToken(storage.KindOIDC, "at-linked", "fam")            // same signature, other kind
	for _, tok := range []storage.Token{linked, sibling, oidc} {
		require.NoError(t, s.CreateToken(ctx, tok))
	}

	require.NoError(t, s.RotateRefreshToken(ctx, "rt", base))
	_, err := s.GetToken(ctx, storage.KindAccessToken, "at-linked")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the access token issued with the refresh token is deleted")
	got, err := s.GetToken(ctx, storage.KindAccessToken, "at-sibling")
	if assert.NoError(t, err, "other access tokens of the family stay") {
		assertSameRecord(t, sibling, got)
	}
	got, err = s.GetToken(ctx, storage.KindOIDC, "at-linked")
	if assert.NoError(t, err, "only the access token kind is deleted") {
		assertSameRecord(t, oidc, got)
	}

	// The linked access token may already be gone (revoked, expired,
	// deleted): rotation still succeeds.
	gone := newToken(storage.KindRefreshToken, "rt-gone", "fam2")
	gone.AccessSignature = "at-never-stored"
	require.NoError(t, s.CreateToken(ctx, gone))
	assert.NoError(t, s.RotateRefreshToken(ctx, "rt-gone", base), "a missing linked access token is not an error")

	// A refresh token without a linked access token rotates too.
	unlinked := newToken(storage.KindRefreshToken, "rt-unlinked", "fam3")
	unlinked.AccessSignature = ""
	require.NoError(t, s.CreateToken(ctx, unlinked))
	assert.NoError(t, s.RotateRefreshToken(ctx, "rt-unlinked", base))
	got, err = s.GetToken(ctx, storage.KindAccessToken, "at-sibling")
	if assert.NoError(t, err, "rotating an unlinked refresh token deletes no access token") {
		assertSameRecord(t, sibling, got)
	}
}

func testRefreshReuseRevokesFamily(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// Family "fam": rt1 issued with at1, then rotated into rt2 with at2.
	// Family "other" belongs to another grant of the same user.
	rt1 := newToken(storage.KindRefreshToken, "rt1", "fam")
	rt2 := newToken(storage.KindRefreshToken, "rt2", "fam")
	for _, tok := range []storage.Token{
		rt1, newToken(storage.KindAccessToken, rt1.AccessSignature, "fam"),
		newToken(storage.KindRefreshToken, "rt-other", "other"),
		newToken(storage.KindAccessToken, "at-rt-other", "other"),
		newToken(storage.KindAuthCode, "code", "fam"),
	} {
		require.NoError(t, s.CreateToken(ctx, tok))
	}
	rotatedAt := at(time.Minute)
	require.NoError(t, s.RotateRefreshToken(ctx, "rt1", rotatedAt))
	require.NoError(t, s.CreateToken(ctx, rt2))
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAccessToken, rt2.AccessSignature, "fam")))

	// rt1 is replayed: the store reports reuse, and the provider revokes
	// the family it finds on the stored token.
	require.ErrorIs(t, s.RotateRefreshToken(ctx, "rt1", at(2*time.Minute)), storage.ErrAlreadyUsed)
	used, err := s.GetToken(ctx, storage.KindRefreshToken, "rt1")
	require.NoError(t, err)
	require.Equal(t, "fam", used.Request.ID)

	require.NoError(t, s.RevokeFamily(ctx, storage.KindAccessToken, used.Request.ID))
	got, err := s.GetToken(ctx, storage.KindRefreshToken, "rt2")
	require.NoError(t, err)
	assert.True(t, got.Active, "RevokeFamily(access) leaves refresh tokens alone")
	require.NoError(t, s.RevokeFamily(ctx, storage.KindRefreshToken, used.Request.ID))

	for _, tc := range []struct {
		kind   storage.TokenKind
		sig    string
		active bool
	}{
		{storage.KindAccessToken, rt2.AccessSignature, false},
		{storage.KindRefreshToken, "rt1", false},
		{storage.KindRefreshToken, "rt2", false},
		{storage.KindAuthCode, "code", true},
		{storage.KindRefreshToken, "rt-other", true},
		{storage.KindAccessToken, "at-rt-other", true},
	} {
		got, err := s.GetToken(ctx, tc.kind, tc.sig)
		if assert.NoError(t, err, "revoking keeps %s %s", tc.kind, tc.sig) {
			assert.Equal(t, tc.active, got.Active, "%s %s active", tc.kind, tc.sig)
		}
	}
	for sig, want := range map[string]time.Time{"rt1": rotatedAt, "rt2": rt2.RotatedAt} {
		got, err := s.GetToken(ctx, storage.KindRefreshToken, sig)
		if assert.NoError(t, err) {
			assert.True(t, want.Equal(got.RotatedAt), "RevokeFamily leaves RotatedAt of %s as it was (%v): %v", sig, want, got.RotatedAt)
		}
	}
	assert.ErrorIs(t, s.RotateRefreshToken(ctx, "rt2", at(3*time.Minute)), storage.ErrAlreadyUsed, "a revoked refresh token cannot be rotated")
	assert.NoError(t, s.RotateRefreshToken(ctx, "rt-other", at(3*time.Minute)), "other families are untouched")

	assert.NoError(t, s.RevokeFamily(ctx, storage.KindRefreshToken, "no-such-family"), "revoking an empty family is not an error")
	assert.NoError(t, s.RevokeFamily(ctx, storage.KindRefreshToken, "fam"), "revoking twice is not an error")
}

func testJTISingleUse(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.UseJTI(ctx, "jti-1", at(time.Minute), base))
	assert.ErrorIs(t, s.UseJTI(ctx, "jti-1", at(time.Minute), base), storage.ErrAlreadyUsed)
	assert.ErrorIs(t, s.UseJTI(ctx, "jti-1", at(time.Hour), at(59*time.Second)), storage.ErrAlreadyUsed,
		"used until the expiry it was first recorded with")
	assert.NoError(t, s.UseJTI(ctx, "jti-2", at(time.Minute), base), "another ID is independent")

	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAccessToken, "jti-3", "r")))
	assert.NoError(t, s.UseJTI(ctx, "jti-3", at(time.Minute), base), "JWT IDs are not token signatures")
}

func testJTISingleUse50Concurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for round := range raceRounds {
		jti := fmt.Sprintf("jti-%d", round)
		errs := race(raceWidth, func(int) error { return s.UseJTI(ctx, jti, at(time.Minute), base) })
		ok := assert.Equal(t, 1, wins(errs), "round %d: exactly one of %d concurrent uses wins", round, raceWidth)
		for i, err := range errs {
			if err != nil {
				ok = assert.ErrorIs(t, err, storage.ErrAlreadyUsed, "round %d: use %d", round, i) && ok
			}
		}
		if !ok {
			return
		}
	}
}

func testJTIReusableAfterExpiry(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.UseJTI(ctx, "jti", at(time.Minute), base))
	assert.NoError(t, s.UseJTI(ctx, "jti", at(3*time.Minute), at(2*time.Minute)),
		"an ID is free again once the expiry it was recorded with has passed")
	assert.ErrorIs(t, s.UseJTI(ctx, "jti", at(5*time.Minute), at(150*time.Second)), storage.ErrAlreadyUsed,
		"reusing an ID records it again, with its new expiry")
	assert.NoError(t, s.UseJTI(ctx, "jti", at(5*time.Minute), at(4*time.Minute)))

	// The same after expired IDs are deleted.
	require.NoError(t, s.UseJTI(ctx, "jti-2", at(time.Minute), base))
	_, err := s.DeleteExpired(ctx, at(2*time.Minute))
	require.NoError(t, err)
	assert.NoError(t, s.UseJTI(ctx, "jti-2", at(3*time.Minute), at(2*time.Minute)))
}

// testTokensTokenSet checks [storage.TokenSetGetter], for backends that
// implement it: each kind asked for comes back in its place, as GetToken
// returns it (an inactive code included), a kind without a token is the
// zero Token, and tokens of other kinds or signatures are left out.
func testTokensTokenSet(t *testing.T, s storage.Store) {
	g, ok := s.(storage.TokenSetGetter)
	if !ok {
		t.Skip("the store does not implement storage.TokenSetGetter (optional)")
	}
	ctx := t.Context()
	for _, kind := range []storage.TokenKind{storage.KindAuthCode, storage.KindPKCE, storage.KindAccessToken} {
		require.NoError(t, s.CreateToken(ctx, newToken(kind, "set-sig", "req-"+string(kind))))
	}
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindOIDC, "other-sig", "req-other")))
	_, err := s.ConsumeAuthCode(ctx, "set-sig")
	require.NoError(t, err)

	got, err := g.GetTokenSet(ctx, "set-sig", storage.KindOIDC, storage.KindAuthCode, storage.KindPKCE)
	require.NoError(t, err)
	require.Len(t, got, 3)
	assert.Equal(t, storage.Token{}, got[0], "no OpenID Connect record under this signature: the zero Token")
	for i, kind := range []storage.TokenKind{storage.KindAuthCode, storage.KindPKCE} {
		want, err := s.GetToken(ctx, kind, "set-sig")
		require.NoError(t, err)
		assertSameRecord(t, want, got[i+1], "the %s, as GetToken returns it", kind)
	}
	assert.False(t, got[1].Active, "a consumed code comes back inactive")

	got, err = g.GetTokenSet(ctx, "unknown", storage.KindAuthCode, storage.KindPKCE)
	require.NoError(t, err, "an unknown signature is not an error")
	assert.Equal(t, []storage.Token{{}, {}}, got)
}

// testTokensStatus checks [storage.StatusReader], for backends that
// implement it: after every change a token can undergo (created active or
// not, a revocation of each kind, rotation, deletion, the sweep),
// TokenStatus agrees with GetToken on whether the token is stored and
// whether it is active, kinds apart and for signatures of any length.
func testTokensStatus(t *testing.T, s storage.Store) {
	r, ok := s.(storage.StatusReader)
	if !ok {
		t.Skip("the store does not implement storage.StatusReader (optional)")
	}
	ctx := t.Context()
	long := strings.Repeat("long-signature-", 8) // beyond any fixed-size key
	type token struct {
		kind storage.TokenKind
		sig  string
	}
	var all []token
	create := func(tok storage.Token) {
		t.Helper()
		require.NoError(t, s.CreateToken(ctx, tok))
		all = append(all, token{tok.Kind, tok.Signature})
	}
	agree := func(step string) {
		t.Helper()
		for _, tok := range append(all, token{storage.KindAccessToken, "unknown"}, token{storage.KindRefreshToken, long + "x"}) {
			found, active, err := r.TokenStatus(ctx, tok.kind, tok.sig)
			require.NoError(t, err, "%s: TokenStatus(%s, %q)", step, tok.kind, tok.sig)
			got, err := s.GetToken(ctx, tok.kind, tok.sig)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				assert.False(t, found, "%s: %s %q is not stored, but TokenStatus finds it", step, tok.kind, tok.sig)
				assert.False(t, active, "%s: %s %q is not stored, but TokenStatus says it is active", step, tok.kind, tok.sig)
			case err != nil:
				require.NoError(t, err)
			default:
				assert.True(t, found, "%s: %s %q is stored, but TokenStatus does not find it", step, tok.kind, tok.sig)
				assert.Equal(t, got.Active, active, "%s: %s %q: TokenStatus's active is not GetToken's", step, tok.kind, tok.sig)
			}
		}
	}

	create(newToken(storage.KindAccessToken, "st-at", "st-fam"))
	create(newToken(storage.KindAccessToken, long, "st-fam"))
	create(newToken(storage.KindRefreshToken, long, "st-fam")) // the same signature, another kind
	inactive := newToken(storage.KindAccessToken, "st-inactive", "st-other")
	inactive.Active = false
	create(inactive)
	rt := newToken(storage.KindRefreshToken, "st-rt", "st-rot")
	create(rt)
	create(newToken(storage.KindAccessToken, rt.AccessSignature, "st-rot"))
	sid := newToken(storage.KindAccessToken, "st-sid", "st-sid")
	create(sid)
	user := newToken(storage.KindAccessToken, "st-user", "st-user")
	user.Request.Subject, user.Request.ClientID = "st-alice", "st-client"
	create(user)
	short := newToken(storage.KindAccessToken, "st-short", "st-short")
	short.ExpiresAt = at(time.Minute)
	create(short)
	agree("created")

	require.NoError(t, s.RevokeFamily(ctx, storage.KindAccessToken, "st-fam"))
	agree("after RevokeFamily of the access tokens")
	found, active, err := r.TokenStatus(ctx, storage.KindRefreshToken, long)
	require.NoError(t, err)
	assert.True(t, found && active, "RevokeFamily of access tokens leaves the refresh token of the same signature active")

	require.NoError(t, s.RotateRefreshToken(ctx, "st-rt", at(time.Minute)))
	agree("after RotateRefreshToken")
	require.NoError(t, s.RevokeLoginGrants(ctx, sid.Request.LoginSID, at(time.Hour)))
	agree("after RevokeLoginGrants")
	require.NoError(t, s.RevokeUserClientGrants(ctx, "st-alice", "st-client", at(time.Hour)))
	agree("after RevokeUserClientGrants")
	require.NoError(t, s.DeleteToken(ctx, storage.KindAccessToken, "st-at"))
	agree("after DeleteToken")
	_, err = s.DeleteExpired(ctx, at(2*time.Minute))
	require.NoError(t, err)
	agree("after DeleteExpired")
}
