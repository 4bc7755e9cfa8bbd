package provider_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// The API key tests run on the access-control environment (alice in acme
// and globex, bob in acme, carol without roles) with the demo's script
// client: demo-script accepts API keys, may ask for assets:read,
// assets:write and registry:read, and is bounded to assets:read and
// registry:read, as the demo is.

// syncBuffer is a buffer the provider's logger writes to from many
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// keyEnv is the access-control environment with API keys.
type keyEnv struct {
	*acEnv
	script storage.Client // accepts API keys
	rs     storage.Client // a resource server that introspects the script's tokens of audience apiAudience
	rsSec  string
	logs   *syncBuffer
}

// add adds a user to the directory.
func (d *acDB) add(username, password string, u provider.User) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users[username] = &acUser{password: password, user: u}
}

// scriptLifetime is demo-script's access token lifetime.
const scriptLifetime = 10 * time.Minute

func newKeyEnv(t testing.TB, store storage.Store, mutate ...func(*provider.Config)) *keyEnv {
	t.Helper()
	logs := &syncBuffer{}
	k := &keyEnv{logs: logs}
	k.acEnv = newACEnvOn(t, store, append([]func(*provider.Config){func(c *provider.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}}, mutate...)...)
	ctx := context.Background()
	var err error
	k.script, _, err = k.p.CreateClient(ctx, storage.Client{
		ID: "demo-script", Name: "Scripts", Public: true, AcceptsAPIKeys: true,
		GrantTypes:          []string{"client_credentials"},
		Scopes:              []string{"openid", "assets:read", "assets:write", "registry:read"},
		PermissionScope:     []string{"assets:read", "registry:read"},
		Audience:            []string{apiAudience},
		AccessTokenLifetime: scriptLifetime,
	})
	require.NoError(t, err)
	k.rs, k.rsSec, err = k.p.CreateClient(ctx, storage.Client{
		ID: "rs", GrantTypes: []string{"client_credentials"}, IntrospectAudiences: []string{apiAudience},
	})
	require.NoError(t, err)
	return k
}

// newKey makes an API key with the Go API and returns it and the key
// string.
func (k *keyEnv) newKey(key storage.APIKey, opts ...provider.SecretOption) (storage.APIKey, string) {
	k.t.Helper()
	if key.OwnerType == "" {
		key.OwnerType = storage.PrincipalUser
	}
	made, plain, err := k.p.CreateAPIKey(context.Background(), key, opts...)
	require.NoError(k.t, err)
	return made, plain
}

// aliceKey makes a key of alice in tenant.
func (k *keyEnv) aliceKey(tenant string) (storage.APIKey, string) {
	k.t.Helper()
	return k.newKey(storage.APIKey{Owner: "sub-alice", Tenant: tenant, Name: "alice's script"})
}

// scriptToken asks the token endpoint for a token with key (none if "")
// as client (demo-script if ""), for scope, with extra headers (name,
// value pairs; a name may repeat).
func (k *keyEnv) scriptToken(key, scope string, headers ...string) (int, map[string]any, http.Header) {
	return k.scriptTokenAs(k.script.ID, key, scope, headers...)
}

func (k *keyEnv) scriptTokenAs(clientID, key, scope string, headers ...string) (int, map[string]any, http.Header) {
	k.t.Helper()
	v := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}}
	if scope != "" {
		v.Set("scope", scope)
	}
	req, err := http.NewRequest(http.MethodPost, k.url("/oauth2/token"), strings.NewReader(v.Encode()))
	require.NoError(k.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if key != "" {
		req.Header.Set(provider.APIKeyHeader, key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return k.do(req)
}

// requireRefused asserts a 401 invalid_client answer (with
// WWW-Authenticate) whose description matches desc.
func requireRefused(t *testing.T, status int, body map[string]any, h http.Header, desc string, msgAndArgs ...any) {
	t.Helper()
	require.Equal(t, http.StatusUnauthorized, status, append([]any{"%v"}, body)...)
	assert.Equal(t, "invalid_client", body["error"], msgAndArgs...)
	assert.NotEmpty(t, h.Get("WWW-Authenticate"), msgAndArgs...)
	assert.Regexp(t, desc, body["error_description"], msgAndArgs...)
	assert.NotContains(t, body, "access_token", msgAndArgs...)
}

// keyRe finds API keys in text.
var keyRe = regexp.MustCompile(`gatehouse_ak_[a-z2-7]{16}_[a-z2-7]{52}`)

// assertNoKeysLogged asserts that no key, and no secret part of one,
// reached the logs.
func (k *keyEnv) assertNoKeysLogged(keys ...string) {
	k.t.Helper()
	logs := k.logs.String() + k.auditText()
	assert.False(k.t, keyRe.MatchString(logs), "no API key is logged")
	for _, key := range keys {
		if i := strings.LastIndexByte(key, '_'); i > 0 {
			assert.NotContains(k.t, logs, key[i+1:], "no key's secret is logged")
		}
	}
}

// auditText returns the stored audit events of the given types (every
// type when none is given) as text, one line each: type, actor, subject,
// details and the other fields. AuditEvents waits for the events queued
// before it, so the refusals of the requests made so far are there.
func (k *keyEnv) auditText(types ...string) string {
	k.t.Helper()
	evs, err := k.p.AuditEvents(context.Background(), storage.AuditQuery{Types: types})
	require.NoError(k.t, err)
	var b strings.Builder
	for _, e := range evs {
		details := make([]string, len(e.Details))
		for i, d := range e.Details {
			details[i] = d.Name + ":" + d.Value
		}
		fmt.Fprintf(&b, "%s actor=%s:%s subject=%s target=%s client=%s addr=%s details=map[%s]\n",
			e.Type, e.Actor.Kind, e.Actor.ID, e.Subject, e.Target, e.ClientID, e.ClientAddr, strings.Join(details, " "))
	}
	return b.String()
}

// TestAPIKeyScriptActsAsUser: a script presenting alice's acme key gets a
// session of alice whose scopes are requested ∩ the client's permission
// scope ∩ her acme permissions (∩ the key's bound), whose client_ip is the
// caller's address and whose lifetime is the client's, and no refresh
// token; with her globex key, her globex permissions.
func TestAPIKeyScriptActsAsUser(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		k := newKeyEnv(t, store)
		_, acmeKey := k.aliceKey("acme")

		status, body, _ := k.scriptToken(acmeKey, "assets:read assets:write registry:read", "X-Forwarded-For", "198.51.100.9")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "assets:read registry:read", body["scope"], "assets:write: alice holds it in acme, but the client's permission scope does not")
		assert.NotContains(t, body, "refresh_token")
		assert.InDelta(t, scriptLifetime.Seconds(), body["expires_in"], 5, "the client's lifetime")
		access := body["access_token"].(string)
		assert.Equal(t, http.StatusOK, k.apiStatus(access), "the token works at RequireScopes(assets:read)")

		info, err := k.p.Introspect(context.Background(), access)
		require.NoError(t, err)
		assert.Equal(t, "sub-alice", info.Subject, "the subject is the key's owner")
		assert.Equal(t, "user", info.PrincipalType)
		assert.Equal(t, k.script.ID, info.ClientID)
		assert.Equal(t, "127.0.0.1", info.ClientIP, "the caller's address; its X-Forwarded-For is not believed without a trusted proxy")
		require.NotNil(t, info.Tenant)
		assert.Equal(t, "acme", info.Tenant.ID)
		assert.NotEmpty(t, info.APIKeyID)

		// A script asking for less gets less; asking for nothing, nothing.
		status, body, _ = k.scriptToken(acmeKey, "registry:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "registry:read", body["scope"])

		// Her globex key: only what she holds in globex.
		_, globexKey := k.aliceKey("globex")
		status, body, _ = k.scriptToken(globexKey, "assets:read registry:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "assets:read", body["scope"], "alice holds only assets:read in globex")

		// A key's own bound narrows further.
		_, bounded := k.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme", PermissionScope: []string{"assets:*"}})
		status, body, _ = k.scriptToken(bounded, "assets:read registry:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "assets:read", body["scope"], "the key's bound assets:* leaves registry:read out")

		// bob, with assets:read only in acme.
		_, bobKey := k.newKey(storage.APIKey{Owner: "sub-bob"})
		status, body, _ = k.scriptToken(bobKey, "assets:read registry:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "assets:read", body["scope"], "bob's only tenant is taken")

		// Introspection over HTTP, by a resource server of the token's
		// audience, says principal_type user.
		status, body, _ = k.scriptToken(acmeKey, "assets:read", "X-Unused", "x")
		require.Equal(t, http.StatusOK, status)
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.script.ID}, "scope": {"assets:read"}, "audience": {apiAudience}}
		req, _ := http.NewRequest(http.MethodPost, k.url("/oauth2/token"), strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(provider.APIKeyHeader, acmeKey)
		status, body, _ = k.do(req)
		require.Equal(t, http.StatusOK, status, "%v", body)
		intro := k.introspectAs(k.rs.ID, k.rsSec, body["access_token"].(string))
		assert.Equal(t, true, intro["active"])
		assert.Equal(t, "sub-alice", intro["sub"])
		assert.Equal(t, "user", intro["principal_type"])
		assert.Equal(t, "127.0.0.1", intro["client_ip"])
		assert.Equal(t, "acme", intro["customer_id"])

		k.assertNoKeysLogged(acmeKey, globexKey, bounded, bobKey)
	})
}

// TestAPIKeyRefused: wrong, unknown, malformed, missing, repeated,
// expired, rotated-out and deleted keys are 401 invalid_client, and so is
// a key whose owner lost the client's role or the key's tenant, or no
// longer exists; rotating or deleting a key revokes the tokens it got.
func TestAPIKeyRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		k := newKeyEnv(t, store)
		ctx := context.Background()
		made, key := k.aliceKey("acme")
		other := made.ID // a real ID with a wrong secret
		wrong := "gatehouse_ak_" + other + "_" + strings.Repeat("a", 52)
		unknown := "gatehouse_ak_" + strings.Repeat("b", 16) + "_" + key[len(key)-52:]

		generic := `The API key is unknown, expired or revoked`
		for _, tc := range []struct {
			name    string
			key     string
			headers []string
			desc    string
		}{
			{"wrong secret", wrong, nil, generic},
			{"unknown ID", unknown, nil, generic},
			{"malformed", "not-a-key", nil, generic},
			{"upper case", strings.ToUpper(key), nil, generic},
			{"no key", "", nil, `accepts only API keys: send one in the X-API-Key header`},
			{"two keys", key, []string{provider.APIKeyHeader, key}, `exactly one X-API-Key`},
		} {
			status, body, h := k.scriptToken(tc.key, "assets:read", tc.headers...)
			requireRefused(t, status, body, h, tc.desc, tc.name)
		}

		// A client secret or Basic credentials beside the key.
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.script.ID}, "client_secret": {"x"}}
		req, _ := http.NewRequest(http.MethodPost, k.url("/oauth2/token"), strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(provider.APIKeyHeader, key)
		status, body, h := k.do(req)
		requireRefused(t, status, body, h, `authenticates with an API key alone`)
		// A key presented to a client that does not accept keys.
		status, body, h = k.scriptTokenAs(k.svc.ID, key, "assets:read")
		requireRefused(t, status, body, h, `does not accept API keys`)

		// The key works; a token of it is live.
		status, body, _ = k.scriptToken(key, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		before := body["access_token"].(string)

		// Rotated: the old key is refused at once, and its token revoked.
		_, rotated, err := k.p.RotateAPIKey(ctx, made.ID)
		require.NoError(t, err)
		status, body, h = k.scriptToken(key, "assets:read")
		requireRefused(t, status, body, h, generic, "the rotated-out key")
		assert.Equal(t, http.StatusUnauthorized, k.apiStatus(before), "the token of the rotated-out key is revoked")
		status, body, _ = k.scriptToken(rotated, "assets:read")
		require.Equal(t, http.StatusOK, status, "the new key works: %v", body)
		after := body["access_token"].(string)
		assert.Equal(t, http.StatusOK, k.apiStatus(after))

		// Deleted: refused, and its tokens revoked.
		require.NoError(t, k.p.DeleteAPIKey(ctx, made.ID))
		status, body, h = k.scriptToken(rotated, "assets:read")
		requireRefused(t, status, body, h, generic, "the deleted key")
		assert.Equal(t, http.StatusUnauthorized, k.apiStatus(after), "the token of the deleted key is revoked")

		// Expired.
		_, soon := k.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme"}, provider.SecretExpiresAt(time.Now().Add(time.Hour)))
		status, _, _ = k.scriptToken(soon, "assets:read")
		require.Equal(t, http.StatusOK, status)
		k.clock.Advance(time.Hour + time.Second)
		status, body, h = k.scriptToken(soon, "assets:read")
		requireRefused(t, status, body, h, `The API key expired at .*; rotate it`, "the expired key")
		status, body, h = k.scriptToken(soon[:len(soon)-1]+otherChar(soon), "assets:read")
		requireRefused(t, status, body, h, generic, "a wrong secret of the expired key is told nothing more")
		k.clock.Reset()

		// The owner lost the client's required role in the key's tenant,
		// then the tenant, then their account.
		roled, err := k.p.UpdateClient(ctx, k.script.ID, func(c storage.Client) (storage.Client, error) {
			c.RequiredRole = "portal-user"
			return c, nil
		})
		require.NoError(t, err)
		_, aliceKey := k.aliceKey("acme")
		_, bobKey := k.newKey(storage.APIKey{Owner: "sub-bob", Tenant: "acme"})
		status, _, _ = k.scriptToken(aliceKey, "assets:read")
		require.Equal(t, http.StatusOK, status, "alice holds portal-user in acme")
		k.db.change("alice", func(u *provider.User) { u.Memberships[0].Roles = nil })
		status, body, h = k.scriptToken(aliceKey, "assets:read")
		requireRefused(t, status, body, h, `owner is no longer a member of the key's tenant 'acme', or may not use this client there`, "lost the role")
		k.db.change("alice", func(u *provider.User) { u.Memberships = u.Memberships[1:] })
		status, body, h = k.scriptToken(aliceKey, "assets:read")
		requireRefused(t, status, body, h, `owner is no longer a member of the key's tenant 'acme'`, "lost the tenant")
		k.db.change("bob", func(u *provider.User) { u.Subject = "sub-bob-gone" })
		status, body, h = k.scriptToken(bobKey, "assets:read")
		requireRefused(t, status, body, h, `owner no longer exists`, "the owner is gone")
		assert.Equal(t, "portal-user", roled.RequiredRole)

		refused := k.auditText(provider.AuditAPIKeyRefused)
		for _, reason := range []string{"wrong secret", "unknown key ID", "malformed key", "expired", "owner: "} {
			assert.Contains(t, refused, "reason:"+reason, "the refusal is audited with its reason")
		}
		assert.Contains(t, refused, "actor=client:"+k.script.ID+" subject=sub-alice", "the client it was presented to, the key's owner")
		assert.Contains(t, refused, "addr=127.0.0.1")
		k.assertNoKeysLogged(key, rotated, soon, aliceKey, bobKey, wrong)
	})
}

// TestAPIKeyAddressRules: a key's ip_ranges hold the caller's address; its
// forwarded_for_ranges need the request to come from a trusted proxy with
// exactly one X-Forwarded-For value in them: missing, repeated (two lines
// or two values) and outside are refused, and so is an X-Forwarded-For
// from a peer that is no trusted proxy (spoofed).
func TestAPIKeyAddressRules(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		behind := newKeyEnv(t, store, func(c *provider.Config) { c.TrustedProxies = []string{"127.0.0.1"} })
		_, inRange := behind.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme", IPRanges: []string{"127.0.0.1/32", "203.0.113.0/24"}})
		_, outOfRange := behind.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme", IPRanges: []string{"10.0.0.0/8"}})
		_, lb := behind.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme", ForwardedForRanges: []string{"203.0.113.0/24"}})

		status, body, _ := behind.scriptToken(inRange, "assets:read")
		require.Equal(t, http.StatusOK, status, "ip_ranges allow the caller: %v", body)
		status, body, h := behind.scriptToken(outOfRange, "assets:read")
		requireRefused(t, status, body, h, `may not be used from this network address`)
		// Behind the trusted proxy the caller is the forwarded address.
		status, body, _ = behind.scriptToken(inRange, "assets:read", "X-Forwarded-For", "203.0.113.7")
		require.Equal(t, http.StatusOK, status, "%v", body)
		status, body, h = behind.scriptToken(inRange, "assets:read", "X-Forwarded-For", "192.0.2.1")
		requireRefused(t, status, body, h, `may not be used from this network address`, "forwarded from outside ip_ranges")

		// X-Forwarded-For rules.
		status, body, _ = behind.scriptToken(lb, "assets:read", "X-Forwarded-For", "203.0.113.7")
		require.Equal(t, http.StatusOK, status, "allowed: %v", body)
		info, err := behind.p.Introspect(context.Background(), body["access_token"].(string))
		require.NoError(t, err)
		assert.Equal(t, "203.0.113.7", info.ClientIP, "client_ip is the originating address")
		for _, tc := range []struct {
			name    string
			headers []string
			desc    string
		}{
			{"missing", nil, `needs an X-Forwarded-For header`},
			{"two lines", []string{"X-Forwarded-For", "203.0.113.7", "X-Forwarded-For", "203.0.113.8"}, `exactly one X-Forwarded-For value`},
			{"malformed", []string{"X-Forwarded-For", "not-an-address"}, `exactly one X-Forwarded-For value`},
			{"two values", []string{"X-Forwarded-For", "203.0.113.7, 203.0.113.8"}, `exactly one X-Forwarded-For value`},
			{"outside", []string{"X-Forwarded-For", "198.51.100.1"}, `may not be used for this originating address`},
		} {
			status, body, h := behind.scriptToken(lb, "assets:read", tc.headers...)
			requireRefused(t, status, body, h, tc.desc, tc.name)
		}

		// The client's own IP ranges apply too.
		_, err = behind.p.UpdateClient(context.Background(), behind.script.ID, func(c storage.Client) (storage.Client, error) {
			c.IPRanges = []string{"10.0.0.0/8"}
			return c, nil
		})
		require.NoError(t, err)
		status, body, h = behind.scriptToken(inRange, "assets:read")
		requireRefused(t, status, body, h, `This client may not be used from this network address`, "the client's ip_ranges")

		// Without a trusted proxy, X-Forwarded-For is anyone's to write.
		direct := newKeyEnv(t, memory.New()) // the address rules do not depend on the store
		_, spoofable := direct.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme", ForwardedForRanges: []string{"203.0.113.0/24"}})
		_, ranged := direct.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme", IPRanges: []string{"203.0.113.0/24"}})
		status, body, h = direct.scriptToken(spoofable, "assets:read", "X-Forwarded-For", "203.0.113.7")
		requireRefused(t, status, body, h, `accepted only through the load balancer`, "spoofed X-Forwarded-For")
		status, body, h = direct.scriptToken(ranged, "assets:read", "X-Forwarded-For", "203.0.113.7")
		requireRefused(t, status, body, h, `may not be used from this network address`, "spoofed X-Forwarded-For does not pass ip_ranges")
	})
}

// TestAPIKeyThrottledPerKeyID: wrong secrets lock their key ID alone; the
// key's own secret and every other key keep working.
func TestAPIKeyThrottledPerKeyID(t *testing.T) {
	k := newKeyEnv(t, memory.New(), func(c *provider.Config) {
		c.APIKeyLockout = provider.Lockout{MaxFailures: 3, BaseDelay: time.Minute, MaxDelay: time.Hour}
	})
	k.clock.Set(time.Now())
	a, keyA := k.aliceKey("acme")
	b, keyB := k.newKey(storage.APIKey{Owner: "sub-bob"})
	wrongA := "gatehouse_ak_" + a.ID + "_" + strings.Repeat("a", 52)
	wrongB := "gatehouse_ak_" + b.ID + "_" + strings.Repeat("a", 52)

	for i := range 2 {
		status, body, h := k.scriptToken(wrongA, "assets:read")
		requireRefused(t, status, body, h, `unknown, expired or revoked`, "failure %d", i+1)
		assert.Empty(t, h.Get("Retry-After"))
	}
	status, body, h := k.scriptToken(wrongA, "assets:read")
	requireRefused(t, status, body, h, `Too many wrong secrets for this API key`, "the third failure locks the ID")
	assert.Equal(t, "60", h.Get("Retry-After"))
	status, body, h = k.scriptToken(wrongA, "assets:read")
	requireRefused(t, status, body, h, `Too many wrong secrets`, "locked")

	// The key's own secret is never slowed down, and another script's key
	// counts apart.
	status, body, _ = k.scriptToken(keyA, "assets:read")
	require.Equal(t, http.StatusOK, status, "the locked ID's right secret works: %v", body)
	status, body, h = k.scriptToken(wrongB, "assets:read")
	requireRefused(t, status, body, h, `unknown, expired or revoked`, "another key's first failure is its first")
	assert.Empty(t, h.Get("Retry-After"))
	status, body, _ = k.scriptToken(keyB, "assets:read")
	require.Equal(t, http.StatusOK, status, "%v", body)

	assert.Equal(t, 1, strings.Count(k.auditText(provider.AuditAPIKeyRefused), "key ID locked until"), "one audit event per lock, not per refused request")

	// The lock ends.
	k.clock.Advance(time.Minute)
	status, body, h = k.scriptToken(wrongA, "assets:read")
	requireRefused(t, status, body, h, `Too many wrong secrets`, "the next failure locks again, longer")
	assert.Equal(t, "120", h.Get("Retry-After"))
	assert.Equal(t, 2, strings.Count(k.auditText(provider.AuditAPIKeyRefused), "key ID locked until"), "and one for the next lock")
}

// TestAPIKeyRotationRace: of concurrent rotations of one key, each gets
// 200 with a new key or 409 conflict, and exactly one key works at the
// end: one a 200 returned.
func TestAPIKeyRotationRace(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		counter := &touchCounter{Store: store, ApplicationUserStore: store.(storage.ApplicationUserStore)}
		k := newKeyEnv(t, counter)
		ad := newAdminAPI(t, k.p)
		made, old := k.aliceKey("acme")

		// Rotations that all read the key before any of them writes:
		// exactly one wins, every other is told so and gets no key.
		counter.hold(8)
		answers := parallel(8, func() adminAnswer { return ad.call(http.MethodPost, "/api-keys/"+made.ID+"/rotate", nil) })
		var won []string
		for _, a := range answers {
			if a.status == http.StatusOK {
				won = append(won, a.body["api_key"].(string))
				continue
			}
			require.Equal(t, http.StatusConflict, a.status, "%s", a.raw)
			assert.NotContains(t, a.body, "api_key", "a loser gets no key")
		}
		require.Len(t, won, 1, "of 8 rotations that read the same secret exactly one wins")
		status, _, _ := k.scriptToken(won[0], "assets:read")
		assert.Equal(t, http.StatusOK, status, "the winner's key works")
		status, _, _ = k.scriptToken(old, "assets:read")
		assert.Equal(t, http.StatusUnauthorized, status, "the old key does not")
		old = won[0]

		// A natural race: each gets a key or a conflict, and one key works.
		answers = parallel(8, func() adminAnswer { return ad.call(http.MethodPost, "/api-keys/"+made.ID+"/rotate", nil) })
		var issued []string
		for _, a := range answers {
			switch a.status {
			case http.StatusOK:
				issued = append(issued, a.body["api_key"].(string))
			case http.StatusConflict:
				assert.Equal(t, "conflict", a.body["error"])
				assert.Contains(t, a.body["error_description"], "rotated by a concurrent request")
				assert.NotContains(t, a.body, "api_key", "a loser gets no key")
			default:
				t.Fatalf("a rotation answered %d: %s", a.status, a.raw)
			}
		}
		require.NotEmpty(t, issued, "some rotation wins")
		valid := 0
		for _, key := range append([]string{old}, issued...) {
			if status, _, _ := k.scriptToken(key, "assets:read"); status == http.StatusOK {
				valid++
			}
		}
		assert.Equal(t, 1, valid, "exactly one key is valid after %d concurrent rotations (%d won)", len(answers), len(issued))
	})
}

// otherChar is a key character other than key's last.
func otherChar(key string) string {
	if key[len(key)-1] == 'a' {
		return "b"
	}
	return "a"
}
