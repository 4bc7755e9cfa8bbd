package memory_test

import (
	"fmt"
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
