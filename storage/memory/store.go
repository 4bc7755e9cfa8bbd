// Package memory is an in-memory [storage.Store] for tests, demos and
// single-process hosts. Everything is lost when the process ends.
//
// One mutex guards all state, so every operation, including the single-use
// primitives, is atomic; records are deep-copied in and out, so callers
// never share memory with the store.
package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

type tokenKey struct {
	kind storage.TokenKind
	sig  string
}

type consentKey struct{ subject, clientID string }

// Store is an in-memory storage.Store. The zero value is not usable; call
// [New]. A Store is safe for concurrent use.
type Store struct {
	mu       sync.Mutex
	clients  map[string]storage.Client
	tokens   map[tokenKey]storage.Token
	families map[string][]tokenKey // request ID -> its tokens
	jtis     map[string]time.Time
	consents map[consentKey]storage.Consent
	logins   map[string]storage.LoginSession
	flows    map[string]storage.AuthFlow
	keys     map[string]storage.SigningKey
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		clients:  map[string]storage.Client{},
		tokens:   map[tokenKey]storage.Token{},
		families: map[string][]tokenKey{},
		jtis:     map[string]time.Time{},
		consents: map[consentKey]storage.Consent{},
		logins:   map[string]storage.LoginSession{},
		flows:    map[string]storage.AuthFlow{},
		keys:     map[string]storage.SigningKey{},
	}
}

// tx runs f under the store's lock after checking ctx.
func (s *Store) tx(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return f()
}

func notFound(what, key string) error {
	return fmt.Errorf("memory: %s %q: %w", what, key, storage.ErrNotFound)
}

func exists(what, key string) error {
	return fmt.Errorf("memory: %s %q: %w", what, key, storage.ErrAlreadyExists)
}

// CreateClient implements storage.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	return s.tx(ctx, func() error {
		if _, ok := s.clients[c.ID]; ok {
			return exists("client", c.ID)
		}
		s.clients[c.ID] = copyClient(c)
		return nil
	})
}

// GetClient implements storage.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var c storage.Client
	err := s.tx(ctx, func() error {
		got, ok := s.clients[id]
		if !ok {
			return notFound("client", id)
		}
		c = copyClient(got)
		return nil
	})
	return c, err
}

// UpdateClient implements storage.ClientStore. update runs under the
// store's lock and must not call back into the store.
func (s *Store) UpdateClient(ctx context.Context, id string, update func(storage.Client) (storage.Client, error)) error {
	return s.tx(ctx, func() error {
		got, ok := s.clients[id]
		if !ok {
			return notFound("client", id)
		}
		next, err := update(copyClient(got))
		if err != nil {
			return err
		}
		next.ID = id
		s.clients[id] = copyClient(next)
		return nil
	})
}

// DeleteClient implements storage.ClientStore.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.clients[id]; !ok {
			return notFound("client", id)
		}
		delete(s.clients, id)
		return nil
	})
}

// ListClients implements storage.ClientStore.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	var out []storage.Client
	err := s.tx(ctx, func() error {
		for _, id := range slices.Sorted(maps.Keys(s.clients)) {
			out = append(out, copyClient(s.clients[id]))
		}
		return nil
	})
	return out, err
}

// CreateToken implements storage.TokenStore.
func (s *Store) CreateToken(ctx context.Context, t storage.Token) error {
	return s.tx(ctx, func() error {
		k := tokenKey{t.Kind, t.Signature}
		if _, ok := s.tokens[k]; ok {
			return exists(string(t.Kind), t.Signature)
		}
		s.tokens[k] = copyToken(t)
		s.families[t.Request.ID] = append(s.families[t.Request.ID], k)
		return nil
	})
}

// GetToken implements storage.TokenStore.
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	var t storage.Token
	err := s.tx(ctx, func() error {
		got, ok := s.tokens[tokenKey{kind, sig}]
		if !ok {
			return notFound(string(kind), sig)
		}
		t = copyToken(got)
		return nil
	})
	return t, err
}

// deleteToken removes a token and its family index entry; the lock is held.
func (s *Store) deleteToken(k tokenKey) bool {
	t, ok := s.tokens[k]
	if !ok {
		return false
	}
	delete(s.tokens, k)
	fam := slices.DeleteFunc(s.families[t.Request.ID], func(x tokenKey) bool { return x == k })
	if len(fam) == 0 {
		delete(s.families, t.Request.ID)
	} else {
		s.families[t.Request.ID] = fam
	}
	return true
}

// DeleteToken implements storage.TokenStore.
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, sig string) error {
	return s.tx(ctx, func() error {
		if !s.deleteToken(tokenKey{kind, sig}) {
			return notFound(string(kind), sig)
		}
		return nil
	})
}

// ConsumeAuthCode implements storage.TokenStore.
func (s *Store) ConsumeAuthCode(ctx context.Context, sig string) (storage.Token, error) {
	var t storage.Token
	err := s.tx(ctx, func() error {
		k := tokenKey{storage.KindAuthCode, sig}
		got, ok := s.tokens[k]
		if !ok {
			return notFound("authorization code", sig)
		}
		t = copyToken(got)
		if !got.Active {
			return fmt.Errorf("memory: authorization code: %w", storage.ErrAlreadyUsed)
		}
		got.Active = false
		s.tokens[k] = got
		t.Active = false
		return nil
	})
	return t, err
}

// RotateRefreshToken implements storage.TokenStore.
func (s *Store) RotateRefreshToken(ctx context.Context, sig string) error {
	return s.tx(ctx, func() error {
		k := tokenKey{storage.KindRefreshToken, sig}
		got, ok := s.tokens[k]
		if !ok {
			return notFound("refresh token", sig)
		}
		if !got.Active {
			return fmt.Errorf("memory: refresh token: %w", storage.ErrAlreadyUsed)
		}
		got.Active = false
		s.tokens[k] = got
		if got.AccessSignature != "" {
			s.deleteToken(tokenKey{storage.KindAccessToken, got.AccessSignature})
		}
		return nil
	})
}

// RevokeFamily implements storage.TokenStore.
func (s *Store) RevokeFamily(ctx context.Context, kind storage.TokenKind, requestID string) error {
	return s.tx(ctx, func() error {
		for _, k := range s.families[requestID] {
			if k.kind != kind {
				continue
			}
			t := s.tokens[k]
			t.Active = false
			s.tokens[k] = t
		}
		return nil
	})
}

// UseJTI implements storage.TokenStore.
func (s *Store) UseJTI(ctx context.Context, jti string, expiresAt, now time.Time) error {
	return s.tx(ctx, func() error {
		if exp, ok := s.jtis[jti]; ok && now.Before(exp) {
			return fmt.Errorf("memory: jti %q: %w", jti, storage.ErrAlreadyUsed)
		}
		s.jtis[jti] = expiresAt
		return nil
	})
}

// SaveConsent implements storage.ConsentStore.
func (s *Store) SaveConsent(ctx context.Context, c storage.Consent) error {
	return s.tx(ctx, func() error {
		s.consents[consentKey{c.Subject, c.ClientID}] = copyConsent(c)
		return nil
	})
}

// GetConsent implements storage.ConsentStore.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (storage.Consent, error) {
	var c storage.Consent
	err := s.tx(ctx, func() error {
		got, ok := s.consents[consentKey{subject, clientID}]
		if !ok {
			return notFound("consent", subject+"/"+clientID)
		}
		c = copyConsent(got)
		return nil
	})
	return c, err
}

// ListConsents implements storage.ConsentStore.
func (s *Store) ListConsents(ctx context.Context, subject string) ([]storage.Consent, error) {
	var out []storage.Consent
	err := s.tx(ctx, func() error {
		for k, c := range s.consents {
			if k.subject == subject {
				out = append(out, copyConsent(c))
			}
		}
		slices.SortFunc(out, func(a, b storage.Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
		return nil
	})
	return out, err
}

// RevokeConsent implements storage.ConsentStore.
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	return s.tx(ctx, func() error {
		k := consentKey{subject, clientID}
		if _, ok := s.consents[k]; !ok {
			return notFound("consent", subject+"/"+clientID)
		}
		delete(s.consents, k)
		return nil
	})
}

// CreateLoginSession implements storage.SessionStore.
func (s *Store) CreateLoginSession(ctx context.Context, ls storage.LoginSession) error {
	return s.tx(ctx, func() error {
		if _, ok := s.logins[ls.ID]; ok {
			return exists("login session", ls.ID)
		}
		s.logins[ls.ID] = copyLogin(ls)
		return nil
	})
}

// GetLoginSession implements storage.SessionStore.
func (s *Store) GetLoginSession(ctx context.Context, id string) (storage.LoginSession, error) {
	var ls storage.LoginSession
	err := s.tx(ctx, func() error {
		got, ok := s.logins[id]
		if !ok {
			return notFound("login session", id)
		}
		ls = copyLogin(got)
		return nil
	})
	return ls, err
}

// DeleteLoginSession implements storage.SessionStore.
func (s *Store) DeleteLoginSession(ctx context.Context, id string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.logins[id]; !ok {
			return notFound("login session", id)
		}
		delete(s.logins, id)
		return nil
	})
}

// DeleteLoginSessionsBySubject implements storage.SessionStore.
func (s *Store) DeleteLoginSessionsBySubject(ctx context.Context, subject string) (int64, error) {
	var n int64
	err := s.tx(ctx, func() error {
		for id, ls := range s.logins {
			if ls.Subject == subject {
				delete(s.logins, id)
				n++
			}
		}
		return nil
	})
	return n, err
}

// CreateAuthFlow implements storage.SessionStore.
func (s *Store) CreateAuthFlow(ctx context.Context, f storage.AuthFlow) error {
	return s.tx(ctx, func() error {
		if _, ok := s.flows[f.ID]; ok {
			return exists("auth flow", f.ID)
		}
		s.flows[f.ID] = copyFlow(f)
		return nil
	})
}

// GetAuthFlow implements storage.SessionStore.
func (s *Store) GetAuthFlow(ctx context.Context, id string) (storage.AuthFlow, error) {
	var f storage.AuthFlow
	err := s.tx(ctx, func() error {
		got, ok := s.flows[id]
		if !ok {
			return notFound("auth flow", id)
		}
		f = copyFlow(got)
		return nil
	})
	return f, err
}

// UpdateAuthFlow implements storage.SessionStore. update runs under the
// store's lock and must not call back into the store.
func (s *Store) UpdateAuthFlow(ctx context.Context, id string, update func(storage.AuthFlow) (storage.AuthFlow, error)) error {
	return s.tx(ctx, func() error {
		got, ok := s.flows[id]
		if !ok {
			return notFound("auth flow", id)
		}
		next, err := update(copyFlow(got))
		if err != nil {
			return err
		}
		next.ID = id
		s.flows[id] = copyFlow(next)
		return nil
	})
}

// DeleteAuthFlow implements storage.SessionStore.
func (s *Store) DeleteAuthFlow(ctx context.Context, id string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.flows[id]; !ok {
			return notFound("auth flow", id)
		}
		delete(s.flows, id)
		return nil
	})
}

// CreateSigningKey implements storage.KeyStore.
func (s *Store) CreateSigningKey(ctx context.Context, k storage.SigningKey) error {
	return s.tx(ctx, func() error {
		if _, ok := s.keys[k.ID]; ok {
			return exists("signing key", k.ID)
		}
		s.keys[k.ID] = copyKey(k)
		return nil
	})
}

// ListSigningKeys implements storage.KeyStore.
func (s *Store) ListSigningKeys(ctx context.Context) ([]storage.SigningKey, error) {
	var out []storage.SigningKey
	err := s.tx(ctx, func() error {
		for _, k := range s.keys {
			out = append(out, copyKey(k))
		}
		slices.SortFunc(out, func(a, b storage.SigningKey) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		return nil
	})
	return out, err
}

// UpdateSigningKey implements storage.KeyStore. update runs under the
// store's lock and must not call back into the store.
func (s *Store) UpdateSigningKey(ctx context.Context, id string, update func(storage.SigningKey) (storage.SigningKey, error)) error {
	return s.tx(ctx, func() error {
		got, ok := s.keys[id]
		if !ok {
			return notFound("signing key", id)
		}
		next, err := update(copyKey(got))
		if err != nil {
			return err
		}
		next.ID = id
		s.keys[id] = copyKey(next)
		return nil
	})
}

// DeleteSigningKey implements storage.KeyStore.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.tx(ctx, func() error {
		if _, ok := s.keys[id]; !ok {
			return notFound("signing key", id)
		}
		delete(s.keys, id)
		return nil
	})
}

// DeleteExpired implements storage.Store.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, func() error {
		for k, t := range s.tokens {
			if t.ExpiresAt.Before(before) {
				s.deleteToken(k)
				n++
			}
		}
		for id, exp := range s.jtis {
			if exp.Before(before) {
				delete(s.jtis, id)
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
