// Package memory is an in-memory [storage.Store] for tests, demos and
// single-process hosts. Everything it holds is lost when the process ends,
// and it cannot be shared between processes: run a shared backend when the
// provider has more than one replica.
//
// One mutex guards all state but the audit trail (below), so every
// operation, the single-use primitives included, is atomic. Records are deep-copied on the way in and on the way
// out, so a caller never shares a slice, map or byte slice with the store.
// Every method returns ctx.Err() unchanged, without touching the store, if
// its context is already cancelled or past its deadline.
//
// The store is not a [storage.Transactor]: the mutex is held for one call,
// so the writes of one token response (a code consumed, then the tokens
// created) are separate steps. A request that loses the race for a code can
// therefore revoke the code's family before the winner has stored its
// tokens, which then stay valid; a shared backend that implements
// Transactor, such as storage/postgres, closes that gap.
//
// It implements [storage.APIKeyStore] and [storage.ApplicationUserStore]
// (API keys and application users) too, and [storage.AuditStore]: the audit trail is kept in memory
// until DeleteAuditEvents removes it (the provider's SweepAudit), and each
// query scans it whole. The trail has a mutex of its own, so that appending
// a batch of events never holds up the other records' operations (its
// records relate to no other record).
//
// It is the reference implementation of the storage contract and passes the
// storagetest conformance suite (whose Transactions group it skips).
package memory
