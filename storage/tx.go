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

// deferInsertsKey is the context key of DeferInserts.
type deferInsertsKey struct{}

// DeferInserts returns a context that allows a Transactor to hold back the
// CreateToken calls made inside its transaction and send them with
// Commit, in one round trip with the COMMIT itself, rather than one round
// trip each. A store may ignore it (the memory store does). Where it
// defers, a CreateToken call returns nil at once, and an error it would
// have returned (ErrAlreadyExists for a taken signature) is returned by
// Commit instead, which then commits nothing: the caller must not go on
// after a failed CreateToken as if the transaction were intact, which is
// what the provider does anyway (a failed write ends its request). Any
// other call inside the transaction first sends the inserts held back, so
// the transaction reads its own writes.
//
// The provider sets it on the transactions of the code exchange and the
// refresh, whose inserts come last.
func DeferInserts(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferInsertsKey{}, true)
}

// InsertsDeferrable reports whether ctx was made by DeferInserts.
func InsertsDeferrable(ctx context.Context) bool {
	v, _ := ctx.Value(deferInsertsKey{}).(bool)
	return v
}
