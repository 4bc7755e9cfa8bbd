// Package storagetest is the conformance suite for [storage.Store]
// implementations. Gatehouse's own backends run it, and so should any custom
// backend: it is how a backend shows that it keeps the contract written in
// package storage.
//
// # Running it
//
// Call [Run] from one test function in the backend's own tests. newStore is
// called once per subtest and must return a fresh, empty store; it registers
// whatever cleanup the store needs with t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store {
//			s := mybackend.New(newEmptyDatabase(t))
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Run it with the race detector, and run one part of it by name:
//
//	go test -race ./...
//	go test -race -run 'TestConformance/Refresh/' ./mybackend
//
// # What it checks
//
// Every subtest has a stable two-level name, group then case (for example
// Clients/UpdateAtomic, AuthCodes/Consume50Concurrent, Refresh/RotateRace,
// RevokeFamily/RefreshTokens, Expiry/Boundary), so a failure can be reproduced with -run. The groups
// cover create, get, list, update and delete of every record; the sentinel
// errors ([storage.ErrNotFound], [storage.ErrAlreadyExists],
// [storage.ErrAlreadyUsed]) on every method that documents them, tested with
// [errors.Is] so backends may wrap them; the single-use primitives under 50
// goroutines released at once, in several rounds (exactly one may win each
// round); read-modify-write updates under 50 concurrent writers (no update
// may be lost); expiry with explicit times, down to the cut-off (records of
// every kind DeleteExpired sweeps, expiring one microsecond before it,
// exactly at it and one microsecond after: only the first goes); family
// revocation (RevokeFamily of access and refresh tokens must reach every
// active member of a family, created among tokens of other families and
// kinds, and nothing else); revocation of a sign-in's grants
// (RevokeLoginGrants must reach every token of every kind whose LoginSID
// is the one given, among look-alike sign-ins, tokens of no sign-in and a
// family named like the sign-in, and nothing else, and must store the
// tokens of the sign-in created afterwards inactive until DeleteExpired
// passes its until); cancelled and expired
// contexts; and isolation
// (a caller mutating a slice, map or byte slice it passed in or got back
// must not change what is stored).
//
// Apart from the Transactions group ([storage.Transactor] is optional),
// the APIKeys and ApplicationUsers groups (for the optional
// [storage.APIKeyStore] and [storage.ApplicationUserStore]) and the Audit
// group ([storage.AuditStore] is optional too), there are no
// opt-outs: atomicity under concurrency is part of the contract, not an
// optional feature.
//
// # API keys and application users
//
// The APIKeys group runs when the store implements [storage.APIKeyStore],
// the ApplicationUsers group when it implements
// [storage.ApplicationUserStore]; each is skipped, saying so, otherwise.
// They check create, get, find (by owner and owner type, in byte order,
// a page at a time), update and delete; that of 50 concurrent rotations
// (updates that each replace the hash only if it is still the one they
// read) exactly one wins, every other gets its update's error, and the
// winner's hash is the one stored (APIKeys/RotateRace); that TouchAPIKey
// only ever moves LastUsedAt forward, under concurrency too, and changes
// nothing else; that deleting an application user deletes its keys and
// no others (not those of a user with the same name), and that no key can
// be created for an application user that does not exist; isolation; and
// done contexts.
//
// # Audit
//
// The Audit group runs when the store implements [storage.AuditStore]. It
// checks that every field of an event round-trips and that appending an
// event again (same Time and ID) stores it once; the trail's order
// (newest first, events of one time by ID, byte order, greater first);
// each filter of [storage.AuditQuery] (Since inclusive, Until exclusive,
// client and subject byte for byte, types whole) alone and combined;
// paging with Limit and After through runs of events of the same time,
// pages of 1, 4, 5 and 7, with and without filters, every event once; the
// retention sweep's cut-off (an event a microsecond before it goes, one
// exactly at it stays); the Details kept in their order and apart from the
// caller's (changing what was appended or found changes nothing stored);
// cancelled contexts; and, for a store that is also a [storage.Transactor], that events
// appended in a transaction are kept or discarded with it.
//
// # Transactions
//
// The Transactions group runs when the store implements
// [storage.Transactor], and is skipped, saying so, when it does not
// (docs/storage.md says what the provider cannot guarantee then). It checks
// that a rollback, or a context cancelled before the commit, leaves nothing
// of any kind of write made in the transaction, and that a commit keeps all
// of it; that calls with the transaction's context, or one derived from it,
// see the transaction's writes; that BeginTx on such a context is an error
// that leaves the transaction as it was; and, for ConsumeAuthCode and
// RotateRefreshToken, that of several transactions using one record exactly
// one wins, every other gets [storage.ErrAlreadyUsed] (with the code), and
// gets it only once the winner has committed or rolled back (so that the
// family a loser then revokes includes the winner's new tokens), and that a
// loser's writes are gone once it rolls back; and that RevokeLoginGrants,
// called while a transaction holds a code or refresh token of the sign-in,
// revokes the tokens that transaction then commits. A transaction that
// must wait for another is given 100ms to show that it does not: a slow
// backend may hide one that answers too early, but no correct backend
// fails for it.
//
// # What a backend may do
//
// Records are compared field by field with these allowances, which every
// backend may rely on:
//
//   - nil and empty slices and maps are equal: a backend need not remember
//     which one it was given;
//   - times are compared as instants (as with [time.Time.Equal]): a backend
//     may return them in UTC or in any other location, whatever the location
//     they were given in. It may truncate them to microseconds, as
//     PostgreSQL does, so the suite only uses times with microsecond
//     precision;
//   - the error for a missing, duplicate or used record may wrap the
//     sentinel with context of the backend's own.
//
// Byte slices (Request.Session, LoginSession.Claims, Client.JWKS,
// SigningKey.PrivateKey, MFARecord.TOTPSecret) must come back byte for
// byte, including bytes that are not valid UTF-8.
//
// The suite never sleeps (but for the wait above) and never reads the clock
// (its concurrent update functions only yield the processor, to widen race
// windows): every time it passes is fixed, in 2030 for live records and
// before 2001 for expired ones, so a backend that wrongly consulted the wall
// clock is caught rather than made flaky.
package storagetest
