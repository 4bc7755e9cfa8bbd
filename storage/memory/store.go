package memory

import (
	"context"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// tokenKey is the key of a token: each kind is its own key space.
type tokenKey struct {
	kind storage.TokenKind
	sig  string
}

// consentKey is the key of a consent: one per subject and client.
type consentKey struct{ subject, clientID string }

// Store is an in-memory [storage.Store]. Use [New] to make one; the zero
// value is an empty store ready to use too. A Store is safe for concurrent
// use by many goroutines and must not be copied after first use.
type Store struct {
	mu        sync.Mutex
	clients   map[string]storage.Client
	tokens    map[tokenKey]storage.Token
	families  map[string][]tokenKey // request ID -> keys of its tokens, every kind
	jtis      map[string]time.Time  // JWT ID -> expiry
	consents  map[consentKey]storage.Consent
	logins    map[string]storage.LoginSession
	flows     map[string]storage.AuthFlow
	keys      map[string]storage.SigningKey
	mfa       map[string]storage.MFARecord
	throttles map[string]storage.Throttle
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	s := &Store{}
	s.init()
	return s
}

// init makes the maps of a zero Store. The caller holds the lock, or has
// the only reference.
func (s *Store) init() {
	s.clients = map[string]storage.Client{}
	s.tokens = map[tokenKey]storage.Token{}
	s.families = map[string][]tokenKey{}
	s.jtis = map[string]time.Time{}
	s.consents = map[consentKey]storage.Consent{}
	s.logins = map[string]storage.LoginSession{}
	s.flows = map[string]storage.AuthFlow{}
	s.keys = map[string]storage.SigningKey{}
	s.mfa = map[string]storage.MFARecord{}
	s.throttles = map[string]storage.Throttle{}
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
	if s.clients == nil {
		s.init()
	}
	return f()
}

// DeleteExpired implements [storage.Store]. It removes tokens, login
// sessions, flows, used JWT IDs and throttles whose expiry is before before
// (a zero expiry has passed at any later time), and consents and signing
// keys whose non-zero ExpiresAt is before before. An expiry equal to before
// has not passed.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func() error {
		for k, t := range s.tokens {
			if t.ExpiresAt.Before(before) {
				s.deleteToken(k)
				n++
			}
		}
		for jti, exp := range s.jtis {
			if exp.Before(before) {
				delete(s.jtis, jti)
				n++
			}
		}
		for k, c := range s.consents {
			if !c.ExpiresAt.IsZero() && c.ExpiresAt.Before(before) {
				delete(s.consents, k)
				n++
			}
		}
		for id, ls := range s.logins {
			if ls.ExpiresAt.Before(before) {
				delete(s.logins, id)
				n++
			}
		}
		for id, f := range s.flows {
			if f.ExpiresAt.Before(before) {
				delete(s.flows, id)
				n++
			}
		}
		for key, th := range s.throttles {
			if th.ExpiresAt.Before(before) {
				delete(s.throttles, key)
				n++
			}
		}
		for id, k := range s.keys {
			if !k.ExpiresAt.IsZero() && k.ExpiresAt.Before(before) {
				delete(s.keys, id)
				n++
			}
		}
		return nil
	})
	return n, err
}
