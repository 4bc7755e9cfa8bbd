package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/postgres"
)

// dsnWith returns the test DSN with its host:port replaced (if hostport is
// not empty) and application_name set.
func dsnWith(t *testing.T, hostport, appName string) string {
	u, err := url.Parse(pgtest.DSN(t))
	require.NoError(t, err)
	if hostport != "" {
		u.Host = hostport
	}
	q := u.Query()
	q.Set("application_name", appName)
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	return u.String()
}

func randomName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// faultEnv is a provider on its own pool, with a client-credentials client.
type faultEnv struct {
	p      *provider.Provider
	url    string
	id     string
	secret string
}

func newFaultEnv(t *testing.T, s storage.Store) *faultEnv {
	t.Helper()
	p, err := provider.New(provider.Config{Issuer: "http://127.0.0.1:1", Store: s, Authenticator: users, GlobalSecret: []byte(globalSecret)})
	require.NoError(t, err)
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	c, secret, err := p.CreateClient(context.Background(), storage.Client{GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}})
	require.NoError(t, err)
	return &faultEnv{p: p, url: srv.URL, id: c.ID, secret: secret}
}

func (f *faultEnv) token(t *testing.T) (int, map[string]any) {
	return post(t, f.url+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, f.id, f.secret)
}

// checkFaultAnswer asserts what every answer during a fault must be: a
// success, or 503 temporarily_unavailable, never a 500 or a hang.
func checkFaultAnswer(t *testing.T, status int, body map[string]any) bool {
	t.Helper()
	if status == http.StatusOK {
		return true
	}
	assert.Equal(t, http.StatusServiceUnavailable, status, "%v", body)
	assert.Equal(t, "temporarily_unavailable", body["error"], "%v", body)
	return false
}

// Backend connections killed mid-run (pg_terminate_backend): requests fail
// cleanly with 503 while it happens and succeed again by themselves.
func TestFaultTerminatedConnections(t *testing.T) {
	t.Parallel()
	_, _, prefix := pgtest.Store(t)
	app := randomName("gh_fault_")
	s, err := postgres.Open(context.Background(), dsnWith(t, "", app), postgres.WithTablePrefix(prefix))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	f := newFaultEnv(t, s)
	status, body := f.token(t)
	require.Equal(t, http.StatusOK, status, "%v", body)
	tok := body["access_token"].(string)

	_, admin, _ := pgtest.Store(t)
	ctx, cancel := context.WithCancel(context.Background())
	var killed atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the fault: kill the provider's connections, again and again
		defer wg.Done()
		for ctx.Err() == nil {
			var n int64
			_ = admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n)
			killed.Add(n)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var ok, failed int
	for range 150 {
		status, body := f.token(t)
		if checkFaultAnswer(t, status, body) {
			ok++
		} else {
			failed++
		}
		st, ib := post(t, f.url+"/oauth2/introspect", url.Values{"token": {tok}}, f.id, f.secret)
		if st == http.StatusOK {
			assert.Equal(t, true, ib["active"], "a live token never reads as inactive because of a fault")
		} else {
			checkFaultAnswer(t, st, ib)
		}
	}
	cancel()
	wg.Wait()
	t.Logf("connections killed: %d; token requests ok %d, 503 %d", killed.Load(), ok, failed)
	require.Positive(t, killed.Load(), "the fault happened")

	// Recovery, without any action.
	require.Eventually(t, func() bool { status, _ := f.token(t); return status == http.StatusOK }, 10*time.Second, 20*time.Millisecond)
	status, body = post(t, f.url+"/oauth2/introspect", url.Values{"token": {tok}}, f.id, f.secret)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["active"], "nothing was lost")
}

// tcpProxy forwards loopback connections to PostgreSQL and can be stopped
// (every connection cut, new ones refused) and started again on the same
// address: a database server going away and coming back.
type tcpProxy struct {
	t      *testing.T
	addr   string
	target string
	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]bool
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, conns: map[net.Conn]bool{}}
	p.start("127.0.0.1:0")
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start(addr string) {
	ln, err := net.Listen("tcp", addr)
	require.NoError(p.t, err)
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
}

func (p *tcpProxy) serve(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close(); c.Close() }()
	_, _ = io.Copy(c, up)
	up.Close()
	c.Close()
}

// stop closes the listener and cuts every connection.
func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// The database server stops (connections cut, new ones refused): the
// endpoints answer 503 promptly; when it is back they work again.
func TestFaultDatabaseDownAndBack(t *testing.T) {
	t.Parallel()
	_, _, prefix := pgtest.Store(t)
	u, err := url.Parse(pgtest.DSN(t))
	require.NoError(t, err)
	proxy := newTCPProxy(t, u.Host)
	s, err := postgres.Open(context.Background(), dsnWith(t, proxy.addr, randomName("gh_down_")), postgres.WithTablePrefix(prefix))
	require.NoError(t, err)
	t.Cleanup(s.Close)
	f := newFaultEnv(t, s)
	status, body := f.token(t)
	require.Equal(t, http.StatusOK, status, "%v", body)
	tok := body["access_token"].(string)

	proxy.stop()
	for range 5 {
		start := time.Now()
		status, body := f.token(t)
		assert.False(t, checkFaultAnswer(t, status, body), "no database, no token")
		assert.Less(t, time.Since(start), 5*time.Second, "an answer, not a hang")
		st, ib := post(t, f.url+"/oauth2/introspect", url.Values{"token": {tok}}, f.id, f.secret)
		assert.False(t, checkFaultAnswer(t, st, ib), "introspection says unavailable, not inactive")
	}

	proxy.start(proxy.addr)
	require.Eventually(t, func() bool { status, _ := f.token(t); return status == http.StatusOK }, 15*time.Second, 50*time.Millisecond, "recovers when the database is back")
	status, body = post(t, f.url+"/oauth2/introspect", url.Values{"token": {tok}}, f.id, f.secret)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["active"])
}

// Every call honours its context deadline, even when the database would
// make it wait (a table locked by another session).
func TestFaultContextDeadline(t *testing.T) {
	t.Parallel()
	s, pool, prefix := pgtest.Store(t)
	ctx := context.Background()
	_, err := s.GetClient(ctx, "nobody")
	require.ErrorIs(t, err, storage.ErrNotFound)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, `LOCK TABLE `+prefix+`clients IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.GetClient(short, "nobody")
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "deadline exceeded, got %v", err)
	assert.Less(t, time.Since(start), 3*time.Second)
	require.NoError(t, tx.Rollback(ctx))
	_, err = s.GetClient(ctx, "nobody")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the store works again")
}

// failingStore fails to store refresh tokens while fail is set: a fault in
// the middle of a code exchange.
type failingStore struct {
	*postgres.Store
	fail atomic.Bool
}

func (f *failingStore) CreateToken(ctx context.Context, tok storage.Token) error {
	if f.fail.Load() && tok.Kind == storage.KindRefreshToken {
		return errors.New("injected fault")
	}
	return f.Store.CreateToken(ctx, tok)
}

// Nothing half-written: a code exchange that fails after consuming the
// code and storing the access token leaves neither behind, so the client
// can retry with the same code.
func TestFaultExchangeIsAtomic(t *testing.T) {
	t.Parallel()
	s, pool, prefix := pgtest.Store(t)
	fs := &failingStore{Store: s}
	p, err := provider.New(provider.Config{Issuer: "http://127.0.0.1:1", Store: fs, Authenticator: users, GlobalSecret: []byte(globalSecret)})
	require.NoError(t, err)
	lb := httptest.NewServer(p.Handler())
	t.Cleanup(lb.Close)
	c := &cluster{issuer: lb.URL, replicas: []*provider.Provider{p}, direct: []string{lb.URL}}
	// The issuer in the config differs from the server's URL; neither the
	// flow nor the exchange depends on it.
	web, secret, err := p.CreateClient(context.Background(), storage.Client{ID: "web", GrantTypes: []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{redirectURI}, Scopes: []string{"openid", "offline_access"}})
	require.NoError(t, err)
	cfg := &oauth2.Config{ClientID: web.ID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: []string{"offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: lb.URL + "/oauth2/authorize", TokenURL: lb.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}
	verifier := oauth2.GenerateVerifier()
	code := c.authorize(t, cfg, verifier)

	redeem := func() (int, map[string]any) { return exchange(t, lb.URL, code, verifier, web.ID, secret) }
	countAccess := func() int {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM `+prefix+`tokens WHERE kind = 'access_token'`).Scan(&n))
		return n
	}
	fs.fail.Store(true)
	status, body := redeem()
	assert.Equal(t, http.StatusServiceUnavailable, status, "%v", body)
	assert.Equal(t, "temporarily_unavailable", body["error"])
	assert.Equal(t, 0, countAccess(), "the access token of the failed exchange was rolled back")

	fs.fail.Store(false)
	status, body = redeem()
	require.Equal(t, http.StatusOK, status, "the code was not consumed by the failed attempt: %v", body)
	assert.NotEmpty(t, body["refresh_token"])
	assert.Equal(t, 1, countAccess())
}
