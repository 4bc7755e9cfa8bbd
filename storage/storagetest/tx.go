package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/racetest"
	"github.com/gatehouse/gatehouse/storage"
)

// The Transactions group checks [storage.Transactor] as its documentation
// states it, for stores that implement it. The provider runs the writes of
// one token response in one transaction: the code exchange consumes the code
// and creates the access and refresh tokens, the refresh rotates the old
// refresh token and creates the new ones. What it relies on:
//
//   - a rollback (or a context that ends first) leaves nothing of the
//     transaction, and a commit keeps all of it;
//   - every method called with the transaction's context, or one derived
//     from it, runs inside it and sees its writes;
//   - of several transactions using one code or refresh token, exactly one
//     wins, and a loser learns that the record is used (ErrAlreadyUsed) only
//     once the winner has ended. The provider revokes the family when it
//     learns that, outside any transaction: had the loser been answered
//     while the winner was still writing, the winner's new tokens would be
//     written after the revocation and stay valid.

// withTx adapts a Transactions case to a testCase: it skips the case when
// the store is not a [storage.Transactor].
func withTx(run func(t *testing.T, s storage.Store, tr storage.Transactor)) func(t *testing.T, s storage.Store) {
	return func(t *testing.T, s storage.Store) {
		tr, ok := s.(storage.Transactor)
		if !ok {
			t.Skipf("storagetest: %T does not implement storage.Transactor; the Transactions cases run only for stores that do", s)
		}
		run(t, s, tr)
	}
}

// The transaction races run txRounds times with txRaceWidth transactions
// each: every one holds a connection of a database backend until it ends,
// so they are fewer than in the other races. heldWait is how long a
// transaction that must wait for another is given to show that it does not.
const (
	txRaceWidth = 8
	txRounds    = 3
	heldWait    = 100 * time.Millisecond
	hangLimit   = 30 * time.Second
)

// writes returns the calls of everyMethod but DeleteExpired: in order, on a
// store seedOneOfEach filled, each succeeds.
func writes(s storage.Store) []call {
	var out []call
	for _, c := range everyMethod(s) {
		if c.method != "DeleteExpired" {
			out = append(out, c)
		}
	}
	return out
}

// assertWritesApplied asserts, reading with ctx, that the store holds what
// the calls of writes leave of the seed.
func assertWritesApplied(t *testing.T, s storage.Store, ctx context.Context) {
	t.Helper()
	clients, err := s.ListClients(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.Client{newClient("new-client")}, clients, "the client created is there, the one updated and deleted is not")
	_, err = s.GetClient(ctx, "client")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the deleted client is gone")

	newTok := newToken(storage.KindAccessToken, "new-token", "fam")
	newTok.Active = false // RevokeFamily(access, "fam") came after
	for _, want := range []storage.Token{
		newTok,
		inactive(newToken(storage.KindAuthCode, "code", "fam")),
		rotated(newToken(storage.KindRefreshToken, "rt", "fam"), base),
	} {
		got, err := s.GetToken(ctx, want.Kind, want.Signature)
		if assert.NoError(t, err, "%s %s", want.Kind, want.Signature) {
			assertSameRecord(t, want, got, "%s %s", want.Kind, want.Signature)
		}
	}
	_, err = s.GetToken(ctx, storage.KindAccessToken, "at-rt")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the deleted access token is gone")

	consents, err := s.ListConsents(ctx, "alice")
	require.NoError(t, err)
	assertSameRecord(t, []storage.Consent{newConsent("alice", "new-client")}, consents, "the consent saved is there, the one revoked is not")
	for _, id := range []string{"session", "new-session"} {
		_, err = s.GetLoginSession(ctx, id)
		assert.ErrorIs(t, err, storage.ErrNotFound, "login session %s was deleted", id)
	}
	_, err = s.GetAuthFlow(ctx, "flow")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the deleted flow is gone")
	flow, err := s.GetAuthFlow(ctx, "new-flow")
	if assert.NoError(t, err, "the flow created is there") {
		assertSameRecord(t, newFlow("new-flow"), flow)
	}
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.SigningKey{newKey("new-key", base)}, keys, "the key created is there, the one updated and deleted is not")
	_, err = s.GetMFA(ctx, "alice")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the deleted MFA record is gone")
	mfa, err := s.GetMFA(ctx, "new-mfa")
	if assert.NoError(t, err, "the MFA record created is there") {
		assertSameRecord(t, newMFA("new-mfa"), mfa)
	}
	th, err := s.GetThrottle(ctx, "password:new-throttle")
	if assert.NoError(t, err, "the throttle created by UpdateThrottle is there") {
		assertSameRecord(t, storage.Throttle{Key: "password:new-throttle", Failures: 1}, th)
	}
	// Last: it fails, as it should, and the caller ends the transaction.
	assert.ErrorIs(t, s.UseJTI(ctx, "new-jti", at(time.Minute), base), storage.ErrAlreadyUsed, "the JWT ID is recorded")
}

func inactive(tok storage.Token) storage.Token {
	tok.Active = false
	return tok
}

// rotated is tok after RotateRefreshToken at now.
func rotated(tok storage.Token, now time.Time) storage.Token {
	tok.Active, tok.RotatedAt = false, now
	return tok
}

func testTxRollbackDiscardsEveryWrite(t *testing.T, s storage.Store, tr storage.Transactor) {
	seedOneOfEach(t, s)
	txCtx, err := tr.BeginTx(t.Context())
	require.NoError(t, err)
	for _, c := range everyMethod(s) {
		require.NoError(t, c.do(txCtx), "%s in a transaction", c.method)
	}
	require.NoError(t, tr.Rollback(txCtx))
	assertSeedUntouched(t, s)
}

func testTxReadsSeeOwnWrites(t *testing.T, s storage.Store, tr storage.Transactor) {
	seedOneOfEach(t, s)
	txCtx, err := tr.BeginTx(t.Context())
	require.NoError(t, err)
	for _, c := range writes(s) {
		require.NoError(t, c.do(txCtx), "%s in a transaction", c.method)
	}
	assertWritesApplied(t, s, txCtx)
	require.NoError(t, tr.Rollback(txCtx))
	assertSeedUntouched(t, s)
}

func testTxCommitKeepsEveryWrite(t *testing.T, s storage.Store, tr storage.Transactor) {
	ctx := t.Context()
	seedOneOfEach(t, s)
	txCtx, err := tr.BeginTx(ctx)
	require.NoError(t, err)
	for _, c := range writes(s) {
		require.NoError(t, c.do(txCtx), "%s in a transaction", c.method)
	}
	// A login session that no later call deletes.
	require.NoError(t, s.CreateLoginSession(txCtx, newLoginSession("bob-session", "bob")))
	require.NoError(t, tr.Commit(txCtx))
	assertWritesApplied(t, s, ctx)
	got, err := s.GetLoginSession(ctx, "bob-session")
	if assert.NoError(t, err, "the login session created in the transaction is there") {
		assertSameRecord(t, newLoginSession("bob-session", "bob"), got)
	}

	// DeleteExpired's deletions are committed too.
	txCtx, err = tr.BeginTx(ctx)
	require.NoError(t, err)
	n, err := s.DeleteExpired(txCtx, at(2*time.Hour))
	require.NoError(t, err)
	assert.Positive(t, n)
	_, err = s.GetToken(txCtx, storage.KindAccessToken, "new-token")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a read in the transaction sees its DeleteExpired")
	require.NoError(t, tr.Commit(txCtx))
	_, err = s.GetToken(ctx, storage.KindAccessToken, "new-token")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the expired token DeleteExpired removed in a committed transaction is gone")
	_, err = s.GetLoginSession(ctx, "bob-session")
	assert.NoError(t, err, "what had not expired is kept")
}

func testTxNestedBeginTx(t *testing.T, s storage.Store, tr storage.Transactor) {
	ctx := t.Context()
	txCtx, err := tr.BeginTx(ctx)
	require.NoError(t, err)
	_, err = tr.BeginTx(txCtx)
	assert.Error(t, err, "BeginTx on a context that carries a transaction is an error")
	derived, cancel := context.WithTimeout(txCtx, time.Hour)
	defer cancel()
	_, err = tr.BeginTx(derived)
	assert.Error(t, err, "BeginTx on a context derived from one that carries a transaction is an error")

	require.NoError(t, s.CreateClient(derived, newClient("via-derived")), "a call with a derived context")
	_, err = s.GetClient(txCtx, "via-derived")
	assert.NoError(t, err, "the derived context's write is in the transaction")
	require.NoError(t, tr.Rollback(txCtx))
	_, err = s.GetClient(ctx, "via-derived")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the derived context's write is rolled back with the transaction")

	// A refused nested BeginTx leaves the transaction as it was.
	txCtx, err = tr.BeginTx(ctx)
	require.NoError(t, err)
	require.NoError(t, s.CreateClient(txCtx, newClient("before")))
	_, err = tr.BeginTx(txCtx)
	require.Error(t, err)
	require.NoError(t, s.CreateClient(txCtx, newClient("after")), "the transaction is still usable after a refused nested BeginTx")
	require.NoError(t, tr.Commit(txCtx))
	clients, err := s.ListClients(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.Client{newClient("after"), newClient("before")}, clients,
		"both writes are committed: the refused BeginTx neither ended the transaction nor started another")
}

func testTxContextCanceled(t *testing.T, s storage.Store, tr storage.Transactor) {
	seedOneOfEach(t, s)
	done, cancelDone := context.WithCancel(t.Context())
	cancelDone()
	_, err := tr.BeginTx(done)
	assert.ErrorIs(t, err, context.Canceled, "BeginTx with a cancelled context")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	txCtx, err := tr.BeginTx(ctx)
	require.NoError(t, err)
	for _, c := range everyMethod(s) {
		require.NoError(t, c.do(txCtx), "%s in a transaction", c.method)
	}
	cancel()
	for _, c := range everyMethod(s) {
		assert.ErrorIs(t, c.do(txCtx), context.Canceled, "%s in a transaction whose context is cancelled", c.method)
	}
	assert.ErrorIs(t, tr.Commit(txCtx), context.Canceled, "Commit once the context is cancelled does not commit")
	assertSeedUntouched(t, s)
}

// singleUse is one of the single-use primitives a token response calls in
// its transaction, on a record stored under sig in family "fam".
type singleUse struct {
	name string
	// seed stores the record (and, for a refresh token, the access token
	// linked to it, "at-" + sig).
	seed func(t *testing.T, s storage.Store, sig string)
	// use calls the primitive. family is the family of the record it
	// returns, or "" if it returns none.
	use func(ctx context.Context, s storage.Store, sig string) (family string, err error)
	// assertUsed asserts what the primitive leaves once a transaction
	// using it has committed.
	assertUsed func(t *testing.T, s storage.Store, sig string)
}

var (
	consumeCode = singleUse{
		name: "ConsumeAuthCode",
		seed: func(t *testing.T, s storage.Store, sig string) {
			require.NoError(t, s.CreateToken(t.Context(), newToken(storage.KindAuthCode, sig, "fam")))
		},
		use: func(ctx context.Context, s storage.Store, sig string) (string, error) {
			code, err := s.ConsumeAuthCode(ctx, sig)
			return code.Request.ID, err
		},
		assertUsed: func(t *testing.T, s storage.Store, sig string) {
			got, err := s.GetToken(t.Context(), storage.KindAuthCode, sig)
			if assert.NoError(t, err) {
				assert.False(t, got.Active, "the code is consumed")
			}
		},
	}
	rotateRefresh = singleUse{
		name: "RotateRefreshToken",
		seed: func(t *testing.T, s storage.Store, sig string) {
			rt := newToken(storage.KindRefreshToken, sig, "fam")
			require.NoError(t, s.CreateToken(t.Context(), rt))
			require.NoError(t, s.CreateToken(t.Context(), newToken(storage.KindAccessToken, rt.AccessSignature, "fam")))
		},
		use: func(ctx context.Context, s storage.Store, sig string) (string, error) {
			return "", s.RotateRefreshToken(ctx, sig, time.Now().UTC())
		},
		assertUsed: func(t *testing.T, s storage.Store, sig string) {
			got, err := s.GetToken(t.Context(), storage.KindRefreshToken, sig)
			if assert.NoError(t, err) {
				assert.False(t, got.Active, "the refresh token is rotated")
			}
			_, err = s.GetToken(t.Context(), storage.KindAccessToken, "at-"+sig)
			assert.ErrorIs(t, err, storage.ErrNotFound, "the access token linked to the rotated refresh token is deleted")
		},
	}
)

// A contender is one token request: in its transaction it writes an access
// token, uses the record, and if that won writes a refresh token and
// commits. If it lost it rolls back and, as the provider does when it finds
// a code or refresh token used, revokes the family outside any transaction.
//
// Its tokens are named after it: "at-"+name and "rt-"+name.

// outcome is what a contender got.
type outcome struct {
	family string // from use
	err    error  // from use; nil for the winner
	end    error  // from Commit or Rollback
}

// begin starts a contender's transaction and writes its access token.
func begin(ctx context.Context, s storage.Store, tr storage.Transactor, name string) (context.Context, error) {
	txCtx, err := tr.BeginTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("BeginTx: %w", err)
	}
	if err := s.CreateToken(txCtx, newToken(storage.KindAccessToken, "at-"+name, "fam")); err != nil {
		_ = tr.Rollback(txCtx)
		return nil, fmt.Errorf("CreateToken in the transaction: %w", err)
	}
	return txCtx, nil
}

// finish ends a contender's transaction after use returned err: the winner
// writes its refresh token and commits; a loser rolls back and revokes.
func finish(ctx, txCtx context.Context, s storage.Store, tr storage.Transactor, name string, useErr error) error {
	if useErr != nil {
		if err := tr.Rollback(txCtx); err != nil {
			return fmt.Errorf("Rollback: %w", err)
		}
		if errors.Is(useErr, storage.ErrAlreadyUsed) {
			for _, kind := range []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken} {
				if err := s.RevokeFamily(ctx, kind, "fam"); err != nil {
					return fmt.Errorf("RevokeFamily after losing: %w", err)
				}
			}
		}
		return nil
	}
	dawdle()
	if err := s.CreateToken(txCtx, newToken(storage.KindRefreshToken, "rt-"+name, "fam")); err != nil {
		_ = tr.Rollback(txCtx)
		return fmt.Errorf("CreateToken in the transaction: %w", err)
	}
	if err := tr.Commit(txCtx); err != nil {
		return fmt.Errorf("Commit: %w", err)
	}
	return nil
}

// assertTokens asserts that the contender's tokens are there with the
// given state, or gone.
func assertTokens(t *testing.T, s storage.Store, name string, there, active bool, msg string) bool {
	t.Helper()
	ok := true
	for _, kind := range []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken} {
		sig := "at-" + name
		if kind == storage.KindRefreshToken {
			sig = "rt-" + name
		}
		got, err := s.GetToken(t.Context(), kind, sig)
		if !there {
			ok = assert.ErrorIs(t, err, storage.ErrNotFound, "%s: %s %s is gone", msg, kind, sig) && ok
			continue
		}
		if assert.NoError(t, err, "%s: %s %s is there", msg, kind, sig) {
			ok = assert.Equal(t, active, got.Active, "%s: %s %s active", msg, kind, sig) && ok
		} else {
			ok = false
		}
	}
	return ok
}

// testTxHeld: a transaction uses the record and holds it while a second
// one tries to use it too. The second must not be answered until the first
// ends: if the first commits, the second gets ErrAlreadyUsed, and the
// family it then revokes includes the first's tokens; if the first rolls
// back, the second wins.
func testTxHeld(u singleUse, holderCommits bool) func(t *testing.T, s storage.Store, tr storage.Transactor) {
	return func(t *testing.T, s storage.Store, tr storage.Transactor) {
		ctx := t.Context()
		u.seed(t, s, "sig")
		tx1, err := begin(ctx, s, tr, "1")
		require.NoError(t, err)
		tx2, err := begin(ctx, s, tr, "2")
		require.NoError(t, err)
		family, err := u.use(tx1, s, "sig")
		require.NoError(t, err, "the first transaction's %s wins", u.name)

		type result struct {
			family string
			err    error
		}
		second := make(chan result, 1)
		go func() {
			family, err := u.use(tx2, s, "sig")
			second <- result{family, err}
		}()
		var r result
		answered := false
		select {
		case r = <-second:
			answered = true
			t.Errorf("the second transaction's %s returned (%v) while the first transaction still held the record: "+
				"it must wait until the first commits or rolls back", u.name, r.err)
		case <-time.After(heldWait):
		}

		dawdle()
		require.NoError(t, s.CreateToken(tx1, newToken(storage.KindRefreshToken, "rt-1", "fam")))
		if holderCommits {
			require.NoError(t, tr.Commit(tx1))
		} else {
			require.NoError(t, tr.Rollback(tx1))
		}
		if !answered {
			select {
			case r = <-second:
			case <-time.After(hangLimit):
				t.Fatalf("the second transaction's %s still waits %v after the first ended", u.name, hangLimit)
			}
		}
		if family != "" {
			assert.Equal(t, "fam", family, "%s returns the record to the winner", u.name)
			assert.Equal(t, "fam", r.family, "%s returns the record to the second transaction, winner or not", u.name)
		}

		if holderCommits {
			assert.ErrorIs(t, r.err, storage.ErrAlreadyUsed, "the second transaction loses once the first commits")
			require.NoError(t, finish(ctx, tx2, s, tr, "2", r.err))
			assertTokens(t, s, "1", true, false,
				"the first transaction's tokens were committed before the second learned the record was used, so the family it revoked includes them")
			assertTokens(t, s, "2", false, false, "the losing transaction rolled back")
		} else {
			assert.NoError(t, r.err, "the second transaction wins once the first rolls back")
			require.NoError(t, finish(ctx, tx2, s, tr, "2", r.err))
			assertTokens(t, s, "1", false, false, "the first transaction rolled back")
			assertTokens(t, s, "2", true, true, "the second transaction won and committed")
		}
		u.assertUsed(t, s, "sig")
	}
}

// testTxRace: txRaceWidth transactions use one record at once. Exactly one
// wins and commits; every other gets ErrAlreadyUsed (and the record, where
// the primitive returns it), rolls back and revokes the family. In the end
// the winner's tokens are there, revoked; the losers' are gone.
func testTxRace(u singleUse) func(t *testing.T, s storage.Store, tr storage.Transactor) {
	return func(t *testing.T, s storage.Store, tr storage.Transactor) {
		ctx := t.Context()
		for round := range txRounds {
			sig := fmt.Sprintf("sig-%d", round)
			u.seed(t, s, sig)
			name := func(i int) string { return fmt.Sprintf("%d-%d", round, i) }
			outs := racetest.Run(txRaceWidth, func(i int) outcome {
				txCtx, err := begin(ctx, s, tr, name(i))
				if err != nil {
					return outcome{err: err}
				}
				family, err := u.use(txCtx, s, sig)
				return outcome{family: family, err: err, end: finish(ctx, txCtx, s, tr, name(i), err)}
			})
			winner, winners := -1, 0
			ok := true
			for i, o := range outs {
				ok = assert.NoError(t, o.end, "round %d: transaction %d ends", round, i) && ok
				if o.err == nil {
					winner = i
					winners++
					continue
				}
				ok = assert.ErrorIs(t, o.err, storage.ErrAlreadyUsed, "round %d: transaction %d loses with ErrAlreadyUsed", round, i) && ok
			}
			ok = assert.Equal(t, 1, winners, "round %d: exactly one of %d concurrent transactions wins", round, txRaceWidth) && ok
			for i, o := range outs {
				if u.name == consumeCode.name {
					ok = assert.Equal(t, "fam", o.family, "round %d: transaction %d gets the code back, winner or not", round, i) && ok
				}
				if i == winner {
					ok = assertTokens(t, s, name(i), true, false, fmt.Sprintf(
						"round %d: the winner's tokens were committed before any loser learned the record was used, so the family the losers revoked includes them", round)) && ok
				} else {
					ok = assertTokens(t, s, name(i), false, false, fmt.Sprintf("round %d: loser %d rolled back", round, i)) && ok
				}
			}
			u.assertUsed(t, s, sig)
			if !ok {
				return
			}
		}
	}
}

// testTxDeferredInserts: with storage.DeferInserts, as the provider marks
// the code exchange's and the refresh's transactions, a transaction whose
// token insert fails (a taken signature) keeps nothing. The error comes
// from CreateToken, or, from a store that holds the inserts back until the
// commit, from Commit; either way the code it consumed is not consumed and
// no token of it is stored. A transaction whose inserts succeed reads them
// and keeps them all.
func testTxDeferredInserts(t *testing.T, s storage.Store, tr storage.Transactor) {
	ctx := t.Context()
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindAuthCode, "deferred-code", "deferred")))
	require.NoError(t, s.CreateToken(ctx, newToken(storage.KindRefreshToken, "taken", "other")))

	txCtx, err := tr.BeginTx(ctx)
	require.NoError(t, err)
	txCtx = storage.DeferInserts(txCtx)
	_, err = s.ConsumeAuthCode(txCtx, "deferred-code")
	require.NoError(t, err)
	require.NoError(t, s.CreateToken(txCtx, newToken(storage.KindAccessToken, "deferred-at", "deferred")))
	if err = s.CreateToken(txCtx, newToken(storage.KindRefreshToken, "taken", "deferred")); err == nil {
		err = tr.Commit(txCtx) // held back: the commit answers for it
	} else {
		require.NoError(t, tr.Rollback(txCtx), "the caller rolls back after a failed write")
	}
	require.ErrorIs(t, err, storage.ErrAlreadyExists, "a taken signature, from CreateToken or from Commit")
	require.NoError(t, tr.Rollback(txCtx), "the transaction has ended: a deferred Rollback does nothing")
	code, err := s.GetToken(ctx, storage.KindAuthCode, "deferred-code")
	require.NoError(t, err)
	assert.True(t, code.Active, "the code consumed in the failed transaction is not consumed")
	_, err = s.GetToken(ctx, storage.KindAccessToken, "deferred-at")
	assert.ErrorIs(t, err, storage.ErrNotFound, "no token of the failed transaction is kept")
	taken, err := s.GetToken(ctx, storage.KindRefreshToken, "taken")
	require.NoError(t, err)
	assert.Equal(t, "other", taken.Request.ID, "the token that held the signature is untouched")

	txCtx, err = tr.BeginTx(ctx)
	require.NoError(t, err)
	txCtx = storage.DeferInserts(txCtx)
	_, err = s.ConsumeAuthCode(txCtx, "deferred-code")
	require.NoError(t, err)
	require.NoError(t, s.CreateToken(txCtx, newToken(storage.KindAccessToken, "deferred-at", "deferred")))
	require.NoError(t, s.CreateToken(txCtx, newToken(storage.KindRefreshToken, "deferred-rt", "deferred")))
	_, err = s.GetToken(txCtx, storage.KindAccessToken, "deferred-at")
	require.NoError(t, err, "the transaction reads its own inserts")
	require.NoError(t, tr.Commit(txCtx))
	for kind, sig := range map[storage.TokenKind]string{storage.KindAccessToken: "deferred-at", storage.KindRefreshToken: "deferred-rt"} {
		got, err := s.GetToken(ctx, kind, sig)
		if assert.NoError(t, err, "%s %s committed", kind, sig) {
			assertSameRecord(t, newToken(kind, sig, "deferred"), got)
		}
	}
	code, err = s.GetToken(ctx, storage.KindAuthCode, "deferred-code")
	require.NoError(t, err)
	assert.False(t, code.Active, "the code is consumed")
}
