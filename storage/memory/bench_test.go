package memory_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// The benchmarks measure the record operations of the store (each a lock,
// a map operation and the deep copies in or out) on records shaped like the
// provider's, so that a change to how records are kept shows in allocs/op.

func benchClient(id string) storage.Client {
	return storage.Client{
		ID:            id,
		Name:          "Client " + id,
		Secrets:       []storage.SecretHash{{Hash: "sha256$" + id, CreatedAt: time.Unix(1, 0)}},
		RedirectURIs:  []string{"https://app.example.com/cb"},
		GrantTypes:    []string{"authorization_code", "refresh_token", "client_credentials"},
		ResponseTypes: []string{"code"},
		Scopes:        []string{"openid", "offline_access", "assets:read"},
		Audience:      []string{"https://api.example.com"},
	}
}

func BenchmarkClients(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	for i := range 100 {
		if err := s.CreateClient(ctx, benchClient(fmt.Sprint("c", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetClient(ctx, "c42"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Update", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.UpdateClient(ctx, "c42", func(c storage.Client) (storage.Client, error) {
				c.Name = "renamed"
				return c, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CreateDelete", func(b *testing.B) {
		c := benchClient("new")
		b.ReportAllocs()
		for b.Loop() {
			if err := s.CreateClient(ctx, c); err != nil {
				b.Fatal(err)
			}
			if err := s.DeleteClient(ctx, "new"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("List", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.ListClients(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetMissing", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetClient(ctx, "missing"); err == nil {
				b.Fatal("found a missing client")
			}
		}
	})
}

func BenchmarkAuthFlows(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	flow := storage.AuthFlow{
		ID: "f", Query: "response_type=code&client_id=c", ClientID: "c", Subject: "alice",
		AMR: []string{"pwd"}, Done: []string{"login"}, Data: map[string]string{"tenant": "acme"}, CSRF: "csrf",
	}
	if err := s.CreateAuthFlow(ctx, flow); err != nil {
		b.Fatal(err)
	}
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetAuthFlow(ctx, "f"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Update", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := s.UpdateAuthFlow(ctx, "f", func(f storage.AuthFlow) (storage.AuthFlow, error) {
				f.Subject = "bob"
				return f, nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMFAUpdate(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	if err := s.CreateMFA(ctx, storage.MFARecord{Subject: "alice", TOTPSecret: make([]byte, 32), RecoveryCodes: []string{"a", "b"}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.UpdateMFA(ctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
			r.Failures++
			return r, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoginSessions(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	ls := storage.LoginSession{ID: "ls", Subject: "alice", AMR: []string{"pwd"}, Claims: []byte(`{"sub":"alice"}`)}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.CreateLoginSession(ctx, ls); err != nil {
			b.Fatal(err)
		}
		if _, err := s.GetLoginSession(ctx, "ls"); err != nil {
			b.Fatal(err)
		}
		if err := s.DeleteLoginSession(ctx, "ls"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSigningKeys(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	for i := range 4 {
		if err := s.CreateSigningKey(ctx, storage.SigningKey{ID: fmt.Sprint("k", i), PrivateKey: make([]byte, 138), CreatedAt: time.Unix(int64(i), 0)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ListSigningKeys(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSweepUnderLoad sweeps a store of 500,000 access tokens, half of
// them expired, while 16 goroutines create and read tokens as fast as they
// can (a busy token endpoint). It reports how long the sweep took
// (sweep-ms) and the longest any one of those calls took meanwhile
// (worst-call-µs): a sweep that holds the lock long stalls the calls, one
// that lets go of it too often is itself stalled behind them, and the
// expired tokens stay in memory the while. The "none" variant waits as
// long without sweeping: its worst call is what the calls suffer anyway
// (the garbage collector, the scheduler).
//
//	go test -run '^$' -bench SweepUnderLoad -benchtime 3x ./storage/memory
func BenchmarkSweepUnderLoad(b *testing.B) {
	for _, sweep := range []bool{true, false} {
		name := "sweep"
		if !sweep {
			name = "none"
		}
		b.Run(name, func(b *testing.B) { sweepUnderLoad(b, sweep) })
	}
}

func sweepUnderLoad(b *testing.B, sweep bool) {
	const tokens, workers = 500_000, 16
	now := time.Now()
	mk := func(i int, expired bool) storage.Token {
		exp := now.Add(time.Hour)
		if expired {
			exp = now.Add(-time.Minute)
		}
		return storage.Token{
			Signature: fmt.Sprintf("%043d", i), Kind: storage.KindAccessToken, ExpiresAt: exp, CreatedAt: now, Active: true,
			Request: storage.Request{ID: fmt.Sprintf("%08d-2c3e-460a-9cd6-62482e6156fe", i), RequestedAt: now, ClientID: "svc",
				RequestedScopes: []string{"assets:read"}, GrantedScopes: []string{"assets:read"},
				Session: []byte(`{"exp":{"access_token":1796232711958900566},"idt":{},"ip":"192.0.2.1"}`)},
		}
	}
	var total, worst time.Duration
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		ctx := b.Context()
		s := memory.New()
		for i := range tokens {
			if err := s.CreateToken(ctx, mk(i, i%2 == 0)); err != nil {
				b.Fatal(err)
			}
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var longest time.Duration
		for w := range workers {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					t := mk(tokens*(2+n)+w*10_000_000+i, false)
					start := time.Now()
					if err := s.CreateToken(ctx, t); err != nil {
						b.Error(err)
						return
					}
					if _, err := s.GetToken(ctx, t.Kind, t.Signature); err != nil {
						b.Error(err)
						return
					}
					d := time.Since(start)
					mu.Lock()
					longest = max(longest, d)
					mu.Unlock()
				}
			})
		}
		time.Sleep(50 * time.Millisecond) // the workers at full speed
		mu.Lock()
		longest = 0
		mu.Unlock()
		b.StartTimer()
		start := time.Now()
		if sweep {
			deleted, err := s.DeleteExpired(ctx, now)
			if err != nil || deleted < tokens/2 {
				b.Fatalf("deleted %d, %v", deleted, err)
			}
		} else {
			time.Sleep(250 * time.Millisecond)
		}
		took := time.Since(start)
		b.StopTimer()
		close(stop)
		wg.Wait()
		total += took
		mu.Lock()
		worst = max(worst, longest)
		mu.Unlock()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "sweep-ms")
	b.ReportMetric(float64(worst.Microseconds()), "worst-call-µs")
}
