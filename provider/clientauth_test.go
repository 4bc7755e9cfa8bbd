package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// The client-authentication lockout of these tests: 3 failures lock for
// 30 s, doubling.
const (
	caMax  = 3
	caBase = 30 * time.Second
)

// caEnv is an env with a frozen clock and the lockout above.
type caEnv struct {
	*env
	now     *clock
	mu      sync.Mutex
	clients map[string]*http.Client
}

func newCAEnv(t *testing.T, store storage.Store, mutate ...func(*provider.Config)) *caEnv {
	t.Helper()
	c := &caEnv{now: stoppedClock(), clients: map[string]*http.Client{}}
	c.env = newEnvOn(t, store, append([]func(*provider.Config){func(cfg *provider.Config) {
		cfg.Now = c.now.Now
		cfg.ClientAuthLockout = provider.Lockout{MaxFailures: caMax, BaseDelay: caBase, MaxDelay: 10 * time.Minute}
	}}, mutate...)...)
	return c
}

// bcryptClient registers a client_credentials client whose secret is
// bcrypt-hashed at bcrypt's minimum cost: the provider's bcrypt path, made
// cheap enough for the race detector. The secret has not been verified
// yet, so the first check of it runs bcrypt.
func (c *caEnv) bcryptClient(id, plain string, mutate ...func(*storage.Client)) {
	c.t.Helper()
	c.bcryptClientAt(bcrypt.MinCost, id, plain, mutate...)
}

// bcryptClientAt is bcryptClient with the secret hashed at bcrypt cost.
func (c *caEnv) bcryptClientAt(cost int, id, plain string, mutate ...func(*storage.Client)) {
	c.t.Helper()
	ctx := context.Background()
	sc := storage.Client{ID: id, GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}}
	for _, m := range mutate {
		m(&sc)
	}
	_, _, err := c.p.CreateClient(ctx, sc)
	require.NoError(c.t, err)
	h, err := bcrypt.GenerateFromPassword([]byte(plain), cost)
	require.NoError(c.t, err)
	require.NoError(c.t, c.store.UpdateClient(ctx, id, func(sc storage.Client) (storage.Client, error) {
		sc.Secrets = []storage.SecretHash{{Hash: string(h), CreatedAt: sc.CreatedAt}}
		return sc, nil
	}))
}

// endpointAnswer is what an endpoint said.
type endpointAnswer struct {
	status int
	body   string
	header http.Header
}

func (a endpointAnswer) json(t *testing.T) map[string]any {
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(a.body), &m), "body %q", a.body)
	return m
}

// creds puts client credentials on a request.
type creds func(*http.Request, url.Values)

// basic is client_secret_basic as RFC 6749 §2.3.1 says: both parts
// form-url-encoded.
func basic(id, secret string) creds {
	return func(r *http.Request, _ url.Values) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
}

// rawBasic sends user and pass in the Basic header as they are.
func rawBasic(user, pass string) creds {
	return func(r *http.Request, _ url.Values) { r.SetBasicAuth(user, pass) }
}

// post is client_secret_post.
func post(id, secret string) creds {
	return func(_ *http.Request, v url.Values) { v.Set("client_id", id); v.Set("client_secret", secret) }
}

// endpoints are the endpoints that authenticate clients, each with a
// request that succeeds once the client is authenticated.
var endpoints = []string{"token", "introspect", "revoke"}

// send calls an endpoint from the loopback address from.
func (c *caEnv) send(from, endpoint string, auth creds, extra ...url.Values) endpointAnswer {
	c.t.Helper()
	v := url.Values{}
	switch endpoint {
	case "token":
		v.Set("grant_type", "client_credentials")
		v.Set("scope", "assets:read")
	case "introspect", "revoke":
		v.Set("token", "ory_at_not-a-token.not-a-signature")
	}
	for _, e := range extra {
		for k, vs := range e {
			v[k] = vs
		}
	}
	req, err := http.NewRequest(http.MethodPost, c.url("/oauth2/"+endpoint), nil)
	require.NoError(c.t, err)
	auth(req, v)
	req.Body = io.NopCloser(strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c.mu.Lock()
	hc := c.clients[from]
	if hc == nil {
		hc = fromAddr(from)
		c.clients[from] = hc
	}
	c.mu.Unlock()
	resp, err := hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return endpointAnswer{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// assertOK checks that the client was authenticated.
func assertOK(t *testing.T, a endpointAnswer, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, http.StatusOK, a.status, append([]any{"body %s"}, a.body)...)
	assert.Empty(t, a.header.Get("Retry-After"), msgAndArgs...)
}

// assertRefused checks a 401 invalid_client endpointAnswer with WWW-Authenticate
// Basic, with Retry-After retryAfter ("": none, the attempt was let
// through to the secret check).
func assertRefused(t *testing.T, a endpointAnswer, retryAfter string, msgAndArgs ...any) {
	t.Helper()
	assert.Equal(t, http.StatusUnauthorized, a.status, msgAndArgs...)
	assert.Contains(t, a.body, `"error":"invalid_client"`, msgAndArgs...)
	assert.True(t, strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic "), "WWW-Authenticate %q", a.header.Get("WWW-Authenticate"))
	assert.Equal(t, retryAfter, a.header.Get("Retry-After"), msgAndArgs...)
}

// Guessing a host-chosen (bcrypt) client secret: after caMax failures from
// one address the pair is locked for caBase, doubling; while locked even
// the right secret, not verified before, is refused without being checked
// (no bcrypt runs), with Retry-After; another address keeps its own count.
func TestClientAuthLockout(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		c := newCAEnv(t, store)
		const right = "bcrypt-service-secret"
		_, err := c.p.CreateClientWithSecret(context.Background(), storage.Client{
			ID: "bsvc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"},
		}, right)
		require.NoError(t, err)
		runs := func() int64 { return provider.BcryptRuns(c.p) }

		for i := range caMax {
			assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", "wrong-guess-0001")), "", "guess %d is checked", i)
		}
		require.Equal(t, int64(caMax), runs())

		// Another address is not locked: its guess is checked.
		assertRefused(t, c.send("127.0.0.2", "token", basic("bsvc", "wrong-guess-0002")), "")
		require.Equal(t, int64(caMax+1), runs())

		// Locked: the right secret is refused unchecked.
		assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", right)), "30")
		c.now.Advance(10*time.Second + time.Millisecond)
		assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", right)), "20", "rounded up")
		assert.Equal(t, int64(caMax+1), runs(), "no bcrypt while locked")

		// The lock ends; the next failure locks again, twice as long.
		c.now.Advance(20 * time.Second)
		assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", "wrong-guess-0003")), "")
		assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", right)), "60")
		c.now.Advance(60 * time.Second)
		assertOK(t, c.send("127.0.0.1", "token", basic("bsvc", right)))
		assert.Equal(t, int64(caMax+3), runs())
		_, err = c.store.GetThrottle(context.Background(), provider.ClientAuthKey("bsvc", netip.MustParseAddr("127.0.0.1")))
		assert.ErrorIs(t, err, storage.ErrNotFound, "a success clears the count")
		th, err := c.store.GetThrottle(context.Background(), provider.ClientAuthKey("bsvc", netip.MustParseAddr("127.0.0.2")))
		require.NoError(t, err)
		assert.Equal(t, 1, th.Failures, "the other address's count is its own")
	})
}

// Failures are forgotten 12 hours after the last one, whether or not the
// store's garbage collection has run: old failures do not add up to a lock.
func TestClientAuthLockoutForgets(t *testing.T) {
	c := newCAEnv(t, memory.New())
	c.bcryptClient("bsvc", "bcrypt-service-secret")
	for range caMax - 1 {
		assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", "wrong-guess-0001")), "")
	}
	c.now.Advance(12 * time.Hour)
	assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", "wrong-guess-0001")), "")
	assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", "wrong-guess-0001")), "", "a fresh count: not locked")
	th, err := c.store.GetThrottle(context.Background(), provider.ClientAuthKey("bsvc", netip.MustParseAddr("127.0.0.1")))
	require.NoError(t, err)
	assert.Equal(t, 2, th.Failures)
	assert.Equal(t, c.now.Now().Add(12*time.Hour).UTC(), th.ExpiresAt.UTC())
}

// throttleSpy counts the throttle calls the provider makes, and fails them
// on demand.
type throttleSpy struct {
	storage.Store
	calls atomic.Int64
	fail  atomic.Bool
}

func (s *throttleSpy) GetThrottle(ctx context.Context, key string) (storage.Throttle, error) {
	s.calls.Add(1)
	if s.fail.Load() {
		return storage.Throttle{}, errors.New("spy: throttle table unavailable")
	}
	return s.Store.GetThrottle(ctx, key)
}

func (s *throttleSpy) UpdateThrottle(ctx context.Context, key string, update func(storage.Throttle) (storage.Throttle, error)) error {
	s.calls.Add(1)
	if s.fail.Load() {
		return errors.New("spy: throttle table unavailable")
	}
	return s.Store.UpdateThrottle(ctx, key, update)
}

// A client that knows its secret is never delayed by someone guessing it
// from the same address: a generated secret, or a host-chosen one verified
// before, is checked without bcrypt and passes while the pair is locked,
// and such a request makes no throttle call at all (the hot path of
// client_credentials keeps its store round trips).
func TestClientAuthLockoutSparesVerifiedSecret(t *testing.T) {
	spy := &throttleSpy{Store: memory.New()}
	c := newCAEnv(t, spy)
	const right = "bcrypt-service-secret"
	c.bcryptClient("bsvc", right)
	assertOK(t, c.send("127.0.0.1", "token", basic("bsvc", right)), "first use: verified with bcrypt, then cached")

	for _, cl := range []struct{ id, secret string }{{"bsvc", right}, {c.svc.ID, c.svcSecret}} {
		for range caMax {
			assertRefused(t, c.send("127.0.0.1", "token", basic(cl.id, "wrong-guess-0001")), "")
		}
		assertRefused(t, c.send("127.0.0.1", "token", basic(cl.id, "wrong-guess-0002")), "30", "%s is locked", cl.id)

		before := spy.calls.Load()
		for _, ep := range endpoints {
			assertOK(t, c.send("127.0.0.1", ep, basic(cl.id, cl.secret)), "%s at %s while locked", cl.id, ep)
		}
		assert.Equal(t, before, spy.calls.Load(), "%s: no throttle call for a secret verified cheaply", cl.id)
	}
}

// Client IDs are not secrets (RFC 6749 §2.2), but the lockout must not
// become an oracle for them: an unknown ID is counted and answered exactly
// like a known one (status, body, headers), before and while locked, at
// every endpoint.
func TestClientAuthLockoutUnknownClient(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		c := newCAEnv(t, store)
		c.bcryptClient("bsvc", "bcrypt-service-secret")
		for i, ep := range endpoints {
			from := "127.0.0." + string(rune('1'+i)) // a fresh pair per endpoint
			for attempt := range caMax + 2 {
				known := c.send(from, ep, basic("bsvc", "wrong-guess-0001"))
				unknown := c.send(from, ep, basic("no-such-client", "wrong-guess-0001"))
				want := ""
				if attempt >= caMax {
					want = "30"
				}
				assertRefused(t, known, want, "%s attempt %d, known", ep, attempt)
				assertRefused(t, unknown, want, "%s attempt %d, unknown", ep, attempt)
				assert.Equal(t, known.status, unknown.status)
				assert.Equal(t, known.body, unknown.body, "%s attempt %d", ep, attempt)
				for _, h := range []string{"Content-Type", "Cache-Control", "Pragma", "WWW-Authenticate", "Retry-After"} {
					assert.Equal(t, known.header.Values(h), unknown.header.Values(h), "%s attempt %d: header %s", ep, attempt, h)
				}
			}
		}
	})
}

// A burst of 20 concurrent guesses, each a different secret, with a limit
// of 5, gets exactly 5 secret checks: each attempt is counted, and a locked
// pair refused, in one atomic store update before bcrypt runs. Every loser
// is told invalid_client; the ones refused unchecked also get Retry-After.
func TestClientAuthLockoutConcurrentGuesses(t *testing.T) {
	const limit, n = 5, 20
	forEachStore(t, func(t *testing.T, store storage.Store) {
		c := newCAEnv(t, store, func(cfg *provider.Config) { cfg.ClientAuthLockout.MaxFailures = limit })
		c.bcryptClient("bsvc", "bcrypt-service-secret")
		before := provider.BcryptRuns(c.p)
		var guess atomic.Int64
		answers := parallel(n, func() endpointAnswer {
			return c.send("127.0.0.1", "token", basic("bsvc", fmt.Sprintf("wrong-guess-%04d", guess.Add(1))))
		})
		locked := 0
		for _, a := range answers {
			assert.Equal(t, http.StatusUnauthorized, a.status)
			assert.Equal(t, "invalid_client", a.json(t)["error"])
			assert.True(t, strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Basic "))
			switch a.header.Get("Retry-After") {
			case "30":
				locked++
			case "":
			default:
				t.Errorf("Retry-After %q", a.header.Get("Retry-After"))
			}
		}
		assert.Equal(t, n-limit, locked, "every guess past the limit is refused unchecked")
		assert.Equal(t, int64(limit), provider.BcryptRuns(c.p)-before, "exactly %d bcrypt comparisons", limit)
		th, err := c.store.GetThrottle(context.Background(), provider.ClientAuthKey("bsvc", netip.MustParseAddr("127.0.0.1")))
		require.NoError(t, err)
		assert.Equal(t, limit, th.Failures)
	})
}

// A burst of correct first requests with a host-chosen (bcrypt) secret,
// more than the lockout's limit, all pass: concurrent checks of one secret
// from one address are one counted check (the first), which the others
// wait for, and then pass cheaply. Before, each counted a failure before
// any had verified, and those past the limit were locked out with the
// right secret. A burst of one wrong guess shares checks the same way, and
// every request of it is refused.
func TestClientAuthConcurrentFirstUse(t *testing.T) {
	const limit, n = 5, 32
	forEachStore(t, func(t *testing.T, store storage.Store) {
		c := newCAEnv(t, store, func(cfg *provider.Config) { cfg.ClientAuthLockout.MaxFailures = limit })
		const right = "bcrypt-service-secret"
		// A host's usual cost (bcrypt.DefaultCost), so that the check takes
		// long enough for the burst to overlap it, as in production.
		c.bcryptClientAt(bcrypt.DefaultCost, "bsvc", right)
		before := provider.BcryptRuns(c.p)
		for _, a := range parallel(n, func() endpointAnswer { return c.send("127.0.0.1", "token", basic("bsvc", right)) }) {
			assertOK(t, a, "a correct first request")
		}
		assert.Equal(t, int64(1), provider.BcryptRuns(c.p)-before, "one bcrypt comparison for the burst")
		_, err := c.store.GetThrottle(context.Background(), provider.ClientAuthKey("bsvc", netip.MustParseAddr("127.0.0.1")))
		assert.ErrorIs(t, err, storage.ErrNotFound, "no failure is left counted")

		c.bcryptClient("bsvc2", right)
		for _, a := range parallel(n, func() endpointAnswer { return c.send("127.0.0.3", "token", basic("bsvc2", "wrong-guess-0001")) }) {
			assert.Equal(t, http.StatusUnauthorized, a.status, a.body)
			assert.Equal(t, "invalid_client", a.json(t)["error"])
		}
	})
}

// The token, introspection and revocation endpoints are all behind the
// lockout, and share one count per pair, so guessing at three endpoints
// buys no more attempts than at one.
func TestClientAuthLockoutEveryEndpoint(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		c := newCAEnv(t, store)
		for _, ep := range endpoints {
			t.Run(ep, func(t *testing.T) {
				id, right := "c-"+ep, "bcrypt-secret-"+ep
				c.bcryptClient(id, right)
				for range caMax {
					assertRefused(t, c.send("127.0.0.1", ep, basic(id, "wrong-guess-0001")), "")
				}
				runs := provider.BcryptRuns(c.p)
				assertRefused(t, c.send("127.0.0.1", ep, basic(id, right)), "30")
				assert.Equal(t, runs, provider.BcryptRuns(c.p), "the secret is not checked while locked")
				c.now.Advance(caBase)
				assertOK(t, c.send("127.0.0.1", ep, basic(id, right)))
			})
		}
		c.bcryptClient("shared", "bcrypt-secret-shared")
		for _, ep := range endpoints {
			assertRefused(t, c.send("127.0.0.1", ep, basic("shared", "wrong-guess-0001")), "")
		}
		for _, ep := range endpoints {
			assertRefused(t, c.send("127.0.0.1", ep, basic("shared", "bcrypt-secret-shared")), "30", "one failure at each endpoint locks %s", ep)
		}
	})
}

// Credentials are read as fosite reads them, so that re-encoding the
// client ID (Basic parts are form-url-decoded) or moving it to the body
// does not open a fresh count; client_secret_post clients are throttled
// like Basic ones.
func TestClientAuthLockoutCredentialForms(t *testing.T) {
	c := newCAEnv(t, memory.New())
	c.bcryptClient("bsvc", "bcrypt-service-secret")
	for _, cr := range []creds{rawBasic("bs%76c", "wrong"), rawBasic("%62svc", "wrong+guess"), post("bsvc", "wrong-guess-0001")} {
		assertRefused(t, c.send("127.0.0.1", "token", cr), "")
	}
	assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", "bcrypt-service-secret")), "30", "three spellings of one ID share its count")

	c.bcryptClient("psvc", "bcrypt-post-secret", func(sc *storage.Client) { sc.TokenEndpointAuthMethod = "client_secret_post" })
	for range caMax {
		assertRefused(t, c.send("127.0.0.1", "token", post("psvc", "wrong-guess-0001")), "")
	}
	assertRefused(t, c.send("127.0.0.1", "token", post("psvc", "bcrypt-post-secret")), "30")
	c.now.Advance(caBase)
	assertOK(t, c.send("127.0.0.1", "token", post("psvc", "bcrypt-post-secret")))
}

// A client assertion is not a secret guess (its jti is single use): bad
// assertions are not counted, so they neither lock the client nor reach
// the throttle.
func TestClientAuthLockoutIgnoresAssertions(t *testing.T) {
	c := newCAEnv(t, memory.New())
	c.bcryptClient("bsvc", "bcrypt-service-secret")
	bad := url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {"not.a.jwt"},
	}
	for range caMax + 1 {
		a := c.send("127.0.0.1", "token", func(_ *http.Request, v url.Values) { v.Set("client_id", "bsvc") }, bad)
		assert.Equal(t, http.StatusUnauthorized, a.status, a.body)
		assert.Empty(t, a.header.Get("Retry-After"))
	}
	_, err := c.store.GetThrottle(context.Background(), provider.ClientAuthKey("bsvc", netip.MustParseAddr("127.0.0.1")))
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assertOK(t, c.send("127.0.0.1", "token", basic("bsvc", "bcrypt-service-secret")))
}

// When the throttle cannot be read, a secret that needs bcrypt is refused
// with 503 temporarily_unavailable at every endpoint (revocation included,
// where fosite would endpointAnswer 200 as if the token were revoked), while
// secrets checked cheaply keep working.
func TestClientAuthLockoutStoreDown(t *testing.T) {
	spy := &throttleSpy{Store: memory.New()}
	c := newCAEnv(t, spy)
	c.bcryptClient("bsvc", "bcrypt-service-secret")
	spy.fail.Store(true)
	for _, ep := range endpoints {
		a := c.send("127.0.0.1", ep, basic("bsvc", "bcrypt-service-secret"))
		assert.Equal(t, http.StatusServiceUnavailable, a.status, "%s: %s", ep, a.body)
		assert.Contains(t, a.body, `"error":"temporarily_unavailable"`, ep)
		assertOK(t, c.send("127.0.0.1", ep, basic(c.svc.ID, c.svcSecret)), ep)
	}
}

// A host that limits attempts itself turns the lockout off.
func TestClientAuthLockoutOff(t *testing.T) {
	c := newCAEnv(t, memory.New(), func(cfg *provider.Config) { cfg.ClientAuthLockout.MaxFailures = -1 })
	c.bcryptClient("bsvc", "bcrypt-service-secret")
	for range caMax + 2 {
		assertRefused(t, c.send("127.0.0.1", "token", basic("bsvc", "wrong-guess-0001")), "")
	}
	assertOK(t, c.send("127.0.0.1", "token", basic("bsvc", "bcrypt-service-secret")))
}

// The count is per client and address; an IPv4-mapped address is the IPv4
// address, and an IPv6 address counts by its /64, which one host usually
// holds whole (so walking through it buys no fresh counts).
func TestClientAuthKey(t *testing.T) {
	k := func(id, a string) string { return provider.ClientAuthKey(id, netip.MustParseAddr(a)) }
	assert.Equal(t, k("svc", "192.0.2.1"), k("svc", "::ffff:192.0.2.1"))
	assert.NotEqual(t, k("svc", "192.0.2.1"), k("svc", "192.0.2.2"))
	assert.NotEqual(t, k("svc", "192.0.2.1"), k("svd", "192.0.2.1"))
	assert.Equal(t, k("svc", "2001:db8:1:2::1"), k("svc", "2001:db8:1:2:ffff::9"))
	assert.NotEqual(t, k("svc", "2001:db8:1:2::1"), k("svc", "2001:db8:1:3::1"))
	assert.Equal(t, k("svc", "fe80::1%eth0"), k("svc", "fe80::2"))
	assert.True(t, strings.HasPrefix(k("svc", "192.0.2.1"), "client:"))
	assert.NotContains(t, k("svc-with-a-long-id", "192.0.2.1"), "svc-with-a-long-id", "the store holds a digest")
}
