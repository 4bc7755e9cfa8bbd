package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// The grants of a browser sign-in: LoginSessionsBySubject lists a user's
// sessions (the provider picks the live ones, and their SIDs, to end them),
// and RevokeLoginGrants ends every token whose grant was made in one
// sign-in (Request.LoginSID).

// testSessionsListBySubject lists the sessions of a subject among those of
// look-alike subjects: every one of them (expired too, and one stored
// without a SID), every field as created, ordered by ID byte by byte, and
// nothing of the others.
func testSessionsListBySubject(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// Byte order: "s-B" < "s-_" < "s-b"; a collation that ignores case or
	// punctuation orders them otherwise.
	expired := newLoginSession("s-_", "alice")
	expired.ExpiresAt = longAgo
	legacy := newLoginSession("s-B", "alice")
	legacy.SID = "" // stored before sessions had a SID
	want := []storage.LoginSession{legacy, expired, newLoginSession("s-b", "alice")}
	for _, ls := range []storage.LoginSession{
		want[2],
		newLoginSession("bob-1", "bob"),
		want[1],
		newLoginSession("alice2-1", "alice2"),
		newLoginSession("upper-1", "Alice"),
		newLoginSession("prefix-1", "alic"),
		want[0],
	} {
		require.NoError(t, s.CreateLoginSession(ctx, ls), ls.ID)
	}
	got, err := s.LoginSessionsBySubject(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "LoginSessionsBySubject(alice) returns alice's sessions, expired ones too, ordered by ID byte by byte, and no one else's")

	require.NoError(t, s.DeleteLoginSession(ctx, "s-_"))
	got, err = s.LoginSessionsBySubject(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, []storage.LoginSession{want[0], want[2]}, got, "a deleted session is no longer listed")

	got, err = s.LoginSessionsBySubject(ctx, "carol")
	require.NoError(t, err, "a subject without sessions is not an error")
	assert.Empty(t, got)
}

// testRevokeLoginGrants revokes the grants of sign-in "sid" when it has
// tokens of every kind, in several families, some active and some already
// inactive, created among tokens of look-alike sign-ins, of no sign-in,
// and of a family whose request ID is "sid". Every member must end
// inactive and otherwise unchanged (a rotated refresh token keeps its
// RotatedAt), and every other token unchanged: a backend that revokes by
// request ID, by prefix, without regard to case, one kind only, or the
// tokens of no sign-in when asked for "", fails.
func testRevokeLoginGrants(t *testing.T, s storage.Store) {
	ctx := t.Context()
	withSID := func(tok storage.Token, sid string) storage.Token {
		tok.Request.LoginSID = sid
		return tok
	}
	var created, members, others []storage.Token
	member := func(tok storage.Token) { created, members = append(created, tok), append(members, tok) }
	other := func(tok storage.Token) { created, others = append(created, tok), append(others, tok) }

	for i, kind := range storage.Kinds {
		family := []string{"fam-a", "fam-b"}[i%2]
		member(withSID(newToken(kind, "m-"+string(kind), family), "sid"))
		other(withSID(newToken(kind, "longer-"+string(kind), family), "sid2"))
		other(withSID(newToken(kind, "shorter-"+string(kind), "fam-c"), "si"))
		other(withSID(newToken(kind, "upper-"+string(kind), "fam-c"), "SID"))
		other(withSID(newToken(kind, "none-"+string(kind), "fam-d"), ""))
		other(withSID(newToken(kind, "family-"+string(kind), "sid"), "other"))
	}
	used := inactive(withSID(newToken(storage.KindAuthCode, "m-used-code", "fam-a"), "sid"))
	member(used)
	member(rotated(withSID(newToken(storage.KindRefreshToken, "m-rotated", "fam-a"), "sid"), at(-time.Minute)))
	member(withSID(newToken(storage.KindRefreshToken, "m-rt-2", "fam-b"), "sid"))
	member(withSID(newToken(storage.KindAccessToken, "m-at-2", "fam-b"), "sid"))
	for _, tok := range created {
		require.NoError(t, s.CreateToken(ctx, tok), "%s %s", tok.Kind, tok.Signature)
	}

	check := func(when string) {
		t.Helper()
		for _, want := range members {
			want.Active = false
			got, err := s.GetToken(ctx, want.Kind, want.Signature)
			if assert.NoError(t, err, "%s: RevokeLoginGrants keeps %s %s", when, want.Kind, want.Signature) {
				assertSameRecord(t, want, got, "%s: RevokeLoginGrants(sid) makes %s %s inactive, and changes nothing else of it",
					when, want.Kind, want.Signature)
			}
		}
		for _, want := range others {
			got, err := s.GetToken(ctx, want.Kind, want.Signature)
			if assert.NoError(t, err, "%s: RevokeLoginGrants keeps %s %s", when, want.Kind, want.Signature) {
				assertSameRecord(t, want, got, "%s: RevokeLoginGrants(sid) leaves %s %s of sign-in %q and family %q unchanged",
					when, want.Kind, want.Signature, want.Request.LoginSID, want.Request.ID)
			}
		}
	}
	require.NoError(t, s.RevokeLoginGrants(ctx, "", at(time.Hour)))
	require.NoError(t, s.RevokeLoginGrants(ctx, "no-such-sign-in", at(time.Hour)), "a sign-in without tokens is not an error")
	for _, want := range created {
		got, err := s.GetToken(ctx, want.Kind, want.Signature)
		if assert.NoError(t, err) {
			assertSameRecord(t, want, got, "RevokeLoginGrants of \"\" and of an unknown sign-in change nothing: %s %s", want.Kind, want.Signature)
		}
	}
	require.NoError(t, s.RevokeLoginGrants(ctx, "sid", at(time.Hour)))
	check("after revoking")
	require.NoError(t, s.RevokeLoginGrants(ctx, "sid", at(time.Hour)), "revoking a revoked sign-in again is not an error")
	check("after revoking twice")
}

// testRevokeLoginGrantsLaterTokens: once a sign-in is ended, every token
// created with its LoginSID is stored inactive (the tokens of a refresh or
// code exchange that was under way), of every kind, and otherwise as
// given; tokens of other sign-ins and of none are stored as given. The
// record lasts until DeleteExpired passes its until (strictly, as for
// every expiry; a later until given for the same sign-in extends it, an
// earlier one does not shorten it), and DeleteExpired counts it.
func testRevokeLoginGrantsLaterTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	until := at(30 * time.Minute) // before the tokens' expiry, at(time.Hour)
	require.NoError(t, s.RevokeLoginGrants(ctx, "sid", until))
	require.NoError(t, s.RevokeLoginGrants(ctx, "sid", at(10*time.Minute)), "an earlier until does not shorten the record")
	require.NoError(t, s.RevokeLoginGrants(ctx, "", until), "\"\" records nothing")
	create := func(sig, sid string) storage.Token {
		t.Helper()
		tok := newToken(storage.KindAccessToken, sig, "fam-"+sig)
		tok.Request.LoginSID = sid
		require.NoError(t, s.CreateToken(ctx, tok))
		return tok
	}
	stored := func(tok storage.Token, active bool, msg string) {
		t.Helper()
		got, err := s.GetToken(ctx, tok.Kind, tok.Signature)
		if assert.NoError(t, err, msg) {
			tok.Active = active
			assertSameRecord(t, tok, got, msg)
		}
	}
	for _, kind := range storage.Kinds {
		tok := newToken(kind, "later", "fam")
		tok.Request.LoginSID = "sid"
		require.NoError(t, s.CreateToken(ctx, tok))
		stored(tok, false, "a "+string(kind)+" of the ended sign-in created afterwards is stored inactive, and otherwise as given")
	}
	for _, sid := range []string{"sid2", "SID", "si", ""} {
		stored(create("other-"+sid, sid), true, "a token of sign-in "+sid+" is stored as given")
	}

	n, err := s.DeleteExpired(ctx, until)
	require.NoError(t, err)
	assert.Zero(t, n, "DeleteExpired(until) keeps the record of the ended sign-in (and every token, expiring later)")
	stored(create("at-until", "sid"), false, "the sign-in is still ended after DeleteExpired at its until")
	n, err = s.DeleteExpired(ctx, until.Add(time.Microsecond))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "DeleteExpired after until removes the record of the ended sign-in, and counts it")
	stored(create("after-until", "sid"), true, "once the record is gone, a token of the sign-in is stored as given")
}

// testTxRevokeLoginGrants: a transaction (a code exchange or a refresh)
// uses a code or refresh token of sign-in "sid-fam", and while it holds it,
// RevokeLoginGrants of that sign-in is called outside it; the transaction
// then creates its refresh token and commits. Once RevokeLoginGrants has
// returned, the tokens the transaction committed must be inactive: a
// backend that revokes at once, without waiting for the transaction, leaves
// them active (a logout racing a refresh would not end the grant).
func testTxRevokeLoginGrants(u singleUse) func(t *testing.T, s storage.Store, tr storage.Transactor) {
	return testTxRevoke(u, "RevokeLoginGrants", func(ctx context.Context, s storage.Store) error {
		return s.RevokeLoginGrants(ctx, "sid-fam", at(time.Hour))
	})
}

// testTxRevoke is testTxRevokeLoginGrants with another revocation of the
// grant "fam" (name, called as revoke).
func testTxRevoke(u singleUse, name string, revoke func(context.Context, storage.Store) error) func(t *testing.T, s storage.Store, tr storage.Transactor) {
	return func(t *testing.T, s storage.Store, tr storage.Transactor) {
		ctx := t.Context()
		u.seed(t, s, "sig")
		tx1, err := begin(ctx, s, tr, "1")
		require.NoError(t, err)
		_, err = u.use(tx1, s, "sig")
		require.NoError(t, err, "the transaction's %s", u.name)

		revoked := make(chan error, 1)
		go func() { revoked <- revoke(ctx, s) }()
		var revokeErr error
		answered := false
		select {
		case revokeErr = <-revoked:
			answered = true
		case <-time.After(heldWait): // time for a backend that does not wait to revoke and return
		}
		require.NoError(t, finish(ctx, tx1, s, tr, "1", nil), "the transaction creates its refresh token and commits")
		if !answered {
			select {
			case revokeErr = <-revoked:
			case <-time.After(hangLimit):
				t.Fatalf("%s still waits %v after the transaction committed", name, hangLimit)
			}
		}
		require.NoError(t, revokeErr)
		assertTokens(t, s, "1", true, false,
			"the tokens a transaction that held a "+u.name+" record of the grant committed are revoked by the "+name+" it raced with")
		u.assertUsed(t, s, "sig")
	}
}
