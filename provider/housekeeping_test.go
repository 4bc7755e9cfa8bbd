package provider_test

import (
	"context"
	"net/url"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/gatehouse/gatehouse/internal/racetest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// signingKid returns the kid of the key signing JWT access tokens now: a
// client_credentials token's header.
func (e *env) signingKid(t *testing.T) string {
	t.Helper()
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, e.svc.ID, e.svcSecret)
	require.Equal(t, 200, status, "%v", body)
	jws, err := jose.ParseSigned(body["access_token"].(string), []jose.SignatureAlgorithm{jose.ES256})
	require.NoError(t, err)
	return jws.Signatures[0].Protected.KeyID
}

// jwksKids returns the kids the JWKS endpoint publishes.
func (e *env) jwksKids() []string {
	var kids []string
	for _, k := range e.fetchJWKS().Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func TestHousekeepingDeletesExpiredRecords(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		s := &otelSDK{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
		e := newEnvOn(t, store, withSDK(s), func(c *provider.Config) { c.AuditRetention = time.Hour })
		e.clock.Set(time.Now())
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, e.svcSecret)
		require.Equal(t, 200, status)
		sig := signatureOf(body["access_token"].(string))
		ctx := context.Background()
		issued := func() int {
			evs, err := e.p.AuditEvents(ctx, storage.AuditQuery{Types: []string{provider.AuditTokenIssued}})
			require.NoError(t, err)
			return len(evs)
		}
		require.Equal(t, 1, issued())

		rep, err := e.p.Housekeep(ctx, provider.Housekeeping{})
		require.NoError(t, err)
		assert.True(t, rep.Ran)
		assert.Zero(t, rep.Deleted, "nothing expired yet")
		_, err = store.GetToken(ctx, storage.KindAccessToken, sig)
		require.NoError(t, err)
		assert.Equal(t, 1, issued(), "the token's audit event is within its retention")

		e.clock.Advance(2 * time.Hour)
		rep, err = e.p.Housekeep(ctx, provider.Housekeeping{})
		require.NoError(t, err)
		assert.True(t, rep.Ran)
		assert.GreaterOrEqual(t, rep.Deleted, int64(1))
		assert.Empty(t, rep.NewKey)
		_, err = store.GetToken(ctx, storage.KindAccessToken, sig)
		assert.ErrorIs(t, err, storage.ErrNotFound, "the expired token was deleted")
		assert.GreaterOrEqual(t, rep.AuditDeleted, int64(1))
		assert.Zero(t, issued(), "the audit event past AuditRetention was swept")

		assert.Equal(t, int64(2), s.value(t, provider.MetricHousekeepingRuns, map[string]string{"gatehouse.housekeeping.task": "delete_expired", "gatehouse.outcome": "done"}))
		assert.Equal(t, int64(2), s.value(t, provider.MetricHousekeepingRuns, map[string]string{"gatehouse.housekeeping.task": "audit_sweep", "gatehouse.outcome": "done"}))
		assert.Equal(t, int64(2), s.value(t, provider.MetricHousekeepingRuns, map[string]string{"gatehouse.housekeeping.task": "key_rotation", "gatehouse.outcome": "done"}))
		assert.Equal(t, rep.Deleted, s.value(t, provider.MetricHousekeepingDeleted, nil))
	})
}

// The signing key is replaced as it reaches KeyRotation: the next key is
// published KeyPublishAhead before it signs, the old one stops signing then
// and leaves the JWKS (and the store) once the longest token it may have
// signed has expired.
func TestHousekeepingRotatesSigningKeys(t *testing.T) {
	s := &otelSDK{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	e := newEnv(t, withSDK(s), func(c *provider.Config) { c.JWTAccessTokens = true })
	e.clock.Set(time.Now())
	ctx := context.Background()
	h := provider.Housekeeping{KeyRotation: 30 * 24 * time.Hour, KeyPublishAhead: 12 * time.Hour}
	keyStates := func() map[string]int64 {
		out := map[string]int64{}
		for _, p := range s.points(t, provider.MetricSigningKeys) {
			out[p.attrs["gatehouse.key.state"]] = p.value
		}
		return out
	}

	k0 := e.signingKid(t)
	rep, err := e.p.Housekeep(ctx, h)
	require.NoError(t, err)
	assert.Empty(t, rep.NewKey, "a new key is not due")

	e.clock.Advance(30*24*time.Hour - 12*time.Hour) // due: the next key must be published now
	rep, err = e.p.Housekeep(ctx, h)
	require.NoError(t, err)
	k1 := rep.NewKey
	require.NotEmpty(t, k1)
	assert.ElementsMatch(t, []string{k0, k1}, e.jwksKids(), "the next key is published ahead")
	assert.Equal(t, k0, e.signingKid(t), "and does not sign yet")
	assert.Equal(t, map[string]int64{"pending": 1, "active": 1, "retired": 0}, keyStates())

	rep, err = e.p.Housekeep(ctx, h)
	require.NoError(t, err)
	assert.False(t, rep.Ran, "the lease of the run before holds for Every")
	e.clock.Advance(time.Minute)
	rep, err = e.p.Housekeep(ctx, h)
	require.NoError(t, err)
	assert.True(t, rep.Ran)
	assert.Empty(t, rep.NewKey, "a key is pending: no other is made")

	e.clock.Advance(12 * time.Hour)
	assert.Equal(t, k1, e.signingKid(t), "the new key signs from KeyPublishAhead on")
	assert.ElementsMatch(t, []string{k0, k1}, e.jwksKids(), "the old key stays published while its tokens may live")
	assert.Equal(t, map[string]int64{"pending": 0, "active": 1, "retired": 1}, keyStates())

	e.clock.Advance(24*time.Hour + time.Minute) // the longest token a client may have (24 h) has expired
	assert.Equal(t, []string{k1}, e.jwksKids())
	rep, err = e.p.Housekeep(ctx, h)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, rep.Deleted, int64(1))
	keys, err := e.store.ListSigningKeys(ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1, "the retired key was deleted")
	assert.Equal(t, k1, keys[0].ID)

	assert.Equal(t, int64(1), s.value(t, provider.MetricKeyRotations, nil))
	assert.Equal(t, int64(1), s.value(t, provider.MetricHousekeepingRuns, map[string]string{"gatehouse.housekeeping.task": "key_rotation", "gatehouse.outcome": "skipped"}))
}

func TestHousekeepingRotationOff(t *testing.T) {
	e := newEnv(t)
	e.clock.Set(time.Now().Add(400 * 24 * time.Hour))
	rep, err := e.p.Housekeep(context.Background(), provider.Housekeeping{KeyRotation: -1})
	require.NoError(t, err)
	assert.Empty(t, rep.NewKey)
}

func TestHousekeepingOptions(t *testing.T) {
	e := newEnv(t)
	for _, h := range []provider.Housekeeping{
		{Every: -time.Second},
		{KeyPublishAhead: -time.Second},
		{KeyRotation: time.Hour, KeyPublishAhead: 2 * time.Hour},
	} {
		_, err := e.p.Housekeep(context.Background(), h)
		assert.Error(t, err, "%+v", h)
		assert.Error(t, e.p.RunHousekeeping(context.Background(), h), "%+v", h)
	}
}

// Replicas sharing a store run housekeeping at the same moments: in each
// round exactly one of them runs it, and a due rotation makes exactly one
// new key.
func TestHousekeepingReplicas(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		e.clock.Set(time.Now())
		replica, err := provider.New(provider.Config{
			Issuer: e.issuer, Store: store, Authenticator: userDB{}, Now: e.clock.Now,
			GlobalSecret: []byte("0123456789abcdef0123456789abcdef"),
		})
		require.NoError(t, err)
		replicas := []*provider.Provider{e.p, replica}
		h := provider.Housekeeping{Every: time.Minute, KeyRotation: 48 * time.Hour, KeyPublishAhead: time.Hour}
		ctx := context.Background()

		for round := range 4 {
			if round == 2 {
				e.clock.Advance(47 * time.Hour) // a rotation is due
			}
			reps := racetest.Run(8, func(i int) provider.HousekeepingReport {
				rep, err := replicas[i%2].Housekeep(ctx, h)
				assert.NoError(t, err)
				return rep
			})
			ran, newKeys := 0, 0
			for _, rep := range reps {
				if rep.Ran {
					ran++
				}
				if rep.NewKey != "" {
					newKeys++
				}
			}
			assert.Equal(t, 1, ran, "round %d: runs", round)
			wantKeys := 0
			if round == 2 {
				wantKeys = 1
			}
			assert.Equal(t, wantKeys, newKeys, "round %d: new keys", round)
			e.clock.Advance(h.Every)
		}
		keys, err := store.ListSigningKeys(ctx)
		require.NoError(t, err)
		assert.Len(t, keys, 2, "the first key and one rotation")
	})
}

// RunHousekeeping runs at once and then every Every, and returns when its
// context ends.
func TestRunHousekeepingLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &otelSDK{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
		cfg := provider.Config{Issuer: "http://127.0.0.1:9000", Store: memory.New(), Authenticator: userDB{},
			GlobalSecret: []byte("0123456789abcdef0123456789abcdef")}
		withSDK(s)(&cfg)
		p, err := provider.New(cfg)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.RunHousekeeping(ctx, provider.Housekeeping{Every: time.Minute}) }()
		time.Sleep(150 * time.Second) // runs at 0, 60 s and 120 s
		synctest.Wait()
		assert.Equal(t, int64(3), s.value(t, provider.MetricHousekeepingRuns, map[string]string{"gatehouse.housekeeping.task": "delete_expired", "gatehouse.outcome": "done"}))
		cancel()
		assert.NoError(t, <-done)
	})
}
