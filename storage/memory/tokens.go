package memory

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateToken implements [storage.TokenStore].
func (s *Store) CreateToken(ctx context.Context, t storage.Token) error {
	return s.tx(ctx, func() error {
		k := tokenKey{codeOf(t.Kind), t.Signature}
		if k.kind == 0 {
			return fmt.Errorf("memory: create token of kind %q: not a kind storage.Kinds lists", t.Kind)
		}
		if _, ok := s.tokens[k]; ok {
			return fmt.Errorf("memory: create %s %q: %w", t.Kind, t.Signature, storage.ErrAlreadyExists)
		}
		if _, ended := s.ended[t.Request.LoginSID]; ended && t.Request.LoginSID != "" {
			t.Active = false // a token of an ended sign-in, from a request under way when it ended
		}
		if _, revoked := s.revoked[t.Request.ID]; revoked {
			t.Active = false // a token of a revoked grant, from a request under way when it was revoked
		}
		e := newEntry(t)
		h := e.head()
		k.sig = h.signature // the key shares the record's memory
		s.tokens[k] = e
		if !t.RotatedAt.IsZero() {
			s.rotated[k] = toStamp(t.RotatedAt)
		}
		s.families[h.requestID] = s.families[h.requestID].add(k)
		if h.loginSID != "" {
			s.bySID[h.loginSID] = s.bySID[h.loginSID].add(k)
		}
		if h.subject != "" {
			s.bySubject[h.subject] = s.bySubject[h.subject].add(k)
		}
		if sub := t.Request.Subject; sub != "" {
			s.bySubject[sub] = s.bySubject[sub].add(k)
		}
		return nil
	})
}

// GetToken implements [storage.TokenStore].
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error) {
	var t storage.Token
	err := s.tx(ctx, func() error {
		got, ok := s.tokens[tokenKey{codeOf(kind), signature}]
		if !ok {
			return fmt.Errorf("memory: get %s %q: %w", kind, signature, storage.ErrNotFound)
		}
		t = s.decode(tokenKey{codeOf(kind), signature}, got)
		return nil
	})
	return t, err
}

// GetTokenSet implements [storage.TokenSetGetter].
func (s *Store) GetTokenSet(ctx context.Context, signature string, kinds ...storage.TokenKind) ([]storage.Token, error) {
	out := make([]storage.Token, len(kinds))
	err := s.tx(ctx, func() error {
		for i, kind := range kinds {
			if got, ok := s.tokens[tokenKey{codeOf(kind), signature}]; ok {
				out[i] = s.decode(tokenKey{codeOf(kind), signature}, got)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteToken implements [storage.TokenStore].
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	return s.tx(ctx, func() error {
		if !s.deleteToken(tokenKey{codeOf(kind), signature}) {
			return fmt.Errorf("memory: delete %s %q: %w", kind, signature, storage.ErrNotFound)
		}
		return nil
	})
}

// deleteToken removes a token and its entries in the family and sign-in
// indexes, and reports whether there was one. The caller holds the lock.
func (s *Store) deleteToken(k tokenKey) bool {
	e, ok := s.tokens[k]
	if !ok {
		return false
	}
	delete(s.tokens, k)
	if len(s.rotated) > 0 {
		delete(s.rotated, k)
	}
	h := e.head()
	unindex(s.families, h.requestID, k)
	if h.loginSID != "" {
		unindex(s.bySID, h.loginSID, k)
	}
	if h.subject != "" {
		unindex(s.bySubject, h.subject, k)
	}
	return true
}

// decode returns the token of key k and entry e (see tokenEntry.token).
func (s *Store) decode(k tokenKey, e tokenEntry) storage.Token {
	var rotated stamp
	if len(s.rotated) > 0 {
		rotated = s.rotated[k]
	}
	return e.token(k.kind.kind(), rotated)
}

// unindex removes k from index[key], and the entry once it is empty.
func unindex(index map[string]keyList, key string, k tokenKey) {
	if l, empty := index[key].remove(k); empty {
		delete(index, key)
	} else {
		index[key] = l
	}
}

// keyList is an index entry: the keys of one family, sign-in or subject.
// Most hold one key (a client_credentials token is a family of its own),
// which is kept inline, so that indexing it allocates nothing; the others
// are behind a pointer, so that the many lists of one key carry 8 bytes
// for them rather than a slice's 24.
type keyList struct {
	first tokenKey    // the zero key when the list is empty (a real key has a kind)
	rest  *[]tokenKey // nil while the list holds at most one key
}

// add returns l with k appended.
func (l keyList) add(k tokenKey) keyList {
	switch {
	case l.first == (tokenKey{}):
		l.first = k
	case l.rest == nil:
		l.rest = &[]tokenKey{k}
	default:
		*l.rest = append(*l.rest, k)
	}
	return l
}

// remove returns l without k, and whether it is empty then.
func (l keyList) remove(k tokenKey) (keyList, bool) {
	if l.first == k {
		if l.rest == nil {
			return keyList{}, true
		}
		l.first = (*l.rest)[0]
		*l.rest = (*l.rest)[1:]
	} else if l.rest != nil {
		*l.rest = slices.DeleteFunc(*l.rest, func(x tokenKey) bool { return x == k })
	}
	if l.rest != nil && len(*l.rest) == 0 {
		l.rest = nil
	}
	return l, l.first == (tokenKey{})
}

// all yields the keys of l.
func (l keyList) all() iter.Seq[tokenKey] {
	return func(yield func(tokenKey) bool) {
		if l.first == (tokenKey{}) || !yield(l.first) {
			return
		}
		if l.rest == nil {
			return
		}
		for _, k := range *l.rest {
			if !yield(k) {
				return
			}
		}
	}
}

// ConsumeAuthCode implements [storage.TokenStore]. The code it returns, to
// the winner and with [storage.ErrAlreadyUsed] alike, is inactive.
func (s *Store) ConsumeAuthCode(ctx context.Context, signature string) (storage.Token, error) {
	var t storage.Token
	err := s.tx(ctx, func() error {
		k := tokenKey{codeAuthCode, signature}
		got, ok := s.tokens[k]
		if !ok {
			return fmt.Errorf("memory: consume authorization code %q: %w", signature, storage.ErrNotFound)
		}
		t = s.decode(k, got)
		if !got.active {
			return fmt.Errorf("memory: consume authorization code %q: %w", signature, storage.ErrAlreadyUsed)
		}
		got.active = false
		s.tokens[k] = got
		t.Active = false
		return nil
	})
	return t, err
}

// RotateRefreshToken implements [storage.TokenStore]. A linked access token
// that no longer exists is not an error.
func (s *Store) RotateRefreshToken(ctx context.Context, signature string, now time.Time) error {
	return s.tx(ctx, func() error {
		k := tokenKey{codeRefreshToken, signature}
		got, ok := s.tokens[k]
		if !ok {
			return fmt.Errorf("memory: rotate refresh token %q: %w", signature, storage.ErrNotFound)
		}
		if !got.active {
			return fmt.Errorf("memory: rotate refresh token %q: %w", signature, storage.ErrAlreadyUsed)
		}
		got.active = false
		s.tokens[k] = got
		s.rotated[k] = toStamp(now)
		if as := got.head().accessSignature; as != "" {
			s.deleteToken(tokenKey{codeAccessToken, as})
		}
		return nil
	})
}

// RevokeFamily implements [storage.TokenStore].
func (s *Store) RevokeFamily(ctx context.Context, kind storage.TokenKind, requestID string) error {
	return s.tx(ctx, func() error {
		code := codeOf(kind)
		for k := range s.families[requestID].all() {
			if k.kind != code {
				continue
			}
			t := s.tokens[k]
			t.active = false
			s.tokens[k] = t
		}
		return nil
	})
}

// RevokeLoginGrants implements [storage.TokenStore]. The memory store has
// no transactions: every token created after it, a refresh's or code
// exchange's under way included, finds the sign-in ended.
func (s *Store) RevokeLoginGrants(ctx context.Context, sid string, until time.Time) error {
	return s.tx(ctx, func() error {
		if sid == "" {
			return nil
		}
		if cur, ok := s.ended[sid]; !ok || until.After(cur) {
			s.ended[sid] = until
		}
		for k := range s.bySID[sid].all() {
			if t, ok := s.tokens[k]; ok {
				t.active = false
				s.tokens[k] = t
			}
		}
		return nil
	})
}

// RevokeUserClientGrants implements [storage.TokenStore]. The memory
// store has no transactions: every token created after it in a revoked
// family, a refresh's or code exchange's under way included, is stored
// inactive.
func (s *Store) RevokeUserClientGrants(ctx context.Context, subject, clientID string, until time.Time) error {
	return s.tx(ctx, func() error {
		if subject == "" || clientID == "" {
			return nil
		}
		for k := range s.bySubject[subject].all() {
			e, ok := s.tokens[k]
			if !ok {
				continue
			}
			h := e.head()
			if h.clientID != clientID {
				continue
			}
			if cur, ok := s.revoked[h.requestID]; !ok || until.After(cur) {
				s.revoked[h.requestID] = until
			}
			e.active = false
			s.tokens[k] = e
		}
		return nil
	})
}

// ListGrants implements [storage.TokenStore].
func (s *Store) ListGrants(ctx context.Context, subject string, now time.Time) ([]storage.Token, error) {
	var out []storage.Token
	err := s.tx(ctx, func() error {
		out = []storage.Token{}
		if subject == "" {
			return nil
		}
		newest := map[string]storage.Token{}
		cut := toStamp(now)
		for k := range s.bySubject[subject].all() {
			e, ok := s.tokens[k]
			if !ok || !e.active || !cut.before(e.expires()) || (k.kind != codeAccessToken && k.kind != codeRefreshToken) {
				continue
			}
			t := s.decode(k, e)
			if cur, ok := newest[t.Request.ClientID]; !ok || newerToken(t, cur) {
				newest[t.Request.ClientID] = t
			}
		}
		for _, t := range newest {
			out = append(out, t) // decoded: shares nothing a caller could change
		}
		slices.SortFunc(out, func(a, b storage.Token) int { return strings.Compare(a.Request.ClientID, b.Request.ClientID) })
		return nil
	})
	return out, err
}

// newerToken reports whether a comes before b in ListGrants' order: the
// later CreatedAt, then the greater signature, then the greater kind.
func newerToken(a, b storage.Token) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	if c := strings.Compare(a.Signature, b.Signature); c != 0 {
		return c > 0
	}
	return a.Kind > b.Kind
}

// UseJTI implements [storage.TokenStore]. A JWT ID recorded until expiresAt
// is used while now is before expiresAt, and free again from expiresAt on.
func (s *Store) UseJTI(ctx context.Context, jti string, expiresAt, now time.Time) error {
	return s.tx(ctx, func() error {
		if exp, ok := s.jtis[jti]; ok && now.Before(exp) {
			return fmt.Errorf("memory: use JWT ID %q: %w", jti, storage.ErrAlreadyUsed)
		}
		s.jtis[jti] = expiresAt
		return nil
	})
}
