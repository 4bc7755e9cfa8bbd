package postgres_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/internal/racetest"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/postgres"
)

const (
	redirectURI  = "http://127.0.0.1:8081/callback"
	globalSecret = "0123456789abcdef0123456789abcdef"
)

// users is the user backend of the replica tests.
var users = provider.UserAuthenticatorFunc(func(_ context.Context, username, password string) (provider.User, error) {
	if username == "alice" && password == "alice-password" {
		return provider.User{Subject: "sub-alice", Username: "alice", Permissions: []string{"*"}}, nil
	}
	return provider.User{}, provider.ErrInvalidCredentials
})

// cluster is several provider replicas on one database behind a
// round-robin load balancer, each also reachable directly.
type cluster struct {
	issuer   string // the load balancer
	replicas []*provider.Provider
	direct   []string        // each replica's own URL
	stores   []storage.Store // each replica's own store (own pool)
}

func newCluster(t *testing.T, n int, mutate ...func(*provider.Config)) *cluster {
	t.Helper()
	first, _, prefix := pgtest.Store(t)
	c := &cluster{}
	var handlers []http.Handler
	var next atomic.Int64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers[int(next.Add(1))%len(handlers)].ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)
	c.issuer = lb.URL
	for i := range n {
		var s storage.Store = first
		if i > 0 {
			// Another replica: its own pool on the same tables.
			pg, err := postgres.Open(context.Background(), pgtest.DSN(t), postgres.WithTablePrefix(prefix))
			require.NoError(t, err)
			t.Cleanup(pg.Close)
			s = pg
		}
		cfg := provider.Config{Issuer: c.issuer, Store: s, Authenticator: users, GlobalSecret: []byte(globalSecret)}
		for _, m := range mutate {
			m(&cfg)
		}
		p, err := provider.New(cfg)
		require.NoError(t, err)
		srv := httptest.NewServer(p.Handler())
		t.Cleanup(srv.Close)
		c.replicas = append(c.replicas, p)
		c.direct = append(c.direct, srv.URL)
		c.stores = append(c.stores, s)
		handlers = append(handlers, p.Handler())
	}
	return c
}

func post(t *testing.T, u string, vals url.Values, user, pass string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(vals.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// exchange redeems an authorization code at the replica at base.
func exchange(t *testing.T, base, code, verifier, clientID, secret string) (int, map[string]any) {
	t.Helper()
	return post(t, base+"/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}, clientID, secret)
}

// authorize runs the browser part of a code flow through the load
// balancer, so its requests alternate between replicas: the flow, the
// login session and the CSRF token all live in the database.
func (c *cluster) authorize(t *testing.T, cfg *oauth2.Config, verifier string) string {
	t.Helper()
	b := flowtest.NewBrowser(t)
	page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))))
	require.Contains(t, page.Body, `name="password"`)
	page = flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
	loc := page.Location(t)
	if strings.HasPrefix(loc.String(), c.issuer) {
		// Consent is asked the first time only; it is remembered after.
		page = flowtest.Get(t, b, loc.String())
		require.Contains(t, page.Body, `name="decision"`)
		loc = flowtest.Submit(t, b, page, url.Values{"decision": {"allow"}}).Location(t)
	}
	code := loc.Query().Get("code")
	require.NotEmpty(t, code, "no code in %s", loc)
	return code
}

func TestReplicasShareOneDatabase(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx := context.Background()

	// A client created on one replica is visible on the other.
	web, secret, err := c.replicas[0].CreateClient(ctx, storage.Client{
		ID: "web", GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"},
		RedirectURIs: []string{redirectURI}, Scopes: []string{"openid", "offline_access", "assets:read"},
	})
	require.NoError(t, err)
	status, body := post(t, c.direct[1]+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, web.ID, secret)
	require.Equal(t, http.StatusOK, status, "replica 1 knows the client replica 0 created: %v", body)
	// A token issued by one introspects on the other.
	tok := body["access_token"].(string)
	status, body = post(t, c.direct[0]+"/oauth2/introspect", url.Values{"token": {tok}}, web.ID, secret)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["active"])

	cfg := &oauth2.Config{ClientID: web.ID, ClientSecret: secret, RedirectURL: redirectURI, Scopes: []string{"openid", "offline_access", "assets:read"},
		Endpoint: oauth2.Endpoint{AuthURL: c.issuer + "/oauth2/authorize", TokenURL: c.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}

	t.Run("one code exchanged on both replicas at once gives one token", func(t *testing.T) {
		for round := range 5 {
			verifier := oauth2.GenerateVerifier()
			code := c.authorize(t, cfg, verifier)
			results := racetest.Run(2, func(i int) int {
				status, _ := exchange(t, c.direct[i], code, verifier, web.ID, secret)
				return status
			})
			ok := 0
			for _, s := range results {
				if s == http.StatusOK {
					ok++
				} else {
					assert.Equal(t, http.StatusBadRequest, s, "round %d: the loser gets invalid_grant, never a 5xx", round)
				}
			}
			assert.Equal(t, 1, ok, "round %d: exactly one token: %v", round, results)
		}
	})

	t.Run("refresh on one, reuse on the other revokes the family", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := c.authorize(t, cfg, verifier)
		status, body := exchange(t, c.direct[0], code, verifier, web.ID, secret)
		require.Equal(t, http.StatusOK, status, "%v", body)
		rt1 := body["refresh_token"].(string)
		status, body = post(t, c.direct[0]+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, web.ID, secret)
		require.Equal(t, http.StatusOK, status, "%v", body)
		rt2, at2 := body["refresh_token"].(string), body["access_token"].(string)

		status, body = post(t, c.direct[1]+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, web.ID, secret)
		assert.Equal(t, http.StatusBadRequest, status, "reuse on the other replica: %v", body)
		assert.Equal(t, "invalid_grant", body["error"])
		status, body = post(t, c.direct[0]+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, web.ID, secret)
		assert.Equal(t, http.StatusBadRequest, status, "the newest refresh token is revoked too: %v", body)
		_, body = post(t, c.direct[0]+"/oauth2/introspect", url.Values{"token": {at2}}, web.ID, secret)
		assert.Equal(t, false, body["active"], "and the family's access token")
	})

	t.Run("concurrent refresh on both replicas lets one through", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		code := c.authorize(t, cfg, verifier)
		status, body := exchange(t, c.direct[1], code, verifier, web.ID, secret)
		require.Equal(t, http.StatusOK, status, "%v", body)
		rt := body["refresh_token"].(string)
		results := racetest.Run(6, func(i int) int {
			status, _ := post(t, c.direct[i%2]+"/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, web.ID, secret)
			return status
		})
		ok := 0
		for _, s := range results {
			if s == http.StatusOK {
				ok++
			} else {
				assert.Less(t, s, 500, "never a 5xx: %v", results)
			}
		}
		assert.Equal(t, 1, ok, "%v", results)
	})
}

// Signing keys live in the database: a JWT signed on one replica with a
// key just rotated in there verifies on the other.
func TestReplicasShareSigningKeys(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *provider.Config) { cfg.JWTAccessTokens = true })
	svc, secret, err := c.replicas[0].CreateClient(context.Background(), storage.Client{ID: "svc", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}})
	require.NoError(t, err)
	kid, err := c.replicas[0].RotateSigningKey(context.Background(), 0)
	require.NoError(t, err)
	status, body := post(t, c.direct[0]+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, svc.ID, secret)
	require.Equal(t, http.StatusOK, status, "%v", body)
	tok := body["access_token"].(string)
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	require.NoError(t, err)
	require.Contains(t, string(hdr), kid, "signed with the new key")
	status, body = post(t, c.direct[1]+"/oauth2/introspect", url.Values{"token": {tok}}, svc.ID, secret)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, true, body["active"], "the other replica finds the new key in the database")
}

// TOTP codes are single use and failures all count across replicas: the
// decision is made inside one locked database update.
func TestReplicasShareMFAState(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2)
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	var factors []*mfa.TOTP
	for _, s := range c.stores {
		f, err := mfa.NewTOTP(s, mfa.TOTPOptions{Issuer: "test", Key: key, MaxFailures: 1000, Now: func() time.Time { return now }})
		require.NoError(t, err)
		factors = append(factors, f)
	}
	enr, err := factors[0].EnrollSecret(ctx, "sub-alice", "alice", "JBSWY3DPEHPK3PXP")
	require.NoError(t, err)
	secret, err := mfa.DecodeSecret(enr.Secret)
	require.NoError(t, err)

	code := mfa.Code(secret, now)
	errs := racetest.Run(10, func(i int) error { return factors[i%2].Verify(ctx, "sub-alice", code) })
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			assert.ErrorIs(t, err, mfa.ErrInvalidCode)
		}
	}
	assert.Equal(t, 1, ok, "one code, ten attempts on two replicas: one success")

	r, err := c.stores[1].GetMFA(ctx, "sub-alice")
	require.NoError(t, err)
	before := r.Failures
	racetest.Run(20, func(i int) error { return factors[i%2].Verify(ctx, "sub-alice", "000000") })
	r, err = c.stores[0].GetMFA(ctx, "sub-alice")
	require.NoError(t, err)
	assert.Equal(t, before+20, r.Failures, "no failure is lost between replicas")
}

// The password lockout counts failures from every replica together.
func TestReplicasSharePasswordLockout(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, func(cfg *provider.Config) { cfg.AllowLegacyGrants = true })
	ropc, secret, err := c.replicas[0].CreateClient(context.Background(), storage.Client{ID: "ropc", GrantTypes: []string{"password"}, Scopes: []string{"assets:read"}})
	require.NoError(t, err)
	pw := func(replica int, pass string) (int, map[string]any) {
		return post(t, c.direct[replica]+"/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pass}, "scope": {"assets:read"}}, ropc.ID, secret)
	}
	for i := range 5 {
		status, body := pw(i%2, "wrong")
		require.Equal(t, http.StatusBadRequest, status, "%v", body)
	}
	for replica := range 2 {
		status, body := pw(replica, "alice-password")
		assert.Equal(t, http.StatusBadRequest, status, "replica %d: %v", replica, body)
		assert.Contains(t, body["error_description"], "Too many failed sign-ins", "replica %d", replica)
	}
}
