package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// resourceServer serves GET /assets (assets:read) and GET /registry
// (registry:read) behind p.Require with APIKeyClient set, and answers with
// what TokenFromContext says.
func (k *keyEnv) resourceServer(clientID string) *httptest.Server {
	k.t.Helper()
	mux := http.NewServeMux()
	for path, s := range map[string]string{"/assets": "assets:read", "/registry": "registry:read"} {
		mux.Handle("GET "+path, k.p.Require(provider.Requirement{Scopes: []string{s}, APIKeyClient: clientID})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ti, ok := provider.TokenFromContext(r.Context())
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": ok, "type": ti.Type, "sub": ti.Subject, "principal_type": ti.PrincipalType,
				"api_key_id": ti.APIKeyID, "scope": ti.Scopes, "client_id": ti.ClientID, "client_ip": ti.ClientIP})
		})))
	}
	srv := httptest.NewServer(mux)
	k.t.Cleanup(srv.Close)
	return srv
}

// call sends GET url with headers (name, value pairs).
func (k *keyEnv) call(u string, headers ...string) (int, map[string]any, http.Header) {
	k.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(k.t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return k.do(req)
}

// TestRequireAcceptsAPIKeys: with Requirement.APIKeyClient, RequireScopes
// works for browsers' tokens and scripts' keys alike, under the same rules
// as the token endpoint, and TokenFromContext tells which it was.
func TestRequireAcceptsAPIKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		k := newKeyEnv(t, store)
		rs := k.resourceServer(k.script.ID)
		made, key := k.aliceKey("acme")

		status, body, _ := k.call(rs.URL+"/assets", provider.APIKeyHeader, key)
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, provider.TokenTypeAPIKey, body["type"], "TokenFromContext says it was a key")
		assert.Equal(t, "sub-alice", body["sub"])
		assert.Equal(t, "user", body["principal_type"])
		assert.Equal(t, made.ID, body["api_key_id"])
		assert.Equal(t, []any{"assets:read"}, body["scope"])
		assert.Equal(t, k.script.ID, body["client_id"])
		assert.Equal(t, "127.0.0.1", body["client_ip"])

		// The same rules: alice's globex key lacks registry:read there, and
		// a key bounded to assets:* too.
		_, globex := k.aliceKey("globex")
		status, body, h := k.call(rs.URL+"/registry", provider.APIKeyHeader, globex)
		assert.Equal(t, http.StatusForbidden, status, "%v", body)
		assert.Contains(t, h.Get("WWW-Authenticate"), `error="insufficient_scope"`)
		status, _, _ = k.call(rs.URL+"/registry", provider.APIKeyHeader, key)
		assert.Equal(t, http.StatusOK, status)

		// A token still works, and says so.
		status, tok, _ := k.scriptToken(key, "assets:read")
		require.Equal(t, http.StatusOK, status)
		status, body, _ = k.call(rs.URL+"/assets", "Authorization", "Bearer "+tok["access_token"].(string))
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "access_token", body["type"])
		assert.Equal(t, "sub-alice", body["sub"])
		assert.Equal(t, made.ID, body["api_key_id"], "a token obtained with a key names the key")

		// Refusals: a wrong key, two keys, a key with a token.
		wrong := "gatehouse_ak_" + made.ID + "_" + key[len(key)-52:len(key)-1] + "a"
		if wrong == key {
			wrong = "gatehouse_ak_" + made.ID + "_" + key[len(key)-52:len(key)-1] + "b"
		}
		status, body, h = k.call(rs.URL+"/assets", provider.APIKeyHeader, wrong)
		assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
		assert.Equal(t, "invalid_token", body["error"])
		assert.Contains(t, h.Get("WWW-Authenticate"), `error="invalid_token"`)
		status, body, _ = k.call(rs.URL+"/assets", provider.APIKeyHeader, key, provider.APIKeyHeader, key)
		assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
		status, body, _ = k.call(rs.URL+"/assets", provider.APIKeyHeader, key, "Authorization", "Bearer "+tok["access_token"].(string))
		assert.Equal(t, http.StatusBadRequest, status, "%v", body)
		assert.Equal(t, "invalid_request", body["error"])

		// Expired and deleted keys, as at the token endpoint.
		require.NoError(t, k.p.DeleteAPIKey(context.Background(), made.ID))
		status, body, _ = k.call(rs.URL+"/assets", provider.APIKeyHeader, key)
		assert.Equal(t, http.StatusUnauthorized, status, "%v", body)

		// Without APIKeyClient the header is ignored: a token is needed.
		status, body, _ = k.call(k.url("/api/assets"), provider.APIKeyHeader, globex)
		assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
		assert.Equal(t, "An access token is required.", body["error_description"])

		// A requirement naming a client that does not accept keys refuses
		// every key (and logs the misconfiguration).
		bad := k.resourceServer(k.svc.ID)
		status, _, _ = k.call(bad.URL+"/assets", provider.APIKeyHeader, globex)
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Contains(t, k.logs.String(), "Requirement.APIKeyClient names no client that accepts API keys")
	})
}

// TestRequireAPIKeyAddressRules: the key's X-Forwarded-For rules hold at
// the middleware too.
func TestRequireAPIKeyAddressRules(t *testing.T) {
	k := newKeyEnv(t, memory.New(), func(c *provider.Config) { c.TrustedProxies = []string{"127.0.0.1"} })
	rs := k.resourceServer(k.script.ID)
	_, lb := k.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme", ForwardedForRanges: []string{"203.0.113.0/24"}})
	status, body, _ := k.call(rs.URL+"/assets", provider.APIKeyHeader, lb, "X-Forwarded-For", "203.0.113.7")
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "203.0.113.7", body["client_ip"])
	status, body, _ = k.call(rs.URL+"/assets", provider.APIKeyHeader, lb)
	assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
	assert.Contains(t, body["error_description"], "needs an X-Forwarded-For header")
	status, body, _ = k.call(rs.URL+"/assets", provider.APIKeyHeader, lb, "X-Forwarded-For", "203.0.113.7, 203.0.113.8")
	assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
	assert.Contains(t, body["error_description"], "exactly one X-Forwarded-For value")
}

// touchCounter is a store that counts TouchAPIKey calls, and can hold
// GetAPIKey calls at a barrier (hold).
type touchCounter struct {
	storage.Store
	storage.ApplicationUserStore
	touches atomic.Int64

	mu      sync.Mutex
	waiting int           // GetAPIKey calls still to arrive at the barrier
	release chan struct{} // closed when they all have
}

// hold makes the next n GetAPIKey calls each wait, after reading, until
// all n have read (or 10 s pass): so that n concurrent requests all see
// the key as it was before any of them wrote.
func (s *touchCounter) hold(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting, s.release = n, make(chan struct{})
}

func (s *touchCounter) GetAPIKey(ctx context.Context, id string) (storage.APIKey, error) {
	k, err := s.ApplicationUserStore.GetAPIKey(ctx, id)
	s.mu.Lock()
	release := s.release
	if s.waiting > 0 {
		s.waiting--
		if s.waiting == 0 {
			close(s.release)
		}
	} else {
		release = nil
	}
	s.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}
	return k, err
}

func (s *touchCounter) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	s.touches.Add(1)
	return s.ApplicationUserStore.TouchAPIKey(ctx, id, at)
}

// TestAPIKeyLastUsedIsCheap: every use updates last-used, but the store is
// written at most once a minute per key, not once a request.
func TestAPIKeyLastUsedIsCheap(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		counter := &touchCounter{Store: store, ApplicationUserStore: store.(storage.ApplicationUserStore)}
		k := newKeyEnv(t, counter)
		k.clock.Set(time.Now().Truncate(time.Second))
		rs := k.resourceServer(k.script.ID)
		made, key := k.aliceKey("acme")
		assert.True(t, made.LastUsedAt.IsZero(), "never used")

		start := k.clock.Now()
		for range 10 {
			status, _, _ := k.scriptToken(key, "assets:read")
			require.Equal(t, http.StatusOK, status)
			status, _, _ = k.call(rs.URL+"/assets", provider.APIKeyHeader, key)
			require.Equal(t, http.StatusOK, status)
			k.clock.Advance(time.Second)
		}
		assert.EqualValues(t, 1, counter.touches.Load(), "20 uses within a minute: one write")
		got, err := k.p.GetAPIKey(context.Background(), made.ID)
		require.NoError(t, err)
		assert.True(t, got.LastUsedAt.Equal(start), "last used at the first use: %v, want %v", got.LastUsedAt, start)

		k.clock.Advance(time.Minute)
		status, _, _ := k.scriptToken(key, "assets:read")
		require.Equal(t, http.StatusOK, status)
		assert.EqualValues(t, 2, counter.touches.Load(), "a use a minute later writes again")
		got, err = k.p.GetAPIKey(context.Background(), made.ID)
		require.NoError(t, err)
		assert.True(t, got.LastUsedAt.Equal(k.clock.Now()), "last used now")

		// Another replica on the same store writes a use only when the
		// stored one is a minute old.
		replica, err := provider.New(provider.Config{
			Issuer: k.issuer, Store: counter, Authenticator: k.db, UserLookup: k.db, Now: k.clock.Now,
			GlobalSecret: []byte("0123456789abcdef0123456789abcdef"),
		})
		require.NoError(t, err)
		use := func() {
			t.Helper()
			h := replica.Require(provider.Requirement{Scopes: []string{"assets:read"}, APIKeyClient: k.script.ID})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			req := httptest.NewRequest(http.MethodGet, "/assets", nil)
			req.Header.Set(provider.APIKeyHeader, key)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, http.StatusOK, rec.Code, "%s", rec.Body)
		}
		k.clock.Advance(30 * time.Second)
		use()
		assert.EqualValues(t, 2, counter.touches.Load(), "the stored use is 30 s old: the replica writes nothing")
		k.clock.Advance(31 * time.Second)
		use()
		use()
		assert.EqualValues(t, 3, counter.touches.Load(), "61 s old: the replica writes once")

		// Concurrent uses that all read the key before any writes: one
		// write per process, not one per request.
		k.clock.Advance(2 * time.Minute)
		counter.hold(20)
		for _, status := range parallel(20, func() int {
			status, _, _ := k.call(rs.URL+"/assets", provider.APIKeyHeader, key)
			return status
		}) {
			require.Equal(t, http.StatusOK, status)
		}
		assert.EqualValues(t, 4, counter.touches.Load(), "20 concurrent uses of a stale key: one write")
	})
}

// TestAPIKeyClientValidation: accepts_api_keys needs a public
// client_credentials-only client without MFA; application_user needs a
// confidential client_credentials-only client and an existing application
// user.
func TestAPIKeyClientValidation(t *testing.T) {
	k := newKeyEnv(t, memory.New())
	ctx := context.Background()
	var fieldsOf func(err error) []string
	fieldsOf = func(err error) []string {
		if ce, ok := err.(*provider.ClientError); ok {
			return []string{ce.Field}
		}
		var out []string
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				out = append(out, fieldsOf(e)...)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		c      storage.Client
		fields []string
	}{
		{"confidential with keys", storage.Client{ID: "a", AcceptsAPIKeys: true, GrantTypes: []string{"client_credentials"}}, []string{"AcceptsAPIKeys"}},
		{"keys and code", storage.Client{ID: "b", Public: true, AcceptsAPIKeys: true, GrantTypes: []string{"client_credentials", "authorization_code"}, RedirectURIs: []string{spaRedirect}}, []string{"AcceptsAPIKeys"}},
		{"keys and MFA", storage.Client{ID: "c", Public: true, AcceptsAPIKeys: true, RequireMFA: true, GrantTypes: []string{"client_credentials"}}, []string{"RequireMFA"}},
		{"public cc without keys", storage.Client{ID: "d", Public: true, GrantTypes: []string{"client_credentials"}}, []string{"GrantTypes"}},
		{"keys and a linked user", storage.Client{ID: "e", Public: true, AcceptsAPIKeys: true, ApplicationUser: "bot", GrantTypes: []string{"client_credentials"}}, []string{"ApplicationUser", "ApplicationUser"}},
		{"public linked", storage.Client{ID: "f", Public: true, ApplicationUser: "bot", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{spaRedirect}}, []string{"ApplicationUser", "ApplicationUser"}},
		{"linked with MFA", storage.Client{ID: "g", ApplicationUser: "bot", RequireMFA: true, GrantTypes: []string{"client_credentials"}}, []string{"RequireMFA"}},
	} {
		_, _, err := k.p.CreateClient(ctx, tc.c)
		require.ErrorIs(t, err, provider.ErrInvalidClient, tc.name)
		assert.ElementsMatch(t, tc.fields, fieldsOf(err), tc.name)
	}
	_, _, err := k.p.CreateClient(ctx, storage.Client{ID: "h", ApplicationUser: "ghost", GrantTypes: []string{"client_credentials"}})
	var ce *provider.ClientError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "ApplicationUser", ce.Field)
	assert.Contains(t, ce.Reason, `there is no application user "ghost"`)
	_, err = k.p.UpdateClient(ctx, k.svc.ID, func(c storage.Client) (storage.Client, error) {
		c.ApplicationUser = "ghost"
		return c, nil
	})
	require.ErrorAs(t, err, &ce, "an update linking a missing application user")
	assert.Equal(t, "ApplicationUser", ce.Field)

	// Over the admin API, with JSON names.
	ad := newAdminAPI(t, k.p)
	a := ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "mfa-script", "token_endpoint_auth_method": "none",
		"grant_types": []string{"client_credentials"}, "accepts_api_keys": true, "require_mfa": true}).requireStatus(t, http.StatusBadRequest)
	assert.Equal(t, []string{"require_mfa"}, a.fields())
	assert.Contains(t, a.field("require_mfa"), "cannot accept API keys")
	a = ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "script", "token_endpoint_auth_method": "none",
		"grant_types": []string{"client_credentials"}, "accepts_api_keys": true, "scope": "assets:read"}).requireStatus(t, http.StatusCreated)
	assert.Equal(t, true, a.body["accepts_api_keys"])
	assert.Equal(t, "", a.body["application_user"])
	assert.NotContains(t, a.body, "client_secret")
}

// TestAPIKeysOfAccountPage: the Go API an account page uses: a user lists
// their own keys and revokes one, but never another user's.
func TestAPIKeysOfAccountPage(t *testing.T) {
	k := newKeyEnv(t, memory.New())
	ctx := context.Background()
	mine, key := k.aliceKey("acme")
	other, _ := k.newKey(storage.APIKey{Owner: "sub-bob"})
	status, tok, _ := k.scriptToken(key, "assets:read")
	require.Equal(t, http.StatusOK, status)

	list, err := k.p.APIKeysOf(ctx, "sub-alice")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, mine.ID, list[0].ID)
	assert.Empty(t, list[0].Hash, "never the hash")

	assert.ErrorIs(t, k.p.RevokeOwnAPIKey(ctx, "sub-alice", other.ID), storage.ErrNotFound, "bob's key is not alice's to revoke")
	_, err = k.p.GetAPIKey(ctx, other.ID)
	require.NoError(t, err, "and it stays")
	assert.ErrorIs(t, k.p.RevokeOwnAPIKey(ctx, "sub-alice", "nope"), storage.ErrNotFound)
	require.NoError(t, k.p.RevokeOwnAPIKey(ctx, "sub-alice", mine.ID))
	assert.Equal(t, http.StatusUnauthorized, k.apiStatus(tok["access_token"].(string)), "its tokens end")
	list, err = k.p.APIKeysOf(ctx, "sub-alice")
	require.NoError(t, err)
	assert.Empty(t, list)
	assert.Contains(t, k.logs.String(), "revoked_by=owner")
}

// noKeyStore is a store that keeps no API keys.
type noKeyStore struct{ storage.Store }

// TestAPIKeysNeedAStoreThatKeepsThem: on a store without APIKeyStore the
// methods say so, the admin routes answer 501, and a script's client is
// refused.
func TestAPIKeysNeedAStoreThatKeepsThem(t *testing.T) {
	e := newEnvOn(t, noKeyStore{memory.New()})
	ctx := context.Background()
	_, _, err := e.p.CreateAPIKey(ctx, storage.APIKey{OwnerType: storage.PrincipalUser, Owner: "sub-alice"})
	assert.ErrorIs(t, err, provider.ErrAPIKeysUnsupported)
	_, err = e.p.CreateApplicationUser(ctx, storage.ApplicationUser{ID: "bot"})
	assert.ErrorIs(t, err, provider.ErrAPIKeysUnsupported)
	ad := newAdminAPI(t, e.p)
	a := ad.call(http.MethodGet, "/api-keys", nil).requireStatus(t, http.StatusNotImplemented)
	assert.Equal(t, "not_implemented", a.body["error"])
	ad.call(http.MethodGet, "/application-users", nil).requireStatus(t, http.StatusNotImplemented)
}

// TestAPIKeyGrantsEndWithTheKey: a token obtained with a key records the
// key's current secret (storage.Request.LoginSID "apikey:<id>:..."), and
// rotating the key ends that record, so that a token of the old secret
// stored after the rotation (one being issued at that moment) is stored
// inactive; the new secret's tokens carry another.
func TestAPIKeyGrantsEndWithTheKey(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		k := newKeyEnv(t, store)
		ctx := context.Background()
		made, key := k.aliceKey("acme")
		status, tok, _ := k.scriptToken(key, "assets:read")
		require.Equal(t, http.StatusOK, status)
		rec := k.tokenRecord(tok["access_token"].(string))
		sid := rec.Request.LoginSID
		require.Regexp(t, `^apikey:`+made.ID+`:[A-Za-z0-9_-]{16}$`, sid)

		_, rotated, err := k.p.RotateAPIKey(ctx, made.ID)
		require.NoError(t, err)
		late := rec
		late.Signature, late.Active = "late-"+rec.Signature, true
		require.NoError(t, store.CreateToken(ctx, late))
		got, err := store.GetToken(ctx, storage.KindAccessToken, late.Signature)
		require.NoError(t, err)
		assert.False(t, got.Active, "a token of the rotated-out secret stored afterwards is inactive")

		status, tok, _ = k.scriptToken(rotated, "assets:read")
		require.Equal(t, http.StatusOK, status)
		next := k.tokenRecord(tok["access_token"].(string)).Request.LoginSID
		assert.NotEqual(t, sid, next, "the new secret's grants have their own")
		assert.True(t, strings.HasPrefix(next, "apikey:"+made.ID+":"))
	})
}

// tokenRecord returns the stored record of an access token.
func (e *env) tokenRecord(token string) storage.Token {
	e.t.Helper()
	rec, err := e.store.GetToken(context.Background(), storage.KindAccessToken, token[strings.LastIndexByte(token, '.')+1:])
	require.NoError(e.t, err)
	return rec
}

// TestAPIKeySurvivesGlobalSecretRotation: a key hashed under the global
// secret before a rotation keeps working while the old secret is listed
// in RotatedGlobalSecrets, and not after.
func TestAPIKeySurvivesGlobalSecretRotation(t *testing.T) {
	k := newKeyEnv(t, memory.New())
	_, key := k.aliceKey("acme")
	next := func(rotated ...[]byte) *provider.Provider {
		p, err := provider.New(provider.Config{
			Issuer: k.issuer, Store: k.store, Authenticator: k.db, UserLookup: k.db,
			GlobalSecret: []byte("a-new-global-secret-of-32-bytes!"), RotatedGlobalSecrets: rotated,
		})
		require.NoError(t, err)
		return p
	}
	use := func(p *provider.Provider) int {
		h := p.Require(provider.Requirement{Scopes: []string{"assets:read"}, APIKeyClient: k.script.ID})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		req := httptest.NewRequest(http.MethodGet, "/assets", nil)
		req.Header.Set(provider.APIKeyHeader, key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, http.StatusOK, use(next([]byte("0123456789abcdef0123456789abcdef"))), "the old global secret, listed as rotated")
	assert.Equal(t, http.StatusUnauthorized, use(next()), "the old global secret, no longer listed")
}

// TestAPIKeyJWTAccessToken: a client that issues JWT access tokens gives
// a script a JWT whose sub is the key's owner and whose principal_type
// says so.
func TestAPIKeyJWTAccessToken(t *testing.T) {
	k := newKeyEnv(t, memory.New())
	_, err := k.p.UpdateClient(context.Background(), k.script.ID, func(c storage.Client) (storage.Client, error) {
		c.AccessTokenFormat = "jwt"
		return c, nil
	})
	require.NoError(t, err)
	_, key := k.aliceKey("acme")
	status, tok, _ := k.scriptToken(key, "assets:read")
	require.Equal(t, http.StatusOK, status, "%v", tok)
	claims := jwtClaims(t, tok["access_token"].(string))
	assert.Equal(t, "sub-alice", claims["sub"])
	assert.Equal(t, "user", claims["principal_type"])
	assert.Equal(t, "acme", claims["customer_id"])
	assert.Equal(t, http.StatusOK, k.apiStatus(tok["access_token"].(string)))
}

// jwtClaims decodes a JWT's payload, unverified.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWT")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// TestAPIKeyLockoutDefaults: by default 10 wrong secrets in a row lock a
// key ID for 1 s.
func TestAPIKeyLockoutDefaults(t *testing.T) {
	k := newKeyEnv(t, memory.New())
	k.clock.Set(time.Now())
	made, _ := k.aliceKey("acme")
	wrong := "gatehouse_ak_" + made.ID + "_" + strings.Repeat("a", 52)
	for i := range 9 {
		_, _, h := k.scriptToken(wrong, "assets:read")
		require.Empty(t, h.Get("Retry-After"), "failure %d", i+1)
	}
	_, body, h := k.scriptToken(wrong, "assets:read")
	assert.Equal(t, "1", h.Get("Retry-After"), "the tenth locks for 1 s: %v", body)
}

// FuzzAPIKeyTokenEndpoint sends the token endpoint any X-API-Key value
// for the script client: never a 5xx, always a JSON error but for the one
// real key, and a token only for it.
//
//	go test -fuzz FuzzAPIKeyTokenEndpoint ./provider
func FuzzAPIKeyTokenEndpoint(f *testing.F) {
	k := newKeyEnv(f, memory.New())
	_, key := k.aliceKey("acme")
	for _, seed := range []string{key, key[:len(key)-1], key + "a", strings.ToUpper(key), "gatehouse_ak_", "", "\x00", key + ", " + key} {
		f.Add(seed, "assets:read")
	}
	handler := k.p.Handler()
	f.Fuzz(func(t *testing.T, header, scope string) {
		body := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.script.ID}, "scope": {scope}}.Encode()
		req := httptest.NewRequest(http.MethodPost, k.issuer+"/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header[provider.APIKeyHeader] = []string{header}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d for X-API-Key %q: %s", rec.Code, header, rec.Body)
		case rec.Code == http.StatusOK && header != key:
			t.Fatalf("a token for X-API-Key %q", header)
		case rec.Code != http.StatusOK && !isOAuthErrorBody(rec.Body.Bytes()):
			t.Fatalf("status %d without a JSON error: %q", rec.Code, rec.Body)
		}
	})
}
