package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// call is one store method called with fixed arguments.
type call struct {
	method string
	do     func(ctx context.Context) error
}

// seedOneOfEach stores one record of every kind; everyMethod's calls refer
// to them.
func seedOneOfEach(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	require.NoError(t, s.CreateClient(ctx, newClient("client")))
	for _, tok := range seededTokens() {
		require.NoError(t, s.CreateToken(ctx, tok))
	}
	require.NoError(t, s.SaveConsent(ctx, newConsent("alice", "client")))
	require.NoError(t, s.CreateLoginSession(ctx, newLoginSession("session", "alice")))
	require.NoError(t, s.CreateAuthFlow(ctx, newFlow("flow")))
	require.NoError(t, s.CreateSigningKey(ctx, seededKey()))
	require.NoError(t, s.CreateMFA(ctx, newMFA("alice")))
	putThrottle(t, s, newThrottle("password:alice"))
}

func seededTokens() []storage.Token {
	return []storage.Token{
		newToken(storage.KindAuthCode, "code", "fam"),
		newToken(storage.KindRefreshToken, "rt", "fam"),
		newToken(storage.KindAccessToken, "at-rt", "fam"),
	}
}

func seededKey() storage.SigningKey {
	k := newKey("key", at(-48*time.Hour))
	k.RetiredAt, k.ExpiresAt = at(-24*time.Hour), at(time.Hour)
	return k
}

// everyMethod returns one call of every method of storage.Store. Each would
// change or read what seedOneOfEach stored, or add a record named "new-...";
// DeleteExpired would remove every seeded record.
func everyMethod(s storage.Store) []call {
	return []call{
		{"CreateClient", func(ctx context.Context) error { return s.CreateClient(ctx, newClient("new-client")) }},
		{"GetClient", func(ctx context.Context) error { _, err := s.GetClient(ctx, "client"); return err }},
		{"UpdateClient", func(ctx context.Context) error {
			return s.UpdateClient(ctx, "client", func(c storage.Client) (storage.Client, error) {
				c.Name = "changed"
				return c, nil
			})
		}},
		{"ListClients", func(ctx context.Context) error { _, err := s.ListClients(ctx); return err }},
		{"FindClients", func(ctx context.Context) error {
			_, err := s.FindClients(ctx, storage.ClientQuery{Customer: "acme", SecretExpiresBefore: at(time.Hour), Limit: 1})
			return err
		}},

		{"CreateToken", func(ctx context.Context) error {
			return s.CreateToken(ctx, newToken(storage.KindAccessToken, "new-token", "fam"))
		}},
		{"GetToken", func(ctx context.Context) error {
			_, err := s.GetToken(ctx, storage.KindAccessToken, "at-rt")
			return err
		}},
		{"DeleteToken", func(ctx context.Context) error { return s.DeleteToken(ctx, storage.KindAccessToken, "at-rt") }},
		{"ConsumeAuthCode", func(ctx context.Context) error { _, err := s.ConsumeAuthCode(ctx, "code"); return err }},
		{"RotateRefreshToken", func(ctx context.Context) error { return s.RotateRefreshToken(ctx, "rt", base) }},
		{"RevokeFamily", func(ctx context.Context) error { return s.RevokeFamily(ctx, storage.KindAccessToken, "fam") }},
		{"RevokeLoginGrants", func(ctx context.Context) error { return s.RevokeLoginGrants(ctx, "sid-fam", at(time.Hour)) }},
		{"RevokeUserClientGrants", func(ctx context.Context) error {
			return s.RevokeUserClientGrants(ctx, "alice", "client-1", at(time.Hour))
		}},
		{"ListGrants", func(ctx context.Context) error { _, err := s.ListGrants(ctx, "alice", base); return err }},
		{"UseJTI", func(ctx context.Context) error { return s.UseJTI(ctx, "new-jti", at(time.Minute), base) }},

		{"SaveConsent", func(ctx context.Context) error { return s.SaveConsent(ctx, newConsent("alice", "new-client")) }},
		{"GetConsent", func(ctx context.Context) error { _, err := s.GetConsent(ctx, "alice", "client"); return err }},
		{"ListConsents", func(ctx context.Context) error { _, err := s.ListConsents(ctx, "alice"); return err }},
		{"RevokeConsent", func(ctx context.Context) error { return s.RevokeConsent(ctx, "alice", "client") }},
		// After the consent calls: it deletes the client's consents too.
		{"DeleteClient", func(ctx context.Context) error { return s.DeleteClient(ctx, "client") }},

		{"CreateLoginSession", func(ctx context.Context) error {
			return s.CreateLoginSession(ctx, newLoginSession("new-session", "alice"))
		}},
		{"GetLoginSession", func(ctx context.Context) error { _, err := s.GetLoginSession(ctx, "session"); return err }},
		{"LoginSessionsBySubject", func(ctx context.Context) error {
			_, err := s.LoginSessionsBySubject(ctx, "alice")
			return err
		}},
		{"DeleteLoginSession", func(ctx context.Context) error { return s.DeleteLoginSession(ctx, "session") }},
		{"DeleteLoginSessionsBySubject", func(ctx context.Context) error {
			_, err := s.DeleteLoginSessionsBySubject(ctx, "alice")
			return err
		}},
		{"CreateAuthFlow", func(ctx context.Context) error { return s.CreateAuthFlow(ctx, newFlow("new-flow")) }},
		{"GetAuthFlow", func(ctx context.Context) error { _, err := s.GetAuthFlow(ctx, "flow"); return err }},
		{"UpdateAuthFlow", func(ctx context.Context) error {
			return s.UpdateAuthFlow(ctx, "flow", func(f storage.AuthFlow) (storage.AuthFlow, error) {
				f.Done = append(f.Done, "changed")
				return f, nil
			})
		}},
		{"DeleteAuthFlow", func(ctx context.Context) error { return s.DeleteAuthFlow(ctx, "flow") }},

		{"CreateSigningKey", func(ctx context.Context) error { return s.CreateSigningKey(ctx, newKey("new-key", base)) }},
		{"ListSigningKeys", func(ctx context.Context) error { _, err := s.ListSigningKeys(ctx); return err }},
		{"UpdateSigningKey", func(ctx context.Context) error {
			return s.UpdateSigningKey(ctx, "key", func(k storage.SigningKey) (storage.SigningKey, error) {
				k.Algorithm = "changed"
				return k, nil
			})
		}},
		{"DeleteSigningKey", func(ctx context.Context) error { return s.DeleteSigningKey(ctx, "key") }},

		{"CreateMFA", func(ctx context.Context) error { return s.CreateMFA(ctx, newMFA("new-mfa")) }},
		{"GetMFA", func(ctx context.Context) error { _, err := s.GetMFA(ctx, "alice"); return err }},
		{"UpdateMFA", func(ctx context.Context) error {
			return s.UpdateMFA(ctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
				r.Failures++
				return r, nil
			})
		}},
		{"DeleteMFA", func(ctx context.Context) error { return s.DeleteMFA(ctx, "alice") }},

		{"GetThrottle", func(ctx context.Context) error { _, err := s.GetThrottle(ctx, "password:alice"); return err }},
		{"UpdateThrottle", func(ctx context.Context) error {
			return s.UpdateThrottle(ctx, "password:new-throttle", func(th storage.Throttle) (storage.Throttle, error) {
				th.Failures++
				return th, nil
			})
		}},

		{"DeleteExpired", func(ctx context.Context) error { _, err := s.DeleteExpired(ctx, at(1000*time.Hour)); return err }},
	}
}

// assertSeedUntouched asserts that the store holds exactly what
// seedOneOfEach stored.
func assertSeedUntouched(t *testing.T, s storage.Store) {
	t.Helper()
	ctx := t.Context()
	clients, err := s.ListClients(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.Client{newClient("client")}, clients, "clients unchanged")
	for _, want := range seededTokens() {
		got, err := s.GetToken(ctx, want.Kind, want.Signature)
		if assert.NoError(t, err, "%s %s still there", want.Kind, want.Signature) {
			assertSameRecord(t, want, got, "%s %s unchanged", want.Kind, want.Signature)
		}
	}
	_, err = s.GetToken(ctx, storage.KindAccessToken, "new-token")
	assert.ErrorIs(t, err, storage.ErrNotFound, "no token created")
	// The seeded tokens' sign-in is not recorded as ended: a token of it
	// created now is active.
	probe := newToken(storage.KindAccessToken, "probe", "fam")
	if assert.NoError(t, s.CreateToken(ctx, probe)) {
		got, err := s.GetToken(ctx, storage.KindAccessToken, "probe")
		if assert.NoError(t, err) {
			assert.True(t, got.Active, "no sign-in recorded as ended: a token of sign-in %s created afterwards is active", probe.Request.LoginSID)
		}
		assert.NoError(t, s.DeleteToken(ctx, storage.KindAccessToken, "probe"))
	}
	assert.NoError(t, s.UseJTI(ctx, "new-jti", at(time.Minute), base), "no JWT ID recorded")
	consents, err := s.ListConsents(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, []storage.Consent{newConsent("alice", "client")}, consents, "consents unchanged")
	got, err := s.GetLoginSession(ctx, "session")
	if assert.NoError(t, err, "login session still there") {
		assertSameRecord(t, newLoginSession("session", "alice"), got)
	}
	_, err = s.GetLoginSession(ctx, "new-session")
	assert.ErrorIs(t, err, storage.ErrNotFound, "no login session created")
	flow, err := s.GetAuthFlow(ctx, "flow")
	if assert.NoError(t, err, "flow still there") {
		assertSameRecord(t, newFlow("flow"), flow)
	}
	_, err = s.GetAuthFlow(ctx, "new-flow")
	assert.ErrorIs(t, err, storage.ErrNotFound, "no flow created")
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{seededKey()}, keys, "signing keys unchanged")
	mfa, err := s.GetMFA(ctx, "alice")
	if assert.NoError(t, err, "MFA record still there") {
		assertSameRecord(t, newMFA("alice"), mfa, "MFA record unchanged")
	}
	_, err = s.GetMFA(ctx, "new-mfa")
	assert.ErrorIs(t, err, storage.ErrNotFound, "no MFA record created")
	th, err := s.GetThrottle(ctx, "password:alice")
	if assert.NoError(t, err, "throttle still there") {
		assertSameRecord(t, newThrottle("password:alice"), th, "throttle unchanged")
	}
	_, err = s.GetThrottle(ctx, "password:new-throttle")
	assert.ErrorIs(t, err, storage.ErrNotFound, "no throttle created")
}

func testContextCanceled(t *testing.T, s storage.Store) {
	seedOneOfEach(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range everyMethod(s) {
		assert.ErrorIs(t, c.do(ctx), context.Canceled, "%s with a cancelled context", c.method)
	}
	assertSeedUntouched(t, s)
}

func testContextDeadlineExceeded(t *testing.T, s storage.Store) {
	seedOneOfEach(t, s)
	ctx, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
	defer cancel()
	for _, c := range everyMethod(s) {
		assert.ErrorIs(t, c.do(ctx), context.DeadlineExceeded, "%s with a context past its deadline", c.method)
	}
	assertSeedUntouched(t, s)
}
