// Package postgres is a [storage.Store] on PostgreSQL, for production: any
// number of provider replicas share one database, and the database, never
// an in-process lock, decides every single-use and read-modify-write
// operation. It is built on pgx (github.com/jackc/pgx/v5, pgxpool), passes
// the storagetest conformance suite, and implements [storage.Transactor],
// which the provider uses to make the writes of a token response atomic,
// and [storage.ApplicationUserStore] (API keys and application users).
//
// # Using it
//
// Open a store from a DSN, applying the migrations on start:
//
//	s, err := postgres.Open(ctx, "postgres://gatehouse@db:5432/auth?sslmode=verify-full", postgres.WithMigrate())
//	if err != nil { ... }
//	defer s.Close()
//	p, err := provider.New(provider.Config{Issuer: ..., Store: s, ...})
//
// or give [New] a *pgxpool.Pool the host already has (Close then leaves the
// pool open). Tables are named with a prefix, "gatehouse_" unless
// [WithTablePrefix] says otherwise, so a host can keep them in its own
// database; two prefixes in one database are two independent stores.
//
// # Schema and migrations
//
// The schema is created and changed by numbered migrations embedded in the
// package (migrations/0001_initial_schema.sql, ...). [Migrate], or [New] and
// [Open] with [WithMigrate], applies those not applied yet, each in its own
// transaction together with its row in <prefix>schema_migrations. It is
// idempotent and safe to run from every replica at once: a transaction-level
// advisory lock keyed by the prefix serialises concurrent runs. Without
// WithMigrate, New only checks the version: it refuses a database that is
// behind (run Migrate) or ahead (a newer binary migrated it). Hosts that
// migrate in a separate deploy step call Migrate there and New in the
// servers. A user that runs Migrate needs CREATE on the schema; the servers
// need only SELECT, INSERT, UPDATE and DELETE on the tables.
//
// The tables (all prefixed):
//
//	clients         one row per client; id primary key; lists as text[], secrets as three parallel arrays;
//	                introspect_audiences added by migration 0003 (NULL for clients made before);
//	                logo_uri, client_uri added by migration 0007 ('' for clients made before);
//	                refresh_bound_to_login by 0008 (false for clients made before); accepts_api_keys,
//	                application_user by 0010 (false, '' for clients made before)
//	tokens          codes and tokens; primary key (kind, signature); index (request_id, kind) for families;
//	                login_sid added by migration 0008 ('' for tokens stored before), with a partial
//	                index WHERE login_sid <> '' for RevokeLoginGrants; created_at added by migration
//	                0009 (NULL for tokens stored before), with an index (subject, client_id) WHERE
//	                subject <> '' for ListGrants and RevokeUserClientGrants
//	jtis            used JWT IDs of client assertions; jti primary key
//	consents        primary key (subject, client_id)
//	login_sessions  id primary key; index on subject; sid added by migration 0008 ('' for sessions
//	                stored before)
//	auth_flows      id primary key; requested_at, client_ip, browser, tenant, user_json added by
//	                migration 0005 (empty for flows stored before)
//	signing_keys    id (kid) primary key
//	mfa             subject primary key; totp_pending_secret added by migration 0009 (NULL for
//	                records stored before)
//	throttles       key primary key; index on expires_at (migration 0002)
//	ended_logins    sid primary key; index on expires_at (migration 0008): the sign-ins
//	                RevokeLoginGrants ended
//	revoked_grants  request_id primary key; index on expires_at (migration 0009): the token
//	                families RevokeUserClientGrants revoked
//	application_users  id primary key (migration 0010)
//	api_keys        id primary key; index (owner, id) for FindAPIKeys; application_user, a foreign key
//	                to application_users ON DELETE CASCADE, NULL for a user's key (migration 0010)
//	audit_events    the audit trail (migration 0011); primary key (at, id), the trail's order;
//	                indexes (client_id, at, id), (subject, at, id), (type, at, id) for its filters;
//	                details as jsonb
//	schema_migrations  version int primary key, name, applied_at
//
// Strings are text (so they must be valid UTF-8 without NUL, which IDs,
// signatures and hashes always are: anything else fails with an error
// rather than being changed), string lists text[] (NULL for a nil slice),
// byte slices bytea (byte for byte), durations bigint nanoseconds and
// times timestamptz, with NULL for the zero time; times come back in UTC,
// truncated to microseconds. A token's Form and a flow's Data are kept as
// text in URL query form (each key and value query-escaped, keys in byte
// order, values in order), which keeps every byte of every key and value.
// Key columns are COLLATE "C", and lists are ordered bytewise as the
// contract says, whatever the database's collation.
//
// # Concurrency and transactions
//
// [Store.ConsumeAuthCode] and [Store.RotateRefreshToken] are one
// conditional UPDATE each (the rotation deletes the linked access token in
// the same statement), and [Store.UseJTI] one INSERT ... ON CONFLICT: the
// row lock the database takes makes every other caller, in any process,
// wait and then find the record used. [Store.RevokeLoginGrants] records
// the sign-in in ended_logins, which makes every later token INSERT of it
// store the token inactive, then revokes its refresh tokens and codes
// (waiting for a code exchange or refresh that holds one), then every
// token of it, the tokens such a transaction committed included.
// [Store.RevokeUserClientGrants] does the same with the families of a
// user's grants to a client, recorded in revoked_grants. UpdateClient, UpdateAuthFlow,
// UpdateSigningKey, UpdateMFA, UpdateAPIKey and UpdateApplicationUser read the row with SELECT ... FOR UPDATE,
// call update once, and write it back, in one transaction. UpdateThrottle
// does the same after an INSERT ... ON CONFLICT DO NOTHING that makes sure
// the row exists, so that updates racing on a new key wait for each other
// too.
//
// [Store.BeginTx] starts a transaction that rides in the returned context:
// every method called with that context runs in it (the Update methods in a
// savepoint of it), and the single-use primitives keep their row locks
// until it ends, so two transactions consuming one code cannot both win.
// Transactions are READ COMMITTED. A transaction whose context ends before
// Commit or Rollback is rolled back.
//
// # Lost connections
//
// A connection whose backend went away while it sat idle in the pool
// (pg_terminate_backend, a server restart, idle_session_timeout) is found
// broken before anything is sent on it, and another is taken: the store
// looks at the socket before each use and pings the connection if the
// server sent anything. A statement that fails anyway is sent again, once
// and on another connection, only if it provably never reached the server
// (pgconn.SafeToRetry) and was the call's first statement; a transaction
// is begun again if its BEGIN failed that way, but nothing after a
// successful BEGIN is retried. A statement that may have reached the
// server (its answer lost, the backend terminated while it ran) is never
// sent again: the call fails (503 at the endpoints), so that a committed
// write such as a code's consumption is never replayed. A prepared
// statement made stale by a migration that another replica ran is
// prepared again on the same connection. Any other failure is returned,
// with the context's error wrapped in it if the context ended.
//
// # Cleanup
//
// Expired records stay until [Store.DeleteExpired] removes them; the
// provider keeps working without it, but the tables grow. Run it
// periodically (every few minutes, from one replica or from all: runs do
// not block each other) with the current time. It deletes at most 1000
// rows per statement, skipping rows other transactions hold, so it never
// takes long table locks. MFA records never expire; throttles do, at their
// ExpiresAt. The audit trail has no expiry of its own: [Store.DeleteAuditEvents]
// removes the events older than a time, in batches like DeleteExpired (the
// provider's SweepAudit calls it with its retention).
//
// # Secrets
//
// The store keeps only what the provider gives it: signatures of tokens
// and codes, hashes of client secrets and session handles. It never logs.
// Errors name the record's key (a signature or ID, never a usable token)
// and wrap the storage sentinels, so test them with [errors.Is].
package postgres
