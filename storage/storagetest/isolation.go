package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

func testIsolationInputsAreCopied(t *testing.T, s storage.Store) {
	ctx := t.Context()

	client := newClient("c")
	require.NoError(t, s.CreateClient(ctx, client))
	scribble(&client)
	gotClient, err := s.GetClient(ctx, "c")
	require.NoError(t, err)
	assertSameRecord(t, newClient("c"), gotClient, "changing the client after CreateClient does not change the stored one")

	for _, kind := range storage.Kinds {
		tok := newToken(kind, "sig", "req")
		require.NoError(t, s.CreateToken(ctx, tok))
		scribble(&tok)
		got, err := s.GetToken(ctx, kind, "sig")
		require.NoError(t, err)
		assertSameRecord(t, newToken(kind, "sig", "req"), got, "changing the %s after CreateToken does not change the stored one", kind)
	}

	consent := newConsent("alice", "c")
	require.NoError(t, s.SaveConsent(ctx, consent))
	scribble(&consent)
	gotConsent, err := s.GetConsent(ctx, "alice", "c")
	require.NoError(t, err)
	assertSameRecord(t, newConsent("alice", "c"), gotConsent, "changing the consent after SaveConsent does not change the stored one")

	session := newLoginSession("ls", "alice")
	require.NoError(t, s.CreateLoginSession(ctx, session))
	scribble(&session)
	gotSession, err := s.GetLoginSession(ctx, "ls")
	require.NoError(t, err)
	assertSameRecord(t, newLoginSession("ls", "alice"), gotSession, "changing the session after CreateLoginSession does not change the stored one")

	flow := newFlow("f")
	require.NoError(t, s.CreateAuthFlow(ctx, flow))
	scribble(&flow)
	gotFlow, err := s.GetAuthFlow(ctx, "f")
	require.NoError(t, err)
	assertSameRecord(t, newFlow("f"), gotFlow, "changing the flow after CreateAuthFlow does not change the stored one")

	key := newKey("k", base)
	require.NoError(t, s.CreateSigningKey(ctx, key))
	scribble(&key)
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{newKey("k", base)}, keys, "changing the key after CreateSigningKey does not change the stored one")

	mfa := newMFA("alice")
	require.NoError(t, s.CreateMFA(ctx, mfa))
	scribble(&mfa)
	gotMFA, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, newMFA("alice"), gotMFA, "changing the record after CreateMFA does not change the stored one")
}

func testIsolationReturnedValuesAreCopies(t *testing.T, s storage.Store) {
	ctx := t.Context()
	seedOneOfEach(t, s)

	// Scribble on everything every read returns, then read again.
	client, err := s.GetClient(ctx, "client")
	require.NoError(t, err)
	scribble(&client)
	clients, err := s.ListClients(ctx)
	require.NoError(t, err)
	scribble(&clients)
	found, err := s.FindClients(ctx, storage.ClientQuery{})
	require.NoError(t, err)
	scribble(&found)

	for _, want := range seededTokens() {
		tok, err := s.GetToken(ctx, want.Kind, want.Signature)
		require.NoError(t, err)
		scribble(&tok)
	}

	grants, err := s.ListGrants(ctx, "alice", base)
	require.NoError(t, err)
	scribble(&grants)

	consent, err := s.GetConsent(ctx, "alice", "client")
	require.NoError(t, err)
	scribble(&consent)
	consents, err := s.ListConsents(ctx, "alice")
	require.NoError(t, err)
	scribble(&consents)

	session, err := s.GetLoginSession(ctx, "session")
	require.NoError(t, err)
	scribble(&session)
	sessions, err := s.LoginSessionsBySubject(ctx, "alice")
	require.NoError(t, err)
	scribble(&sessions)

	flow, err := s.GetAuthFlow(ctx, "flow")
	require.NoError(t, err)
	scribble(&flow)

	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	scribble(&keys)

	mfa, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	scribble(&mfa)

	assertSeedUntouched(t, s)

	// The token ConsumeAuthCode returns, to the winner and to a loser.
	for range 2 {
		tok, _ := s.ConsumeAuthCode(ctx, "code")
		scribble(&tok)
	}
	want := newToken(storage.KindAuthCode, "code", "fam")
	want.Active = false
	got, err := s.GetToken(ctx, storage.KindAuthCode, "code")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "changing the code ConsumeAuthCode returned does not change the stored one")
}

func testIsolationUpdateValuesAreCopies(t *testing.T, s storage.Store) {
	ctx := t.Context()
	seedOneOfEach(t, s)

	// Keep what update received and returned, and scribble on both once the
	// update is done.
	var clientIn, clientOut storage.Client
	require.NoError(t, s.UpdateClient(ctx, "client", func(c storage.Client) (storage.Client, error) {
		clientIn = c
		c.UpdatedAt = at(time.Hour)
		clientOut = c
		return c, nil
	}))
	scribble(&clientIn)
	scribble(&clientOut)
	wantClient := newClient("client")
	wantClient.UpdatedAt = at(time.Hour)
	gotClient, err := s.GetClient(ctx, "client")
	require.NoError(t, err)
	assertSameRecord(t, wantClient, gotClient, "UpdateClient keeps its own copy")

	var flowIn, flowOut storage.AuthFlow
	require.NoError(t, s.UpdateAuthFlow(ctx, "flow", func(f storage.AuthFlow) (storage.AuthFlow, error) {
		flowIn = f
		f.Done = append(f.Done, "consent")
		f.Data["consented"] = "yes"
		flowOut = f
		return f, nil
	}))
	scribble(&flowIn)
	scribble(&flowOut)
	wantFlow := newFlow("flow")
	wantFlow.Done = append(wantFlow.Done, "consent")
	wantFlow.Data["consented"] = "yes"
	gotFlow, err := s.GetAuthFlow(ctx, "flow")
	require.NoError(t, err)
	assertSameRecord(t, wantFlow, gotFlow, "UpdateAuthFlow keeps its own copy")

	var keyIn, keyOut storage.SigningKey
	require.NoError(t, s.UpdateSigningKey(ctx, "key", func(k storage.SigningKey) (storage.SigningKey, error) {
		keyIn = k
		k.ExpiresAt = at(2 * time.Hour)
		keyOut = k
		return k, nil
	}))
	scribble(&keyIn)
	scribble(&keyOut)
	wantKey := seededKey()
	wantKey.ExpiresAt = at(2 * time.Hour)
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{wantKey}, keys, "UpdateSigningKey keeps its own copy")

	var mfaIn, mfaOut storage.MFARecord
	require.NoError(t, s.UpdateMFA(ctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		mfaIn = r
		r.RecoveryCodes = r.RecoveryCodes[1:]
		r.TOTPSecret[0] ^= 0x01
		mfaOut = r
		return r, nil
	}))
	scribble(&mfaIn)
	scribble(&mfaOut)
	wantMFA := newMFA("alice")
	wantMFA.RecoveryCodes = wantMFA.RecoveryCodes[1:]
	wantMFA.TOTPSecret[0] ^= 0x01
	gotMFA, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, wantMFA, gotMFA, "UpdateMFA keeps its own copy")
}
