package provider_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// Bad access-control settings are refused at New, each with the field
// named and a reason to act on.
func TestAccessConfigRefused(t *testing.T) {
	store := memory.New()
	totp, err := mfa.NewTOTP(store, mfa.TOTPOptions{Issuer: "x"})
	require.NoError(t, err)
	base := provider.Config{Issuer: "http://127.0.0.1:1", Store: store, Authenticator: userDB{}}
	for _, tc := range []struct {
		name   string
		mutate func(*provider.Config)
		field  string
		reason string
	}{
		{"bad proxy", func(c *provider.Config) { c.TrustedProxies = []string{"10.0.0.1/8"} }, "TrustedProxies", `did you mean "10.0.0.0/8"`},
		{"nil factor", func(c *provider.Config) { c.Factors = []mfa.Factor{nil} }, "Factors[0]", "nil"},
		{"duplicate factor", func(c *provider.Config) { c.Factors = []mfa.Factor{totp, totp} }, "Factors[1]", "unique"},
		{"built-in claim scope", func(c *provider.Config) {
			c.Claims = map[string]provider.ClaimFunc{"email": func(context.Context, provider.ClaimRequest) (map[string]any, error) { return nil, nil }}
		}, "Claims", "built in"},
		{"pattern claim scope", func(c *provider.Config) {
			c.Claims = map[string]provider.ClaimFunc{"dept:*": func(context.Context, provider.ClaimRequest) (map[string]any, error) { return nil, nil }}
		}, "Claims", "not a valid scope name"},
		{"nil claim func", func(c *provider.Config) { c.Claims = map[string]provider.ClaimFunc{"dept": nil} }, "Claims", "nil function"},
		{"bad catalog entry", func(c *provider.Config) { c.Catalog = scope.Catalog{"ROLE": scope.Set{"a b"}} }, "Catalog", "ROLE"},
		{"negative lockout", func(c *provider.Config) { c.PasswordLockout.BaseDelay = -1 }, "PasswordLockout", "negative"},
		{"lockout max below base", func(c *provider.Config) { c.PasswordLockout.BaseDelay, c.PasswordLockout.MaxDelay = 10e9, 1e9 }, "PasswordLockout", "shorter"},
		{"negative audit queue", func(c *provider.Config) { c.AuditQueueSize = -1 }, "AuditQueueSize", "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			tc.mutate(&cfg)
			_, err := provider.New(cfg)
			var ce *provider.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
			assert.Contains(t, err.Error(), tc.reason)
		})
	}
}

// A client registration with bad access-control fields is refused.
func TestAccessClientRegistrationRefused(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		c      storage.Client
		reason string
	}{
		{"bad permission", storage.Client{GrantTypes: []string{"client_credentials"}, PermissionScope: []string{"assets:*:read"}}, "PermissionScope"},
		{"two roles", storage.Client{GrantTypes: []string{"client_credentials"}, RequiredRole: "a b"}, "RequiredRole"},
		{"bad IP range", storage.Client{GrantTypes: []string{"client_credentials"}, IPRanges: []string{"10.0.0.9-10.0.0.1"}}, "IPRanges"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.p.CreateClient(context.Background(), tc.c)
			require.ErrorIs(t, err, provider.ErrInvalidClient)
			assert.Contains(t, err.Error(), tc.reason)
		})
	}
}
