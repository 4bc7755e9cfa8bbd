package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// BenchmarkBareFosite measures the bare fosite server's handler in process
// (no network), the same way provider's BenchmarkClientCredentials and
// BenchmarkIntrospect measure Gatehouse's: run both in one go test
// invocation to compare the OAuth work alone, without wrk and sockets.
func BenchmarkBareFosite(b *testing.B) {
	for _, strategy := range []string{"hmac", "jwt"} {
		h, err := newHandler("http://127.0.0.1", "sha256", strategy)
		if err != nil {
			b.Fatal(err)
		}
		token := func() map[string]string {
			req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials&scope=read"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("perf-client", "perf-secret")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("token: status %d: %s", rec.Code, rec.Body)
			}
			return map[string]string{"body": rec.Body.String()}
		}
		b.Run("cc/"+strategy, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				token()
			}
		})
		if strategy != "hmac" {
			continue
		}
		body := token()["body"]
		tok := body[strings.Index(body, `"access_token":"`)+16:]
		tok = tok[:strings.IndexByte(tok, '"')]
		form := url.Values{"token": {tok}}.Encode()
		b.Run("introspect", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/oauth2/introspect", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("perf-client", "perf-secret")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
					b.Fatalf("introspect: status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
