package provider

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// BenchmarkAuditTokenEvent measures what the audit trail adds to one
// token request, alone: the request ID (traced), the event (auditTokens'
// fields and details, with the address the token endpoint resolved;
// newEvent, queueEvent), the queue, and the background writer's
// share (the memory store's append; the default Auditor, at Info, skips
// token.issued), up to the writer having written every event.
func BenchmarkAuditTokenEvent(b *testing.B) {
	p, err := New(Config{Issuer: "http://127.0.0.1:9", Store: memory.New(), Authenticator: UserAuthenticatorFunc(func(context.Context, string, string) (User, error) {
		return User{}, ErrInvalidCredentials
	}), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9/oauth2/token", nil)
	rec := httptest.NewRecorder()
	grant := "0c6b5b0e-6f0e-4a5e-9d7c-6d1b3c1e2f3a"
	h := p.traced(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		p.audit(r.Context(), storage.AuditEvent{
			Type: AuditTokenIssued, Actor: clientActor("svc"), Target: "grant:" + grant, ClientID: "svc", ClientAddr: "192.0.2.1",
		}, detail("grant", "client_credentials"), detail("grant_id", grant), detail("scopes", "assets:read"))
	}))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for range b.N {
		h.ServeHTTP(rec, req)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	// The writer runs beside the requests: its share shows in the
	// process's CPU time, not in the wall-clock time per request.
	b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
}
