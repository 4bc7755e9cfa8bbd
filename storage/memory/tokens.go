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
		code := codeOf(t.Kind)
		if code == 0 {
			return fmt.Errorf("memory: create token of kind %q: not a kind storage.Kinds lists", t.Kind)
		}
		k := keyOf(code, t.Signature)
		if _, ok := s.tokens[k]; ok {
			return fmt.Errorf("memory: create %s %q: %w", t.Kind, t.Signature, storage.ErrAlreadyExists)
		}
		if _, ended := s.ended[t.Request.LoginSID]; ended && t.Request.LoginSID != "" {
			t.Active = false // a token of an ended sign-in, from a request under way when it ended
		}
		if _, revoked := s.revoked[t.Request.ID]; revoked {
			t.Active = false // a token of a revoked grant, from a request under way when it was revoked
		}
		var shapeBuf [256]byte
		shape := s.shapes.intern(encodeShape(shapeBuf[:0], &t.Request))
		var recBuf [512]byte
		exp := toStamp(t.ExpiresAt)
		s.tokens[k] = tokenEntry{
			at:      s.recs.put(encodeToken(recBuf[:0], k, t, shape)),
			expSec:  exp.sec,
			expNsec: exp.nsec,
			active:  t.Active,
		}
		if !t.RotatedAt.IsZero() {
			s.rotated[k] = toStamp(t.RotatedAt)
		}
		s.families.add(s.families.hash(t.Request.ID), k)
		if t.Request.LoginSID != "" {
			s.bySID.add(s.bySID.hash(t.Request.LoginSID), k)
		}
		if t.Request.Subject != "" {
			s.bySubject.add(s.bySubject.hash(t.Request.Subject), k)
		}
		return nil
	})
}

// lookup returns the entry of the token of kind and signature sig, and
// its key.
func (s *Store) lookup(kind kindCode, sig string) (tokenKey, tokenEntry, bool) {
	k := keyOf(kind, sig)
	e, ok := s.tokens[k]
	if ok && k.hashed() && headOf(s.recs.get(e.at)).signature != sig {
		ok = false // another signature of the same SHA-256 digest: not to be met
	}
	return k, e, ok
}

// GetToken implements [storage.TokenStore].
func (s *Store) GetToken(ctx context.Context, kind storage.TokenKind, signature string) (storage.Token, error) {
	var t storage.Token
	err := s.tx(ctx, func() error {
		k, e, ok := s.lookup(codeOf(kind), signature)
		if !ok {
			return fmt.Errorf("memory: get %s %q: %w", kind, signature, storage.ErrNotFound)
		}
		t = s.decodeSig(k, e, signature, true)
		return nil
	})
	return t, err
}

// TokenStatus implements [storage.StatusReader]: one lookup, no
// copy of the record.
func (s *Store) TokenStatus(ctx context.Context, kind storage.TokenKind, signature string) (found, active bool, err error) {
	err = s.tx(ctx, func() error {
		var e tokenEntry
		_, e, found = s.lookup(codeOf(kind), signature)
		active = found && e.active
		return nil
	})
	return found, active, err
}

// GetTokenSet implements [storage.TokenSetGetter].
func (s *Store) GetTokenSet(ctx context.Context, signature string, kinds ...storage.TokenKind) ([]storage.Token, error) {
	out := make([]storage.Token, len(kinds))
	err := s.tx(ctx, func() error {
		for i, kind := range kinds {
			if k, e, ok := s.lookup(codeOf(kind), signature); ok {
				out[i] = s.decodeSig(k, e, signature, true)
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
		k, _, ok := s.lookup(codeOf(kind), signature)
		if !ok {
			return fmt.Errorf("memory: delete %s %q: %w", kind, signature, storage.ErrNotFound)
		}
		s.deleteToken(k)
		return nil
	})
}

// deleteToken removes a token, its record and its entries in the indexes,
// and reports whether there was one. The caller holds the lock.
func (s *Store) deleteToken(k tokenKey) bool {
	e, ok := s.tokens[k]
	if !ok {
		return false
	}
	delete(s.tokens, k)
	if len(s.rotated) > 0 {
		delete(s.rotated, k)
	}
	h := headOf(s.recs.get(e.at))
	s.families.remove(s.families.hashID(h.requestID), k)
	if h.loginSID != "" {
		s.bySID.remove(s.bySID.hash(h.loginSID), k)
	}
	if h.subject != "" {
		s.bySubject.remove(s.bySubject.hash(h.subject), k)
	}
	s.shapes.release(h.shape)
	s.recs.del(e.at) // last: h reads the record
	return true
}

// decode returns the token of key k and entry e (see decodeToken).
func (s *Store) decode(k tokenKey, e tokenEntry) storage.Token {
	return s.decodeSig(k, e, "", false)
}

// decodeSig is decode for a token looked up by its signature, sig: the
// token returned shares it.
func (s *Store) decodeSig(k tokenKey, e tokenEntry, sig string, known bool) storage.Token {
	var rotated stamp
	if len(s.rotated) > 0 {
		rotated = s.rotated[k]
	}
	return decodeToken(k, e, s.recs.get(e.at), &s.shapes, rotated, sig, known)
}

// head returns the head of the record of e (see head).
func (s *Store) head(e tokenEntry) head { return headOf(s.recs.get(e.at)) }

// clientID returns the client ID of the token of entry e.
func (s *Store) clientID(e tokenEntry) string {
	return shapeClientID(s.shapes.get(s.head(e).shape))
}

// ConsumeAuthCode implements [storage.TokenStore]. The code it returns, to
// the winner and with [storage.ErrAlreadyUsed] alike, is inactive.
func (s *Store) ConsumeAuthCode(ctx context.Context, signature string) (storage.Token, error) {
	var t storage.Token
	err := s.tx(ctx, func() error {
		k, got, ok := s.lookup(codeAuthCode, signature)
		if !ok {
			return fmt.Errorf("memory: consume authorization code %q: %w", signature, storage.ErrNotFound)
		}
		t = s.decodeSig(k, got, signature, true)
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
		k, got, ok := s.lookup(codeRefreshToken, signature)
		if !ok {
			return fmt.Errorf("memory: rotate refresh token %q: %w", signature, storage.ErrNotFound)
		}
		if !got.active {
			return fmt.Errorf("memory: rotate refresh token %q: %w", signature, storage.ErrAlreadyUsed)
		}
		got.active = false
		s.tokens[k] = got
		s.rotated[k] = toStamp(now)
		if as := s.head(got).accessSignature; as != "" {
			if ak, _, ok := s.lookup(codeAccessToken, as); ok {
				s.deleteToken(ak)
			}
		}
		return nil
	})
}

// RevokeFamily implements [storage.TokenStore].
func (s *Store) RevokeFamily(ctx context.Context, kind storage.TokenKind, requestID string) error {
	return s.tx(ctx, func() error {
		code := codeOf(kind)
		for k := range s.families.keys(s.families.hash(requestID)) {
			t, ok := s.tokens[k]
			if !ok || k.kind != code || !s.head(t).requestID.is(requestID) {
				continue
			}
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
		for k := range s.bySID.keys(s.bySID.hash(sid)) {
			if t, ok := s.tokens[k]; ok && s.head(t).loginSID == sid {
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
		for k := range s.bySubject.keys(s.bySubject.hash(subject)) {
			e, ok := s.tokens[k]
			if !ok {
				continue
			}
			h := s.head(e)
			if h.subject != subject || s.clientID(e) != clientID {
				continue
			}
			id := h.requestID.String() // a string of its own: h's are the arena's
			if cur, ok := s.revoked[id]; !ok || until.After(cur) {
				s.revoked[id] = until
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
		for k := range s.bySubject.keys(s.bySubject.hash(subject)) {
			e, ok := s.tokens[k]
			if !ok || s.head(e).subject != subject || !e.active || !cut.before(e.expires()) || (k.kind != codeAccessToken && k.kind != codeRefreshToken) {
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
