package memory

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// consentKey is the key of a consent: one per subject and client.
type consentKey struct{ subject, clientID string }

// Store is an in-memory [storage.Store]. Use [New] to make one; the zero
// value is an empty store ready to use too. A Store is safe for concurrent
// use by many goroutines and must not be copied after first use.
type Store struct {
	mu        sync.Mutex
	clients   table[storage.Client]
	tokens    map[tokenKey]tokenEntry
	recs      arena                // the tokens' records
	shapes    shapeTable           // the tokens' shapes (client, scopes, audiences, form)
	rotated   map[tokenKey]stamp   // RotatedAt of the tokens that have one (rotated refresh tokens)
	families  tokenIndex           // request ID -> keys of its tokens, every kind
	bySID     tokenIndex           // Request.LoginSID -> keys of its tokens, every kind; "" not indexed
	bySubject tokenIndex           // Request.Subject -> keys of its tokens, every kind; "" not indexed
	ended     map[string]time.Time // ended sign-ins (RevokeLoginGrants): SID -> until
	revoked   map[string]time.Time // revoked grants (RevokeUserClientGrants): request ID -> until
	jtis      map[string]time.Time // JWT ID -> expiry
	denied    map[storage.DenyKey]storage.Deny
	consents  map[consentKey]storage.Consent
	logins    table[storage.LoginSession]
	flows     table[storage.AuthFlow]
	keys      table[storage.SigningKey]
	mfa       table[storage.MFARecord]
	throttles map[string]storage.Throttle
	apiKeys   table[storage.APIKey]
	appUsers  table[storage.ApplicationUser]

	// afterSweepBatch, when set (by tests), runs between two batches of a
	// token sweep, with the lock released.
	afterSweepBatch func()

	auditMu sync.Mutex // guards the audit fields alone (see auditTx)
	// auditLog holds the audit events in the trail's order, oldest
	// first, from auditHead on (the room before it is reused once it is
	// half the slice).
	auditLog     []auditEntry
	auditRecs    arena  // the events, packed (auditEntry)
	auditScratch []byte // where an event is packed before it is put in auditRecs
	auditHead    int
	auditCap     int // the most events kept; 0: DefaultAuditCapacity; negative: no limit
	auditDropped int64

	// clientWrites counts the writes of clients (ClientsVersion); it is
	// read without the lock.
	clientWrites atomic.Uint64
}

// DefaultAuditCapacity is how many audit events a memory store keeps
// unless [WithAuditCapacity] says otherwise: at about 250 bytes of heap
// each (a token.issued event), some 25 MB.
const DefaultAuditCapacity = 100_000

// Option configures a memory store.
type Option func(*Store)

// WithAuditCapacity keeps at most n audit events: when an append would
// keep more, the oldest events are dropped, and
// [Store.AuditEventsDropped] counts them. n < 0 keeps every event until
// [Store.DeleteAuditEvents] removes it. A process that issues thousands of
// tokens a second records as many token.issued events: without a bound the
// trail alone would grow by megabytes a second, whatever the retention.
// A trail that must keep every event belongs in a database (package
// postgres).
func WithAuditCapacity(n int) Option {
	return func(s *Store) { s.auditCap = n }
}

var (
	_ storage.Store                = (*Store)(nil)
	_ storage.TokenSetGetter       = (*Store)(nil)
	_ storage.ApplicationUserStore = (*Store)(nil)
)

// New returns an empty store, configured by opts ([WithAuditCapacity]).
func New(opts ...Option) *Store {
	s := &Store{}
	for _, o := range opts {
		o(s)
	}
	s.init()
	return s
}

// init makes the tables and maps of a zero Store. The caller holds the
// lock, or has the only reference.
func (s *Store) init() {
	s.clients = newTable("client %q", copyClient,
		func(c storage.Client) string { return c.ID },
		func(c storage.Client, id string) storage.Client { c.ID = id; return c })
	s.logins = newTable("login session %q", copyLoginSession,
		func(ls storage.LoginSession) string { return ls.ID },
		func(ls storage.LoginSession, id string) storage.LoginSession { ls.ID = id; return ls })
	s.flows = newTable("auth flow %q", copyAuthFlow,
		func(f storage.AuthFlow) string { return f.ID },
		func(f storage.AuthFlow, id string) storage.AuthFlow { f.ID = id; return f })
	s.keys = newTable("signing key %q", copySigningKey,
		func(k storage.SigningKey) string { return k.ID },
		func(k storage.SigningKey, id string) storage.SigningKey { k.ID = id; return k })
	s.mfa = newTable("mfa of %q", copyMFA,
		func(r storage.MFARecord) string { return r.Subject },
		func(r storage.MFARecord, subject string) storage.MFARecord { r.Subject = subject; return r })
	s.apiKeys = newTable("API key %q", copyAPIKey,
		func(k storage.APIKey) string { return k.ID },
		func(k storage.APIKey, id string) storage.APIKey { k.ID = id; return k })
	s.appUsers = newTable("application user %q", copyApplicationUser,
		func(u storage.ApplicationUser) string { return u.ID },
		func(u storage.ApplicationUser, id string) storage.ApplicationUser { u.ID = id; return u })
	s.tokens = map[tokenKey]tokenEntry{}
	s.rotated = map[tokenKey]stamp{}
	s.families = newTokenIndex()
	s.bySID = newTokenIndex()
	s.bySubject = newTokenIndex()
	s.ended = map[string]time.Time{}
	s.revoked = map[string]time.Time{}
	s.jtis = map[string]time.Time{}
	s.denied = map[storage.DenyKey]storage.Deny{}
	s.consents = map[consentKey]storage.Consent{}
	s.throttles = map[string]storage.Throttle{}
}

// sweepBatch is how many tokens DeleteExpired looks at per hold of the lock:
// about 100 µs of work.
const sweepBatch = 1024

// sweepTokens deletes the tokens that expired before before, holding the
// lock for at most sweepBatch tokens at a time. Go's map iteration allows
// changes to the map between two steps (here, other calls' creates and
// deletes while the lock is released): every token present when the sweep
// starts and still present when the iteration reaches it is looked at once,
// so every token that had expired when the sweep began is gone when it
// returns. The sweep also moves the live records out of the arena's sparse
// chunks (see arena), which releases them: a chunk this sweep's own
// deletions leave sparse is seen to by the next.
func (s *Store) sweepTokens(ctx context.Context, before time.Time) (n int64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cut := toStamp(before)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.init()
	}
	seen := 0
	for k, t := range s.tokens {
		switch {
		case t.expires().before(cut):
			s.deleteToken(k)
			n++
		case s.recs.sparse(t.at):
			t.at = s.recs.move(t.at)
			s.tokens[k] = t
		}
		if seen++; seen%sweepBatch == 0 {
			s.mu.Unlock()
			if s.afterSweepBatch != nil {
				s.afterSweepBatch()
			}
			runtime.Gosched() // let the calls waiting for the lock in
			s.mu.Lock()
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// tx returns ctx.Err() if ctx is done, and otherwise runs f under the
// store's lock and returns what f returns. Every method goes through tx, so
// every method is atomic.
func (s *Store) tx(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.init()
	}
	return f()
}

// DeleteExpired implements [storage.Store]. It removes tokens, login
// sessions, flows, used JWT IDs, throttles, ended sign-ins, revoked
// grants and deny-list entries whose expiry
// is before before (a zero expiry has passed at any later time), and
// consents and signing keys whose non-zero ExpiresAt is before before. An expiry equal to before
// has not passed.
//
// Tokens, by far the most numerous records, are swept sweepBatch at a time,
// the lock released between batches, so that a sweep of millions of tokens
// never stalls the requests that need the store; the rest is swept under
// one hold of the lock.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.sweepTokens(ctx, before)
	if err != nil {
		return n, err
	}
	err = s.tx(ctx, func() error {
		for sid, until := range s.ended {
			if until.Before(before) {
				delete(s.ended, sid)
				n++
			}
		}
		for id, until := range s.revoked {
			if until.Before(before) {
				delete(s.revoked, id)
				n++
			}
		}
		for jti, exp := range s.jtis {
			if exp.Before(before) {
				delete(s.jtis, jti)
				n++
			}
		}
		for k, d := range s.denied {
			if d.ExpiresAt.Before(before) {
				delete(s.denied, k)
				n++
			}
		}
		for k, c := range s.consents {
			if !c.ExpiresAt.IsZero() && c.ExpiresAt.Before(before) {
				delete(s.consents, k)
				n++
			}
		}
		n += s.logins.deleteWhere(func(ls storage.LoginSession) bool { return ls.ExpiresAt.Before(before) })
		n += s.flows.deleteWhere(func(f storage.AuthFlow) bool { return f.ExpiresAt.Before(before) })
		for key, th := range s.throttles {
			if th.ExpiresAt.Before(before) {
				delete(s.throttles, key)
				n++
			}
		}
		n += s.keys.deleteWhere(func(k storage.SigningKey) bool { return !k.ExpiresAt.IsZero() && k.ExpiresAt.Before(before) })
		return nil
	})
	return n, err
}
