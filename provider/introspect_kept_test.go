package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// readCounter is a memory store (a storage.StatusReader, as the
// embedded store is) that counts the access-token and client reads.
type readCounter struct {
	*memory.Store
	reads       atomic.Int64
	clientReads atomic.Int64
}

func (s *readCounter) GetClient(ctx context.Context, id string) (storage.Client, error) {
	s.clientReads.Add(1)
	return s.Store.GetClient(ctx, id)
}

func (s *readCounter) GetToken(ctx context.Context, kind storage.TokenKind, sig string) (storage.Token, error) {
	if kind == storage.KindAccessToken {
		s.reads.Add(1)
	}
	return s.Store.GetToken(ctx, kind, sig)
}

// TestIntrospectionKeepsDecodedTokens: with a store that has TokenStatus,
// an access token introspected once is not read again at its next
// introspections, and every way an access token ends is still seen at the
// very next one: revocation by its client, a refresh that rotates it away,
// reuse of a rotated refresh token, the user's sign-out everywhere, the
// user's revocation of the app, the client's deletion, and expiry.
func TestIntrospectionKeepsDecodedTokens(t *testing.T) {
	refresh := func(t *testing.T, e *env, token string) (int, map[string]any) {
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}, e.web.ID, e.webSecret)
		return status, body
	}
	// Each case ends the access token of tok, or returns another that it
	// has kept (keep) and ended.
	cases := []struct {
		name string
		end  func(t *testing.T, e *env, keep func(string), tok *oauth2.Token) (ended string)
	}{
		{"revoked by its client", func(t *testing.T, e *env, _ func(string), tok *oauth2.Token) string {
			status, body, _ := e.postForm("/oauth2/revoke", url.Values{"token": {tok.AccessToken}}, e.web.ID, e.webSecret)
			require.Equal(t, http.StatusOK, status, "revocation: %v", body)
			return tok.AccessToken
		}},
		{"rotated away by a refresh", func(t *testing.T, e *env, _ func(string), tok *oauth2.Token) string {
			status, body := refresh(t, e, tok.RefreshToken)
			require.Equal(t, http.StatusOK, status, "refresh: %v", body)
			return tok.AccessToken
		}},
		{"its grant revoked on refresh-token reuse", func(t *testing.T, e *env, keep func(string), tok *oauth2.Token) string {
			status, body := refresh(t, e, tok.RefreshToken)
			require.Equal(t, http.StatusOK, status, "refresh: %v", body)
			next := body["access_token"].(string)
			keep(next)
			e.clock.Advance(time.Minute) // past the reuse grace
			status, body = refresh(t, e, tok.RefreshToken)
			require.Equal(t, http.StatusBadRequest, status, "reuse of a rotated refresh token: %v", body)
			return next
		}},
		{"the user signed out everywhere", func(t *testing.T, e *env, _ func(string), tok *oauth2.Token) string {
			require.NoError(t, e.p.EndUserSessions(context.Background(), "sub-alice"))
			return tok.AccessToken
		}},
		{"the user revoked the app", func(t *testing.T, e *env, _ func(string), tok *oauth2.Token) string {
			require.NoError(t, e.p.RevokeApp(context.Background(), "sub-alice", e.web.ID))
			return tok.AccessToken
		}},
		{"expired", func(t *testing.T, e *env, _ func(string), tok *oauth2.Token) string {
			e.clock.Advance(time.Hour + time.Second)
			return tok.AccessToken
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := &readCounter{Store: memory.New()}
			e := newEnvOn(t, store)
			e.clock.Set(time.Now())
			tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")
			asWeb := func(access string) map[string]any { return e.introspectAs(e.web.ID, e.webSecret, access) }
			keep := func(access string) {
				t.Helper()
				require.Equal(t, true, asWeb(access)["active"])
				before, clientsBefore := store.reads.Load(), store.clientReads.Load()
				for range 3 {
					got := asWeb(access)
					require.Equal(t, true, got["active"])
					assert.Equal(t, "sub-alice", got["sub"])
					assert.Equal(t, "openid offline_access assets:read", got["scope"])
				}
				assert.Equal(t, before, store.reads.Load(), "a kept token is not read again")
				assert.Equal(t, clientsBefore, store.clientReads.Load(), "nor a kept client")
			}
			keep(tok.AccessToken)
			ended := tc.end(t, e, keep, tok)
			assert.Equal(t, map[string]any{"active": false}, asWeb(ended), "the next introspection sees the token ended")
		})
	}
	t.Run("the client deleted", func(t *testing.T) {
		// svc's token, for an API whose resource server is web: web
		// introspects it, and it ends with svc.
		e := newEnv(t)
		ctx := context.Background()
		const api = "https://api.example.com"
		_, err := e.p.UpdateClient(ctx, e.svc.ID, func(c storage.Client) (storage.Client, error) {
			c.Audience = []string{api}
			return c, nil
		})
		require.NoError(t, err)
		_, err = e.p.UpdateClient(ctx, e.web.ID, func(c storage.Client) (storage.Client, error) {
			c.IntrospectAudiences = []string{api}
			return c, nil
		})
		require.NoError(t, err)
		status, tok, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}, "audience": {api}}, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, status, "token: %v", tok)
		access := tok["access_token"].(string)
		for range 3 {
			got := e.introspectAs(e.web.ID, e.webSecret, access)
			require.Equal(t, true, got["active"], "web, svc's resource server, sees svc's token: %v", got)
		}
		require.NoError(t, e.p.DeleteClient(ctx, e.svc.ID))
		assert.Equal(t, map[string]any{"active": false}, e.introspectAs(e.web.ID, e.webSecret, access))
	})
}

// TestIntrospectionKeptConcurrently: many introspections of one kept
// token at once, with the token revoked in their midst, under the race
// detector: each answer is either the whole active answer or inactive,
// and every one after the revocation returned is inactive.
func TestIntrospectionKeptConcurrently(t *testing.T) {
	e := newEnv(t)
	_, tok, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, e.svc.ID, e.svcSecret)
	access := tok["access_token"].(string)
	require.Equal(t, true, e.introspect(access)["active"])

	var revoked atomic.Bool
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				if i == 0 && j == 10 {
					status, body, _ := e.postForm("/oauth2/revoke", url.Values{"token": {access}}, e.svc.ID, e.svcSecret)
					assert.Equal(t, http.StatusOK, status, "revocation: %v", body)
					revoked.Store(true)
				}
				after := revoked.Load()
				got := e.introspect(access)
				if got["active"] == true {
					assert.False(t, after, "an introspection begun after the revocation answered active")
					assert.Equal(t, e.svc.ID, got["client_id"])
					assert.Equal(t, "assets:read", got["scope"])
					continue
				}
				assert.Equal(t, map[string]any{"active": false}, got)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, map[string]any{"active": false}, e.introspect(access))
}

// TestKeptClientsSeeEveryChange: with a store that has ClientsVersion, a
// client is read once and kept, and each change to a client takes effect
// at the next request: its scopes, its IP ranges, a secret rotated without
// grace, a secret's expiry, and its deletion.
func TestKeptClientsSeeEveryChange(t *testing.T) {
	store := &readCounter{Store: memory.New()}
	e := newEnvOn(t, store)
	e.clock.Set(time.Now())
	ctx := context.Background()
	token := func(id, secret, scope string) (int, map[string]any) {
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, id, secret)
		return status, body
	}
	update := func(id string, f func(*storage.Client)) {
		t.Helper()
		_, err := e.p.UpdateClient(ctx, id, func(c storage.Client) (storage.Client, error) { f(&c); return c, nil })
		require.NoError(t, err)
	}

	status, body := token(e.svc.ID, e.svcSecret, "registry:read")
	require.Equal(t, http.StatusOK, status, "%v", body)
	reads := store.clientReads.Load()
	status, body = token(e.svc.ID, e.svcSecret, "registry:read")
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, reads, store.clientReads.Load(), "the client is kept")

	update(e.svc.ID, func(c *storage.Client) { c.Scopes = []string{"assets:read"} })
	status, body = token(e.svc.ID, e.svcSecret, "registry:read")
	assert.Equal(t, http.StatusBadRequest, status, "a scope taken away: %v", body)
	assert.Equal(t, "invalid_scope", body["error"])
	status, body = token(e.svc.ID, e.svcSecret, "assets:read")
	require.Equal(t, http.StatusOK, status, "%v", body)

	update(e.svc.ID, func(c *storage.Client) { c.IPRanges = []string{"10.0.0.0/8"} })
	status, body = token(e.svc.ID, e.svcSecret, "assets:read")
	assert.NotEqual(t, http.StatusOK, status, "a request from outside the client's new IP ranges: %v", body)
	update(e.svc.ID, func(c *storage.Client) { c.IPRanges = nil })
	status, body = token(e.svc.ID, e.svcSecret, "assets:read")
	require.Equal(t, http.StatusOK, status, "%v", body)

	rotated, err := e.p.RotateClientSecret(ctx, e.svc.ID, 0)
	require.NoError(t, err)
	status, body = token(e.svc.ID, e.svcSecret, "assets:read")
	assert.Equal(t, http.StatusUnauthorized, status, "the secret rotated away without grace: %v", body)
	status, body = token(e.svc.ID, rotated, "assets:read")
	require.Equal(t, http.StatusOK, status, "the new secret: %v", body)

	expiring, secret, err := e.p.CreateClient(ctx, storage.Client{ID: "expiring", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}},
		provider.SecretExpiresAt(e.clock.Now().Add(time.Hour)))
	require.NoError(t, err)
	for range 2 {
		status, body = token(expiring.ID, secret, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
	}
	e.clock.Advance(time.Hour)
	status, body = token(expiring.ID, secret, "assets:read")
	assert.Equal(t, http.StatusUnauthorized, status, "the secret expired, nothing written since: %v", body)

	require.NoError(t, e.p.DeleteClient(ctx, e.svc.ID))
	status, body = token(e.svc.ID, rotated, "assets:read")
	assert.Equal(t, http.StatusUnauthorized, status, "the client deleted: %v", body)
}

// TestKeptTokenNeedsItsKey: a kept token is found by its signature alone,
// which a store (and so a database dump) holds; a token made of another
// key and that signature is still refused, by the HMAC check, and the
// real token still passes.
func TestKeptTokenNeedsItsKey(t *testing.T) {
	e := newEnv(t)
	_, tok, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, e.svc.ID, e.svcSecret)
	access := tok["access_token"].(string)
	for range 2 {
		require.Equal(t, true, e.introspect(access)["active"])
	}
	sig := signatureOf(access)
	other := "ory_at_" + strings.Repeat("A", len(access)-len("ory_at_")-len(sig)-1) + "." + sig
	require.NotEqual(t, access, other)
	assert.Equal(t, map[string]any{"active": false}, e.introspectAs(e.svc.ID, e.svcSecret, other), "another key with the kept token's signature")
	assert.Equal(t, true, e.introspect(access)["active"])
}
