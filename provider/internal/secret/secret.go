// Package secret generates client secrets and hashes and verifies them.
//
// Two hash formats are used, chosen by the secret's origin (see
// docs/tokens-and-hashing.md for the reasoning):
//
//   - "sha256$<base64url>": for secrets this package generated, 256 bits from
//     crypto/rand. Brute force over 2^256 is out of reach, so a slow hash adds
//     nothing but latency to every client_credentials request; a single
//     SHA-256 and a constant-time compare is enough.
//   - bcrypt ("$2a$..."): for any secret a host supplies, whose entropy we
//     cannot know. To keep a bcrypt cost off the hot path, a successful
//     verification is remembered in a small in-process cache as the SHA-256 of
//     the secret, keyed by the stored hash; a later request with the same
//     secret is checked against that digest in constant time. A wrong secret
//     always pays the full bcrypt cost.
package secret

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// MinLength is the shortest host-supplied secret accepted, in bytes.
const MinLength = 12

// BcryptCost is the bcrypt cost used for host-supplied secrets.
const BcryptCost = 10

// ErrMismatch is returned when a secret does not match its hash.
var ErrMismatch = errors.New("secret: does not match")

const sha256Prefix = "sha256$"

// Generate returns a new secret of 256 bits from crypto/rand, base64url
// encoded (43 characters), and its hash.
func Generate() (plain, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	plain = base64.RawURLEncoding.EncodeToString(b)
	return plain, hashFast(plain)
}

func hashFast(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return sha256Prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// HashSupplied hashes a secret a host chose, with bcrypt. It refuses secrets
// shorter than [MinLength] or longer than bcrypt's 72-byte limit.
func HashSupplied(plain string) (string, error) {
	if len(plain) < MinLength {
		return "", errors.New("secret: a client secret must be at least 12 bytes; better, let Gatehouse generate one")
	}
	if len(plain) > 72 {
		return "", errors.New("secret: a supplied client secret must be at most 72 bytes")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(plain), BcryptCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// Hasher verifies secrets against either format and caches successful
// bcrypt verifications. It implements fosite.Hasher. The zero value is not
// usable; call [NewHasher]. A Hasher is safe for concurrent use.
type Hasher struct {
	mu    sync.Mutex
	cache map[string][sha256.Size]byte
	max   int
}

// NewHasher returns a Hasher whose cache holds at most maxEntries verified
// bcrypt secrets (0 means 10000).
func NewHasher(maxEntries int) *Hasher {
	if maxEntries <= 0 {
		maxEntries = 10000
	}
	return &Hasher{cache: make(map[string][sha256.Size]byte), max: maxEntries}
}

// Hash hashes data as a supplied secret (bcrypt). fosite calls it only in
// flows Gatehouse does not use; the provider hashes through [Generate] and
// [HashSupplied].
func (h *Hasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	s, err := HashSupplied(string(data))
	return []byte(s), err
}

// Compare returns nil if data is the secret hashed in hash, [ErrMismatch]
// otherwise. The comparison is constant-time in the secret.
func (h *Hasher) Compare(_ context.Context, hash, data []byte) error {
	stored := string(hash)
	if strings.HasPrefix(stored, sha256Prefix) {
		if subtle.ConstantTimeCompare([]byte(hashFast(string(data))), hash) == 1 {
			return nil
		}
		return ErrMismatch
	}
	digest := sha256.Sum256(data)
	h.mu.Lock()
	cached, ok := h.cache[stored]
	h.mu.Unlock()
	if ok && subtle.ConstantTimeCompare(cached[:], digest[:]) == 1 {
		return nil
	}
	if err := bcrypt.CompareHashAndPassword(hash, data); err != nil {
		return ErrMismatch
	}
	h.mu.Lock()
	if len(h.cache) >= h.max {
		for k := range h.cache { // evict an arbitrary entry
			delete(h.cache, k)
			break
		}
	}
	h.cache[stored] = digest
	h.mu.Unlock()
	return nil
}

// Token returns a random URL-safe string of 256 bits, for cookies, flow
// handles and CSRF tokens.
func Token() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Digest returns the SHA-256 of a high-entropy value such as [Token]'s, for
// storing a lookup key that is not itself the value.
func Digest(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// Equal compares two strings in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
