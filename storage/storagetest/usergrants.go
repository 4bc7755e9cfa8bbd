package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// A user's grants to a client: ListGrants lists, per client, the newest
// live token of a user (the account page's "connected apps"), and
// RevokeUserClientGrants ends every token of a user's grants to one client
// (the page's revoke button).

// withOwner returns tok with its grant made by subject to clientID.
func withOwner(tok storage.Token, subject, clientID string) storage.Token {
	tok.Request.Subject, tok.Request.ClientID = subject, clientID
	return tok
}

// testRevokeUserClientGrants: RevokeUserClientGrants("alice", "client-1")
// makes every token of every kind of alice's grants to client-1 inactive,
// in any family, and changes nothing else; tokens of look-alike subjects
// and clients, and of other pairs, are untouched.
func testRevokeUserClientGrants(t *testing.T, s storage.Store) {
	ctx := t.Context()
	var created, members, others []storage.Token
	member := func(tok storage.Token) { created, members = append(created, tok), append(members, tok) }
	other := func(tok storage.Token) { created, others = append(created, tok), append(others, tok) }
	for i, kind := range storage.Kinds {
		family := []string{"fam-a", "fam-b"}[i%2]
		member(withOwner(newToken(kind, "m-"+string(kind), family), "alice", "client-1"))
		other(withOwner(newToken(kind, "client2-"+string(kind), "fam-c"), "alice", "client-2"))
		other(withOwner(newToken(kind, "longer-"+string(kind), "fam-d"), "alice", "client-10"))
		other(withOwner(newToken(kind, "bob-"+string(kind), "fam-e"), "bob", "client-1"))
		other(withOwner(newToken(kind, "upper-"+string(kind), "fam-f"), "Alice", "client-1"))
		other(withOwner(newToken(kind, "none-"+string(kind), "fam-g"), "", "client-1"))
	}
	member(inactive(withOwner(newToken(storage.KindAuthCode, "m-used-code", "fam-a"), "alice", "client-1")))
	member(rotated(withOwner(newToken(storage.KindRefreshToken, "m-rotated", "fam-a"), "alice", "client-1"), at(-time.Minute)))
	for _, tok := range created {
		require.NoError(t, s.CreateToken(ctx, tok), "%s %s", tok.Kind, tok.Signature)
	}
	check := func(when string) {
		t.Helper()
		for _, want := range members {
			want.Active = false
			got, err := s.GetToken(ctx, want.Kind, want.Signature)
			if assert.NoError(t, err, "%s: RevokeUserClientGrants keeps %s %s", when, want.Kind, want.Signature) {
				assertSameRecord(t, want, got, "%s: RevokeUserClientGrants makes %s %s inactive, and changes nothing else of it",
					when, want.Kind, want.Signature)
			}
		}
		for _, want := range others {
			got, err := s.GetToken(ctx, want.Kind, want.Signature)
			if assert.NoError(t, err, "%s: RevokeUserClientGrants keeps %s %s", when, want.Kind, want.Signature) {
				assertSameRecord(t, want, got, "%s: RevokeUserClientGrants(alice, client-1) leaves %s %s of %q to %q unchanged",
					when, want.Kind, want.Signature, want.Request.Subject, want.Request.ClientID)
			}
		}
	}
	require.NoError(t, s.RevokeUserClientGrants(ctx, "", "client-1", at(time.Hour)), "an empty subject revokes nothing")
	require.NoError(t, s.RevokeUserClientGrants(ctx, "alice", "", at(time.Hour)), "an empty client revokes nothing")
	require.NoError(t, s.RevokeUserClientGrants(ctx, "carol", "client-1", at(time.Hour)), "grants without tokens are not an error")
	for _, want := range created {
		got, err := s.GetToken(ctx, want.Kind, want.Signature)
		if assert.NoError(t, err) {
			assertSameRecord(t, want, got, "revoking an empty or unknown pair changes nothing: %s %s", want.Kind, want.Signature)
		}
	}
	require.NoError(t, s.RevokeUserClientGrants(ctx, "alice", "client-1", at(time.Hour)))
	check("after revoking")
	require.NoError(t, s.RevokeUserClientGrants(ctx, "alice", "client-1", at(time.Hour)), "revoking again is not an error")
	check("after revoking twice")
}

// testRevokeUserClientGrantsLaterTokens: once alice's grants to client-1
// are revoked, a token created later in one of their families (a refresh
// or code exchange under way) is stored inactive, of every kind; a token of
// a new family of the same pair (a grant made afterwards), and tokens of
// other families, are stored as given. The record lasts until DeleteExpired
// passes its until (strictly; a later until extends it, an earlier one
// does not shorten it), and DeleteExpired counts it.
func testRevokeUserClientGrantsLaterTokens(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateToken(ctx, withOwner(newToken(storage.KindRefreshToken, "rt-0", "fam"), "alice", "client-1")))
	until := at(30 * time.Minute) // before the tokens' expiry, at(time.Hour)
	require.NoError(t, s.RevokeUserClientGrants(ctx, "alice", "client-1", until))
	require.NoError(t, s.RevokeUserClientGrants(ctx, "alice", "client-1", at(10*time.Minute)), "an earlier until does not shorten the record")
	stored := func(tok storage.Token, active bool, msg string) {
		t.Helper()
		require.NoError(t, s.CreateToken(ctx, tok), msg)
		got, err := s.GetToken(ctx, tok.Kind, tok.Signature)
		if assert.NoError(t, err, msg) {
			tok.Active = active
			assertSameRecord(t, tok, got, msg)
		}
	}
	for _, kind := range storage.Kinds {
		stored(withOwner(newToken(kind, "later", "fam"), "alice", "client-1"), false,
			"a "+string(kind)+" of a revoked family created afterwards is stored inactive, and otherwise as given")
	}
	stored(withOwner(newToken(storage.KindAccessToken, "new-grant", "fam-new"), "alice", "client-1"), true,
		"a token of a grant made after the revocation (a new family) is stored as given")
	stored(withOwner(newToken(storage.KindAccessToken, "famous", "fam2"), "alice", "client-1"), true,
		"family IDs compare byte for byte: \"fam2\" is not \"fam\"")

	n, err := s.DeleteExpired(ctx, until)
	require.NoError(t, err)
	assert.Zero(t, n, "DeleteExpired(until) keeps the record of the revoked family (and every token, expiring later)")
	stored(withOwner(newToken(storage.KindAccessToken, "at-until", "fam"), "alice", "client-1"), false,
		"the family is still revoked after DeleteExpired at its until")
	n, err = s.DeleteExpired(ctx, until.Add(time.Microsecond))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "DeleteExpired after until removes the record of the revoked family, and counts it")
	stored(withOwner(newToken(storage.KindAccessToken, "after-until", "fam"), "alice", "client-1"), true,
		"once the record is gone, a token of the family is stored as given")
}

// testTxRevokeUserClientGrants is testTxRevokeLoginGrants for
// RevokeUserClientGrants of the fixture's grant (alice to client-1).
func testTxRevokeUserClientGrants(u singleUse) func(t *testing.T, s storage.Store, tr storage.Transactor) {
	return testTxRevoke(u, "RevokeUserClientGrants", func(ctx context.Context, s storage.Store) error {
		return s.RevokeUserClientGrants(ctx, "alice", "client-1", at(time.Hour))
	})
}

// testListGrantsNewestPerClient: ListGrants returns, per client, the
// newest active, unexpired access or refresh token of the subject (latest
// CreatedAt, then greatest signature), ordered by client ID byte by byte;
// codes, inactive and expired tokens, and other subjects' tokens do not
// count. "now" is the suite's base: a token expiring at base is expired.
func testListGrantsNewestPerClient(t *testing.T, s storage.Store) {
	ctx := t.Context()
	tok := func(kind storage.TokenKind, sig, family, subject, clientID string, created time.Duration) storage.Token {
		t.Helper()
		x := withOwner(newToken(kind, sig, family), subject, clientID)
		x.CreatedAt = at(created)
		return x
	}
	expired := func(x storage.Token) storage.Token { x.ExpiresAt = base; return x }
	want := map[string]storage.Token{}
	for _, x := range []storage.Token{
		// client-a: the newest is an access token among older ones.
		tok(storage.KindRefreshToken, "a-rt-old", "fam-a", "alice", "client-a", -3*time.Hour),
		tok(storage.KindAccessToken, "a-at-new", "fam-a", "alice", "client-a", -time.Hour),
		tok(storage.KindRefreshToken, "a-rt-mid", "fam-a2", "alice", "client-a", -2*time.Hour),
		// Newer, but not counted: a code, an inactive token, an expired one.
		tok(storage.KindAuthCode, "a-code", "fam-a3", "alice", "client-a", -time.Minute),
		inactive(tok(storage.KindRefreshToken, "a-rotated", "fam-a", "alice", "client-a", -time.Minute)),
		expired(tok(storage.KindAccessToken, "a-expired", "fam-a", "alice", "client-a", -time.Minute)),
		// client-B sorts before client-a byte by byte; two tokens created at
		// once: the greater signature wins.
		tok(storage.KindRefreshToken, "b-1", "fam-b", "alice", "client-B", -time.Hour),
		tok(storage.KindAccessToken, "b-2", "fam-b", "alice", "client-B", -time.Hour),
		// client-c has nothing live: not listed.
		inactive(tok(storage.KindRefreshToken, "c-revoked", "fam-c", "alice", "client-c", -time.Hour)),
		tok(storage.KindAuthCode, "c-code", "fam-c2", "alice", "client-c", -time.Hour),
		// Other subjects.
		tok(storage.KindAccessToken, "bob", "fam-bob", "bob", "client-a", 0),
		tok(storage.KindAccessToken, "upper", "fam-up", "Alice", "client-d", 0),
		tok(storage.KindAccessToken, "none", "fam-none", "", "client-e", 0),
	} {
		require.NoError(t, s.CreateToken(ctx, x), "%s %s", x.Kind, x.Signature)
		switch x.Signature {
		case "a-at-new":
			want["client-a"] = x
		case "b-2":
			want["client-B"] = x
		}
	}
	got, err := s.ListGrants(ctx, "alice", base)
	require.NoError(t, err)
	if assert.Len(t, got, 2, "one token per client with a live grant") {
		assertSameRecord(t, want["client-B"], got[0], "client-B first (byte order), its newest token, the greater signature of two")
		assertSameRecord(t, want["client-a"], got[1], "client-a: its newest live access or refresh token")
	}
	none, err := s.ListGrants(ctx, "carol", base)
	require.NoError(t, err)
	assert.Empty(t, none, "a subject without grants lists nothing, without an error")
	empty, err := s.ListGrants(ctx, "", base)
	require.NoError(t, err)
	assert.Empty(t, empty, "the empty subject (client credentials) lists nothing")
}
