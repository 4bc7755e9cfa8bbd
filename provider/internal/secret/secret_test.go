package secret

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGeneratedSecret(t *testing.T) {
	plain, hash := Generate()
	assert.Len(t, plain, 43, "256 bits, base64url")
	assert.True(t, strings.HasPrefix(hash, "sha256$"))
	assert.NotContains(t, hash, plain)
	h := NewHasher(0)
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
	h := NewHasher(2)
	ctx := context.Background()
	assert.NoError(t, h.Compare(ctx, []byte(hash), []byte("demo-service-secret")))
	// Cached now: the same secret again, and a wrong one still fails.
	assert.NoError(t, h.Compare(ctx, []byte(hash), []byte("demo-service-secret")))
	assert.ErrorIs(t, h.Compare(ctx, []byte(hash), []byte("demo-service-secreT")), ErrMismatch)
	assert.ErrorIs(t, h.Compare(ctx, []byte(hash), []byte("")), ErrMismatch)
}

func TestHasherCacheIsBoundedAndConcurrent(t *testing.T) {
	h := NewHasher(3)
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
	h := NewHasher(0)
	for b.Loop() {
		_ = h.Compare(context.Background(), []byte(hash), []byte(plain))
	}
}

func BenchmarkCompareSuppliedCached(b *testing.B) {
	hash, _ := HashSupplied("demo-service-secret")
	h := NewHasher(0)
	for b.Loop() {
		_ = h.Compare(context.Background(), []byte(hash), []byte("demo-service-secret"))
	}
}
