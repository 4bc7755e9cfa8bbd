package storage

import "context"

// Transactor is implemented by backends that can run several operations as
// one transaction. The provider uses it, when the backend has it, for the
// writes of one token response (the code exchange and the refresh), so that
// a fault half-way leaves nothing half-written: either every record the
// response depends on is committed, or none is and the request can be
// retried.
//
// BeginTx returns a context that carries the transaction; every method of
// the store called with that context (or one derived from it) runs inside
// the transaction, including the single-use primitives, which must still
// let exactly one of several concurrent transactions win (for example by
// row locks held until commit), and answer the others only once the
// winner's transaction has ended: ErrAlreadyUsed if it committed, success
// if it rolled back. storagetest's Transactions group checks all of this.
// Commit and Rollback end the transaction of
// the context; a transaction not ended is rolled back when the context is
// done. BeginTx on a context that already carries a transaction is an error.
type Transactor interface {
	BeginTx(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}
