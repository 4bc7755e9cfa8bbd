// Package storagetest is the conformance suite for storage.Store
// implementations. Every backend, Gatehouse's own and any custom one, runs it
// from its unit tests:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store {
//			s := mybackend.New(...) // fresh and empty
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite has no opt-outs: atomicity under concurrency is part of the
// contract. Subtests have stable names (Clients/CreateGetDelete,
// AuthCodes/Consume50Concurrent, Refresh/RotateRace, ...), so one part runs
// with go test -run 'Conformance/Refresh/'. Run it with -race.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// Run runs the conformance suite against stores returned by newStore.
// newStore is called once per subtest and must return an empty store; it
// registers its own cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	for _, group := range suite {
		t.Run(group.name, func(t *testing.T) {
			for _, tc := range group.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, newStore(t))
				})
			}
		})
	}
}

type testCase struct {
	name string
	run  func(t *testing.T, s storage.Store)
}

var suite = []struct {
	name  string
	tests []testCase
}{
	{"Clients", []testCase{
		{"CreateGetDelete", testClientCRUD},
		{"UpdateAtomic", testClientUpdate},
		{"List", testClientList},
	}},
	{"Tokens", []testCase{
		{"CreateGetDelete", testTokenCRUD},
		{"KindsAreSeparate", testTokenKinds},
	}},
	{"AuthCodes", []testCase{
		{"ConsumeOnce", testConsumeOnce},
		{"Consume50Concurrent", testConsumeConcurrent},
	}},
	{"Refresh", []testCase{
		{"Rotate", testRotate},
		{"RotateRace", testRotateRace},
		{"ReuseRevokesFamily", testRevokeFamily},
	}},
	{"JTI", []testCase{
		{"SingleUse", testJTI},
		{"Concurrent", testJTIConcurrent},
	}},
	{"Consents", []testCase{{"SaveGetListRevoke", testConsents}}},
	{"Sessions", []testCase{
		{"LoginSessions", testLoginSessions},
		{"AuthFlows", testAuthFlows},
		{"AuthFlowUpdateNoLostWrites", testAuthFlowConcurrentUpdate},
	}},
	{"Keys", []testCase{{"CreateListUpdateDelete", testKeys}}},
	{"Expiry", []testCase{{"DeleteExpired", testDeleteExpired}}},
	{"Time", []testCase{{"UTCRoundTrip", testTimeRoundTrip}}},
	{"Context", []testCase{{"Canceled", testCanceled}}},
	{"Isolation", []testCase{{"ReturnedValuesAreCopies", testIsolation}}},
}

// base is a fixed instant, in microseconds (backends may truncate to that).
var base = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func newClient(id string) storage.Client {
	return storage.Client{
		ID:                      id,
		Name:                    "Client " + id,
		Secrets:                 []storage.SecretHash{{Hash: "sha256$abc", CreatedAt: base}},
		RedirectURIs:            []string{"https://app.example.com/cb"},
		PostLogoutRedirectURIs:  []string{"https://app.example.com/bye"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		Scopes:                  []string{"openid", "assets:read"},
		Audience:                []string{"https://api.example.com"},
		TokenEndpointAuthMethod: "client_secret_basic",
		JWKS:                    []byte(`{"keys":[]}`),
		AccessTokenLifetime:     time.Minute,
		CreatedAt:               base,
		UpdatedAt:               base,
	}
}

func newToken(kind storage.TokenKind, sig, requestID string) storage.Token {
	return storage.Token{
		Signature: sig,
		Kind:      kind,
		Request: storage.Request{
			ID:              requestID,
			RequestedAt:     base,
			ClientID:        "c1",
			Subject:         "alice",
			RequestedScopes: []string{"openid", "offline_access"},
			GrantedScopes:   []string{"openid"},
			GrantedAudience: []string{"https://api.example.com"},
			Form:            map[string][]string{"redirect_uri": {"https://app.example.com/cb"}, "nonce": {"n"}},
			Session:         []byte(`{"subject":"alice","extra":{"k":[1,2,3]}}`),
		},
		ExpiresAt: base.Add(time.Hour),
		Active:    true,
	}
}

// equalish compares records treating nil and empty slices and maps alike.
func equalish(t *testing.T, want, got any) {
	t.Helper()
	assert.Equal(t, normalize(want), normalize(got))
}

func normalize(v any) any {
	switch r := v.(type) {
	case storage.Token:
		r.Request = normRequest(r.Request)
		return r
	case storage.Client:
		r.Secrets = nonNil(r.Secrets)
		r.RedirectURIs, r.PostLogoutRedirectURIs = nonNil(r.RedirectURIs), nonNil(r.PostLogoutRedirectURIs)
		r.GrantTypes, r.ResponseTypes = nonNil(r.GrantTypes), nonNil(r.ResponseTypes)
		r.Scopes, r.Audience, r.JWKS = nonNil(r.Scopes), nonNil(r.Audience), nonNil(r.JWKS)
		return r
	case storage.AuthFlow:
		r.AMR, r.Done = nonNil(r.AMR), nonNil(r.Done)
		if r.Data == nil {
			r.Data = map[string]string{}
		}
		return r
	case storage.LoginSession:
		r.AMR, r.Claims = nonNil(r.AMR), nonNil(r.Claims)
		return r
	case storage.Consent:
		r.Scopes = nonNil(r.Scopes)
		return r
	}
	return v
}

func normRequest(r storage.Request) storage.Request {
	r.RequestedScopes, r.GrantedScopes = nonNil(r.RequestedScopes), nonNil(r.GrantedScopes)
	r.RequestedAudience, r.GrantedAudience = nonNil(r.RequestedAudience), nonNil(r.GrantedAudience)
	r.Session = nonNil(r.Session)
	if r.Form == nil {
		r.Form = map[string][]string{}
	}
	return r
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// race runs f in n goroutines released together and counts outcomes.
func race(n int, f func() error) (ok int, errs []error) {
	start := make(chan struct{})
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := f()
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else {
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return ok, errs
}

func testClientCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.GetClient(ctx, "c1")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	c := newClient("c1")
	require.NoError(t, s.CreateClient(ctx, c))
	assert.ErrorIs(t, s.CreateClient(ctx, c), storage.ErrAlreadyExists)
	got, err := s.GetClient(ctx, "c1")
	require.NoError(t, err)
	equalish(t, c, got)
	require.NoError(t, s.DeleteClient(ctx, "c1"))
	_, err = s.GetClient(ctx, "c1")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.ErrorIs(t, s.DeleteClient(ctx, "c1"), storage.ErrNotFound)
}

func testClientUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	assert.ErrorIs(t, s.UpdateClient(ctx, "nope", func(c storage.Client) (storage.Client, error) { return c, nil }), storage.ErrNotFound)
	require.NoError(t, s.CreateClient(ctx, newClient("c1")))

	// An error from update writes nothing.
	boom := errors.New("boom")
	err := s.UpdateClient(ctx, "c1", func(c storage.Client) (storage.Client, error) {
		c.Name = "changed"
		return c, boom
	})
	assert.ErrorIs(t, err, boom)
	got, _ := s.GetClient(ctx, "c1")
	assert.Equal(t, "Client c1", got.Name)

	// 50 concurrent read-modify-writes lose nothing.
	ok, errs := race(50, func() error {
		return s.UpdateClient(ctx, "c1", func(c storage.Client) (storage.Client, error) {
			c.Scopes = append(c.Scopes, fmt.Sprintf("s%d", len(c.Scopes)))
			return c, nil
		})
	})
	require.Empty(t, errs)
	assert.Equal(t, 50, ok)
	got, _ = s.GetClient(ctx, "c1")
	assert.Len(t, got.Scopes, 52, "no lost update")
}

func testClientList(t *testing.T, s storage.Store) {
	ctx := t.Context()
	list, err := s.ListClients(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
	for _, id := range []string{"b", "c", "a"} {
		require.NoError(t, s.CreateClient(ctx, newClient(id)))
	}
	list, err = s.ListClients(ctx)
	require.NoError(t, err)
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	assert.Equal(t, []string{"a", "b", "c"}, ids)
}

func testTokenCRUD(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, kind := range storage.Kinds {
		tok := newToken(kind, "sig-"+string(kind), "req-1")
		_, err := s.GetToken(ctx, kind, tok.Signature)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		require.NoError(t, s.CreateToken(ctx, tok))
		assert.ErrorIs(t, s.CreateToken(ctx, tok), storage.ErrAlreadyExists)
		got, err := s.GetToken(ctx, kind, tok.Signature)
		require.NoError(t, err)
		equalish(t, tok, got)
		assert.Equal(t, tok.Request.Session, got.Request.Session, "session bytes byte for byte")
		require.NoError(t, s.DeleteToken(ctx, kind, tok.Signature))
		_, err = s.GetToken(ctx, kind, tok.Signature)
		assert.ErrorIs(t, err, storage.ErrNotFound)
		assert.ErrorIs(t, s.DeleteToken(ctx, kind, tok.Signature), storage.ErrNotFound)
	}
}

func testTokenKinds(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAccessToken, "same", "r1")))
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindRefreshToken, "same", "r1")), "each kind is its own key space")
	require.NoError(t, s.DeleteToken(ctx, storage.KindAccessToken, "same"))
	_, err := s.GetToken(ctx, storage.KindRefreshToken, "same")
	assert.NoError(t, err)
}

func testConsumeOnce(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.ConsumeAuthCode(ctx, "nope")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAuthCode, "code", "r1")))
	got, err := s.ConsumeAuthCode(ctx, "code")
	require.NoError(t, err)
	assert.Equal(t, "r1", got.Request.ID)
	got, err = s.ConsumeAuthCode(ctx, "code")
	assert.ErrorIs(t, err, storage.ErrAlreadyUsed)
	assert.Equal(t, "r1", got.Request.ID, "the used code comes back so its family can be revoked")
	stored, err := s.GetToken(ctx, storage.KindAuthCode, "code")
	require.NoError(t, err)
	assert.False(t, stored.Active)
}

func testConsumeConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAuthCode, "code", "r1")))
	var mu sync.Mutex
	var losers []storage.Token
	ok, errs := race(50, func() error {
		tok, err := s.ConsumeAuthCode(ctx, "code")
		if err != nil {
			mu.Lock()
			losers = append(losers, tok)
			mu.Unlock()
		}
		return err
	})
	assert.Equal(t, 1, ok, "exactly one consumer wins")
	assert.Len(t, errs, 49)
	for _, err := range errs {
		assert.ErrorIs(t, err, storage.ErrAlreadyUsed)
	}
	for _, l := range losers {
		assert.Equal(t, "r1", l.Request.ID)
	}
}

func testRotate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	assert.ErrorIs(t, s.RotateRefreshToken(ctx, "nope"), storage.ErrNotFound)
	at := newToken(storage.KindAccessToken, "at1", "r1")
	rt := newToken(storage.KindRefreshToken, "rt1", "r1")
	rt.AccessSignature = "at1"
	require.NoError(t, s.CreateToken(ctx, at))
	require.NoError(t, s.CreateToken(ctx, rt))
	require.NoError(t, s.RotateRefreshToken(ctx, "rt1"))
	got, err := s.GetToken(ctx, storage.KindRefreshToken, "rt1")
	require.NoError(t, err, "a rotated token is kept for reuse detection")
	assert.False(t, got.Active)
	_, err = s.GetToken(ctx, storage.KindAccessToken, "at1")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the linked access token is deleted")
	assert.ErrorIs(t, s.RotateRefreshToken(ctx, "rt1"), storage.ErrAlreadyUsed)
}

func testRotateRace(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindRefreshToken, "rt1", "r1")))
	ok, errs := race(50, func() error { return s.RotateRefreshToken(ctx, "rt1") })
	assert.Equal(t, 1, ok, "exactly one rotation wins")
	for _, err := range errs {
		assert.ErrorIs(t, err, storage.ErrAlreadyUsed)
	}
}

func testRevokeFamily(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, tok := range []storage.Token{
		newToken(storage.KindAccessToken, "a1", "fam"),
		newToken(storage.KindAccessToken, "a2", "fam"),
		newToken(storage.KindRefreshToken, "r1", "fam"),
		newToken(storage.KindAccessToken, "other", "other-fam"),
	} {
		require.NoError(t, s.CreateToken(ctx, tok))
	}
	require.NoError(t, s.RevokeFamily(ctx, storage.KindAccessToken, "fam"))
	for _, sig := range []string{"a1", "a2"} {
		got, err := s.GetToken(ctx, storage.KindAccessToken, sig)
		require.NoError(t, err)
		assert.False(t, got.Active, sig)
	}
	got, _ := s.GetToken(ctx, storage.KindRefreshToken, "r1")
	assert.True(t, got.Active, "only the kind asked for")
	got, _ = s.GetToken(ctx, storage.KindAccessToken, "other")
	assert.True(t, got.Active, "other families untouched")
	require.NoError(t, s.RevokeFamily(ctx, storage.KindRefreshToken, "fam"))
	got, _ = s.GetToken(ctx, storage.KindRefreshToken, "r1")
	assert.False(t, got.Active)
	assert.NoError(t, s.RevokeFamily(ctx, storage.KindRefreshToken, "no-such-family"))
}

func testJTI(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.UseJTI(ctx, "j1", base.Add(time.Minute), base))
	assert.ErrorIs(t, s.UseJTI(ctx, "j1", base.Add(time.Minute), base.Add(time.Second)), storage.ErrAlreadyUsed)
	assert.NoError(t, s.UseJTI(ctx, "j2", base.Add(time.Minute), base))
	assert.NoError(t, s.UseJTI(ctx, "j1", base.Add(3*time.Minute), base.Add(2*time.Minute)), "reusable once expired")
}

func testJTIConcurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ok, errs := race(50, func() error { return s.UseJTI(ctx, "j", base.Add(time.Minute), base) })
	assert.Equal(t, 1, ok)
	for _, err := range errs {
		assert.ErrorIs(t, err, storage.ErrAlreadyUsed)
	}
}

func testConsents(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.GetConsent(ctx, "alice", "c1")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	c := storage.Consent{Subject: "alice", ClientID: "c1", Scopes: []string{"openid"}, GrantedAt: base, ExpiresAt: base.Add(time.Hour)}
	require.NoError(t, s.SaveConsent(ctx, c))
	got, err := s.GetConsent(ctx, "alice", "c1")
	require.NoError(t, err)
	equalish(t, c, got)
	c.Scopes = []string{"openid", "email"}
	require.NoError(t, s.SaveConsent(ctx, c), "save replaces")
	got, _ = s.GetConsent(ctx, "alice", "c1")
	assert.Equal(t, []string{"openid", "email"}, got.Scopes)
	require.NoError(t, s.SaveConsent(ctx, storage.Consent{Subject: "alice", ClientID: "a0", GrantedAt: base}))
	require.NoError(t, s.SaveConsent(ctx, storage.Consent{Subject: "bob", ClientID: "c1", GrantedAt: base}))
	list, err := s.ListConsents(ctx, "alice")
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "a0", list[0].ClientID)
	assert.Equal(t, "c1", list[1].ClientID)
	require.NoError(t, s.RevokeConsent(ctx, "alice", "c1"))
	assert.ErrorIs(t, s.RevokeConsent(ctx, "alice", "c1"), storage.ErrNotFound)
	_, err = s.GetConsent(ctx, "bob", "c1")
	assert.NoError(t, err)
}

func testLoginSessions(t *testing.T, s storage.Store) {
	ctx := t.Context()
	ls := storage.LoginSession{ID: "h1", Subject: "alice", AuthTime: base, AMR: []string{"pwd"}, Claims: []byte(`{"sub":"alice"}`), ExpiresAt: base.Add(time.Hour)}
	_, err := s.GetLoginSession(ctx, "h1")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, s.CreateLoginSession(ctx, ls))
	assert.ErrorIs(t, s.CreateLoginSession(ctx, ls), storage.ErrAlreadyExists)
	got, err := s.GetLoginSession(ctx, "h1")
	require.NoError(t, err)
	equalish(t, ls, got)
	require.NoError(t, s.CreateLoginSession(ctx, storage.LoginSession{ID: "h2", Subject: "alice", ExpiresAt: base}))
	require.NoError(t, s.CreateLoginSession(ctx, storage.LoginSession{ID: "h3", Subject: "bob", ExpiresAt: base}))
	n, err := s.DeleteLoginSessionsBySubject(ctx, "alice")
	require.NoError(t, err)
	assert.EqualValues(t, 2, n)
	_, err = s.GetLoginSession(ctx, "h3")
	assert.NoError(t, err)
	require.NoError(t, s.DeleteLoginSession(ctx, "h3"))
	assert.ErrorIs(t, s.DeleteLoginSession(ctx, "h3"), storage.ErrNotFound)
}

func newFlow(id string) storage.AuthFlow {
	return storage.AuthFlow{ID: id, Query: "client_id=c1&scope=openid", ClientID: "c1", CSRF: "csrf", Data: map[string]string{"browser": "b"}, ExpiresAt: base.Add(time.Hour)}
}

func testAuthFlows(t *testing.T, s storage.Store) {
	ctx := t.Context()
	f := newFlow("f1")
	_, err := s.GetAuthFlow(ctx, "f1")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, s.CreateAuthFlow(ctx, f))
	assert.ErrorIs(t, s.CreateAuthFlow(ctx, f), storage.ErrAlreadyExists)
	got, err := s.GetAuthFlow(ctx, "f1")
	require.NoError(t, err)
	equalish(t, f, got)
	require.NoError(t, s.UpdateAuthFlow(ctx, "f1", func(f storage.AuthFlow) (storage.AuthFlow, error) {
		f.Subject, f.AuthTime, f.AMR = "alice", base, []string{"pwd"}
		f.Done = append(f.Done, "login")
		f.Data["tenant"] = "acme"
		return f, nil
	}))
	got, _ = s.GetAuthFlow(ctx, "f1")
	assert.Equal(t, "alice", got.Subject)
	assert.Equal(t, []string{"login"}, got.Done)
	assert.Equal(t, "acme", got.Data["tenant"])
	assert.ErrorIs(t, s.UpdateAuthFlow(ctx, "nope", func(f storage.AuthFlow) (storage.AuthFlow, error) { return f, nil }), storage.ErrNotFound)
	require.NoError(t, s.DeleteAuthFlow(ctx, "f1"))
	assert.ErrorIs(t, s.DeleteAuthFlow(ctx, "f1"), storage.ErrNotFound)
}

func testAuthFlowConcurrentUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateAuthFlow(ctx, newFlow("f1")))
	ok, errs := race(50, func() error {
		return s.UpdateAuthFlow(ctx, "f1", func(f storage.AuthFlow) (storage.AuthFlow, error) {
			f.Done = append(f.Done, fmt.Sprintf("step%d", len(f.Done)))
			return f, nil
		})
	})
	require.Empty(t, errs)
	assert.Equal(t, 50, ok)
	got, _ := s.GetAuthFlow(ctx, "f1")
	assert.Len(t, got.Done, 50, "no lost update")
}

func testKeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	k1 := storage.SigningKey{ID: "k1", Algorithm: "ES256", PrivateKey: []byte{1, 2, 3}, CreatedAt: base, ActiveAt: base}
	k2 := storage.SigningKey{ID: "k2", Algorithm: "RS256", PrivateKey: []byte{4}, CreatedAt: base.Add(time.Minute), ActiveAt: base.Add(time.Hour)}
	k0 := storage.SigningKey{ID: "k0", Algorithm: "ES256", PrivateKey: []byte{5}, CreatedAt: base.Add(time.Minute), ActiveAt: base}
	for _, k := range []storage.SigningKey{k2, k1, k0} {
		require.NoError(t, s.CreateSigningKey(ctx, k))
	}
	assert.ErrorIs(t, s.CreateSigningKey(ctx, k1), storage.ErrAlreadyExists)
	list, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3)
	assert.Equal(t, []string{"k1", "k0", "k2"}, []string{list[0].ID, list[1].ID, list[2].ID}, "by CreatedAt, then ID")
	assert.Equal(t, []byte{1, 2, 3}, list[0].PrivateKey)
	require.NoError(t, s.UpdateSigningKey(ctx, "k1", func(k storage.SigningKey) (storage.SigningKey, error) {
		k.RetiredAt, k.ExpiresAt = base.Add(time.Hour), base.Add(2*time.Hour)
		return k, nil
	}))
	list, _ = s.ListSigningKeys(ctx)
	assert.True(t, list[0].RetiredAt.Equal(base.Add(time.Hour)))
	assert.ErrorIs(t, s.UpdateSigningKey(ctx, "nope", func(k storage.SigningKey) (storage.SigningKey, error) { return k, nil }), storage.ErrNotFound)
	require.NoError(t, s.DeleteSigningKey(ctx, "k2"))
	assert.ErrorIs(t, s.DeleteSigningKey(ctx, "k2"), storage.ErrNotFound)
}

func testDeleteExpired(t *testing.T, s storage.Store) {
	ctx := t.Context()
	cut := base.Add(time.Hour)
	old, fresh := cut.Add(-time.Second), cut.Add(time.Second)

	expiredTok := newToken(storage.KindAccessToken, "old", "r1")
	expiredTok.ExpiresAt = old
	liveTok := newToken(storage.KindAccessToken, "new", "r1")
	liveTok.ExpiresAt = fresh
	require.NoError(t, s.CreateToken(ctx, expiredTok))
	require.NoError(t, s.CreateToken(ctx, liveTok))
	require.NoError(t, s.UseJTI(ctx, "j-old", old, base))
	require.NoError(t, s.UseJTI(ctx, "j-new", fresh, base))
	require.NoError(t, s.SaveConsent(ctx, storage.Consent{Subject: "a", ClientID: "old", ExpiresAt: old}))
	require.NoError(t, s.SaveConsent(ctx, storage.Consent{Subject: "a", ClientID: "forever"}))
	require.NoError(t, s.CreateLoginSession(ctx, storage.LoginSession{ID: "old", Subject: "a", ExpiresAt: old}))
	require.NoError(t, s.CreateLoginSession(ctx, storage.LoginSession{ID: "new", Subject: "a", ExpiresAt: fresh}))
	oldFlow, newFlow := newFlow("old"), newFlow("new")
	oldFlow.ExpiresAt, newFlow.ExpiresAt = old, fresh
	require.NoError(t, s.CreateAuthFlow(ctx, oldFlow))
	require.NoError(t, s.CreateAuthFlow(ctx, newFlow))
	require.NoError(t, s.CreateSigningKey(ctx, storage.SigningKey{ID: "old", Algorithm: "ES256", CreatedAt: base, ExpiresAt: old}))
	require.NoError(t, s.CreateSigningKey(ctx, storage.SigningKey{ID: "live", Algorithm: "ES256", CreatedAt: base}))

	n, err := s.DeleteExpired(ctx, cut)
	require.NoError(t, err)
	assert.EqualValues(t, 6, n, "one each of token, jti, consent, login session, flow and key")

	_, err = s.GetToken(ctx, storage.KindAccessToken, "old")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.GetToken(ctx, storage.KindAccessToken, "new")
	assert.NoError(t, err)
	assert.NoError(t, s.UseJTI(ctx, "j-old", fresh, cut), "expired jti forgotten")
	assert.ErrorIs(t, s.UseJTI(ctx, "j-new", fresh, cut), storage.ErrAlreadyUsed)
	_, err = s.GetConsent(ctx, "a", "old")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.GetConsent(ctx, "a", "forever")
	assert.NoError(t, err, "a consent without expiry stays")
	_, err = s.GetLoginSession(ctx, "old")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.GetLoginSession(ctx, "new")
	assert.NoError(t, err)
	_, err = s.GetAuthFlow(ctx, "old")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.GetAuthFlow(ctx, "new")
	assert.NoError(t, err)
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	assert.Equal(t, "live", keys[0].ID)
}

func testTimeRoundTrip(t *testing.T, s storage.Store) {
	ctx := t.Context()
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	local := base.In(zone)
	tok := newToken(storage.KindAccessToken, "t", "r")
	tok.ExpiresAt, tok.Request.RequestedAt = local, local
	require.NoError(t, s.CreateToken(ctx, tok))
	got, err := s.GetToken(ctx, storage.KindAccessToken, "t")
	require.NoError(t, err)
	assert.True(t, got.ExpiresAt.Equal(base), "got %v", got.ExpiresAt)
	assert.True(t, got.Request.RequestedAt.Equal(base))
	c := newClient("c")
	c.CreatedAt = local
	require.NoError(t, s.CreateClient(ctx, c))
	gc, _ := s.GetClient(ctx, "c")
	assert.True(t, gc.CreatedAt.Equal(base))
}

func testCanceled(t *testing.T, s storage.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]error{}
	_, calls["GetClient"] = s.GetClient(ctx, "c")
	calls["CreateClient"] = s.CreateClient(ctx, newClient("c"))
	calls["CreateToken"] = s.CreateToken(ctx, newToken(storage.KindAccessToken, "t", "r"))
	_, calls["GetToken"] = s.GetToken(ctx, storage.KindAccessToken, "t")
	_, calls["ConsumeAuthCode"] = s.ConsumeAuthCode(ctx, "t")
	calls["RotateRefreshToken"] = s.RotateRefreshToken(ctx, "t")
	calls["UseJTI"] = s.UseJTI(ctx, "j", base, base)
	_, calls["GetLoginSession"] = s.GetLoginSession(ctx, "x")
	_, calls["ListSigningKeys"] = s.ListSigningKeys(ctx)
	_, calls["DeleteExpired"] = s.DeleteExpired(ctx, base)
	for name, err := range calls {
		assert.ErrorIs(t, err, context.Canceled, name)
	}
	_, err := s.GetClient(t.Context(), "c")
	assert.ErrorIs(t, err, storage.ErrNotFound, "nothing was written with a cancelled context")
}

func testIsolation(t *testing.T, s storage.Store) {
	ctx := t.Context()
	c := newClient("c1")
	require.NoError(t, s.CreateClient(ctx, c))
	c.Scopes[0] = "mutated"
	c.JWKS[0] = 'X'
	got, _ := s.GetClient(ctx, "c1")
	assert.Equal(t, "openid", got.Scopes[0], "input not aliased")
	got.RedirectURIs[0] = "mutated"
	again, _ := s.GetClient(ctx, "c1")
	assert.Equal(t, "https://app.example.com/cb", again.RedirectURIs[0], "output not aliased")

	tok := newToken(storage.KindAccessToken, "t", "r")
	require.NoError(t, s.CreateToken(ctx, tok))
	tok.Request.Session[0] = 'X'
	tok.Request.Form["nonce"][0] = "mutated"
	gt, _ := s.GetToken(ctx, storage.KindAccessToken, "t")
	assert.Equal(t, byte('{'), gt.Request.Session[0])
	assert.Equal(t, "n", gt.Request.Form["nonce"][0])
	gt.Request.GrantedScopes[0] = "mutated"
	gt2, _ := s.GetToken(ctx, storage.KindAccessToken, "t")
	assert.Equal(t, "openid", gt2.Request.GrantedScopes[0])

	f := newFlow("f")
	require.NoError(t, s.CreateAuthFlow(ctx, f))
	f.Data["browser"] = "mutated"
	gf, _ := s.GetAuthFlow(ctx, "f")
	assert.Equal(t, "b", gf.Data["browser"])
	gf.Data["x"] = "y"
	gf2, _ := s.GetAuthFlow(ctx, "f")
	assert.NotContains(t, gf2.Data, "x")
	assert.True(t, slices.Equal([]string{}, nonNil(gf2.Done)))
}
