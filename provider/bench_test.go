package provider_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/provider"
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

// ccBody is the form of the benchmarks' client_credentials requests.
var ccBody = url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}.Encode()

// postClientCredentials sends h, the handler of the provider at issuer, a
// client_credentials request (scope assets:read) of the client id with
// secret (HTTP Basic), and returns the answer.
func postClientCredentials(h http.Handler, issuer, id, secret string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, issuer+"/oauth2/token", strings.NewReader(ccBody))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func benchClientCredentials(b *testing.B, e *env, id, secret string) {
	h := e.p.Handler()
	do := func() {
		if rec := postClientCredentials(h, e.issuer, id, secret); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	do() // a supplied secret is verified with bcrypt once, then cached
	b.ReportAllocs()
	for b.Loop() {
		do()
	}
}

// BenchmarkClientCredentialsAudit measures client_credentials throughput
// with the audit trail off (Config.AuditDisabled) and on (the default:
// every answer gets a request ID, and each token.issued event is queued,
// stored in batches by the background writer and logged as JSON by the
// default Auditor, here to io.Discard), on the memory store and, when
// GATEHOUSE_TEST_POSTGRES_DSN is set, on PostgreSQL. The timed part ends
// only once the writer has written every event (Provider.Shutdown), so
// that work the writer left undone is not left out; unwritten/op would
// show events dropped for a full queue. cpu-ns/op is the CPU time the
// whole process used per request (every goroutine, the writer's and the
// garbage collector's included): on a shared machine it varies less than
// the wall-clock ns/op. On PostgreSQL the server's own CPU is not in it.
func BenchmarkClientCredentialsAudit(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) storage.Store
	}{
		{"memory", func(*testing.B) storage.Store { return memory.New() }},
		{"postgres", func(b *testing.B) storage.Store { s, _, _ := pgtest.Store(b); return s }},
	}
	for _, st := range stores {
		for _, audit := range []string{"off", "on"} {
			b.Run(st.name+"/audit="+audit, func(b *testing.B) {
				e := newEnvOn(b, st.open(b), func(c *provider.Config) {
					c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
					c.AuditDisabled = audit == "off"
				})
				h := e.p.Handler()
				do := func() {
					if rec := postClientCredentials(h, e.issuer, e.svc.ID, e.svcSecret); rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
				do()
				if err := e.p.Shutdown(context.Background()); err != nil {
					b.Fatal(err)
				}
				before := e.p.AuditStats()
				b.ReportAllocs()
				b.ResetTimer()
				cpu := provider.ProcessCPU()
				for range b.N {
					do()
				}
				if err := e.p.Shutdown(context.Background()); err != nil {
					b.Fatal(err)
				}
				cpu = provider.ProcessCPU() - cpu
				b.StopTimer()
				after := e.p.AuditStats()
				b.ReportMetric(float64(after.Unwritten-before.Unwritten)/float64(b.N), "unwritten/op")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkClientCredentialsAuditPaired compares the same two providers
// as BenchmarkClientCredentialsAudit, audit off (first) and on (second),
// on one store kind, in turns of 1000 requests within one run
// (pairedRounds): each turn ends once the provider's writer has written
// the turn's events (Shutdown), so the writer's work is charged to the
// audit-on side. second/first of 1.05 would be 5 % slower with the trail
// on. The off-vs-off variants compare two providers with the trail off in
// the same way: how far from 1 their ratios stray is the harness's own
// noise on this machine.
func BenchmarkClientCredentialsAuditPaired(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) storage.Store
	}{
		{"memory", func(*testing.B) storage.Store { return memory.New() }},
		{"postgres", func(b *testing.B) storage.Store { s, _, _ := pgtest.Store(b); return s }},
	}
	const turn = 1000
	for _, st := range stores {
		for _, pair := range []string{"on-vs-off", "off-vs-off"} {
			b.Run(st.name+"/"+pair, func(b *testing.B) { pairedClientCredentials(b, st.open, pair == "on-vs-off", turn) })
		}
	}
}

// pairedClientCredentials runs BenchmarkClientCredentialsAuditPaired on
// stores that open makes, with the second provider's trail on if audit.
func pairedClientCredentials(b *testing.B, open func(*testing.B) storage.Store, audit bool, turn int) {
	var sides [2]pairSide
	for i, off := range []bool{true, !audit} {
		e := newEnvOn(b, open(b), func(c *provider.Config) {
			c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
			c.AuditDisabled = off
		})
		// A turn ends once the writer has written the turn's events.
		sides[i] = pairSide{e: e, endTurn: func() error { return e.p.Shutdown(context.Background()) }}
	}
	pairedRounds(b, sides, turn)
	if u := sides[1].e.p.AuditStats().Unwritten; u > 0 {
		b.Fatalf("%d events were not written", u)
	}
}

// pairSide is one side of pairedRounds: a provider, and what ends its
// turn (the work it left to a background goroutine, done), if anything.
type pairSide struct {
	e       *env
	endTurn func() error
}

// pairedRounds sends client_credentials requests to the two sides in
// rounds of one turn of turn requests each (which side goes first
// alternates), so that the load of a shared machine falls on both alike.
// It reports each side's wall-clock time per request (first-ns/op,
// second-ns/op) and the median over the rounds of the ratio second/first
// of wall-clock time (second/first) and of the process's CPU time
// (cpu-second/first: every goroutine's, the background writers' and the
// garbage collector's included, which is what a saturated server's
// throughput pays). A median of paired rounds stays put when a
// neighbour's burst of load spoils a few of them.
func pairedRounds(b *testing.B, sides [2]pairSide, turn int) {
	var handlers [2]http.Handler
	var took [2]time.Duration
	for i := range sides {
		handlers[i] = sides[i].e.p.Handler()
	}
	do := func(e *env, h http.Handler) {
		if rec := postClientCredentials(h, e.issuer, e.svc.ID, e.svcSecret); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	var wallRatios, cpuRatios []float64
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += turn {
		n := min(turn, b.N-done)
		var wall, cpu [2]time.Duration
		for k := range sides {
			i := (k + done/turn) % 2 // the first side first, then the second first, in turn
			start, cpu0 := time.Now(), provider.ProcessCPU()
			for range n {
				do(sides[i].e, handlers[i])
			}
			if sides[i].endTurn != nil {
				if err := sides[i].endTurn(); err != nil {
					b.Fatal(err)
				}
			}
			wall[i], cpu[i] = time.Since(start), provider.ProcessCPU()-cpu0
			took[i] += wall[i]
		}
		wallRatios = append(wallRatios, float64(wall[1])/float64(wall[0]))
		if cpu[0] > 0 && cpu[1] > 0 {
			cpuRatios = append(cpuRatios, float64(cpu[1])/float64(cpu[0]))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(took[0])/float64(b.N), "first-ns/op")
	b.ReportMetric(float64(took[1])/float64(b.N), "second-ns/op")
	b.ReportMetric(median(wallRatios), "second/first")
	if len(cpuRatios) > 0 {
		b.ReportMetric(median(cpuRatios), "cpu-second/first")
	}
}

// median returns the median of v (which it sorts), or 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
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
