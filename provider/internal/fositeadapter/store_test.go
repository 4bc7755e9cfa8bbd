package fositeadapter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

func TestMapErr(t *testing.T) {
	s := &Store{}
	tests := []struct {
		name string
		in   error
		is   []error
		not  []error
	}{
		{"nil", nil, nil, nil},
		{"not found", fmt.Errorf("x: %w", storage.ErrNotFound), []error{fosite.ErrNotFound, storage.ErrNotFound}, []error{ErrUnavailable}},
		{"already used passes", storage.ErrAlreadyUsed, []error{storage.ErrAlreadyUsed}, []error{ErrUnavailable, fosite.ErrNotFound}},
		{"already exists passes", storage.ErrAlreadyExists, []error{storage.ErrAlreadyExists}, []error{ErrUnavailable}},
		{"anything else is unavailable", errors.New("connection reset"), []error{ErrUnavailable}, []error{fosite.ErrNotFound}},
		{"deadline is unavailable", context.DeadlineExceeded, []error{ErrUnavailable, context.DeadlineExceeded}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.mapErr(tt.in)
			if tt.in == nil {
				assert.NoError(t, got)
				return
			}
			for _, want := range tt.is {
				assert.ErrorIs(t, got, want)
			}
			for _, not := range tt.not {
				assert.NotErrorIs(t, got, not)
			}
		})
	}
}

type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newStore(t *testing.T) (*Store, *clock) {
	t.Helper()
	mem := memory.New()
	require.NoError(t, mem.CreateClient(context.Background(), storage.Client{ID: "c1", GrantTypes: []string{"authorization_code"}}))
	c := &clock{now: time.Now()}
	return &Store{S: mem, Now: c.Now, CodeSignature: func(_ context.Context, code string) string { return "sig-" + code }}, c
}

func newRequest(c *clock) *fosite.Request {
	sess := NewSession("alice")
	sess.SetExpiresAt(fosite.AuthorizeCode, c.now.Add(time.Minute))
	sess.SetExpiresAt(fosite.AccessToken, c.now.Add(time.Hour))
	sess.SetExpiresAt(fosite.RefreshToken, c.now.Add(24*time.Hour))
	sess.Claims.Nonce = "n-123"
	return &fosite.Request{
		ID: "req-1", RequestedAt: c.now, Client: &Client{Client: storage.Client{ID: "c1"}},
		RequestedScope: fosite.Arguments{"openid"}, GrantedScope: fosite.Arguments{"openid"},
		Form:    url.Values{"redirect_uri": {"https://x"}, "password": {"hunter2"}, "client_secret": {"s"}, "code_verifier": {"v"}},
		Session: sess,
	}
}

func TestCodeLifecycle(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	require.NoError(t, s.CreateAuthorizeCodeSession(ctx, "code1", newRequest(c)))

	got, err := s.GetAuthorizeCodeSession(ctx, "code1", NewSession(""))
	require.NoError(t, err)
	assert.Equal(t, "req-1", got.GetID())
	assert.Equal(t, "alice", got.GetSession().GetSubject())
	assert.Equal(t, "n-123", got.GetSession().(*Session).Claims.Nonce, "session round trip")
	assert.Equal(t, "https://x", got.GetRequestForm().Get("redirect_uri"))
	for _, k := range []string{"password", "client_secret", "code_verifier"} {
		assert.Empty(t, got.GetRequestForm().Get(k), "%s must never be stored", k)
	}

	require.NoError(t, s.InvalidateAuthorizeCodeSession(ctx, "code1"))
	err = s.InvalidateAuthorizeCodeSession(ctx, "code1")
	assert.ErrorIs(t, err, storage.ErrAlreadyUsed, "the token endpoint maps a lost race to invalid_grant")

	got, err = s.GetAuthorizeCodeSession(ctx, "code1", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrInvalidatedAuthorizeCode)
	require.NotNil(t, got, "fosite needs the request to revoke its tokens")
	assert.Equal(t, "req-1", got.GetID())

	_, err = s.GetAuthorizeCodeSession(ctx, "unknown", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrNotFound)
}

func TestExpiryUsesTheClock(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	require.NoError(t, s.CreateAuthorizeCodeSession(ctx, "code1", newRequest(c)))
	require.NoError(t, s.CreateAccessTokenSession(ctx, "at1", newRequest(c)))
	c.now = c.now.Add(2 * time.Minute)
	_, err := s.GetAuthorizeCodeSession(ctx, "code1", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrNotFound, "an expired code is not found")
	_, err = s.GetAccessTokenSession(ctx, "at1", NewSession(""))
	assert.NoError(t, err)
	c.now = c.now.Add(time.Hour)
	_, err = s.GetAccessTokenSession(ctx, "at1", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrNotFound)
}

func TestRefreshRotation(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	require.NoError(t, s.CreateAccessTokenSession(ctx, "at1", newRequest(c)))
	require.NoError(t, s.CreateRefreshTokenSession(ctx, "rt1", "at1", newRequest(c)))
	require.NoError(t, s.RotateRefreshToken(ctx, "req-1", "rt1"))
	assert.ErrorIs(t, s.RotateRefreshToken(ctx, "req-1", "rt1"), fosite.ErrSerializationFailure)
	got, err := s.GetRefreshTokenSession(ctx, "rt1", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrInactiveToken)
	require.NotNil(t, got)
	_, err = s.GetAccessTokenSession(ctx, "at1", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrNotFound, "rotation deletes the access token issued with the refresh token")
}

func TestJTISingleUse(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	require.NoError(t, s.SetClientAssertionJWT(ctx, "j1", c.now.Add(time.Minute)))
	err := s.SetClientAssertionJWT(ctx, "j1", c.now.Add(time.Minute))
	assert.ErrorIs(t, err, fosite.ErrInvalidClient)
}

func TestOIDCSessionKeyedBySignature(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	require.NoError(t, s.CreateOpenIDConnectSession(ctx, "the-code", newRequest(c)))
	_, err := s.S.GetToken(ctx, storage.KindOIDC, "the-code")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the whole code is never a key")
	_, err = s.GetOpenIDConnectSession(ctx, "the-code", newRequest(c))
	assert.NoError(t, err)
	_, err = s.GetOpenIDConnectSession(ctx, "other", newRequest(c))
	assert.ErrorIs(t, err, fosite.ErrNotFound)
}

func TestSessionRoundTrip(t *testing.T) {
	now := time.Now().UTC()
	s := NewSession("alice")
	s.Username = "alice"
	s.SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
	s.Claims.AuthTime, s.Claims.RequestedAt = now.Truncate(time.Second), now
	s.Claims.AuthenticationMethodsReferences = []string{"pwd", "otp"}
	s.Claims.Nonce, s.Claims.Audience = "n", []string{"c1"}
	s.Claims.Extra["groups"] = []any{"a", "b"}
	s.Headers.Extra["kid"] = "k"
	s.Extra = map[string]any{"client_ip": "127.0.0.1"}
	s.User = []byte(`{"sub":"alice"}`)
	b, err := json.Marshal(s)
	require.NoError(t, err)
	var got Session
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, s.Subject, got.Subject)
	assert.Equal(t, s.Username, got.Username)
	assert.True(t, s.GetExpiresAt(fosite.AccessToken).Equal(got.GetExpiresAt(fosite.AccessToken)))
	assert.True(t, s.Claims.AuthTime.Equal(got.Claims.AuthTime))
	assert.True(t, s.Claims.RequestedAt.Equal(got.Claims.RequestedAt))
	assert.True(t, got.Claims.ExpiresAt.IsZero(), "zero stays zero")
	assert.Equal(t, s.Claims.AuthenticationMethodsReferences, got.Claims.AuthenticationMethodsReferences)
	assert.Equal(t, s.Claims.Extra, got.Claims.Extra)
	assert.Equal(t, s.Headers.Extra, got.Headers.Extra)
	assert.Equal(t, s.Extra, got.Extra)
	assert.JSONEq(t, string(s.User), string(got.User))
	c := s.Clone().(*Session)
	c.Claims.Extra["groups"] = "changed"
	assert.NotEqual(t, "changed", s.Claims.Extra["groups"], "Clone is deep")
	empty, _ := json.Marshal(NewSession(""))
	assert.Less(t, len(empty), 64, "an empty session is small: %s", empty)
}
