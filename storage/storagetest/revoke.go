package storagetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// testRevokeFamily returns the case that revokes the tokens of kind in
// family "fam" when it has several active members, created interleaved
// with tokens of other families and of other kinds. Every member must end
// inactive and otherwise unchanged, and every other token unchanged: a
// backend that stops at the first member it finds, or that matches
// families by prefix or without regard to case, fails.
func testRevokeFamily(kind storage.TokenKind) func(t *testing.T, s storage.Store) {
	return func(t *testing.T, s storage.Store) {
		ctx := t.Context()

		// The tokens in creation order, each either a member of the family
		// revoked or another token that must stay as it is.
		var created, members, others []storage.Token
		member := func(sig string, active bool) {
			tok := newToken(kind, sig, "fam")
			tok.Active = active
			created, members = append(created, tok), append(members, tok)
		}
		other := func(tok storage.Token) { created, others = append(created, tok), append(others, tok) }

		// Four members are active, so a backend that revokes only one of
		// them leaves three, whichever it takes first.
		member("fam-1", true)
		other(newToken(kind, "other-1", "other"))
		member("fam-2", false) // already consumed, rotated or revoked
		other(newToken(kind, "prefix", "fam2"))
		member("fam-3", true)
		other(newToken(kind, "shorter", "fa"))
		other(newToken(kind, "upper", "FAM"))
		for _, k := range storage.Kinds {
			if k != kind {
				// The same family under another kind: with a member's
				// signature, and with the one a refresh member links to.
				other(newToken(k, "fam-1", "fam"))
				other(newToken(k, "at-fam-3", "fam"))
			}
		}
		member("fam-4", true)
		other(newToken(kind, "other-2", "other"))
		member("fam-5", true)
		other(newToken(kind, "other-3", "other"))
		for _, tok := range created {
			require.NoError(t, s.CreateToken(ctx, tok), "%s %s", tok.Kind, tok.Signature)
		}

		require.NoError(t, s.RevokeFamily(ctx, kind, "fam"))
		check := func(when string) {
			t.Helper()
			for _, want := range members {
				want.Active = false
				got, err := s.GetToken(ctx, kind, want.Signature)
				if assert.NoError(t, err, "%s: RevokeFamily keeps %s %s", when, kind, want.Signature) {
					assertSameRecord(t, want, got, "%s: RevokeFamily(%s, fam) makes member %s inactive, and changes nothing else of it",
						when, kind, want.Signature)
				}
			}
			for _, want := range others {
				got, err := s.GetToken(ctx, want.Kind, want.Signature)
				if assert.NoError(t, err, "%s: RevokeFamily keeps %s %s", when, want.Kind, want.Signature) {
					assertSameRecord(t, want, got, "%s: RevokeFamily(%s, fam) leaves %s %s of family %q unchanged",
						when, kind, want.Kind, want.Signature, want.Request.ID)
				}
			}
		}
		check("after revoking")
		require.NoError(t, s.RevokeFamily(ctx, kind, "fam"), "revoking a revoked family again is not an error")
		check("after revoking twice")
	}
}
