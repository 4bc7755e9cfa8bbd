package oauth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"

	"github.com/ory/fosite"
)

// opaqueMAC checks opaque access tokens as fosite's
// HMACSHAStrategy.ValidateAccessToken does, byte for byte in what it
// accepts: the "ory_at_" prefix trimmed, the key and signature parts
// base64url-decoded (unpadded), and the signature compared in constant
// time with the HMAC-SHA512/256 of the key, keyed by the first 32 bytes of
// the global secret, then of each rotated one. fosite makes a new HMAC for
// each check (three allocations and the key schedule: a twentieth of an
// introspection); opaqueMAC keeps one per key in a pool. FuzzOpaqueMAC
// holds the two to the same answers.
type opaqueMAC struct {
	keys []*sync.Pool // of *macState, one pool per key, the global secret's first
	bad  error        // a secret fosite would refuse, found at construction
}

// macState is a keyed HMAC and the room for its input and sum (what is
// passed to a hash.Hash's methods escapes: kept here, it is not allocated
// per check).
type macState struct {
	h    hash.Hash
	sum  [sha512.Size256]byte
	data [64]byte
}

// minSecret is fosite's minimum HMAC secret length.
const minSecret = 32

// b64 is fosite's encoding of the token's parts.
var b64 = base64.URLEncoding.WithPadding(base64.NoPadding)

// newOpaqueMAC returns the checker of tokens made with global (and, still
// valid, rotated).
func newOpaqueMAC(global []byte, rotated [][]byte) *opaqueMAC {
	m := &opaqueMAC{}
	var secrets [][]byte
	if len(global) > 0 {
		secrets = append(secrets, global)
	}
	secrets = append(secrets, rotated...)
	if len(secrets) == 0 {
		m.bad = errors.New("a secret for signing HMAC-SHA512/256 is expected to be defined, but none were")
	}
	for _, s := range secrets {
		if len(s) < minSecret {
			// fosite stops at the first such secret with this error,
			// once the keys before it have not matched.
			m.keys = append(m.keys, nil)
			continue
		}
		key := append([]byte(nil), s[:minSecret]...)
		m.keys = append(m.keys, &sync.Pool{New: func() any { return &macState{h: hmac.New(sha512.New512_256, key)} }})
	}
	return m
}

// validate checks token (the "ory_at_" prefix trimmed or absent) against
// each key in turn, as fosite's HMACStrategy.Validate does.
func (m *opaqueMAC) validate(token string) error {
	switch {
	case m.bad != nil:
		return m.bad
	case m.keys[0] == nil:
		return errShortSecret // fosite checks the first key before the token
	}
	key, sig, ok := strings.Cut(token, ".")
	if !ok || key == "" || sig == "" {
		return fosite.ErrInvalidTokenFormat
	}
	var sigBuf, keyBuf [64]byte
	gotSig, err := decode(sigBuf[:0], sig)
	if err != nil {
		return err
	}
	data, err := decode(keyBuf[:0], key)
	if err != nil {
		return err
	}
	for _, pool := range m.keys {
		if pool == nil {
			return errShortSecret
		}
		st := pool.Get().(*macState)
		st.h.Reset()
		if len(data) <= len(st.data) {
			st.h.Write(st.data[:copy(st.data[:], data)])
		} else {
			st.h.Write(bytes.Clone(data))
		}
		equal := hmac.Equal(st.h.Sum(st.sum[:0]), gotSig)
		pool.Put(st)
		if equal {
			return nil
		}
	}
	return fosite.ErrTokenSignatureMismatch
}

// errShortSecret is fosite's error for a secret under 32 bytes.
var errShortSecret = fmt.Errorf("secret for signing HMAC-SHA512/256 is expected to be %d byte long", minSecret)

// decode base64url-decodes s into buf when it fits, else into a new slice.
func decode(buf []byte, s string) ([]byte, error) {
	n := b64.DecodedLen(len(s))
	if n > cap(buf) {
		buf = make([]byte, 0, n)
	}
	buf = buf[:n]
	var room [88]byte // s as bytes, on the stack when it fits
	n, err := b64.Decode(buf, append(room[:0], s...))
	return buf[:n], err
}

// validateOpaqueAccessToken is fosite's HMACSHAStrategy.ValidateAccessToken
// with the pooled check: the expiry (the session's, else the request's
// time plus the lifetime; against the wall clock, as fosite's), then the
// HMAC.
func (s *accessTokenStrategy) validateOpaqueAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	exp := r.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = r.GetRequestedAt().Add(s.HMACSHAStrategy.Config.GetAccessTokenLifespan(ctx))
	}
	if exp.Before(time.Now().UTC()) {
		return fosite.ErrTokenExpired.WithHintf("Access token expired at '%s'.", exp)
	}
	return s.mac.validate(strings.TrimPrefix(token, "ory_at_"))
}
