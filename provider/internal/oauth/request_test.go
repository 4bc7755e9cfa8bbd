package oauth

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ory/fosite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// A Request loads each client once; without one, every read goes to the
// store, so a deleted client is gone at the next request.
func TestRequestCachesClients(t *testing.T) {
	s, _ := newStore(t)
	ctx := WithRequest(context.Background(), NewRequest())
	first, err := s.GetClient(ctx, "c1")
	require.NoError(t, err)
	require.NoError(t, s.S.DeleteClient(context.Background(), "c1"))
	again, err := s.GetClient(ctx, "c1")
	require.NoError(t, err, "the request's cache serves the client it loaded")
	assert.Same(t, first, again)

	_, err = s.GetClient(WithRequest(context.Background(), NewRequest()), "c1")
	assert.ErrorIs(t, err, fosite.ErrNotFound, "a new request reads the store")
	_, err = s.GetClient(context.Background(), "c1")
	assert.ErrorIs(t, err, fosite.ErrNotFound, "no Request, no cache")
}

// KeepRefreshScopes gives the refresh token the store creates the grant's
// full scope while the request (and its access token) has fewer.
func TestRequestKeepRefreshScopes(t *testing.T) {
	s, c := newStore(t)
	state := NewRequest()
	state.KeepRefreshScopes([]string{"openid", "profile"})
	ctx := WithRequest(context.Background(), state)
	r := newRequest(c)
	require.NoError(t, s.CreateRefreshTokenSession(ctx, "rt1", "at1", r))
	tok, err := s.S.GetToken(context.Background(), storage.KindRefreshToken, "rt1")
	require.NoError(t, err)
	assert.Equal(t, []string{"openid", "profile"}, []string(tok.Request.GrantedScopes))
	assert.Equal(t, fosite.Arguments{"openid"}, r.GrantedScope, "the request itself is not changed")

	require.NoError(t, s.CreateRefreshTokenSession(WithRequest(context.Background(), NewRequest()), "rt2", "at2", newRequest(c)))
	tok, err = s.S.GetToken(context.Background(), storage.KindRefreshToken, "rt2")
	require.NoError(t, err)
	assert.Equal(t, []string{"openid"}, []string(tok.Request.GrantedScopes), "without KeepRefreshScopes the request's scopes")
}

// The password grant authenticates with the Request's Password; without
// one every password is refused as fosite.ErrNotFound (invalid_grant).
func TestAuthenticateUsesTheRequestsPassword(t *testing.T) {
	s, _ := newStore(t)
	_, err := s.Authenticate(context.Background(), "alice", "pw")
	assert.ErrorIs(t, err, fosite.ErrNotFound)
	_, err = s.Authenticate(WithRequest(context.Background(), NewRequest()), "alice", "pw")
	assert.ErrorIs(t, err, fosite.ErrNotFound)

	state := NewRequest()
	state.Password = func(_ context.Context, username, password string) (string, error) {
		if username == "alice" && password == "pw" {
			return "sub-alice", nil
		}
		return "", fosite.ErrNotFound
	}
	ctx := WithRequest(context.Background(), state)
	sub, err := s.Authenticate(ctx, "alice", "pw")
	require.NoError(t, err)
	assert.Equal(t, "sub-alice", sub)
	_, err = s.Authenticate(ctx, "alice", "wrong")
	assert.ErrorIs(t, err, fosite.ErrNotFound)
}

// BasicAuth answers as r.BasicAuth, for the header the request has now:
// the decoded credentials are kept for the header they came from.
func TestBasicAuthOncePerHeader(t *testing.T) {
	ctx := WithRequest(context.Background(), NewRequest())
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", nil)
	for _, h := range []string{"", "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:s%3Acret")), "Basic !!", "Bearer x",
		"Basic " + base64.StdEncoding.EncodeToString([]byte("other:secret")), "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:s%3Acret"))} {
		if h == "" {
			r.Header.Del("Authorization")
		} else {
			r.Header.Set("Authorization", h)
		}
		u, p, ok := r.BasicAuth()
		for range 2 {
			gu, gp, gok := BasicAuth(ctx, r)
			assert.Equal(t, []any{u, p, ok}, []any{gu, gp, gok}, "header %q", h)
		}
		gu, gp, gok := BasicAuth(context.Background(), r)
		assert.Equal(t, []any{u, p, ok}, []any{gu, gp, gok}, "without a Request: header %q", h)
	}
}
