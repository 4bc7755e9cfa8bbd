package oauth

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

func TestRefreshReuseGrace(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	s.RefreshReuseGrace = 10 * time.Second
	require.NoError(t, s.CreateRefreshTokenSession(ctx, "rt1", "at1", newRequest(c)))
	rotatedAt := c.now
	require.NoError(t, s.RotateRefreshToken(ctx, "req-1", "rt1"))
	rec, err := s.S.GetToken(ctx, storage.KindRefreshToken, "rt1")
	require.NoError(t, err)
	assert.True(t, rotatedAt.Equal(rec.RotatedAt), "the rotation records the store's clock: %v", rec.RotatedAt)

	c.now = rotatedAt.Add(10*time.Second - time.Nanosecond)
	got, err := s.GetRefreshTokenSession(ctx, "rt1", NewSession(""))
	assert.ErrorIs(t, err, ErrRecentlyRotated, "within the grace")
	assert.NotErrorIs(t, err, fosite.ErrInactiveToken, "fosite must not see reuse")
	assert.NotErrorIs(t, err, fosite.ErrNotFound)
	assert.Nil(t, got, "no request: fosite has nothing to revoke")

	c.now = rotatedAt.Add(10 * time.Second)
	got, err = s.GetRefreshTokenSession(ctx, "rt1", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrInactiveToken, "from the end of the grace on, reuse")
	require.NotNil(t, got, "fosite needs the request to revoke the family")
	assert.Equal(t, "req-1", got.GetID())

	// Revoked without rotation: reuse at once, whatever the grace.
	req := newRequest(c)
	req.ID = "req-2"
	require.NoError(t, s.CreateRefreshTokenSession(ctx, "rt2", "at2", req))
	require.NoError(t, s.RevokeRefreshToken(ctx, "req-2"))
	_, err = s.GetRefreshTokenSession(ctx, "rt2", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrInactiveToken, "a revoked, never rotated token is not in any grace")

	// fosite deletes a reused token before revoking its family: the record
	// stays, so the next presentation is reuse again.
	require.NoError(t, s.DeleteRefreshTokenSession(ctx, "rt1"))
	require.NoError(t, s.DeleteRefreshTokenSession(ctx, "rt1"), "twice, as concurrent reuses do")
	_, err = s.GetRefreshTokenSession(ctx, "rt1", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrInactiveToken)
}

func TestRefreshNoGrace(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	require.NoError(t, s.CreateRefreshTokenSession(ctx, "rt1", "at1", newRequest(c)))
	require.NoError(t, s.RotateRefreshToken(ctx, "req-1", "rt1"))
	_, err := s.GetRefreshTokenSession(ctx, "rt1", NewSession(""))
	assert.ErrorIs(t, err, fosite.ErrInactiveToken, "with no grace a rotated token is reused at once")
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

// TestLoadKeepsTheHandlersExpiry replays the code exchange's loads: fosite
// loads the code's session into the request's session, sets the new
// tokens' expiry times on it, and loads the code's (and the PKCE and OpenID
// Connect) records into it again before it stores the tokens. The times it
// set survive; those it did not come from the record; everything else is
// the record's.
func TestLoadKeepsTheHandlersExpiry(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	code := newRequest(c)
	codeSess := code.Session.(*Session)
	codeSess.ExpiresAt = map[fosite.TokenType]time.Time{fosite.AuthorizeCode: c.now.Add(time.Minute)}
	require.NoError(t, s.CreateAuthorizeCodeSession(ctx, "code1", code))
	require.NoError(t, s.CreatePKCERequestSession(ctx, "code1", code))
	require.NoError(t, s.CreateOpenIDConnectSession(ctx, "code1", code))

	sess := NewSession("")
	_, err := s.GetAuthorizeCodeSession(ctx, "code1", sess)
	require.NoError(t, err)
	assert.True(t, sess.GetExpiresAt(fosite.AuthorizeCode).Equal(c.now.Add(time.Minute)), "a fresh session takes the record's times")
	assert.True(t, sess.GetExpiresAt(fosite.AccessToken).IsZero())

	at, rt := c.now.Add(7*time.Minute).Round(time.Second), c.now.Add(3*time.Hour).Round(time.Second)
	sess.SetExpiresAt(fosite.AccessToken, at)
	sess.SetExpiresAt(fosite.RefreshToken, rt)
	sess.Claims.Nonce = "changed"
	load := map[string]func() error{
		"code": func() error { _, err := s.GetAuthorizeCodeSession(ctx, "code1", sess); return err },
		"pkce": func() error { _, err := s.GetPKCERequestSession(ctx, "code1", sess); return err },
		"oidc": func() error {
			_, err := s.GetOpenIDConnectSession(ctx, "code1", &fosite.Request{Session: sess})
			return err
		},
	}
	for name, f := range load {
		require.NoError(t, f(), name)
		assert.True(t, sess.GetExpiresAt(fosite.AccessToken).Equal(at), "%s: the access token's expiry survives", name)
		assert.True(t, sess.GetExpiresAt(fosite.RefreshToken).Equal(rt), "%s: the refresh token's expiry survives", name)
		assert.True(t, sess.GetExpiresAt(fosite.AuthorizeCode).Equal(c.now.Add(time.Minute)), "%s", name)
		assert.Equal(t, "n-123", sess.Claims.Nonce, "%s: the rest is the record's", name)
		assert.Equal(t, "alice", sess.GetSubject(), name)
	}

	req := newRequest(c)
	req.Session = sess
	require.NoError(t, s.CreateAccessTokenSession(ctx, "at1", req))
	require.NoError(t, s.CreateRefreshTokenSession(ctx, "rt1", "at1", req))
	for sig, want := range map[string]time.Time{"at1": at, "rt1": rt} {
		kind := storage.KindAccessToken
		if sig == "rt1" {
			kind = storage.KindRefreshToken
		}
		rec, err := s.S.GetToken(ctx, kind, sig)
		require.NoError(t, err)
		assert.True(t, rec.ExpiresAt.Equal(want), "%s stored to expire at %s, want %s", kind, rec.ExpiresAt, want)
	}

	// A zero time in the session is no time: the record's fills it.
	fresh := NewSession("")
	fresh.ExpiresAt[fosite.AuthorizeCode] = time.Time{}
	_, err = s.GetAuthorizeCodeSession(ctx, "code1", fresh)
	require.NoError(t, err)
	assert.True(t, fresh.GetExpiresAt(fosite.AuthorizeCode).Equal(c.now.Add(time.Minute)))
}

// TestCreateRefusesATokenWithoutExpiry: a record without an expiry is a bug
// upstream; it is refused, not stored with a guessed lifetime.
func TestCreateRefusesATokenWithoutExpiry(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	creates := map[storage.TokenKind]func(r fosite.Requester) error{
		storage.KindAuthCode:     func(r fosite.Requester) error { return s.CreateAuthorizeCodeSession(ctx, "sig", r) },
		storage.KindAccessToken:  func(r fosite.Requester) error { return s.CreateAccessTokenSession(ctx, "sig", r) },
		storage.KindRefreshToken: func(r fosite.Requester) error { return s.CreateRefreshTokenSession(ctx, "sig", "at", r) },
		storage.KindPKCE:         func(r fosite.Requester) error { return s.CreatePKCERequestSession(ctx, "sig", r) },
		storage.KindOIDC:         func(r fosite.Requester) error { return s.CreateOpenIDConnectSession(ctx, "sig", r) },
	}
	for kind, create := range creates {
		r := newRequest(c)
		r.Session.(*Session).ExpiresAt = map[fosite.TokenType]time.Time{}
		err := create(r)
		assert.ErrorIs(t, err, errNoExpiry, "%s", kind)
		sig := "sig"
		if kind == storage.KindOIDC {
			sig = "sig-sig"
		}
		_, err = s.S.GetToken(ctx, kind, sig)
		assert.ErrorIs(t, err, storage.ErrNotFound, "%s: nothing stored", kind)
	}
}

// TestClientCodeLifetime: fosite gives a code the global lifetime; a
// client's own replaces it, for the code and the PKCE and OpenID Connect
// records stored with it.
func TestClientCodeLifetime(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	global := c.now.Add(5 * time.Minute)

	r := newRequest(c)
	r.Client = &Client{Client: storage.Client{ID: "c1", AuthCodeLifetime: 8 * time.Minute}}
	r.Session.SetExpiresAt(fosite.AuthorizeCode, global)
	before := time.Now()
	require.NoError(t, s.CreateAuthorizeCodeSession(ctx, "code1", r))
	after := time.Now()
	require.NoError(t, s.CreatePKCERequestSession(ctx, "code1", r))
	require.NoError(t, s.CreateOpenIDConnectSession(ctx, "code1", r))
	exp := r.Session.GetExpiresAt(fosite.AuthorizeCode)
	assert.False(t, exp.Before(before.Add(8*time.Minute)) || exp.After(after.Add(8*time.Minute)), "the client's 8 minutes: %s", exp)
	for kind, sig := range map[storage.TokenKind]string{storage.KindAuthCode: "code1", storage.KindPKCE: "code1", storage.KindOIDC: "sig-code1"} {
		rec, err := s.S.GetToken(ctx, kind, sig)
		require.NoError(t, err)
		assert.True(t, rec.ExpiresAt.Equal(exp), "%s expires with its code: %s, want %s", kind, rec.ExpiresAt, exp)
	}

	r = newRequest(c)
	r.Session.SetExpiresAt(fosite.AuthorizeCode, global)
	require.NoError(t, s.CreateAuthorizeCodeSession(ctx, "code2", r))
	rec, err := s.S.GetToken(ctx, storage.KindAuthCode, "code2")
	require.NoError(t, err)
	assert.True(t, rec.ExpiresAt.Equal(global), "without its own lifetime the global one stands")
}

// BenchmarkSessionLoad is the session decode of every introspection.
func BenchmarkSessionLoad(b *testing.B) {
	now := time.Now()
	s := NewSession("alice")
	s.SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
	s.SetExpiresAt(fosite.RefreshToken, now.Add(time.Hour))
	s.SetExpiresAt(fosite.AuthorizeCode, now.Add(time.Hour))
	s.Claims.AuthTime = now
	s.Claims.AuthenticationMethodsReferences = []string{"pwd"}
	s.Claims.Extra["email"] = "alice@example.com"
	raw, err := json.Marshal(s)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if err := unmarshalSession(raw, NewSession("")); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoginSIDReachesEveryRecord: the sign-in a grant was made in (the
// session's LoginSID) is written into storage.Request.LoginSID of every
// record of the grant (code, PKCE, OpenID Connect, access and refresh
// token), comes back with the session on every load, and so reaches the
// tokens a refresh issues from a loaded grant. A session stored before the
// field existed decodes with no sign-in.
func TestLoginSIDReachesEveryRecord(t *testing.T) {
	ctx := context.Background()
	s, c := newStore(t)
	req := newRequest(c)
	req.Session.(*Session).LoginSID = "sid-1"
	require.NoError(t, s.CreateAuthorizeCodeSession(ctx, "code1", req))
	require.NoError(t, s.CreatePKCERequestSession(ctx, "code1", req))
	require.NoError(t, s.CreateOpenIDConnectSession(ctx, "code1", req))
	require.NoError(t, s.CreateAccessTokenSession(ctx, "at1", req))
	require.NoError(t, s.CreateRefreshTokenSession(ctx, "rt1", "at1", req))
	for _, k := range []struct {
		kind storage.TokenKind
		sig  string
	}{{storage.KindAuthCode, "code1"}, {storage.KindPKCE, "code1"}, {storage.KindOIDC, "sig-code1"}, {storage.KindAccessToken, "at1"}, {storage.KindRefreshToken, "rt1"}} {
		rec, err := s.S.GetToken(ctx, k.kind, k.sig)
		require.NoError(t, err, "%s %s", k.kind, k.sig)
		assert.Equal(t, "sid-1", rec.Request.LoginSID, "%s %s records the sign-in", k.kind, k.sig)
	}

	// A refresh: fosite loads the grant and stores the new tokens from it.
	loaded, err := s.GetRefreshTokenSession(ctx, "rt1", NewSession(""))
	require.NoError(t, err)
	assert.Equal(t, "sid-1", loaded.GetSession().(*Session).LoginSID, "the load brings the sign-in back")
	require.NoError(t, s.CreateRefreshTokenSession(ctx, "rt2", "at2", loaded))
	rec, err := s.S.GetToken(ctx, storage.KindRefreshToken, "rt2")
	require.NoError(t, err)
	assert.Equal(t, "sid-1", rec.Request.LoginSID, "a token issued from the loaded grant records it too")
	assert.Equal(t, "sid-1", loaded.GetSession().(*Session).Clone().(*Session).LoginSID, "Clone keeps it")

	// Stored before: no "sid" in the wire form.
	var old Session
	require.NoError(t, json.Unmarshal([]byte(`{"sub":"alice","exp":{"access_token":1}}`), &old))
	assert.Empty(t, old.LoginSID)
	plain := newRequest(c)
	rec0, err := ToRecord(plain)
	require.NoError(t, err)
	assert.Empty(t, rec0.LoginSID, "a grant not made in a sign-in has none")
	b, err := json.Marshal(plain.Session)
	require.NoError(t, err)
	assert.NotContains(t, string(b), `"sid"`, "and writes none")
}
