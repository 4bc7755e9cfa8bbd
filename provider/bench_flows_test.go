package provider_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// benchStores are the stores the endpoint benchmarks run on: memory, and
// PostgreSQL when GATEHOUSE_TEST_POSTGRES_DSN is set (skipped, saying so,
// when it is not).
var benchStores = []struct {
	name string
	open func(b *testing.B) storage.Store
}{
	{"memory", func(*testing.B) storage.Store { return memory.New() }},
	{"postgres", func(b *testing.B) storage.Store { s, _, _ := pgtest.Store(b); return s }},
}

// BenchmarkCodeFlow runs the whole authorization-code flow with PKCE as a
// browser and a client would, over loopback HTTP: authorize, the login
// page, the consent page (first time only: consent is remembered), the
// redirect back, and the code exchange (access, refresh and ID token). It
// reports flows per second.
func BenchmarkCodeFlow(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			// Every flow here comes from one address; lift the per-address limit.
			e := newEnvOn(b, st.open(b), func(c *provider.Config) { c.FlowLimits.PerAddress = -1 })
			e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read") // consent once
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "flows/s")
		})
	}
}

// BenchmarkRefresh measures a refresh-token grant (rotation: the old
// refresh token and its access token are retired, a new pair stored).
func BenchmarkRefresh(b *testing.B) {
	for _, st := range benchStores {
		b.Run(st.name, func(b *testing.B) {
			e := newEnvOn(b, st.open(b))
			tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")
			h := e.p.Handler()
			refresh := tok.RefreshToken
			b.ReportAllocs()
			for b.Loop() {
				rec := serve(h, e.issuer+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}, e.web.ID, e.webSecret)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				refresh = benchField(b, rec, "refresh_token")
			}
		})
	}
}

// BenchmarkRevoke measures revoking a live access token (one issued per
// iteration, outside the timing).
func BenchmarkRevoke(b *testing.B) {
	e := newEnv(b)
	h := e.p.Handler()
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		tok := benchField(b, serve(h, e.issuer+"/oauth2/token", cc, e.svc.ID, e.svcSecret), "access_token")
		b.StartTimer()
		rec := serve(h, e.issuer+"/oauth2/revoke", url.Values{"token": {tok}}, e.svc.ID, e.svcSecret)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkUserinfo measures the userinfo endpoint with a user's access
// token.
func BenchmarkUserinfo(b *testing.B) {
	e := newEnv(b)
	tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "profile", "email", "groups")
	h := e.p.Handler()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkPublicDocuments measures the discovery document and the JWKS.
func BenchmarkPublicDocuments(b *testing.B) {
	e := newEnv(b)
	h := e.p.Handler()
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		b.Run(strings.Trim(path, "/"), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, e.issuer+path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkClientCredentialsJWT is BenchmarkClientCredentials with RFC 9068
// JWT access tokens (an ES256 signature per token).
func BenchmarkClientCredentialsJWT(b *testing.B) {
	e := newEnv(b, func(c *provider.Config) { c.JWTAccessTokens = true })
	benchClientCredentials(b, e, e.svc.ID, e.svcSecret)
}

// serve posts form to url through h, authenticated with Basic id:secret.
func serve(h http.Handler, target string, form url.Values, id, secret string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// benchField is the string field name of rec's JSON body.
func benchField(b *testing.B, rec *httptest.ResponseRecorder, name string) string {
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		b.Fatalf("decode %s: %v", rec.Body, err)
	}
	s, _ := m[name].(string)
	if s == "" {
		b.Fatalf("no %s in %s", name, rec.Body)
	}
	return s
}
