package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// clientAuthAnswer is what one endpoint answered a client authentication.
type clientAuthAnswer struct {
	status      int
	code, desc  string
	challenge   string // WWW-Authenticate
	retryAfter  string
	endpointURL string
}

// clientAuthAt asks each endpoint that authenticates clients (token,
// introspection, revocation) as id with secret, by HTTP Basic or, with post,
// in the body, and returns the answers.
func (e *env) clientAuthAt(id, secret string, post bool) []clientAuthAnswer {
	e.t.Helper()
	var out []clientAuthAnswer
	for _, ep := range []struct {
		path string
		vals url.Values
	}{
		{"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}},
		{"/oauth2/introspect", url.Values{"token": {"some-token"}}},
		{"/oauth2/revoke", url.Values{"token": {"some-token"}}},
	} {
		user, pass := id, secret
		if post {
			ep.vals.Set("client_id", id)
			ep.vals.Set("client_secret", secret)
			user, pass = "", ""
		}
		status, body, h := e.postForm(ep.path, ep.vals, user, pass)
		a := clientAuthAnswer{status: status, challenge: h.Get("WWW-Authenticate"), retryAfter: h.Get("Retry-After"), endpointURL: ep.path}
		a.code, _ = body["error"].(string)
		a.desc, _ = body["error_description"].(string)
		out = append(out, a)
	}
	return out
}

// assertExpiredAnswers asserts that every answer refuses an expired secret,
// saying so.
func assertExpiredAnswers(t *testing.T, answers []clientAuthAnswer, what string) {
	t.Helper()
	for _, a := range answers {
		assert.Equal(t, http.StatusUnauthorized, a.status, "%s at %s", what, a.endpointURL)
		assert.Equal(t, "invalid_client", a.code, "%s at %s", what, a.endpointURL)
		assert.Contains(t, a.desc, "The client secret expired at ", "%s at %s", what, a.endpointURL)
		assert.Contains(t, a.desc, "must rotate the client's secret", "%s at %s: says what to do", what, a.endpointURL)
	}
}

// assertPlainRefusals asserts that every answer is the usual refusal of a
// wrong secret, with nothing about expiry.
func assertPlainRefusals(t *testing.T, answers []clientAuthAnswer, what string) {
	t.Helper()
	for _, a := range answers {
		assert.Equal(t, http.StatusUnauthorized, a.status, "%s at %s", what, a.endpointURL)
		assert.Equal(t, "invalid_client", a.code, "%s at %s", what, a.endpointURL)
		assert.NotContains(t, a.desc, "expire", "%s at %s", what, a.endpointURL)
	}
}

// A secret is refused once Config.ClientSecretLifetime has passed since it
// was made, at every endpoint where clients authenticate, by Basic and in
// the body, with invalid_client saying that it expired and must be
// rotated. A wrong secret, and an unknown client presenting the same
// secret, get the usual answer, the same as before expiry.
func TestExpiredClientSecretRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		clk := stoppedClock()
		e := newEnvOn(t, store, func(c *provider.Config) {
			c.ClientSecretLifetime = time.Hour
			c.Now = clk.Now
			c.ClientAuthLockout.MaxFailures = 1000 // many failures below, none locked
		})
		ctx := context.Background()
		svc, plain, err := e.p.CreateClient(ctx, storage.Client{ID: "batch", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}})
		require.NoError(t, err)
		require.Len(t, svc.Secrets, 1)
		assert.True(t, svc.Secrets[0].ExpiresAt.Equal(clk.Now().UTC().Truncate(time.Microsecond).Add(time.Hour)), "the secret expires after ClientSecretLifetime: %v", svc.Secrets[0].ExpiresAt)
		wrongBefore := e.clientAuthAt("batch", "not-the-secret", false)

		clk.Advance(time.Hour - time.Second)
		assert.Equal(t, http.StatusOK, e.ccStatus("batch", plain), "a second before expiry")

		clk.Advance(time.Second)
		assertExpiredAnswers(t, e.clientAuthAt("batch", plain, false), "HTTP Basic, at expiry")
		for _, a := range e.clientAuthAt("batch", plain, false) {
			assert.Contains(t, a.challenge, "Basic", "%s: the challenge of a Basic refusal", a.endpointURL)
		}
		assertExpiredAnswers(t, e.clientAuthAt("batch", plain, true), "client_secret_post, at expiry")

		wrong := e.clientAuthAt("batch", "not-the-secret", false)
		assertPlainRefusals(t, wrong, "a wrong secret")
		assert.Equal(t, wrongBefore, wrong, "a wrong secret gets the answer it got before expiry")
		unknown := e.clientAuthAt("nobody", plain, false)
		assertPlainRefusals(t, unknown, "an unknown client with the expired secret")
		for i := range unknown {
			assert.Equal(t, wrong[i].desc, unknown[i].desc, "unknown and known clients get the same description")
		}
		assertPlainRefusals(t, e.clientAuthAt("svc", plain, false), "another client with this client's expired secret")

		// Rotation gives a working secret; the old one, not kept, is just wrong.
		fresh, err := e.p.RotateClientSecret(ctx, "batch", 0)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, e.ccStatus("batch", fresh))
		assertPlainRefusals(t, e.clientAuthAt("batch", plain, false), "the secret rotated out")
	})
}

// After a rotation with a grace period the old secret works until the
// grace ends and is then refused as expired; the new secret works and
// expires after ClientSecretLifetime. A rotation without grace ends the
// old secret at once.
func TestRotatedSecretGraceThenExpired(t *testing.T) {
	clk := stoppedClock()
	e := newEnv(t, func(c *provider.Config) { c.Now = clk.Now; c.ClientAuthLockout.MaxFailures = 1000 })
	ctx := context.Background()
	old := e.svcSecret

	clk.Advance(time.Minute)
	fresh, err := e.p.RotateClientSecret(ctx, e.svc.ID, 10*time.Minute)
	require.NoError(t, err)
	got, err := e.p.GetClient(ctx, e.svc.ID)
	require.NoError(t, err)
	require.Len(t, got.Secrets, 2)
	now := clk.Now().UTC().Truncate(time.Microsecond)
	assert.True(t, got.Secrets[0].ExpiresAt.Equal(now.Add(365*24*time.Hour)), "the new secret: the default lifetime, %v", got.Secrets[0].ExpiresAt)
	assert.True(t, got.Secrets[1].ExpiresAt.Equal(now.Add(10*time.Minute)), "the old secret: the grace, %v", got.Secrets[1].ExpiresAt)

	clk.Advance(10*time.Minute - time.Second)
	assert.Equal(t, http.StatusOK, e.ccStatus(e.svc.ID, old), "the old secret within the grace")
	assert.Equal(t, http.StatusOK, e.ccStatus(e.svc.ID, fresh), "the new secret")
	clk.Advance(time.Second)
	assertExpiredAnswers(t, e.clientAuthAt(e.svc.ID, old, false), "the old secret after the grace")
	assert.Equal(t, http.StatusOK, e.ccStatus(e.svc.ID, fresh))

	newest, err := e.p.RotateClientSecret(ctx, e.svc.ID, 0)
	require.NoError(t, err)
	assertPlainRefusals(t, e.clientAuthAt(e.svc.ID, fresh, false), "a secret rotated out without grace")
	assert.Equal(t, http.StatusOK, e.ccStatus(e.svc.ID, newest))
}

// A host-chosen (bcrypt) secret expires too, and is explained whether or
// not the client authentication lockout is on.
func TestExpiredChosenSecretRefused(t *testing.T) {
	for _, lockout := range []bool{true, false} {
		t.Run(map[bool]string{true: "lockout", false: "no lockout"}[lockout], func(t *testing.T) {
			clk := stoppedClock()
			e := newEnv(t, func(c *provider.Config) {
				c.Now = clk.Now
				c.ClientSecretLifetime = 24 * time.Hour
				c.ClientAuthLockout.MaxFailures = 1000
				if !lockout {
					c.ClientAuthLockout.MaxFailures = -1
				}
			})
			_, err := e.p.CreateClientWithSecret(context.Background(), storage.Client{ID: "chosen", GrantTypes: []string{"client_credentials"}}, "a-chosen-secret-0123")
			require.NoError(t, err)
			assert.Equal(t, http.StatusOK, e.ccStatus("chosen", "a-chosen-secret-0123"))
			clk.Advance(24 * time.Hour)
			assertExpiredAnswers(t, e.clientAuthAt("chosen", "a-chosen-secret-0123", false), "an expired bcrypt secret")
			assertPlainRefusals(t, e.clientAuthAt("chosen", "a-wrong-secret-01234", false), "a wrong secret")
		})
	}
}

// While the lockout refuses a (client, address) pair, an expired secret
// gets the lockout's answer: the explanation checks no secret for a locked
// pair, so it is no way around the lock.
func TestExpiredSecretLockedPairNotExplained(t *testing.T) {
	clk := stoppedClock()
	e := newEnv(t, func(c *provider.Config) {
		c.Now = clk.Now
		c.ClientSecretLifetime = time.Hour
		c.ClientAuthLockout = provider.Lockout{MaxFailures: 2, BaseDelay: time.Minute, MaxDelay: time.Hour}
	})
	_, err := e.p.CreateClientWithSecret(context.Background(), storage.Client{ID: "chosen", GrantTypes: []string{"client_credentials"}}, "a-chosen-secret-0123")
	require.NoError(t, err)
	clk.Advance(time.Hour)
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "chosen", "a-chosen-secret-0123")
	require.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, body["error_description"], "expired", "the first failure is explained")
	status, _, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "chosen", "a-chosen-secret-0123")
	require.Equal(t, http.StatusUnauthorized, status, "the second failure locks the pair")

	for _, a := range e.clientAuthAt("chosen", "a-chosen-secret-0123", false) {
		assert.Equal(t, http.StatusUnauthorized, a.status, a.endpointURL)
		assert.Equal(t, "invalid_client", a.code, a.endpointURL)
		assert.NotContains(t, a.desc, "expired", "%s: a locked pair is not told", a.endpointURL)
		assert.Contains(t, a.desc, "Retry-After", a.endpointURL)
		assert.NotEmpty(t, a.retryAfter, a.endpointURL)
	}
}

// ClientSecretLifetime sets each new secret's expiry; a negative lifetime
// means never; SecretExpiresAt overrides it, and a bad one is a
// *ClientError for "SecretExpiresAt" reported with the other invalid
// fields. Changing the setting changes only secrets made afterwards.
func TestClientSecretLifetimeAndExpiresAt(t *testing.T) {
	clk := stoppedClock()
	store := memory.New()
	short := newEnvOn(t, store, func(c *provider.Config) { c.Now = clk.Now; c.ClientSecretLifetime = time.Hour })
	ctx := context.Background()
	now := clk.Now().UTC().Truncate(time.Microsecond)
	cc := func(id string) storage.Client {
		return storage.Client{ID: id, GrantTypes: []string{"client_credentials"}}
	}

	c, _, err := short.p.CreateClient(ctx, cc("a"))
	require.NoError(t, err)
	assert.True(t, c.Secrets[0].ExpiresAt.Equal(now.Add(time.Hour)))

	at := now.Add(90 * 24 * time.Hour)
	c, _, err = short.p.CreateClient(ctx, cc("b"), provider.SecretExpiresAt(at.In(time.FixedZone("x", 3600))))
	require.NoError(t, err)
	assert.True(t, c.Secrets[0].ExpiresAt.Equal(at), "SecretExpiresAt overrides the lifetime")
	c, err = short.p.CreateClientWithSecret(ctx, cc("c"), "a-chosen-secret-0123", provider.SecretExpiresAt(time.Time{}))
	require.NoError(t, err)
	assert.True(t, c.Secrets[0].ExpiresAt.IsZero(), "the zero time: never")

	_, _, err = short.p.CreateClient(ctx, storage.Client{ID: "d", GrantTypes: []string{"client_credentials", "magic"}}, provider.SecretExpiresAt(now))
	require.ErrorIs(t, err, provider.ErrInvalidClient)
	assert.ElementsMatch(t, []string{"GrantTypes", "SecretExpiresAt"}, clientErrorFields(err), "every field at once: %v", err)
	assert.Contains(t, err.Error(), "must be in the future")
	_, _, err = short.p.CreateClient(ctx, storage.Client{ID: "e", Public: true, RedirectURIs: []string{spaRedirect}}, provider.SecretExpiresAt(at))
	assert.Equal(t, []string{"SecretExpiresAt"}, clientErrorFields(err), "a public client has no secret to expire: %v", err)
	_, _, err = short.p.CreateClient(ctx, storage.Client{ID: "e", Public: true, RedirectURIs: []string{spaRedirect}}, provider.SecretExpiresAt(time.Time{}))
	assert.NoError(t, err, "zero (never) is accepted for a public client")
	_, err = short.p.RotateClientSecret(ctx, "a", 0, provider.SecretExpiresAt(now.Add(-time.Second)))
	assert.Equal(t, []string{"SecretExpiresAt"}, clientErrorFields(err))

	// Another provider on the store with a longer lifetime: the existing
	// secret keeps its expiry; a rotation gets the new lifetime.
	long, err := provider.New(provider.Config{Issuer: "http://127.0.0.1:9", Store: store, Authenticator: userDB{}, Now: clk.Now,
		GlobalSecret: []byte("0123456789abcdef0123456789abcdef"), ClientSecretLifetime: 30 * 24 * time.Hour})
	require.NoError(t, err)
	got, err := long.GetClient(ctx, "a")
	require.NoError(t, err)
	assert.True(t, got.Secrets[0].ExpiresAt.Equal(now.Add(time.Hour)), "unchanged by the new setting")
	_, err = long.RotateClientSecret(ctx, "a", 0)
	require.NoError(t, err)
	got, err = long.GetClient(ctx, "a")
	require.NoError(t, err)
	assert.True(t, got.Secrets[0].ExpiresAt.Equal(now.Add(30*24*time.Hour)), "a rotated secret gets the new lifetime")
	_, err = long.RotateClientSecret(ctx, "a", 0, provider.SecretExpiresAt(at))
	require.NoError(t, err)
	got, err = long.GetClient(ctx, "a")
	require.NoError(t, err)
	assert.True(t, got.Secrets[0].ExpiresAt.Equal(at), "SecretExpiresAt at a rotation")

	never := newEnvOn(t, memory.New(), func(c *provider.Config) { c.Now = clk.Now; c.ClientSecretLifetime = -1 })
	got, err = never.p.GetClient(ctx, never.svc.ID)
	require.NoError(t, err)
	assert.True(t, got.Secrets[0].ExpiresAt.IsZero(), "a negative lifetime: secrets never expire")
}

// An administrator narrowing a client's permission scope narrows existing
// grants at their next refresh: the refresh succeeds, and its access token
// and new refresh token carry only what the client may still have. The
// grant is never widened again when the scope is widened back.
func TestRefreshNarrowsToClientPermissionScope(t *testing.T) {
	a := newACEnv(t)
	ctx := context.Background()
	tok, _ := a.login(a.portal, a.portalSecret, webRedirect, "alice", answers{otp: a.code, tenant: "acme"}, "openid", "offline_access", "assets:read", "registry:read")
	require.NotEmpty(t, tok.RefreshToken)
	refresh := func(rt string, extra url.Values) (int, map[string]any) {
		v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
		for k, vs := range extra {
			v[k] = vs
		}
		return a.postFrom(http.DefaultClient, "/oauth2/token", v, a.portal.ID, a.portalSecret, nil)
	}
	setScope := func(ps ...string) {
		_, err := a.p.UpdateClient(ctx, a.portal.ID, func(c storage.Client) (storage.Client, error) {
			c.PermissionScope = ps
			return c, nil
		})
		require.NoError(t, err)
	}

	setScope("assets:read")
	status, body := refresh(tok.RefreshToken, nil)
	require.Equal(t, http.StatusOK, status, "the refresh succeeds, narrowed: %v", body)
	assert.ElementsMatch(t, []string{"openid", "offline_access", "assets:read"}, strings.Fields(body["scope"].(string)))
	at, rt := body["access_token"].(string), body["refresh_token"].(string)
	info := a.introspect(at)
	assert.Equal(t, true, info["active"])
	assert.ElementsMatch(t, []string{"openid", "offline_access", "assets:read"}, strings.Fields(info["scope"].(string)), "the access token")
	info = a.introspect(rt)
	assert.ElementsMatch(t, []string{"openid", "offline_access", "assets:read"}, strings.Fields(info["scope"].(string)), "the new refresh token")

	status, body = refresh(rt, url.Values{"scope": {"openid registry:read"}})
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_scope", body["error"], "the dropped permission cannot be asked for again")

	setScope("assets:read", "registry:read")
	status, body = refresh(rt, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.ElementsMatch(t, []string{"openid", "offline_access", "assets:read"}, strings.Fields(body["scope"].(string)), "widening the client does not widen the grant")
}
