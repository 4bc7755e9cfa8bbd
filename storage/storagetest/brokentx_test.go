package storagetest

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// These check that the Transactions cases catch a backend that breaks
// storage.Transactor's promises. A failing subtest cannot be undone, so the
// suite runs against the broken stores in a child process (this test
// binary, with brokenTxEnv set) and the parent reads which cases failed.

const brokenTxEnv = "GATEHOUSE_STORAGETEST_BROKEN_TX"

// brokenTx is a storage.Transactor over the memory store that keeps only
// the bookkeeping: a call with a transaction's context runs at once, outside
// any transaction, so Rollback (and a cancelled context) keeps the writes,
// and a transaction using a code another one holds is answered at once
// instead of waiting for the holder to end.
type brokenTx struct {
	*memory.Store
	// nestedOK makes BeginTx accept a context that carries an open
	// transaction.
	nestedOK bool
}

type brokenTxKey struct{}

type brokenTxState struct{ ended atomic.Bool }

func (b *brokenTx) BeginTx(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return ctx, err
	}
	if st, _ := ctx.Value(brokenTxKey{}).(*brokenTxState); st != nil && !st.ended.Load() && !b.nestedOK {
		return ctx, errors.New("broken: the context already carries a transaction")
	}
	return context.WithValue(ctx, brokenTxKey{}, &brokenTxState{}), nil
}

func (b *brokenTx) Commit(ctx context.Context) error {
	st, _ := ctx.Value(brokenTxKey{}).(*brokenTxState)
	if st == nil || st.ended.Swap(true) {
		return errors.New("broken: no open transaction")
	}
	return ctx.Err()
}

func (b *brokenTx) Rollback(ctx context.Context) error {
	if st, _ := ctx.Value(brokenTxKey{}).(*brokenTxState); st != nil {
		st.ended.Store(true)
	}
	return nil
}

// TestBrokenTransactor is the child: it runs the suite on the broken store
// brokenTxEnv names, and nothing without it.
func TestBrokenTransactor(t *testing.T) {
	variant := os.Getenv(brokenTxEnv)
	if variant == "" {
		t.Skip("run by TestTransactionsCatchBrokenTransactors")
	}
	Run(t, func(t *testing.T) storage.Store {
		return &brokenTx{Store: memory.New(), nestedOK: variant == "nested"}
	})
}

func TestTransactionsCatchBrokenTransactors(t *testing.T) {
	for _, tc := range []struct {
		variant  string
		failing  []string // the Transactions cases that must fail, in suite order
		messages []string // regular expressions, each must match the output
	}{
		{
			variant: "immediate",
			failing: []string{
				"RollbackDiscardsEveryWrite", "ReadsSeeOwnWrites", "NestedBeginTx", "ContextCanceled",
				"ConsumeWaitsForCommit", "ConsumeWaitsForRollback", "RotateWaitsForCommit", "RotateWaitsForRollback",
				"ConsumeRace", "RotateRace", "DeferredInserts",
			},
			messages: []string{
				"clients unchanged", // a rolled-back write stayed
				"the derived context's write is rolled back with the transaction",
				"while the first transaction still held the record", // the family-revocation race
				"the second transaction wins once the first rolls back",
				"the first transaction rolled back",
				`round \d: loser \d rolled back: access_token at-\d-\d is gone`,
			},
		},
		{
			variant:  "nested",
			failing:  []string{"RollbackDiscardsEveryWrite", "ReadsSeeOwnWrites", "NestedBeginTx"},
			messages: []string{"BeginTx on a context that carries a transaction is an error"},
		},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			pattern := "^TestBrokenTransactor$/^Transactions$/"
			if tc.variant == "nested" {
				pattern += "^(RollbackDiscardsEveryWrite|ReadsSeeOwnWrites|CommitKeepsEveryWrite|NestedBeginTx)$"
			}
			out, failing, passing := runSuiteChild(t, pattern, brokenTxEnv, tc.variant)
			var want []string
			for _, c := range tc.failing {
				want = append(want, "Transactions/"+c)
			}
			assert.Equal(t, want, failing, "the cases that fail:\n%s", out)
			for _, c := range passing {
				assert.False(t, slices.Contains(want, c), "%s passed", c)
			}
			for _, msg := range tc.messages {
				assert.True(t, regexp.MustCompile(msg).Match(out), "the output matches %q", msg)
			}
		})
	}
}
