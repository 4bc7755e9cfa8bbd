package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage"
)

// What storage.Transactor promises every backend (rollback, commit, reads
// in the transaction, derived contexts, nested BeginTx, cancellation, and
// that one of several transactions using a code or refresh token wins and
// the others wait for it) is checked by the conformance suite's
// Transactions group (TestConformance/Transactions/). These tests check
// what this store promises beyond it.

// Transactions are READ COMMITTED: what one writes is invisible to others
// until it commits.
func TestTxUncommittedWritesAreInvisible(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c", Name: "before"}))

	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	require.NoError(t, s.CreateClient(txCtx, storage.Client{ID: "new"}))
	require.NoError(t, s.UpdateClient(txCtx, "c", func(c storage.Client) (storage.Client, error) {
		c.Name = "after"
		return c, nil
	}))
	_, err = s.GetClient(ctx, "new")
	assert.ErrorIs(t, err, storage.ErrNotFound, "others do not see a create before commit")
	got, err := s.GetClient(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, "before", got.Name, "others do not see an update before commit")
	require.NoError(t, s.Commit(txCtx))
	got, err = s.GetClient(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, "after", got.Name)
}

// Commit and Rollback without a transaction are errors; Rollback of an
// ended transaction does nothing (a deferred Rollback is safe); the ended
// transaction's context can be used for nothing else.
func TestTxEndedAndMissing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	assert.Error(t, s.Commit(ctx), "Commit without a transaction")
	assert.Error(t, s.Rollback(ctx), "Rollback without a transaction")

	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	require.NoError(t, s.CreateClient(txCtx, storage.Client{ID: "committed"}))
	require.NoError(t, s.Commit(txCtx))
	assert.NoError(t, s.Rollback(txCtx), "a rollback after commit does nothing")
	assert.Error(t, s.Commit(txCtx), "a second commit")
	assert.Error(t, s.CreateClient(txCtx, storage.Client{ID: "after-commit"}), "a write with an ended transaction's context")
	_, err = s.GetClient(ctx, "after-commit")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.GetClient(ctx, "committed")
	assert.NoError(t, err)

	// A context whose transaction has ended may start a new one.
	txCtx, err = s.BeginTx(txCtx)
	require.NoError(t, err, "BeginTx on a context whose transaction has ended")
	require.NoError(t, s.Rollback(txCtx))
}

// A failed update, a missing record and a duplicate inside a transaction
// (each run in a savepoint) leave the transaction usable and write nothing.
func TestTxSentinelsLeaveTransactionUsable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c"}))
	require.NoError(t, s.CreateMFA(ctx, storage.MFARecord{Subject: "alice", Failures: 1}))
	require.NoError(t, s.CreateToken(ctx, txToken(storage.KindAuthCode, "used", "f")))
	_, err := s.ConsumeAuthCode(ctx, "used")
	require.NoError(t, err)

	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	boom := errors.New("boom")
	err = s.UpdateMFA(txCtx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		r.Failures = 99
		return r, boom
	})
	assert.Same(t, boom, err, "update's error comes back as it is")
	assert.ErrorIs(t, s.UpdateMFA(txCtx, "nobody", func(r storage.MFARecord) (storage.MFARecord, error) { return r, nil }), storage.ErrNotFound)
	assert.ErrorIs(t, s.CreateClient(txCtx, storage.Client{ID: "c"}), storage.ErrAlreadyExists)
	_, err = s.ConsumeAuthCode(txCtx, "used")
	assert.ErrorIs(t, err, storage.ErrAlreadyUsed)
	require.NoError(t, s.UpdateMFA(txCtx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		r.Failures++
		return r, nil
	}))
	require.NoError(t, s.Commit(txCtx))
	mfa, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, 2, mfa.Failures, "only the successful update was written")
}

// A transaction whose context ends gives its connection back to the pool.
func TestTxContextEndReturnsConnection(t *testing.T) {
	t.Parallel()
	s, pool, _ := pgtest.Store(t)
	ctx, cancel := context.WithCancel(t.Context())
	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	require.NoError(t, s.CreateClient(txCtx, storage.Client{ID: "abandoned"}))
	cancel()
	assert.Eventually(t, func() bool { return pool.Stat().AcquiredConns() == 0 }, 10*time.Second, 10*time.Millisecond,
		"the transaction's connection goes back to the pool")
	assert.NoError(t, s.Rollback(txCtx), "Rollback of a transaction its context ended")
}

func txToken(kind storage.TokenKind, sig, family string) storage.Token {
	return storage.Token{
		Signature: sig, Kind: kind, Active: true, ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond),
		Request: storage.Request{ID: family, ClientID: "c", Subject: "alice", GrantedScopes: []string{"openid"}, Session: []byte{0, 1, 2}},
	}
}

// With storage.DeferInserts, a transaction's token inserts go with its
// COMMIT: invisible until then, read by the transaction itself (the
// inserts are sent before its next statement), and committed together.
func TestTxDeferredInserts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var rt pgtest.RoundTrips
	s := pgtest.CountedStore(t, &rt)
	require.NoError(t, s.CreateToken(ctx, txToken(storage.KindAuthCode, "code", "g1")))

	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	txCtx = storage.DeferInserts(txCtx)
	_, err = s.ConsumeAuthCode(txCtx, "code")
	require.NoError(t, err)
	trips0, _ := rt.Counts()
	access := txToken(storage.KindAccessToken, "at", "g1")
	require.NoError(t, s.CreateToken(txCtx, access))
	require.NoError(t, s.CreateToken(txCtx, txToken(storage.KindRefreshToken, "rt", "g1")))
	access.Request.GrantedScopes[0] = "changed after the call" // the store kept its own copy
	trips1, commits1 := rt.Counts()
	assert.Equal(t, trips0, trips1, "the inserts were held back")
	_, err = s.GetToken(ctx, storage.KindAccessToken, "at")
	assert.ErrorIs(t, err, storage.ErrNotFound, "invisible to others before the commit")

	trips1, commits1 = rt.Counts()
	require.NoError(t, s.Commit(txCtx))
	trips2, commits2 := rt.Counts()
	assert.Equal(t, trips1+1, trips2, "inserts and COMMIT in one round trip")
	assert.Equal(t, commits1+1, commits2)
	for _, k := range []storage.TokenKind{storage.KindAccessToken, storage.KindRefreshToken} {
		got, err := s.GetToken(ctx, k, map[storage.TokenKind]string{storage.KindAccessToken: "at", storage.KindRefreshToken: "rt"}[k])
		require.NoError(t, err, k)
		assert.Equal(t, txToken(k, got.Signature, "g1").Request.GrantedScopes, got.Request.GrantedScopes)
	}

	// A transaction reads its own held-back insert.
	txCtx, err = s.BeginTx(ctx)
	require.NoError(t, err)
	txCtx = storage.DeferInserts(txCtx)
	require.NoError(t, s.CreateToken(txCtx, txToken(storage.KindAccessToken, "at2", "g2")))
	_, err = s.GetToken(txCtx, storage.KindAccessToken, "at2")
	require.NoError(t, err, "the transaction sees its own insert")
	require.NoError(t, s.Rollback(txCtx))
	_, err = s.GetToken(ctx, storage.KindAccessToken, "at2")
	assert.ErrorIs(t, err, storage.ErrNotFound, "rolled back")
}

// A held-back insert that fails (a taken signature) fails the Commit with
// storage.ErrAlreadyExists, and nothing of the transaction is kept: not
// the code it consumed, not the other tokens.
func TestTxDeferredInsertFailsCommit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	require.NoError(t, s.CreateToken(ctx, txToken(storage.KindAuthCode, "code", "g1")))
	require.NoError(t, s.CreateToken(ctx, txToken(storage.KindRefreshToken, "taken", "other")))

	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	txCtx = storage.DeferInserts(txCtx)
	_, err = s.ConsumeAuthCode(txCtx, "code")
	require.NoError(t, err)
	require.NoError(t, s.CreateToken(txCtx, txToken(storage.KindAccessToken, "at", "g1")))
	require.NoError(t, s.CreateToken(txCtx, txToken(storage.KindRefreshToken, "taken", "g1")), "held back: the error comes with the commit")
	assert.ErrorIs(t, s.Commit(txCtx), storage.ErrAlreadyExists)
	assert.NoError(t, s.Rollback(txCtx), "the transaction has ended")

	_, err = s.GetToken(ctx, storage.KindAccessToken, "at")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the other insert was not committed")
	code, err := s.GetToken(ctx, storage.KindAuthCode, "code")
	require.NoError(t, err)
	assert.True(t, code.Active, "the code's consumption was rolled back")
	taken, err := s.GetToken(ctx, storage.KindRefreshToken, "taken")
	require.NoError(t, err)
	assert.Equal(t, "other", taken.Request.ID, "the existing token is untouched")

	// The pool's connections are all usable afterwards.
	for i := range 8 {
		require.NoError(t, s.CreateToken(ctx, txToken(storage.KindAccessToken, "after-"+string(rune('a'+i)), "g3")))
	}
}
