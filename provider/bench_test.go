package provider_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// BenchmarkClientCredentials measures a client_credentials token request
// through the real handler (no network), with a generated secret (the
// secret check is one SHA-256 and never touches the client-authentication
// throttle) and with a host-chosen bcrypt secret verified once before (a
// cache hit, likewise), on the memory store and, when
// GATEHOUSE_TEST_POSTGRES_DSN is set, on PostgreSQL, where an extra store
// round trip on this path would show.
func BenchmarkClientCredentials(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) storage.Store
	}{
		{"memory", func(*testing.B) storage.Store { return memory.New() }},
		{"postgres", func(b *testing.B) storage.Store { s, _, _ := pgtest.Store(b); return s }},
	}
	for _, st := range stores {
		b.Run(st.name+"/generated", func(b *testing.B) {
			e := newEnvOn(b, st.open(b))
			benchClientCredentials(b, e, e.svc.ID, e.svcSecret)
		})
		b.Run(st.name+"/supplied-cached", func(b *testing.B) {
			e := newEnvOn(b, st.open(b))
			const plain = "bench-supplied-secret"
			c, err := e.p.CreateClientWithSecret(context.Background(), storage.Client{
				ID: "bsvc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"},
			}, plain)
			if err != nil {
				b.Fatal(err)
			}
			benchClientCredentials(b, e, c.ID, plain)
		})
	}
}

func benchClientCredentials(b *testing.B, e *env, id, secret string) {
	h := e.p.Handler()
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}.Encode()
	do := func() {
		req := httptest.NewRequest(http.MethodPost, e.issuer+"/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	do() // a supplied secret is verified with bcrypt once, then cached
	b.ReportAllocs()
	for b.Loop() {
		do()
	}
}

// BenchmarkIntrospect measures introspection of a live opaque token.
func BenchmarkIntrospect(b *testing.B) {
	e := newEnv(b)
	h := e.p.Handler()
	_, tok, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, e.svc.ID, e.svcSecret)
	body := url.Values{"token": {tok["access_token"].(string)}}.Encode()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, e.issuer+"/oauth2/introspect", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.svc.ID, e.svcSecret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
