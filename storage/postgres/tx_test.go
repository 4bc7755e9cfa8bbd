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

func txToken(kind storage.TokenKind, sig, family string) storage.Token {
	return storage.Token{
		Signature: sig, Kind: kind, Active: true, ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond),
		Request: storage.Request{ID: family, ClientID: "c", Subject: "alice", GrantedScopes: []string{"openid"}, Session: []byte{0, 1, 2}},
	}
}

func TestTxRollbackAndCommit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)

	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	require.NoError(t, s.CreateClient(txCtx, storage.Client{ID: "rolled-back"}))
	require.NoError(t, s.CreateToken(txCtx, txToken(storage.KindAccessToken, "at-rolled-back", "f1")))
	_, err = s.GetClient(txCtx, "rolled-back")
	require.NoError(t, err, "the transaction sees its own write")
	_, err = s.GetClient(ctx, "rolled-back")
	assert.ErrorIs(t, err, storage.ErrNotFound, "others do not see it before commit")
	require.NoError(t, s.Rollback(txCtx))
	_, err = s.GetClient(ctx, "rolled-back")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a rolled-back write is gone")
	_, err = s.GetToken(ctx, storage.KindAccessToken, "at-rolled-back")
	assert.ErrorIs(t, err, storage.ErrNotFound, "a rolled-back write is gone")

	txCtx, err = s.BeginTx(ctx)
	require.NoError(t, err)
	require.NoError(t, s.CreateClient(txCtx, storage.Client{ID: "committed"}))
	require.NoError(t, s.CreateToken(txCtx, txToken(storage.KindAuthCode, "code", "f2")))
	_, err = s.ConsumeAuthCode(txCtx, "code")
	require.NoError(t, err)
	require.NoError(t, s.Commit(txCtx))
	_, err = s.GetClient(ctx, "committed")
	assert.NoError(t, err, "a committed write stays")
	code, err := s.GetToken(ctx, storage.KindAuthCode, "code")
	require.NoError(t, err)
	assert.False(t, code.Active, "the consumption was committed")

	// The transaction's context is spent.
	assert.NoError(t, s.Rollback(txCtx), "a rollback after commit does nothing")
	assert.Error(t, s.Commit(txCtx), "a second commit")
	assert.Error(t, s.CreateClient(txCtx, storage.Client{ID: "after-commit"}), "a write with an ended transaction's context")
	_, err = s.GetClient(ctx, "after-commit")
	assert.ErrorIs(t, err, storage.ErrNotFound)
}

func TestTxBeginTwiceAndWithoutTx(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	defer s.Rollback(txCtx)
	_, err = s.BeginTx(txCtx)
	assert.Error(t, err, "BeginTx on a context that carries a transaction")
	derived, cancel := context.WithTimeout(txCtx, time.Minute)
	defer cancel()
	_, err = s.BeginTx(derived)
	assert.Error(t, err, "BeginTx on a context derived from one that carries a transaction")
	require.NoError(t, s.CreateClient(derived, storage.Client{ID: "via-derived"}), "a derived context uses the transaction")
	_, err = s.GetClient(ctx, "via-derived")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the derived context's write is in the transaction")

	assert.Error(t, s.Commit(ctx), "Commit without a transaction")
	assert.Error(t, s.Rollback(ctx), "Rollback without a transaction")
}

func TestTxConcurrentConsumeOneWins(t *testing.T) {
	t.Parallel()
	for _, firstEnds := range []string{"commit", "rollback"} {
		t.Run(firstEnds, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s, _, _ := pgtest.Store(t)
			require.NoError(t, s.CreateToken(ctx, txToken(storage.KindAuthCode, "code", "fam")))

			tx1, err := s.BeginTx(ctx)
			require.NoError(t, err)
			tx2, err := s.BeginTx(ctx)
			require.NoError(t, err)
			defer s.Rollback(tx2)

			got, err := s.ConsumeAuthCode(tx1, "code")
			require.NoError(t, err, "the first transaction wins")
			assert.Equal(t, "fam", got.Request.ID)

			type result struct {
				tok storage.Token
				err error
			}
			second := make(chan result, 1)
			go func() {
				tok, err := s.ConsumeAuthCode(tx2, "code")
				second <- result{tok, err}
			}()
			select {
			case r := <-second:
				t.Fatalf("the second transaction did not wait for the first: %v", r.err)
			case <-time.After(200 * time.Millisecond):
			}

			if firstEnds == "commit" {
				require.NoError(t, s.Commit(tx1))
			} else {
				require.NoError(t, s.Rollback(tx1))
			}
			select {
			case r := <-second:
				if firstEnds == "commit" {
					assert.ErrorIs(t, r.err, storage.ErrAlreadyUsed, "the second transaction loses once the first commits")
				} else {
					assert.NoError(t, r.err, "the second transaction wins once the first rolls back")
				}
				assert.Equal(t, "fam", r.tok.Request.ID, "the code comes back either way")
			case <-time.After(10 * time.Second):
				t.Fatal("the second transaction hangs")
			}
			require.NoError(t, s.Commit(tx2))
			stored, err := s.GetToken(ctx, storage.KindAuthCode, "code")
			require.NoError(t, err)
			assert.False(t, stored.Active)
		})
	}
}

func TestTxConcurrentRotateOneWins(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	rt := txToken(storage.KindRefreshToken, "rt", "fam")
	rt.AccessSignature = "at"
	require.NoError(t, s.CreateToken(ctx, rt))
	require.NoError(t, s.CreateToken(ctx, txToken(storage.KindAccessToken, "at", "fam")))

	tx1, err := s.BeginTx(ctx)
	require.NoError(t, err)
	tx2, err := s.BeginTx(ctx)
	require.NoError(t, err)
	defer s.Rollback(tx2)
	require.NoError(t, s.RotateRefreshToken(tx1, "rt", time.Now()))
	second := make(chan error, 1)
	go func() { second <- s.RotateRefreshToken(tx2, "rt", time.Now()) }()
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, s.Commit(tx1))
	select {
	case err := <-second:
		assert.ErrorIs(t, err, storage.ErrAlreadyUsed)
	case <-time.After(10 * time.Second):
		t.Fatal("the second rotation hangs")
	}
	_, err = s.GetToken(ctx, storage.KindAccessToken, "at")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the linked access token went with the committed rotation")
}

func TestTxUpdateInsideTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c", Name: "before"}))
	require.NoError(t, s.CreateMFA(ctx, storage.MFARecord{Subject: "alice", Failures: 1}))

	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	require.NoError(t, s.UpdateClient(txCtx, "c", func(c storage.Client) (storage.Client, error) {
		c.Name = "after"
		return c, nil
	}))
	got, err := s.GetClient(txCtx, "c")
	require.NoError(t, err)
	assert.Equal(t, "after", got.Name, "the transaction sees its update")
	got, err = s.GetClient(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, "before", got.Name, "others do not, before commit")

	// An update that fails, a missing record and a duplicate leave the
	// transaction usable, and write nothing.
	boom := errors.New("boom")
	err = s.UpdateMFA(txCtx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		r.Failures = 99
		return r, boom
	})
	assert.Same(t, boom, err, "update's error comes back as it is")
	assert.ErrorIs(t, s.UpdateMFA(txCtx, "nobody", func(r storage.MFARecord) (storage.MFARecord, error) { return r, nil }), storage.ErrNotFound)
	assert.ErrorIs(t, s.CreateClient(txCtx, storage.Client{ID: "c"}), storage.ErrAlreadyExists)
	require.NoError(t, s.UpdateMFA(txCtx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		r.Failures++
		return r, nil
	}))
	require.NoError(t, s.Commit(txCtx))

	got, err = s.GetClient(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, "after", got.Name)
	mfa, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, 2, mfa.Failures, "only the successful update was written")
}

func TestTxRolledBackWhenContextEnds(t *testing.T) {
	t.Parallel()
	s, pool, _ := pgtest.Store(t)
	ctx, cancel := context.WithCancel(t.Context())
	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	require.NoError(t, s.CreateClient(txCtx, storage.Client{ID: "abandoned"}))
	cancel()
	assert.Eventually(t, func() bool { return pool.Stat().AcquiredConns() == 0 }, 10*time.Second, 10*time.Millisecond,
		"the transaction's connection goes back to the pool")
	_, err = s.GetClient(t.Context(), "abandoned")
	assert.ErrorIs(t, err, storage.ErrNotFound, "an abandoned transaction is rolled back")
	err = s.Commit(txCtx)
	assert.ErrorIs(t, err, context.Canceled, "Commit after the context ended")
	assert.NoError(t, s.Rollback(txCtx))
}

func TestTxDeleteExpiredInsideTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	old := txToken(storage.KindAccessToken, "old", "f")
	old.ExpiresAt = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, s.CreateToken(ctx, old))
	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	n, err := s.DeleteExpired(txCtx, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	require.NoError(t, s.Rollback(txCtx))
	_, err = s.GetToken(ctx, storage.KindAccessToken, "old")
	assert.NoError(t, err, "the rolled-back cleanup removed nothing")
}
