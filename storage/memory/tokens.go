package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// CreateToken implements [storage.TokenStore].
func (s *Store) CreateToken(ctx context.Context, t storage.Token) error {
	return s.tx(ctx, func() error {
		k := tokenKey{t.Kind, t.Signature}
		if _, ok := s.tokens[k]; ok {
			return fmt.Errorf("memory: create %s %q: %w", t.Kind, t.Signature, storage.ErrAlreadyExists)
		}
		t = copyToken(t)
		if _, ended := s.ended[t.Request.LoginSID]; ended && t.Request.LoginSID != "" {
			t.Active = false // a token of an ended sign-in, from a request under way when it ended
		}
		if _, revoked := s.revoked[t.Request.ID]; revoked {
			t.Active = false // a token of a revoked grant, from a request under way when it was revoked
		}
		s.tokens[k] = t
		s.families[t.Request.ID] = append(s.families[t.Request.ID], k)
		if sid := t.Request.LoginSID; sid != "" {
			s.bySID[sid] = append(s.bySID[sid], k)
		}
		if sub := t.Request.Subject; sub != "" {
			s.bySubject[sub] = append(s.bySubject[sub], k)
		}
		return nil
	})
}

// GetToken implements [storage.TokenStore].
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error) {
	var t storage.Token
	err := s.tx(ctx, func() error {
		got, ok := s.tokens[tokenKey{kind, signature}]
		if !ok {
			return fmt.Errorf("memory: get %s %q: %w", kind, signature, storage.ErrNotFound)
		}
		t = copyToken(got)
		return nil
	})
	return t, err
}

// DeleteToken implements [storage.TokenStore].
func (s *Store) DeleteToken(ctx context.Context, kind storage.TokenKind, signature string) error {
	return s.tx(ctx, func() error {
		if !s.deleteToken(tokenKey{kind, signature}) {
			return fmt.Errorf("memory: delete %s %q: %w", kind, signature, storage.ErrNotFound)
		}
		return nil
	})
}

// deleteToken removes a token and its entries in the family and sign-in
// indexes, and reports whether there was one. The caller holds the lock.
func (s *Store) deleteToken(k tokenKey) bool {
	t, ok := s.tokens[k]
	if !ok {
		return false
	}
	delete(s.tokens, k)
	unindex(s.families, t.Request.ID, k)
	if t.Request.LoginSID != "" {
		unindex(s.bySID, t.Request.LoginSID, k)
	}
	if t.Request.Subject != "" {
		unindex(s.bySubject, t.Request.Subject, k)
	}
	return true
}

// unindex removes k from index[key], and the entry once it is empty.
func unindex(index map[string][]tokenKey, key string, k tokenKey) {
	keys := slices.DeleteFunc(index[key], func(x tokenKey) bool { return x == k })
	if len(keys) == 0 {
		delete(index, key)
	} else {
		index[key] = keys
	}
}

// ConsumeAuthCode implements [storage.TokenStore]. The code it returns, to
// the winner and with [storage.ErrAlreadyUsed] alike, is inactive.
func (s *Store) ConsumeAuthCode(ctx context.Context, signature string) (storage.Token, error) {
	var t storage.Token
	err := s.tx(ctx, func() error {
		k := tokenKey{storage.KindAuthCode, signature}
		got, ok := s.tokens[k]
		if !ok {
			return fmt.Errorf("memory: consume authorization code %q: %w", signature, storage.ErrNotFound)
		}
		t = copyToken(got)
		if !got.Active {
			return fmt.Errorf("memory: consume authorization code %q: %w", signature, storage.ErrAlreadyUsed)
		}
		got.Active = false
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
		k := tokenKey{storage.KindRefreshToken, signature}
		got, ok := s.tokens[k]
		if !ok {
			return fmt.Errorf("memory: rotate refresh token %q: %w", signature, storage.ErrNotFound)
		}
		if !got.Active {
			return fmt.Errorf("memory: rotate refresh token %q: %w", signature, storage.ErrAlreadyUsed)
		}
		got.Active = false
		got.RotatedAt = now.UTC()
		s.tokens[k] = got
		if got.AccessSignature != "" {
			s.deleteToken(tokenKey{storage.KindAccessToken, got.AccessSignature})
		}
		return nil
	})
}

// RevokeFamily implements [storage.TokenStore].
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
		for _, k := range s.bySID[sid] {
			if t, ok := s.tokens[k]; ok {
				t.Active = false
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
		for _, k := range s.bySubject[subject] {
			t, ok := s.tokens[k]
			if !ok || t.Request.ClientID != clientID {
				continue
			}
			if cur, ok := s.revoked[t.Request.ID]; !ok || until.After(cur) {
				s.revoked[t.Request.ID] = until
			}
			t.Active = false
			s.tokens[k] = t
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
		for _, k := range s.bySubject[subject] {
			t, ok := s.tokens[k]
			if !ok || !t.Active || !t.ExpiresAt.After(now) || (t.Kind != storage.KindAccessToken && t.Kind != storage.KindRefreshToken) {
				continue
			}
			if cur, ok := newest[t.Request.ClientID]; !ok || newerToken(t, cur) {
				newest[t.Request.ClientID] = t
			}
		}
		for _, t := range newest {
			out = append(out, copyToken(t))
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
