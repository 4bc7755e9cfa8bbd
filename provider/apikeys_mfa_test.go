package provider_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// TestAPIKeyRequiresOwnersMFA: a key with RequireMFA is accepted only with
// its owner's current one-time code in X-API-Key-OTP, at the token
// endpoint and at a resource that takes keys directly: no code, two
// codes, a wrong code and a code used already are refused with
// invalid_client saying why (and audited); a key of an owner without a
// second factor is refused; a key without the option needs no code. The
// option is refused for an application user's key. On memory and
// PostgreSQL.
func TestAPIKeyRequiresOwnersMFA(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		k := newKeyEnv(t, store)
		made, key := k.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme", Name: "with MFA", RequireMFA: true})
		got, err := k.p.GetAPIKey(context.Background(), made.ID)
		require.NoError(t, err)
		assert.True(t, got.RequireMFA, "stored")

		status, body, h := k.scriptToken(key, "assets:read")
		requireRefused(t, status, body, h, `one-time code in the X-API-Key-OTP header`, "no code")
		status, body, h = k.scriptToken(key, "assets:read", provider.APIKeyCodeHeader, "000000")
		requireRefused(t, status, body, h, `wrong or was used already`, "a wrong code")
		status, body, h = k.scriptToken(key, "assets:read", provider.APIKeyCodeHeader, k.code(), provider.APIKeyCodeHeader, k.code())
		requireRefused(t, status, body, h, `exactly one X-API-Key-OTP`, "two codes")

		k.nextStep()
		code := k.code()
		status, body, _ = k.scriptToken(key, "assets:read", provider.APIKeyCodeHeader, code)
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "assets:read", body["scope"])
		status, body, h = k.scriptToken(key, "assets:read", provider.APIKeyCodeHeader, code)
		requireRefused(t, status, body, h, `wrong or was used already`, "a code is single use")

		// A resource that takes keys directly applies the same rule.
		rs := k.resourceServer(k.script.ID)
		status, _, _ = k.call(rs.URL+"/assets", provider.APIKeyHeader, key)
		assert.Equal(t, http.StatusUnauthorized, status, "no code at the resource")
		k.nextStep()
		status, res, _ := k.call(rs.URL+"/assets", provider.APIKeyHeader, key, provider.APIKeyCodeHeader, k.code())
		assert.Equal(t, http.StatusOK, status, "%v", res)

		// bob has no second factor: his key that requires one is useless.
		_, bobKey := k.newKey(storage.APIKey{Owner: "sub-bob", Tenant: "acme", RequireMFA: true})
		status, body, h = k.scriptToken(bobKey, "assets:read", provider.APIKeyCodeHeader, "123456")
		requireRefused(t, status, body, h, `its owner has none set up`, "an owner without a factor")

		// A key without the option needs no code.
		_, plain := k.aliceKey("acme")
		status, _, _ = k.scriptToken(plain, "assets:read")
		assert.Equal(t, http.StatusOK, status)

		// An overlong code is wrong without being checked; wrong codes
		// count towards the owner's lockout, which then refuses even the
		// right code.
		status, body, h = k.scriptToken(key, "assets:read", provider.APIKeyCodeHeader, strings.Repeat("1", 65))
		requireRefused(t, status, body, h, `wrong or was used already`, "an overlong code")
		locked := false
		for i := 0; i < 20 && !locked; i++ {
			status, body, h = k.scriptToken(key, "assets:read", provider.APIKeyCodeHeader, "000000")
			require.Equal(t, http.StatusUnauthorized, status)
			locked = strings.Contains(body["error_description"].(string), "Too many wrong one-time codes")
		}
		require.True(t, locked, "wrong codes lock the owner's factor")
		// (The lock runs on the factor's clock, which the test does not
		// move now: moving it past a step would also end the lock.)
		status, body, h = k.scriptToken(key, "assets:read", provider.APIKeyCodeHeader, k.code())
		requireRefused(t, status, body, h, `Too many wrong one-time codes`, "locked: a code is not even checked")

		events := k.auditText(provider.AuditAPIKeyRefused)
		for _, reason := range []string{"mfa: no code", "mfa: wrong code", "mfa: several codes", "mfa: the owner has no second factor", "mfa: locked"} {
			assert.Contains(t, events, "reason:"+reason)
		}
		mfaEvents := k.auditText(provider.AuditMFAPassed, provider.AuditMFAFailed)
		assert.Contains(t, mfaEvents, "mfa.passed actor=")
		assert.Contains(t, mfaEvents, "mfa.failed actor=")
		assert.Contains(t, mfaEvents, "subject=sub-alice")
		assert.Contains(t, mfaEvents, "client=demo-script", "the factor's events name the key's client")
		k.assertNoKeysLogged(key, bobKey, plain)
	})
}

// TestAPIKeyRequireMFAValidation: an application user's key cannot
// require a second factor, nor can a key where the provider has none;
// the admin API takes and shows require_mfa.
func TestAPIKeyRequireMFAValidation(t *testing.T) {
	k := newKeyEnv(t, memory.New())
	ctx := context.Background()
	_, err := k.p.CreateApplicationUser(ctx, storage.ApplicationUser{ID: "bot", Tenant: "acme", Permissions: []string{"assets:read"}})
	require.NoError(t, err)
	_, _, err = k.p.CreateAPIKey(ctx, storage.APIKey{OwnerType: storage.PrincipalApplication, Owner: "bot", RequireMFA: true})
	var ke *provider.APIKeyError
	require.True(t, errors.As(err, &ke), "%v", err)
	assert.Contains(t, err.Error(), "RequireMFA")
	assert.Contains(t, err.Error(), "application user has no second factor")

	ad := newAdminAPI(t, k.p)
	a := ad.call(http.MethodPost, "/users/sub-alice/api-keys", map[string]any{"tenant": "acme", "require_mfa": true}).requireStatus(t, http.StatusCreated)
	assert.Equal(t, true, a.body["require_mfa"])
	a = ad.call(http.MethodPost, "/users/sub-alice/api-keys", map[string]any{"tenant": "acme", "require_mfa": "yes"}).requireStatus(t, http.StatusBadRequest)
	assert.Equal(t, []string{"require_mfa"}, a.fields())

	none := newKeyEnv(t, memory.New(), func(c *provider.Config) { c.Factors = nil })
	_, _, err = none.p.CreateAPIKey(ctx, storage.APIKey{OwnerType: storage.PrincipalUser, Owner: "sub-alice", Tenant: "acme", RequireMFA: true})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Config.Factors has no second factor")
}
