package provider_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkClientCredentials measures a client_credentials token request
// through the real handler (no network).
func BenchmarkClientCredentials(b *testing.B) {
	e := newEnv(b)
	h := e.p.Handler()
	body := url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}.Encode()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, e.issuer+"/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(e.svc.ID, e.svcSecret)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkIntrospect measures introspection of a live opaque token.
func BenchmarkIntrospect(b *testing.B) {
	e := newEnv(b)
	h := e.p.Handler()
	_, tok, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, e.svc.ID, e.svcSecret)
	body := url.Values{"token": {tok["access_token"].(string)}}.Encode()
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
