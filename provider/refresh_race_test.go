package provider_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/internal/racetest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// raceWidth is how many refreshes of one token race.
const raceWidth = 8

// alreadyUsed is in the description of every answer to a refresh token
// that lost a race or was reused.
const alreadyUsed = "The refresh token was already used"

// gateStore wraps a store to order concurrent refreshes. While armed, each
// read of a refresh token waits until n reads have arrived, so that n
// concurrent refreshes all see the token active and all reach the atomic
// rotation, where exactly one wins: every loser is a loser of the
// rotation, none a late arrival. While holding, the first read of a
// refresh token passes and every later one waits for release, so that the
// first refresh completes and the others all arrive late, together. fail
// makes every token read fail as a broken backend would. It passes the
// wrapped store's transactions through.
type gateStore struct {
	storage.Store
	left atomic.Int32
	all  chan struct{}
	fail atomic.Bool

	holding atomic.Bool
	passed  atomic.Bool
	held    atomic.Int32
	target  int32
	allHeld chan struct{} // closed when target reads are held
	release chan struct{}
}

// hold lets the next refresh token read pass and holds the n after it.
func (s *gateStore) hold(n int) {
	s.release = make(chan struct{})
	s.allHeld = make(chan struct{})
	s.target = int32(n)
	s.passed.Store(false)
	s.held.Store(0)
	s.holding.Store(true)
}

var errBackendDown = errors.New("test backend: connection refused")

func (s *gateStore) arm(n int) {
	s.all = make(chan struct{})
	s.left.Store(int32(n))
}

func (s *gateStore) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	if s.fail.Load() {
		return storage.Token{}, errBackendDown
	}
	if kind == storage.KindRefreshToken && s.holding.Load() && !s.passed.CompareAndSwap(false, true) {
		if s.held.Add(1) == s.target {
			close(s.allHeld)
		}
		<-s.release
	}
	t, err := s.Store.GetToken(ctx, kind, sig)
	if kind == storage.KindRefreshToken && s.left.Load() > 0 {
		if s.left.Add(-1) == 0 {
			close(s.all)
		}
		select {
		case <-s.all:
		case <-time.After(20 * time.Second): // the test then fails on its counts
		}
	}
	return t, err
}

func (s *gateStore) BeginTx(ctx context.Context) (context.Context, error) {
	if t, ok := s.Store.(storage.Transactor); ok {
		return t.BeginTx(ctx)
	}
	return ctx, nil
}

func (s *gateStore) Commit(ctx context.Context) error {
	if t, ok := s.Store.(storage.Transactor); ok {
		return t.Commit(ctx)
	}
	return nil
}

func (s *gateStore) Rollback(ctx context.Context) error {
	if t, ok := s.Store.(storage.Transactor); ok {
		return t.Rollback(ctx)
	}
	return nil
}

// refresh posts a refresh_token grant as the web client.
func (e *env) refresh(rt string) (int, map[string]any) {
	e.t.Helper()
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, e.web.ID, e.webSecret)
	return status, body
}

// raceRefresh refreshes rt raceWidth times at once and checks the contract:
// exactly one 200, every loser 400 invalid_grant saying that the refresh
// token was already used. It returns the winner's access and refresh
// tokens.
func (e *env) raceRefresh(t *testing.T, rt string) (access, refresh string) {
	t.Helper()
	type result struct {
		status int
		body   map[string]any
	}
	results := racetest.Run(raceWidth, func(int) result {
		s, b := e.refresh(rt)
		return result{s, b}
	})
	wins := 0
	for i, r := range results {
		if r.status == http.StatusOK {
			wins++
			access, _ = r.body["access_token"].(string)
			refresh, _ = r.body["refresh_token"].(string)
			continue
		}
		assert.Equal(t, http.StatusBadRequest, r.status, "loser %d: %v", i, r.body)
		assert.Equal(t, "invalid_grant", r.body["error"], "loser %d: %v", i, r.body)
		desc, _ := r.body["error_description"].(string)
		assert.Contains(t, desc, alreadyUsed, "loser %d is told about its refresh token, not a code: %v", i, r.body)
	}
	require.Equal(t, 1, wins, "exactly one of %d concurrent refreshes succeeds", raceWidth)
	require.NotEmpty(t, access)
	require.NotEmpty(t, refresh)
	return access, refresh
}

// assertActive checks that the access token and the refresh token are both
// active (want) or both not.
func (e *env) assertActive(t *testing.T, want bool, access, refresh, msg string) {
	t.Helper()
	assert.Equal(t, want, e.introspect(access)["active"], "%s: access token", msg)
	assert.Equal(t, want, e.introspect(refresh)["active"], "%s: refresh token", msg)
}

// assertReuseAnswer checks the answer to a reused refresh token.
func assertReuseAnswer(t *testing.T, status int, body map[string]any, msg string) {
	t.Helper()
	assert.Equal(t, http.StatusBadRequest, status, "%s: %v", msg, body)
	assert.Equal(t, "invalid_grant", body["error"], "%s: %v", msg, body)
	desc, _ := body["error_description"].(string)
	assert.Contains(t, desc, alreadyUsed, "%s: %v", msg, body)
	assert.NotContains(t, desc, "authorization code has already been used", msg)
}

// Concurrent refreshes that all reach the rotation: one wins, the others
// lose the rotation, get invalid_grant about the refresh token, and revoke
// nothing, with no grace period at all. A sequential reuse after the
// rotation committed is reuse: it revokes the family.
func TestRefreshRaceRotationLosersRevokeNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		gate := &gateStore{Store: store}
		e := newEnvOn(t, gate)
		tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")

		gate.arm(raceWidth)
		access, refresh := e.raceRefresh(t, tok.RefreshToken)
		require.Zero(t, gate.left.Load(), "every refresh read the token before any rotated it")

		e.assertActive(t, true, access, refresh, "the winner's tokens survive the losers")
		status, body := e.refresh(refresh)
		require.Equal(t, http.StatusOK, status, "the winner's refresh token still refreshes: %v", body)
		access2, _ := body["access_token"].(string)
		refresh2, _ := body["refresh_token"].(string)
		e.assertActive(t, true, access2, refresh2, "after the winner's own refresh")

		// Grace 0: the first token, presented again after its rotation
		// committed, is reuse.
		status, body = e.refresh(tok.RefreshToken)
		assertReuseAnswer(t, status, body, "reuse after the rotation")
		e.assertActive(t, false, access2, refresh2, "reuse revokes the newest tokens of the family")
	})
}

// Concurrent refreshes of which all but the first arrive after the first
// committed its rotation, together: every late loser gets invalid_grant
// about the refresh token. With no grace they are reuse and the family
// ends revoked (and their concurrent revocations do not trip over each
// other); within Config.RefreshReuseGrace they revoke nothing.
func TestRefreshRaceLateLosers(t *testing.T) {
	for _, grace := range []time.Duration{0, 10 * time.Second} {
		t.Run(grace.String(), func(t *testing.T) {
			forEachStore(t, func(t *testing.T, store storage.Store) {
				gate := &gateStore{Store: store}
				clock := stoppedClock()
				e := newEnvOn(t, gate, func(c *provider.Config) {
					c.RefreshReuseGrace = grace
					c.Now = clock.Now
				})
				tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")

				gate.hold(raceWidth - 1)
				release := sync.OnceFunc(func() { close(gate.release) })
				t.Cleanup(release) // before the server's Close, which waits for held requests
				type result struct {
					status int
					body   map[string]any
				}
				results := make(chan result, raceWidth)
				for range raceWidth {
					go func() {
						s, b := e.refresh(tok.RefreshToken)
						results <- result{s, b}
					}()
				}
				first := <-results // the others are held
				require.Equal(t, http.StatusOK, first.status, "the first refresh wins: %v", first.body)
				access, _ := first.body["access_token"].(string)
				refresh, _ := first.body["refresh_token"].(string)
				select {
				case <-gate.allHeld:
				case <-time.After(30 * time.Second):
					t.Fatalf("only %d of the %d late refreshes reached the store", gate.held.Load(), raceWidth-1)
				}
				release()
				for i := range raceWidth - 1 {
					r := <-results
					assertReuseAnswer(t, r.status, r.body, fmt.Sprintf("late loser %d", i))
				}
				gate.holding.Store(false)

				if grace == 0 {
					e.assertActive(t, false, access, refresh, "late losers without grace are reuse: the family is revoked")
					return
				}
				e.assertActive(t, true, access, refresh, "late losers within the grace revoke nothing")
				status, body := e.refresh(refresh)
				assert.Equal(t, http.StatusOK, status, "the winner's refresh token still refreshes: %v", body)
			})
		})
	}
}

// With Config.RefreshReuseGrace, a refresh token presented again within the
// grace (the late losers of a race, or a retry) gets invalid_grant and
// revokes nothing; after the grace it is reuse and revokes the family.
func TestRefreshRaceWithinGrace(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		// A stopped clock (env_test.go), so that "within the grace"
		// does not depend on how fast the machine runs the test.
		clock := stoppedClock()
		e := newEnvOn(t, store, func(c *provider.Config) {
			c.RefreshReuseGrace = 10 * time.Second
			c.Now = clock.Now
		})
		tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")

		access, refresh := e.raceRefresh(t, tok.RefreshToken)
		e.assertActive(t, true, access, refresh, "the winner's tokens survive every loser")

		clock.Advance(9 * time.Second)
		status, body := e.refresh(tok.RefreshToken)
		assertReuseAnswer(t, status, body, "within the grace")
		assert.Nil(t, body["access_token"], "within the grace no token is issued")
		e.assertActive(t, true, access, refresh, "a presentation within the grace revokes nothing")

		status, body = e.refresh(refresh)
		require.Equal(t, http.StatusOK, status, "the winner's refresh token still refreshes: %v", body)
		access2, _ := body["access_token"].(string)
		refresh2, _ := body["refresh_token"].(string)

		clock.Advance(2 * time.Second) // 11 s after the first rotation, 2 s after the second
		status, body = e.refresh(tok.RefreshToken)
		assertReuseAnswer(t, status, body, "after the grace")
		e.assertActive(t, false, access2, refresh2, "reuse after the grace revokes the family")
	})
}

// A reused authorization code keeps its answer and its revocation, and
// the losers of a concurrent exchange are told about the code.
func TestCodeReuseKeepsItsAnswer(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid", "offline_access")
		exchange := func(code, verifier string) (int, map[string]any) {
			status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {webRedirect}, "code_verifier": {verifier}}, e.web.ID, e.webSecret)
			return status, body
		}
		assertCodeUsed := func(status int, body map[string]any, msg string) {
			t.Helper()
			assert.Equal(t, http.StatusBadRequest, status, "%s: %v", msg, body)
			assert.Equal(t, "invalid_grant", body["error"], "%s: %v", msg, body)
			desc, _ := body["error_description"].(string)
			assert.Contains(t, desc, "authorization code has already been used", "%s: %v", msg, body)
		}

		v := oauth2.GenerateVerifier()
		back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")
		code := back.Query().Get("code")
		status, body := exchange(code, v)
		require.Equal(t, http.StatusOK, status, "%v", body)
		access, _ := body["access_token"].(string)
		refresh, _ := body["refresh_token"].(string)
		status, body = exchange(code, v)
		assertCodeUsed(status, body, "sequential reuse")
		e.assertActive(t, false, access, refresh, "code reuse revokes the tokens issued for the code")

		v = oauth2.GenerateVerifier()
		back = e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")
		code = back.Query().Get("code")
		type result struct {
			status int
			body   map[string]any
		}
		results := racetest.Run(raceWidth, func(int) result {
			s, b := exchange(code, v)
			return result{s, b}
		})
		wins := 0
		for i, r := range results {
			if r.status == http.StatusOK {
				wins++
				continue
			}
			assertCodeUsed(r.status, r.body, fmt.Sprintf("concurrent loser %d", i))
		}
		assert.Equal(t, 1, wins, "exactly one exchange succeeds")
	})
}

// Provider.Introspect answers with Gatehouse's errors, never fosite's.
func TestIntrospectReturnsGatehouseErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		gate := &gateStore{Store: store}
		e := newEnvOn(t, gate)
		tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")
		ctx := t.Context()

		info, err := e.p.Introspect(ctx, tok.AccessToken)
		require.NoError(t, err)
		assert.Equal(t, "sub-alice", info.Subject)

		noFosite := func(err error, msg string) {
			t.Helper()
			var rfc *fosite.RFC6749Error
			assert.False(t, errors.As(err, &rfc), "%s: no fosite error in %v", msg, err)
		}
		for name, token := range map[string]string{
			"garbage":       "not-a-token",
			"unknown":       "ory_at_x.y",
			"refresh token": tok.RefreshToken,
			"empty":         "",
		} {
			_, err := e.p.Introspect(ctx, token)
			assert.ErrorIs(t, err, provider.ErrInvalidToken, name)
			assert.NotErrorIs(t, err, provider.ErrUnavailable, name)
			noFosite(err, name)
		}

		gate.fail.Store(true)
		_, err = e.p.Introspect(ctx, tok.AccessToken)
		gate.fail.Store(false)
		assert.ErrorIs(t, err, provider.ErrUnavailable, "a broken store is unavailable, not an invalid token")
		assert.ErrorIs(t, err, errBackendDown, "the backend's error is kept")
		assert.NotErrorIs(t, err, provider.ErrInvalidToken)
		noFosite(err, "unavailable")

		// And the middleware built on it answers accordingly.
		gate.fail.Store(true)
		req, _ := http.NewRequest(http.MethodGet, e.url("/api/assets"), nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		status, body, _ := e.do(req)
		gate.fail.Store(false)
		assert.Equal(t, http.StatusServiceUnavailable, status, "%v", body)
		assert.Equal(t, "temporarily_unavailable", body["error"])
	})
}

func TestConfigRefreshReuseGrace(t *testing.T) {
	for _, tc := range []struct {
		grace time.Duration
		ok    bool
	}{
		{0, true}, {time.Second, true}, {60 * time.Second, true},
		{-time.Nanosecond, false}, {60*time.Second + time.Nanosecond, false}, {time.Hour, false},
	} {
		_, err := provider.New(provider.Config{
			Issuer: "https://id.example.com", Store: memory.New(), Authenticator: userDB{},
			GlobalSecret: []byte("0123456789abcdef0123456789abcdef"), RefreshReuseGrace: tc.grace,
		})
		if tc.ok {
			assert.NoError(t, err, "%v", tc.grace)
			continue
		}
		var ce *provider.ConfigError
		if assert.ErrorAs(t, err, &ce, "%v", tc.grace) {
			assert.Equal(t, "RefreshReuseGrace", ce.Field)
			assert.True(t, strings.Contains(ce.Reason, "60s"), ce.Reason)
		}
	}
}
