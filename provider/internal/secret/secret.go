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
//     always pays the full bcrypt cost, but only a few bcrypt comparisons run
//     at once ([NewHasher]), so guessing cannot take every core; the provider
//     also counts the failures that reach bcrypt ([Hasher.MatchesCheaply]
//     tells it which requests never do).
package secret

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
)

// MinLength is the shortest host-supplied secret accepted, in bytes.
const MinLength = 12

// BcryptCost is the bcrypt cost used for host-supplied secrets.
const BcryptCost = 10

// ErrMismatch is returned when a secret does not match its hash.
var ErrMismatch = errors.New("secret: does not match")

const sha256Prefix = "sha256$"

// sha256Encoded is the length of a base64url-encoded SHA-256.
const sha256Encoded = 43

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

	// slots caps the bcrypt comparisons running at once: a comparison
	// holds one for its length.
	slots chan struct{}
	// bcryptCompare is bcrypt.CompareHashAndPassword; tests instrument it.
	bcryptCompare func(hash, password []byte) error
	runs          atomic.Int64
}

// NewHasher returns a Hasher whose cache holds at most maxEntries verified
// bcrypt secrets (0 means 10000) and which runs at most concurrency bcrypt
// comparisons at once (0 or less means 1).
func NewHasher(maxEntries, concurrency int) *Hasher {
	if maxEntries <= 0 {
		maxEntries = 10000
	}
	return &Hasher{
		cache:         make(map[string][sha256.Size]byte),
		max:           maxEntries,
		slots:         make(chan struct{}, max(concurrency, 1)),
		bcryptCompare: bcrypt.CompareHashAndPassword,
	}
}

// Hash hashes data as a supplied secret (bcrypt). fosite calls it only in
// flows Gatehouse does not use; the provider hashes through [Generate] and
// [HashSupplied].
func (h *Hasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	s, err := HashSupplied(string(data))
	return []byte(s), err
}

// Compare returns nil if data is the secret hashed in hash, [ErrMismatch]
// otherwise. The comparison is constant-time in the secret. A bcrypt
// comparison that is not answered by the cache waits for one of the
// Hasher's slots (see [NewHasher]); if ctx ends first, Compare returns
// ctx's error and runs no bcrypt.
func (h *Hasher) Compare(ctx context.Context, hash, data []byte) error {
	digest := sha256.Sum256(data)
	switch h.cheap(hash, &digest) {
	case matched:
		return nil
	case mismatched:
		return ErrMismatch
	}
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	h.runs.Add(1)
	err := h.bcryptCompare(hash, data)
	<-h.slots
	if err != nil {
		return ErrMismatch
	}
	h.mu.Lock()
	if _, ok := h.cache[string(hash)]; !ok && len(h.cache) >= h.max {
		for k := range h.cache { // evict an arbitrary entry
			delete(h.cache, k)
			break
		}
	}
	h.cache[string(hash)] = digest
	h.mu.Unlock()
	return nil
}

// MatchesCheaply reports whether data is the secret of one of hashes
// without running bcrypt: a "sha256$" hash that matches, or a bcrypt hash
// that this Hasher verified data against before. A false result says
// nothing: the secret may still match a bcrypt hash. The comparisons are
// constant-time in the secret; the cost is one SHA-256 of data and one
// compare per hash.
func (h *Hasher) MatchesCheaply(data []byte, hashes ...[]byte) bool {
	digest := sha256.Sum256(data)
	for _, hash := range hashes {
		if h.cheap(hash, &digest) == matched {
			return true
		}
	}
	return false
}

// BcryptRuns returns how many bcrypt comparisons the Hasher has run.
func (h *Hasher) BcryptRuns() int64 { return h.runs.Load() }

// verdict is what a check without bcrypt found.
type verdict int

const (
	undecided  verdict = iota // a bcrypt hash not answered by the cache
	matched                   // the secret matches
	mismatched                // a "sha256$" hash that does not match
)

// cheap checks the secret whose SHA-256 is digest against hash without
// running bcrypt.
func (h *Hasher) cheap(hash []byte, digest *[sha256.Size]byte) verdict {
	if enc, ok := bytes.CutPrefix(hash, []byte(sha256Prefix)); ok {
		var want [sha256Encoded]byte
		base64.RawURLEncoding.Encode(want[:], digest[:])
		if subtle.ConstantTimeCompare(want[:], enc) == 1 {
			return matched
		}
		return mismatched
	}
	h.mu.Lock()
	cached, ok := h.cache[string(hash)]
	h.mu.Unlock()
	if ok && subtle.ConstantTimeCompare(cached[:], digest[:]) == 1 {
		return matched
	}
	return undecided
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
