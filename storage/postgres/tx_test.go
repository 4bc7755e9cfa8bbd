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
