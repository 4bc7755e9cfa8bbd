// Package apikey makes, reads and hashes Gatehouse API keys.
//
// A key is "gatehouse_ak_<id>_<secret>": the fixed prefix, so that secret
// scanners can find a leaked key; a 16-character ID (80 random bits),
// which the provider looks the key up by; and a 52-character secret (256
// bits from crypto/rand). Both are lower-case base32 (a-z, 2-7), so a key
// is one word to a shell, a URL and a regular expression:
//
//	gatehouse_ak_[a-z2-7]{16}_[a-z2-7]{52}
//
// The store keeps only "hmac-sha256$" and the base64url HMAC-SHA256 of the
// ID and secret, keyed with a key derived from the provider's global
// secret. The secret has 256 bits of entropy, so no slow password hash is
// needed (guessing is hopeless anyway); the key makes a stolen table
// useless without the global secret too. See docs/tokens-and-hashing.md.
package apikey

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"strings"
)

// Prefix starts every key.
const Prefix = "gatehouse_ak_"

// The lengths of a key's parts, in characters.
const (
	IDLength     = 16
	SecretLength = 52
	// Length is the length of a whole key.
	Length = len(Prefix) + IDLength + 1 + SecretLength
)

// encoding is lower-case base32 without padding.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrMalformed is returned by [Parse] for a string that is not a key.
var ErrMalformed = errors.New("apikey: not a Gatehouse API key (gatehouse_ak_<16 characters>_<52 characters>, a-z and 2-7)")

// NewID returns a new random key ID.
func NewID() string { return random(10) }

// NewSecret returns a new random secret.
func NewSecret() string { return random(32) }

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return encoding.EncodeToString(b)
}

// Format returns the key of id and secret.
func Format(id, secret string) string { return Prefix + id + "_" + secret }

// Parse splits a key into its ID and secret. Anything but a key of
// exactly the right form is [ErrMalformed]: no trimming, no other case.
func Parse(key string) (id, secret string, err error) {
	rest, ok := strings.CutPrefix(key, Prefix)
	if !ok || len(key) != Length || rest[IDLength] != '_' {
		return "", "", ErrMalformed
	}
	id, secret = rest[:IDLength], rest[IDLength+1:]
	if !ValidID(id) || !isBase32(secret) {
		return "", "", ErrMalformed
	}
	return id, secret, nil
}

// ValidID reports whether id has the form of a key ID.
func ValidID(id string) bool { return len(id) == IDLength && isBase32(id) }

func isBase32(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

const hashPrefix = "hmac-sha256$"

// Hasher hashes key secrets under keys derived from the provider's global
// secrets. It is safe for concurrent use.
type Hasher struct {
	keys [][]byte // the first hashes; all verify
}

// NewHasher returns a Hasher whose keys are derived from secrets: the
// first (the current global secret) hashes new keys, and every one
// verifies, so that keys made before a rotation of the global secret keep
// working while it is still listed.
func NewHasher(secrets [][]byte) *Hasher {
	h := &Hasher{}
	for _, s := range secrets {
		m := hmac.New(sha256.New, s)
		m.Write([]byte("gatehouse api key hash v1"))
		h.keys = append(h.keys, m.Sum(nil))
	}
	return h
}

func mac(key []byte, id, secret string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Hash returns the stored form of a key's secret: "hmac-sha256$" and the
// base64url HMAC-SHA256 of id and secret.
func (h *Hasher) Hash(id, secret string) string {
	return hashPrefix + base64.RawURLEncoding.EncodeToString(mac(h.keys[0], id, secret))
}

// Verify reports whether secret is the secret of key id stored as hash.
// The comparison is constant-time in the secret.
func (h *Hasher) Verify(hash, id, secret string) bool {
	enc, ok := strings.CutPrefix(hash, hashPrefix)
	if !ok {
		return false
	}
	want, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	match := 0
	for _, k := range h.keys {
		match |= subtle.ConstantTimeCompare(mac(k, id, secret), want)
	}
	return match == 1
}

// Generation names one secret of a key, for the grants made with it: a
// digest of its hash, which changes when the key is rotated and tells
// nothing of the secret.
func Generation(hash string) string {
	if g, ok := strings.CutPrefix(hash, retiredPrefix); ok {
		return g
	}
	sum := sha256.Sum256([]byte(hash))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// retiredPrefix starts the stored hash of a key being deleted.
const retiredPrefix = "retired$"

// Retire returns what a key being deleted stores instead of its hash:
// it verifies no secret (Verify knows only "hmac-sha256$"), nothing
// rotates it (see IsRetired), and its Generation is that of hash, so
// the grants made with the key's last secret are still found. Retiring a
// retired hash keeps it.
func Retire(hash string) string {
	if IsRetired(hash) {
		return hash
	}
	return retiredPrefix + Generation(hash)
}

// IsRetired reports whether hash is a retired key's (see Retire).
func IsRetired(hash string) bool { return strings.HasPrefix(hash, retiredPrefix) }
