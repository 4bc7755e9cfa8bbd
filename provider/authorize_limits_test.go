package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/internal/racetest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// flowCountingStore records the authorization flows the provider stores.
type flowCountingStore struct {
	storage.Store
	mu    sync.Mutex
	flows int
}

func (s *flowCountingStore) CreateAuthFlow(ctx context.Context, f storage.AuthFlow) error {
	err := s.Store.CreateAuthFlow(ctx, f)
	if err == nil {
		s.mu.Lock()
		s.flows++
		s.mu.Unlock()
	}
	return err
}

func (s *flowCountingStore) stored() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flows
}

// newLimitEnv is an env on store, behind a trusted proxy (127.0.0.1) so
// that each request can claim its client address in X-Forwarded-For.
func newLimitEnv(t *testing.T, store storage.Store, limits provider.FlowLimits) (*env, *flowCountingStore) {
	rec := &flowCountingStore{Store: store}
	e := newEnvOn(t, rec, func(c *provider.Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.FlowLimits = limits
	})
	return e, rec
}

// answer is what the authorization endpoint said.
type answer struct {
	status   int
	location string
	cookies  []string
	body     string
	header   http.Header
}

// fetch sends req, from addr when addr is not empty, without following
// redirects.
func fetch(t *testing.T, req *http.Request, addr string) answer {
	t.Helper()
	if addr != "" {
		req.Header.Set("X-Forwarded-For", addr)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Location"), resp.Header.Values("Set-Cookie"), string(b), resp.Header}
}

// startFlow sends the web client's authorization request from addr.
func (e *env) startFlow(t *testing.T, addr string, mutate func(url.Values)) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.authorizeURL(mutate), nil)
	require.NoError(t, err)
	return fetch(t, req, addr)
}

// isFlow checks that a is the redirect to a stored flow's first page.
func (a answer) isFlow(t *testing.T) {
	t.Helper()
	assert.Equal(t, http.StatusSeeOther, a.status, "%s", a.body)
	assert.Contains(t, a.location, "/oauth2/interaction?flow=")
}

// isRefused checks that a is the flow limit's 429 page: no redirect, no
// cookie, a message saying to try later.
func (a answer) isRefused(t *testing.T) {
	t.Helper()
	assert.Equal(t, http.StatusTooManyRequests, a.status)
	assert.Empty(t, a.location, "no redirect")
	assert.Empty(t, a.cookies, "nothing set")
	assert.Contains(t, a.body, "temporarily_unavailable")
	assert.Contains(t, a.body, "Try again in a few minutes")
	assert.NotEmpty(t, a.header.Get("Retry-After"))
	assert.Equal(t, "DENY", a.header.Get("X-Frame-Options"))
}

// TestAuthorizeRequestTooLong: an authorization request over 8 KiB is
// refused with 414 before anything is stored. Before the fix, a query of
// ~900 KB of junk was stored whole with the flow (unauthenticated storage
// exhaustion: 300 requests took the demo from 23 MB to 472 MB).
func TestAuthorizeRequestTooLong(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, rec := newLimitEnv(t, store, provider.FlowLimits{})
		junk := strings.Repeat("j", 9<<10)
		tooLong := func(t *testing.T, a answer) {
			t.Helper()
			assert.Equal(t, http.StatusRequestURITooLong, a.status)
			assert.Empty(t, a.location, "no redirect")
			assert.Empty(t, a.cookies)
			assert.Contains(t, a.body, "invalid_request")
			assert.Contains(t, a.body, "8 KiB")
		}
		t.Run("query", func(t *testing.T) {
			tooLong(t, e.startFlow(t, "", func(q url.Values) { q.Set("junk", junk) }))
		})
		t.Run("known parameter", func(t *testing.T) {
			tooLong(t, e.startFlow(t, "", func(q url.Values) { q.Set("state", junk) }))
		})
		post := func(t *testing.T, query string, body url.Values) answer {
			req, err := http.NewRequest(http.MethodPost, e.url("/oauth2/authorize?")+query, strings.NewReader(body.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return fetch(t, req, "")
		}
		params, err := url.ParseQuery(strings.SplitN(e.authorizeURL(nil), "?", 2)[1])
		require.NoError(t, err)
		t.Run("body", func(t *testing.T) {
			body := url.Values{"junk": {junk}}
			for k, v := range params {
				body[k] = v
			}
			tooLong(t, post(t, "", body))
		})
		t.Run("query and body together", func(t *testing.T) {
			half := strings.Repeat("h", 5<<10)
			tooLong(t, post(t, url.Values{"a": {half}}.Encode(), url.Values{"b": {half}}))
		})
		assert.Zero(t, rec.stored(), "nothing stored")

		// The same request as a POST within the limit works.
		t.Run("post within the limit", func(t *testing.T) {
			post(t, "", params).isFlow(t)
		})
		// Logout keeps the general body limit.
		t.Run("logout unaffected", func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, e.url("/oauth2/logout?")+url.Values{"junk": {junk}}.Encode(), nil)
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, fetch(t, req, "").status)
		})
	})
}

// TestAuthorizeStoresOnlyKnownParameters: the flow stored before anyone
// signs in keeps only the parameters the provider understands; unknown
// ones are ignored (OpenID Connect Core 1.0 §3.1.2.1) and never stored.
func TestAuthorizeStoresOnlyKnownParameters(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, _ := newLimitEnv(t, store, provider.FlowLimits{})
		known := map[string]string{
			"nonce": "nonce-0123456789", "prompt": "login", "max_age": "3600", "login_hint": "alice",
			"ui_locales": "de en", "claims_locales": "de", "acr_values": "1", "display": "page", "response_mode": "query",
		}
		mutate := func(q url.Values) {
			for k, v := range known {
				q.Set(k, v)
			}
			q.Set("junk", strings.Repeat("j", 2000))
			q.Set("x-tracking", strings.Repeat("t", 2000))
			q.Set("claims", `{"id_token":{"email":null}}`) // claims_parameter_supported: false
			q.Set("resource", "https://api.example/")
		}
		a := e.startFlow(t, "", mutate)
		a.isFlow(t)
		loc, err := url.Parse(a.location)
		require.NoError(t, err)
		fl, err := store.GetAuthFlow(context.Background(), secret.Digest(loc.Query().Get("flow")))
		require.NoError(t, err)
		stored, err := url.ParseQuery(fl.Query)
		require.NoError(t, err)

		sent, err := url.ParseQuery(strings.SplitN(e.authorizeURL(mutate), "?", 2)[1])
		require.NoError(t, err)
		for _, k := range []string{"junk", "x-tracking", "claims", "resource"} {
			sent.Del(k)
		}
		assert.Equal(t, sent, stored, "exactly the known parameters, unchanged")
		assert.Less(t, len(fl.Query), 1024)

		// The flow still works end to end, state echoed.
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
		v := oauth2.GenerateVerifier()
		back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v),
			oauth2.SetAuthURLParam("junk", strings.Repeat("j", 4000))), "alice")
		assert.Equal(t, "state-123456789", back.Query().Get("state"))
		assert.NotEmpty(t, back.Query().Get("code"))
	})
}

// TestFlowLimitPerAddress: one address can start only FlowLimits.PerAddress
// flows per window; the next gets a 429 page and nothing is stored.
// Another address is not affected; an IPv6 /64 is one address; the next
// window starts afresh.
func TestFlowLimitPerAddress(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, rec := newLimitEnv(t, store, provider.FlowLimits{PerAddress: 3, Total: -1})
		for range 3 {
			e.startFlow(t, "198.51.100.7", nil).isFlow(t)
		}
		e.startFlow(t, "198.51.100.7", nil).isRefused(t)
		e.startFlow(t, "::ffff:198.51.100.7", nil).isRefused(t) // the same IPv4 address
		assert.Equal(t, 3, rec.stored())
		e.startFlow(t, "198.51.100.8", nil).isFlow(t)

		// An attacker with one IPv6 address has its /64.
		for _, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:fffe"} {
			e.startFlow(t, a, nil).isFlow(t)
		}
		e.startFlow(t, "2001:db8:1:2:abcd::9", nil).isRefused(t)
		e.startFlow(t, "2001:db8:1:3::1", nil).isFlow(t)
		assert.Equal(t, 8, rec.stored())

		// A new window: the address may start flows again.
		e.clock.Advance(15*time.Minute + 2*time.Second)
		e.startFlow(t, "198.51.100.7", nil).isFlow(t)
		e.startFlow(t, "2001:db8:1:2::1", nil).isFlow(t)
	})
}

// TestFlowLimitTotal: all addresses together can start only
// FlowLimits.Total flows per window; a refused request does not use up its
// address's allowance.
func TestFlowLimitTotal(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, rec := newLimitEnv(t, store, provider.FlowLimits{PerAddress: 2, Total: 3})
		for _, a := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
			e.startFlow(t, a, nil).isFlow(t)
		}
		e.startFlow(t, "198.51.100.4", nil).isRefused(t)
		e.startFlow(t, "198.51.100.1", nil).isRefused(t)
		assert.Equal(t, 3, rec.stored())
		_, err := store.GetThrottle(context.Background(), "flows:198.51.100.4")
		assert.True(t, errors.Is(err, storage.ErrNotFound), "the refused address's count was taken back: %v", err)

		e.clock.Advance(15*time.Minute + 2*time.Second)
		e.startFlow(t, "198.51.100.4", nil).isFlow(t)
	})
}

// TestFlowLimitCountsOnlyStoredFlows: requests answered without a page
// (prompt=none, a login session with remembered consent) store no flow and
// are not counted.
func TestFlowLimitCountsOnlyStoredFlows(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		const addr = "198.51.100.9"
		e, rec := newLimitEnv(t, store, provider.FlowLimits{PerAddress: 2, Total: -1})
		for range 3 {
			a := e.startFlow(t, addr, func(q url.Values) { q.Set("prompt", "none") })
			assert.Contains(t, a.location, "error=login_required")
		}
		browser := flowtest.NewBrowser(t)
		browser.Transport = forwardedFor{addr}
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
		v := oauth2.GenerateVerifier()
		authURL := cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v))
		require.NotEmpty(t, e.authorize(browser, authURL, "alice").Query().Get("code")) // flow 1
		for range 3 {
			loc := flowtest.Get(t, browser, authURL).Location(t)
			require.NotEmpty(t, loc.Query().Get("code"), "straight back: %s", loc)
		}
		assert.Equal(t, 1, rec.stored())
		e.startFlow(t, addr, nil).isFlow(t) // flow 2
		e.startFlow(t, addr, nil).isRefused(t)
	})
}

// forwardedFor sends every request with X-Forwarded-For: addr.
type forwardedFor struct{ addr string }

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.addr)
	return http.DefaultTransport.RoundTrip(r)
}

// TestFlowLimitConcurrent: n requests at once against a limit of k store
// exactly k flows, on every backend, and every other request gets the 429
// page (a count read and written in two steps would let more through).
func TestFlowLimitConcurrent(t *testing.T) {
	const n, k = 16, 4
	check := func(t *testing.T, e *env, rec *flowCountingStore, addr func(i int) string) {
		answers := racetest.Run(n, func(i int) answer { return e.startFlow(t, addr(i), nil) })
		won := slices.DeleteFunc(slices.Clone(answers), func(a answer) bool { return a.status != http.StatusSeeOther })
		assert.Len(t, won, k)
		for _, a := range answers {
			if a.status == http.StatusSeeOther {
				a.isFlow(t)
			} else {
				a.isRefused(t)
			}
		}
		assert.Equal(t, k, rec.stored())
	}
	t.Run("per address", func(t *testing.T) {
		forEachStore(t, func(t *testing.T, store storage.Store) {
			e, rec := newLimitEnv(t, store, provider.FlowLimits{PerAddress: k, Total: -1})
			check(t, e, rec, func(int) string { return "203.0.113.5" })
		})
	})
	t.Run("total", func(t *testing.T) {
		forEachStore(t, func(t *testing.T, store storage.Store) {
			e, rec := newLimitEnv(t, store, provider.FlowLimits{PerAddress: -1, Total: k})
			check(t, e, rec, func(i int) string { return "203.0.113." + strconv.Itoa(i+1) })
		})
	})
}
