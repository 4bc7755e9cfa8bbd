package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// probe is one store call whose error is checked.
type probe struct {
	method string
	do     func() error
}

// sentinels are the errors of package storage.
var sentinels = []error{storage.ErrNotFound, storage.ErrAlreadyExists, storage.ErrAlreadyUsed}

// assertSentinel asserts that err is want and none of the other sentinels.
func assertSentinel(t *testing.T, want, err error, method string) {
	t.Helper()
	if !assert.ErrorIs(t, err, want, method) {
		return
	}
	for _, other := range sentinels {
		if other != want {
			assert.NotErrorIs(t, err, other, "%s: the error is %v only", method, want)
		}
	}
}

func testErrorsSentinels(t *testing.T, s storage.Store) {
	ctx := t.Context()

	// ErrNotFound, on an empty store.
	notFound := []probe{
		{"GetClient", func() error { _, err := s.GetClient(ctx, "none"); return err }},
		{"UpdateClient", func() error {
			return s.UpdateClient(ctx, "none", func(c storage.Client) (storage.Client, error) { return newClient("none"), nil })
		}},
		{"DeleteClient", func() error { return s.DeleteClient(ctx, "none") }},
		{"ConsumeAuthCode", func() error { _, err := s.ConsumeAuthCode(ctx, "none"); return err }},
		{"RotateRefreshToken", func() error { return s.RotateRefreshToken(ctx, "none", base) }},
		{"GetConsent", func() error { _, err := s.GetConsent(ctx, "alice", "none"); return err }},
		{"RevokeConsent", func() error { return s.RevokeConsent(ctx, "alice", "none") }},
		{"GetLoginSession", func() error { _, err := s.GetLoginSession(ctx, "none"); return err }},
		{"DeleteLoginSession", func() error { return s.DeleteLoginSession(ctx, "none") }},
		{"GetAuthFlow", func() error { _, err := s.GetAuthFlow(ctx, "none"); return err }},
		{"UpdateAuthFlow", func() error {
			return s.UpdateAuthFlow(ctx, "none", func(f storage.AuthFlow) (storage.AuthFlow, error) { return newFlow("none"), nil })
		}},
		{"DeleteAuthFlow", func() error { return s.DeleteAuthFlow(ctx, "none") }},
		{"UpdateSigningKey", func() error {
			return s.UpdateSigningKey(ctx, "none", func(k storage.SigningKey) (storage.SigningKey, error) { return newKey("none", base), nil })
		}},
		{"DeleteSigningKey", func() error { return s.DeleteSigningKey(ctx, "none") }},
		{"GetMFA", func() error { _, err := s.GetMFA(ctx, "none"); return err }},
		{"UpdateMFA", func() error {
			return s.UpdateMFA(ctx, "none", func(r storage.MFARecord) (storage.MFARecord, error) { return newMFA("none"), nil })
		}},
		{"DeleteMFA", func() error { return s.DeleteMFA(ctx, "none") }},
		{"GetThrottle", func() error { _, err := s.GetThrottle(ctx, "none"); return err }},
	}
	for _, kind := range storage.Kinds {
		notFound = append(notFound,
			probe{"GetToken(" + string(kind) + ")", func() error { _, err := s.GetToken(ctx, kind, "none"); return err }},
			probe{"DeleteToken(" + string(kind) + ")", func() error { return s.DeleteToken(ctx, kind, "none") }},
		)
	}
	for _, c := range notFound {
		assertSentinel(t, storage.ErrNotFound, c.do(), c.method)
	}
	// Updating a missing record does not create it.
	_, err := s.GetClient(ctx, "none")
	assert.ErrorIs(t, err, storage.ErrNotFound, "UpdateClient of a missing client creates nothing")
	_, err = s.GetAuthFlow(ctx, "none")
	assert.ErrorIs(t, err, storage.ErrNotFound, "UpdateAuthFlow of a missing flow creates nothing")
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assert.Empty(t, keys, "UpdateSigningKey of a missing key creates nothing")
	_, err = s.GetMFA(ctx, "none")
	assert.ErrorIs(t, err, storage.ErrNotFound, "UpdateMFA of a missing record creates nothing")
	// UpdateThrottle of a missing key is no error: it creates the throttle.
	// Of an existing one neither, and it reports no sentinel of its own.
	for range 2 {
		err := s.UpdateThrottle(ctx, "none", func(th storage.Throttle) (storage.Throttle, error) {
			th.Failures++
			return th, nil
		})
		assert.NoError(t, err, "UpdateThrottle")
	}
	gotThrottle, err := s.GetThrottle(ctx, "none")
	if assert.NoError(t, err, "UpdateThrottle of a missing key creates it") {
		assert.Equal(t, 2, gotThrottle.Failures)
	}

	// ErrAlreadyExists: a second record with the same key, but other
	// contents, is refused and the first is kept.
	require.NoError(t, s.CreateClient(ctx, newClient("c")))
	assertSentinel(t, storage.ErrAlreadyExists, s.CreateClient(ctx, newPublicClient("c")), "CreateClient")
	gotClient, err := s.GetClient(ctx, "c")
	require.NoError(t, err)
	assertSameRecord(t, newClient("c"), gotClient, "a refused CreateClient keeps the first client")

	for _, kind := range storage.Kinds {
		require.NoError(t, s.CreateToken(ctx, newToken(kind, "sig", "first")))
		dup := newToken(kind, "sig", "second")
		dup.Active = false
		assertSentinel(t, storage.ErrAlreadyExists, s.CreateToken(ctx, dup), "CreateToken("+string(kind)+")")
		got, err := s.GetToken(ctx, kind, "sig")
		require.NoError(t, err)
		assertSameRecord(t, newToken(kind, "sig", "first"), got, "a refused CreateToken keeps the first %s", kind)
	}

	require.NoError(t, s.CreateLoginSession(ctx, newLoginSession("ls", "alice")))
	assertSentinel(t, storage.ErrAlreadyExists, s.CreateLoginSession(ctx, newLoginSession("ls", "mallory")), "CreateLoginSession")
	gotSession, err := s.GetLoginSession(ctx, "ls")
	require.NoError(t, err)
	assertSameRecord(t, newLoginSession("ls", "alice"), gotSession, "a refused CreateLoginSession keeps the first session")

	require.NoError(t, s.CreateAuthFlow(ctx, newFlow("f")))
	dupFlow := newFlow("f")
	dupFlow.Subject, dupFlow.CSRF = "mallory", "other"
	assertSentinel(t, storage.ErrAlreadyExists, s.CreateAuthFlow(ctx, dupFlow), "CreateAuthFlow")
	gotFlow, err := s.GetAuthFlow(ctx, "f")
	require.NoError(t, err)
	assertSameRecord(t, newFlow("f"), gotFlow, "a refused CreateAuthFlow keeps the first flow")

	require.NoError(t, s.CreateSigningKey(ctx, newKey("k", base)))
	dupKey := newKey("k", at(time.Second))
	dupKey.Algorithm, dupKey.PrivateKey = "RS256", []byte("other")
	assertSentinel(t, storage.ErrAlreadyExists, s.CreateSigningKey(ctx, dupKey), "CreateSigningKey")
	keys, err = s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{newKey("k", base)}, keys, "a refused CreateSigningKey keeps the first key")

	require.NoError(t, s.CreateMFA(ctx, newMFA("alice")))
	dupMFA := newMFA("alice")
	dupMFA.TOTPSecret, dupMFA.TOTPConfirmed, dupMFA.Failures = []byte("other"), false, 0
	assertSentinel(t, storage.ErrAlreadyExists, s.CreateMFA(ctx, dupMFA), "CreateMFA")
	gotMFA, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, newMFA("alice"), gotMFA, "a refused CreateMFA keeps the first record")

	// ErrAlreadyUsed, from each single-use primitive.
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAuthCode, "code", "r")))
	_, err = s.ConsumeAuthCode(ctx, "code")
	require.NoError(t, err)
	_, err = s.ConsumeAuthCode(ctx, "code")
	assertSentinel(t, storage.ErrAlreadyUsed, err, "ConsumeAuthCode")

	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindRefreshToken, "rt", "r")))
	require.NoError(t, s.RotateRefreshToken(ctx, "rt", base))
	assertSentinel(t, storage.ErrAlreadyUsed, s.RotateRefreshToken(ctx, "rt", base), "RotateRefreshToken")

	require.NoError(t, s.UseJTI(ctx, "jti", at(time.Minute), base))
	assertSentinel(t, storage.ErrAlreadyUsed, s.UseJTI(ctx, "jti", at(time.Minute), base), "UseJTI")
}
