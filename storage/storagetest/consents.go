package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

func testConsentsSaveGetRevoke(t *testing.T, s storage.Store) {
	ctx := t.Context()
	expiring := newConsent("alice", "client-1")
	forever := newConsent("alice", "client-2")
	forever.ExpiresAt = time.Time{}
	bobs := newConsent("bob", "client-1")
	for _, c := range []storage.Consent{expiring, forever, bobs} {
		require.NoError(t, s.SaveConsent(ctx, c))
	}
	for _, want := range []storage.Consent{expiring, forever, bobs} {
		got, err := s.GetConsent(ctx, want.Subject, want.ClientID)
		require.NoError(t, err, "%s/%s", want.Subject, want.ClientID)
		assertSameRecord(t, want, got, "GetConsent returns every field as saved")
	}

	require.NoError(t, s.RevokeConsent(ctx, "alice", "client-1"))
	_, err := s.GetConsent(ctx, "alice", "client-1")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a revoked consent is gone")
	for _, want := range []storage.Consent{forever, bobs} {
		got, err := s.GetConsent(ctx, want.Subject, want.ClientID)
		if assert.NoError(t, err, "revoking one consent leaves %s/%s", want.Subject, want.ClientID) {
			assertSameRecord(t, want, got)
		}
	}
	require.NoError(t, s.SaveConsent(ctx, expiring), "a revoked consent can be given again")
}

func testConsentsSaveReplaces(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.SaveConsent(ctx, newConsent("alice", "client-1")))
	next := storage.Consent{
		Subject:   "alice",
		ClientID:  "client-1",
		Scopes:    []string{"openid"},
		GrantedAt: at(time.Hour),
		// ExpiresAt zero: the new consent never lapses, and the old expiry
		// must not survive.
	}
	require.NoError(t, s.SaveConsent(ctx, next), "saving again replaces")
	got, err := s.GetConsent(ctx, "alice", "client-1")
	require.NoError(t, err)
	assertSameRecord(t, next, got, "every field is replaced, including a zeroed one")
	list, err := s.ListConsents(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, []storage.Consent{next}, list, "one consent per subject and client")
}

func testConsentsListBySubject(t *testing.T, s storage.Store) {
	ctx := t.Context()
	list, err := s.ListConsents(ctx, "alice")
	require.NoError(t, err)
	assert.Empty(t, list, "no consents yet")

	a, b, c := newConsent("alice", "client-a"), newConsent("alice", "client-b"), newConsent("alice", "client-c")
	b.ExpiresAt = time.Time{}
	bob := newConsent("bob", "client-b")
	for _, consent := range []storage.Consent{c, bob, a, b} {
		require.NoError(t, s.SaveConsent(ctx, consent))
	}
	list, err = s.ListConsents(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, []storage.Consent{a, b, c}, list, "alice's consents, ordered by client ID")
	list, err = s.ListConsents(ctx, "bob")
	require.NoError(t, err)
	assertSameRecord(t, []storage.Consent{bob}, list, "only bob's consents")
	list, err = s.ListConsents(ctx, "nobody")
	require.NoError(t, err, "listing a subject with no consents is not an error")
	assert.Empty(t, list)
}
