package secret

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGeneratedSecret(t *testing.T) {
	plain, hash := Generate()
	assert.Len(t, plain, 43, "256 bits, base64url")
	assert.True(t, strings.HasPrefix(hash, "sha256$"))
	assert.NotContains(t, hash, plain)
	h := NewHasher(0, 1)
	ctx := context.Background()
	assert.NoError(t, h.Compare(ctx, []byte(hash), []byte(plain)))
	assert.ErrorIs(t, h.Compare(ctx, []byte(hash), []byte(plain[:42])), ErrMismatch)
	assert.ErrorIs(t, h.Compare(ctx, []byte(hash), nil), ErrMismatch)
	other, _ := Generate()
	assert.NotEqual(t, plain, other)
}

func TestSuppliedSecret(t *testing.T) {
	_, err := HashSupplied("short")
	assert.Error(t, err, "under 12 bytes is refused")
	_, err = HashSupplied(strings.Repeat("x", 73))
	assert.Error(t, err, "over bcrypt's 72 bytes is refused")

	hash, err := HashSupplied("demo-service-secret")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(hash, "$2a$"))
	h := NewHasher(2, 1)
	ctx := context.Background()
	assert.NoError(t, h.Compare(ctx, []byte(hash), []byte("demo-service-secret")))
	// Cached now: the same secret again, and a wrong one still fails.
	assert.NoError(t, h.Compare(ctx, []byte(hash), []byte("demo-service-secret")))
	assert.ErrorIs(t, h.Compare(ctx, []byte(hash), []byte("demo-service-secreT")), ErrMismatch)
	assert.ErrorIs(t, h.Compare(ctx, []byte(hash), []byte("")), ErrMismatch)
}

func TestHasherCacheIsBoundedAndConcurrent(t *testing.T) {
	h := NewHasher(3, 2)
	ctx := context.Background()
	var hashes []string
	for i := range 5 {
		hs, err := HashSupplied("supplied-secret-" + string(rune('a'+i)))
		require.NoError(t, err)
		hashes = append(hashes, hs)
	}
	var wg sync.WaitGroup
	for i, hs := range hashes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, h.Compare(ctx, []byte(hs), []byte("supplied-secret-"+string(rune('a'+i)))))
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, len(h.cache), 3)
}

func TestTokenAndDigest(t *testing.T) {
	a, b := Token(), Token()
	assert.Len(t, a, 43)
	assert.NotEqual(t, a, b)
	assert.Equal(t, Digest(a), Digest(a))
	assert.NotEqual(t, Digest(a), Digest(b))
	assert.True(t, Equal(a, a))
	assert.False(t, Equal(a, b))
}

func BenchmarkCompareGenerated(b *testing.B) {
	plain, hash := Generate()
	h := NewHasher(0, 1)
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Compare(context.Background(), []byte(hash), []byte(plain))
	}
}

func BenchmarkCompareSuppliedCached(b *testing.B) {
	hash, _ := HashSupplied("demo-service-secret")
	h := NewHasher(0, 1)
	b.ReportAllocs()
	for b.Loop() {
		_ = h.Compare(context.Background(), []byte(hash), []byte("demo-service-secret"))
	}
}

// MatchesCheaply answers only what it can without bcrypt: a generated
// secret, or a supplied one verified before. A wrong secret, or a right
// one not yet verified, is not a cheap match.
func TestMatchesCheaply(t *testing.T) {
	h := NewHasher(0, 1)
	ctx := context.Background()
	gen, genHash := Generate()
	sup := "supplied-secret-x"
	supHash, err := HashSupplied(sup)
	require.NoError(t, err)

	assert.True(t, h.MatchesCheaply([]byte(gen), []byte(genHash)))
	assert.True(t, h.MatchesCheaply([]byte(gen), []byte(supHash), []byte(genHash)), "any of the hashes")
	assert.False(t, h.MatchesCheaply([]byte(gen[:42]), []byte(genHash)))
	assert.False(t, h.MatchesCheaply([]byte(gen), nil))
	assert.False(t, h.MatchesCheaply([]byte(gen)))

	assert.False(t, h.MatchesCheaply([]byte(sup), []byte(supHash)), "not verified yet")
	assert.Zero(t, h.BcryptRuns(), "MatchesCheaply never runs bcrypt")
	require.NoError(t, h.Compare(ctx, []byte(supHash), []byte(sup)))
	assert.Equal(t, int64(1), h.BcryptRuns())
	assert.True(t, h.MatchesCheaply([]byte(sup), []byte(supHash)), "verified before: cached")
	assert.False(t, h.MatchesCheaply([]byte(sup+"y"), []byte(supHash)))
	require.NoError(t, h.Compare(ctx, []byte(supHash), []byte(sup)))
	assert.Equal(t, int64(1), h.BcryptRuns(), "the cache answered")
	assert.ErrorIs(t, h.Compare(ctx, []byte(supHash), []byte(sup+"y")), ErrMismatch)
	assert.Equal(t, int64(2), h.BcryptRuns(), "a wrong secret pays bcrypt")
}

// Guessing a supplied secret cannot take every core: with a concurrency of
// 1, ten concurrent comparisons run bcrypt one at a time. The comparison is
// instrumented (it blocks until released) and synctest tells when every
// goroutine is blocked, so the count in flight is exact, not timed.
func TestHasherCapsConcurrentBcrypt(t *testing.T) {
	for _, limit := range []int{1, 3} {
		synctest.Test(t, func(t *testing.T) {
			h := NewHasher(0, limit)
			release := make(chan struct{})
			var inFlight, most atomic.Int64
			h.bcryptCompare = func(hash, password []byte) error {
				n := inFlight.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				<-release
				inFlight.Add(-1)
				return errors.New("mismatch")
			}
			const n = 10
			errs := make(chan error, n)
			for range n {
				go func() { errs <- h.Compare(context.Background(), []byte("$2a$10$whatever"), []byte("guess")) }()
			}
			for done := 0; done < n; done++ {
				synctest.Wait() // every goroutine is in bcrypt or waiting for a slot
				assert.Equal(t, int64(min(limit, n-done)), inFlight.Load(), "after %d done", done)
				release <- struct{}{}
				assert.ErrorIs(t, <-errs, ErrMismatch)
			}
			assert.Equal(t, int64(limit), most.Load(), "never more than the cap at once")
			assert.Equal(t, int64(n), h.BcryptRuns())
		})
	}
}

// Waiting for a slot honours the request's context: a caller that gives up
// gets its context's error and runs no bcrypt.
func TestHasherWaitHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := NewHasher(0, 1)
		release := make(chan struct{})
		h.bcryptCompare = func(hash, password []byte) error { <-release; return nil }
		first := make(chan error, 1)
		go func() { first <- h.Compare(context.Background(), []byte("$2a$10$a"), []byte("secret-one")) }()
		synctest.Wait() // the first holds the only slot

		ctx, cancel := context.WithCancel(context.Background())
		second := make(chan error, 1)
		go func() { second <- h.Compare(ctx, []byte("$2a$10$b"), []byte("secret-two")) }()
		synctest.Wait()
		assert.Equal(t, int64(1), h.BcryptRuns(), "the second waits")
		cancel()
		assert.ErrorIs(t, <-second, context.Canceled)
		assert.Equal(t, int64(1), h.BcryptRuns(), "the second never ran bcrypt")

		close(release)
		assert.NoError(t, <-first)
		// The slot is free again.
		assert.NoError(t, h.Compare(context.Background(), []byte("$2a$10$c"), []byte("secret-three")))
	})
}

// BenchmarkMatchesCheaply is the check the provider adds in front of
// fosite's for a generated secret.
func BenchmarkMatchesCheaply(b *testing.B) {
	plain, hash := Generate()
	h := NewHasher(0, 1)
	b.ReportAllocs()
	for b.Loop() {
		if !h.MatchesCheaply([]byte(plain), []byte(hash)) {
			b.Fatal("no match")
		}
	}
}
