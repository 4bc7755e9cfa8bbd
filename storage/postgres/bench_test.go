package postgres_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// The benchmarks run each grant through the real handlers (no network) on
// the memory store and on PostgreSQL, side by side:
//
//	go test -run '^$' -bench . -count 6 ./storage/postgres/ | benchstat -col /store -
func benchStores(b *testing.B) []struct {
	name string
	new  func(b *testing.B) storage.Store
} {
	return []struct {
		name string
		new  func(b *testing.B) storage.Store
	}{
		{"store=memory", func(*testing.B) storage.Store { return memory.New() }},
		{"store=postgres", func(b *testing.B) storage.Store { s, _, _ := pgtest.Store(b); return s }},
	}
}

type benchEnv struct {
	p       *provider.Provider
	h       http.Handler
	issuer  string
	id      string
	secret  string
	cookies []*http.Cookie

	roundTrips *pgtest.RoundTrips // counts the store's round trips, if set
}

func newBenchEnv(b *testing.B, s storage.Store, mutate ...func(*provider.Config)) *benchEnv {
	b.Helper()
	srv := httptest.NewServer(nil)
	b.Cleanup(srv.Close)
	cfg := provider.Config{Issuer: srv.URL, Store: s, Authenticator: users, GlobalSecret: []byte(globalSecret)}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := provider.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	srv.Config.Handler = p.Handler()
	// The provider's queued audit events are written before the store
	// closes (its cleanup, registered before this one, runs after it).
	b.Cleanup(func() {
		if err := p.Shutdown(context.Background()); err != nil {
			b.Error(err)
		}
	})
	c, secret, err := p.CreateClient(context.Background(), storage.Client{
		ID: "bench", GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"},
		RedirectURIs: []string{redirectURI}, Scopes: []string{"openid", "offline_access", "assets:read"},
	})
	if err != nil {
		b.Fatal(err)
	}
	return &benchEnv{p: p, h: p.Handler(), issuer: srv.URL, id: c.ID, secret: secret}
}

func (e *benchEnv) post(b *testing.B, path string, vals url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(vals.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(e.id, e.secret)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
	}
	return rec
}

func BenchmarkClientCredentials(b *testing.B) {
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			e := newBenchEnv(b, st.new(b))
			vals := url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}
			b.ReportAllocs()
			for b.Loop() {
				e.post(b, "/oauth2/token", vals)
			}
		})
	}
}

// BenchmarkRoundTrips reports the round trips to PostgreSQL (statements
// sent alone, COMMITs included, plus pipelined batches) and the commits of
// one request of each grant: where a PostgreSQL request's time goes. The
// stateless/ ones are the same requests with stateless JWT access tokens
// (Config.StatelessAccessTokens).
func BenchmarkRoundTrips(b *testing.B) {
	var rt pgtest.RoundTrips
	e := newBenchEnv(b, pgtest.CountedStore(b, &rt))
	benchRoundTrips(b, e, &rt)
	var srt pgtest.RoundTrips
	se := newBenchEnv(b, pgtest.CountedStore(b, &srt), func(c *provider.Config) { c.JWTAccessTokens, c.StatelessAccessTokens = true, true })
	b.Run("stateless", func(b *testing.B) { benchRoundTrips(b, se, &srt) })
}

func benchRoundTrips(b *testing.B, e *benchEnv, rt *pgtest.RoundTrips) {
	vals := url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}
	b.Run("client_credentials", func(b *testing.B) {
		trips0, commits0 := rt.Counts()
		for b.Loop() {
			e.post(b, "/oauth2/token", vals)
		}
		trips, commits := rt.Counts()
		b.ReportMetric(float64(trips-trips0)/float64(b.N), "roundtrips/op")
		b.ReportMetric(float64(commits-commits0)/float64(b.N), "commits/op")
	})
	b.Run("client_credentials_parallel", func(b *testing.B) {
		// 32 concurrent requests: the token inserts are committed in groups.
		trips0, _ := rt.Counts()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e.post(b, "/oauth2/token", vals)
			}
		})
		trips, _ := rt.Counts()
		b.ReportMetric(float64(trips-trips0)/float64(b.N), "roundtrips/op")
	})
	b.Run("introspect", func(b *testing.B) {
		tok := e.post(b, "/oauth2/token", vals)
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(tok.Body.Bytes(), &body); err != nil {
			b.Fatal(err)
		}
		trips0, commits0 := rt.Counts()
		for b.Loop() {
			e.post(b, "/oauth2/introspect", url.Values{"token": {body.AccessToken}})
		}
		trips, commits := rt.Counts()
		b.ReportMetric(float64(trips-trips0)/float64(b.N), "roundtrips/op")
		b.ReportMetric(float64(commits-commits0)/float64(b.N), "commits/op")
	})
}

// BenchmarkCodeExchange times the token request of the authorization-code
// grant (with PKCE, a refresh token and an ID token); making each code
// (an authorization request in a signed-in browser with remembered consent)
// is not timed.
func BenchmarkCodeExchange(b *testing.B) {
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			benchCodeExchange(b, newBenchEnv(b, st.new(b)))
		})
	}
}

// BenchmarkCodeExchangeRoundTrips is BenchmarkCodeExchange on PostgreSQL,
// reporting the round trips and commits of the timed token request (and of
// the untimed authorization request, which the counts include: divide the
// difference to BenchmarkRoundTrips by hand, or read the figures in
// docs/performance.md).
func BenchmarkCodeExchangeRoundTrips(b *testing.B) {
	var rt pgtest.RoundTrips
	e := newBenchEnv(b, pgtest.CountedStore(b, &rt))
	e.roundTrips = &rt
	benchCodeExchange(b, e)
}

func benchCodeExchange(b *testing.B, e *benchEnv) {
	cfg := e.signIn(b)
	var exchangeTrips, exchangeCommits int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		exchange := e.newCode(b, cfg)
		var trips0, commits0 int64
		if e.roundTrips != nil {
			trips0, commits0 = e.roundTrips.Counts()
		}
		b.StartTimer()
		e.post(b, "/oauth2/token", exchange)
		if e.roundTrips != nil {
			trips, commits := e.roundTrips.Counts()
			exchangeTrips += trips - trips0
			exchangeCommits += commits - commits0
		}
	}
	if e.roundTrips != nil {
		b.ReportMetric(float64(exchangeTrips)/float64(b.N), "roundtrips/op")
		b.ReportMetric(float64(exchangeCommits)/float64(b.N), "commits/op")
	}
}

// signIn signs alice in once in a browser and consents, keeping the
// cookies, so that later authorizations go straight back with a code; it
// returns the client's configuration.
func (e *benchEnv) signIn(b *testing.B) *oauth2.Config {
	cfg := &oauth2.Config{ClientID: e.id, ClientSecret: e.secret, RedirectURL: redirectURI, Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/oauth2/authorize", TokenURL: e.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	browser := flowtest.NewBrowser(b)
	page := flowtest.Follow(b, browser, flowtest.Get(b, browser, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	page = flowtest.Follow(b, browser, flowtest.Submit(b, browser, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	flowtest.Submit(b, browser, page, url.Values{"decision": {"allow"}})
	iu, _ := url.Parse(e.issuer + "/")
	e.cookies = browser.Jar.Cookies(iu)
	return cfg
}

// newCode runs an authorization request in the signed-in browser and
// returns the form of the token request that exchanges its code.
func (e *benchEnv) newCode(b *testing.B, cfg *oauth2.Config) url.Values {
	verifier := oauth2.GenerateVerifier()
	req := httptest.NewRequest(http.MethodGet, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-0123456789")), nil)
	for _, c := range e.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		b.Fatalf("no code: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	return url.Values{
		"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}
}

// BenchmarkCodeExchangeParallel exchanges codes from 32 goroutines at
// once (GOMAXPROCS × 16 on two cores): the codes, made beforehand, are not
// timed. It reports exchanges per second; on PostgreSQL set
// pool_max_conns in GATEHOUSE_TEST_POSTGRES_DSN to serve the concurrency.
// tokens=stateless issues stateless JWT access tokens.
func BenchmarkCodeExchangeParallel(b *testing.B) {
	modes := []struct {
		name   string
		mutate func(*provider.Config)
	}{
		{"tokens=stored", func(*provider.Config) {}},
		{"tokens=stateless", func(c *provider.Config) { c.JWTAccessTokens, c.StatelessAccessTokens = true, true }},
	}
	for _, st := range benchStores(b) {
		for _, m := range modes {
			b.Run(st.name+"/"+m.name, func(b *testing.B) { benchCodeExchangeParallel(b, newBenchEnv(b, st.new(b), m.mutate)) })
		}
	}
}

func benchCodeExchangeParallel(b *testing.B, e *benchEnv) {
	cfg := e.signIn(b)
	codes := make(chan url.Values, b.N)
	for range b.N {
		codes <- e.newCode(b, cfg)
	}
	close(codes)
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.post(b, "/oauth2/token", <-codes)
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "exchanges/s")
}

// BenchmarkClientCredentialsParallel is the same request from many
// goroutines at once: throughput rather than latency (each PostgreSQL
// request waits mostly on the database, so concurrency hides it).
func BenchmarkClientCredentialsParallel(b *testing.B) {
	for _, st := range benchStores(b) {
		b.Run(st.name, func(b *testing.B) {
			e := newBenchEnv(b, st.new(b))
			vals := url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e.post(b, "/oauth2/token", vals)
				}
			})
		})
	}
}
