package memory

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// maxBytesPerAccessToken is the most heap one live opaque access token may
// hold in the memory store (docs/performance.md): issue 18's target is 600
// bytes; the store takes about 300, and the bound keeps what was won.
const maxBytesPerAccessToken = 360

// ccAccessToken is an access token as the provider stores one for a
// client_credentials request (scope assets:read, client "svc"): the same
// fields, the same sizes.
func ccAccessToken(i int, now time.Time) storage.Token {
	return storage.Token{
		Signature: fmt.Sprintf("%043d", i), // an HMAC-SHA256 signature, base64url: 43 characters
		Kind:      storage.KindAccessToken,
		Request: storage.Request{
			ID:              fmt.Sprintf("%08d-2c3e-460a-9cd6-62482e6156fe", i),
			RequestedAt:     now,
			ClientID:        "svc",
			RequestedScopes: []string{"assets:read"},
			GrantedScopes:   []string{"assets:read"},
			Form:            map[string][]string{"grant_type": {"client_credentials"}, "scope": {"assets:read"}},
			Session:         []byte(`{"exp":{"access_token":1796232711958900566},"idt":{},"ip":"192.0.2.1"}`),
		},
		ExpiresAt: now.Add(time.Hour),
		CreatedAt: now,
		Active:    true,
	}
}

// TestAccessTokenFootprint creates 100,000 live access tokens and checks
// the heap they hold, as runtime.MemStats counts it, stays within
// maxBytesPerAccessToken each.
func TestAccessTokenFootprint(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := New()
	checkFootprint(t, "live access token", maxBytesPerAccessToken, func(i int) error {
		return s.CreateToken(ctx, ccAccessToken(i, now))
	})
	runtime.KeepAlive(s)
}

// checkFootprint stores 100,000 records with add(i) and checks the heap
// they hold each, as runtime.MemStats counts it, is at most limit. The
// caller keeps its store alive past the call.
func checkFootprint(t *testing.T, what string, limit int64, add func(i int) error) {
	t.Helper()
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		if err := add(i); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d bytes of heap per %s", per, what)
	if per > limit {
		t.Errorf("%d bytes of heap per %s; at most %d", per, what, limit)
	}
}

// BenchmarkTokens measures the token hot paths as the provider's token and
// introspection endpoints use them: a client_credentials access token
// created (made by ccAccessToken, whose Sprintf and maps count in), then
// read back, in a store that holds 100,000 others.
func BenchmarkTokens(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	s := New()
	const held = 100_000
	for i := range held {
		if err := s.CreateToken(ctx, ccAccessToken(i, now)); err != nil {
			b.Fatal(err)
		}
	}
	next := held // the next new token's number, across the runs of create
	b.Run("create", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			next++
			if err := s.CreateToken(ctx, ccAccessToken(next, now)); err != nil {
				b.Fatal(err)
			}
		}
	})
	sigs := make([]string, 1024)
	for i := range sigs {
		sigs[i] = ccAccessToken(i*97%held, now).Signature
	}
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.GetToken(ctx, storage.KindAccessToken, sigs[i%len(sigs)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
