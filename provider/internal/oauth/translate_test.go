package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider/internal/keys"
	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/provider/internal/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/storage/memory"
)

func newEngine(t *testing.T) *oauth.Engine {
	t.Helper()
	store := memory.New()
	m := keys.NewManager(store, keys.Options{})
	require.NoError(t, m.Ensure(t.Context()))
	e, err := oauth.New(oauth.Config{
		Issuer: "https://id.example.com", TokenURL: "https://id.example.com/oauth2/token",
		Store: store, Now: time.Now, Keys: m,
		AccessTokenLifetime: time.Hour, RefreshTokenLifetime: time.Hour, AuthCodeLifetime: time.Minute, IDTokenLifetime: time.Hour,
		GlobalSecret: []byte("0123456789abcdef0123456789abcdef"),
		Grants:       []string{"authorization_code", "refresh_token", "client_credentials"},
	})
	require.NoError(t, err)
	return e
}

// TestTranslation writes every error class through the engine's token
// error writer and checks the status, the code, the description, that
// Translate agrees, and that nothing of the cause's text reaches the
// client.
func TestTranslation(t *testing.T) {
	e := newEngine(t)
	assert.Equal(t, oauth.Answer{}, oauth.Translate(nil))
	for _, tc := range oauthtest.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			e.WriteAccessError(t.Context(), rec, nil, tc.Err)
			body := rec.Body.String()
			var got struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), body)
			assert.Equal(t, tc.Status, rec.Code, body)
			assert.Equal(t, tc.Code, got.Error, body)
			assert.Contains(t, got.Description, tc.Desc)
			assert.NotContains(t, body, oauthtest.SecretText, "no answer carries an error's text")
			assert.NotContains(t, body, oauthtest.BackendText)

			a := oauth.Translate(tc.Err)
			assert.Equal(t, oauth.Answer{Status: rec.Code, Code: got.Error, Description: got.Description, Hint: a.Hint}, a)
			if tc.Status >= 500 {
				assert.Contains(t, oauth.Chain(tc.Err), oauthtest.SecretText, "the log line keeps the cause")
			}
		})
	}
}

// TestKinds checks that each kind makes its RFC 6749 code and keeps its
// cause out of the answer.
func TestKinds(t *testing.T) {
	for kind, want := range map[oauth.Kind]string{
		oauth.InvalidRequest: "invalid_request", oauth.InvalidClient: "invalid_client", oauth.InvalidGrant: "invalid_grant",
		oauth.InvalidScope: "invalid_scope", oauth.UnauthorizedClient: "unauthorized_client",
		oauth.UnsupportedResponseType: "unsupported_response_type", oauth.AccessDenied: "access_denied",
		oauth.ServerError: "server_error", oauth.TemporarilyUnavailable: "temporarily_unavailable",
		oauth.LoginRequired: "login_required", oauth.ConsentRequired: "consent_required",
		oauth.InteractionRequired: "interaction_required", oauth.RequestNotSupported: "request_not_supported",
		oauth.RequestURINotSupported: "request_uri_not_supported",
	} {
		for _, err := range []error{kind.Hint("h."), kind.Hintf("%s.", "h"), kind.Wrap("h.", errors.New(oauthtest.SecretText)), kind.Debug(oauthtest.SecretText)} {
			a := oauth.Translate(err)
			assert.Equal(t, want, a.Code)
			assert.NotContains(t, a.Description, oauthtest.SecretText)
			assert.True(t, kind.In(err))
		}
		assert.Equal(t, "h.", oauth.HintOf(kind.Wrap("h.", errors.New("x"))))
		assert.Equal(t, "", oauth.HintOf(errors.New("x")))
	}
	assert.False(t, oauth.InvalidGrant.In(oauth.InvalidClient.Hint("x")))
}

// TestForHost checks what the provider hands its host for each error
// class: Gatehouse's sentinels, never a fosite type, the backend's own
// error kept for a failure.
func TestForHost(t *testing.T) {
	for _, tc := range oauthtest.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			got := oauth.ForHost(tc.Err)
			var rfc *fosite.RFC6749Error
			assert.False(t, errors.As(got, &rfc), "no fosite error in the chain: %v", got)
			if tc.Status == http.StatusServiceUnavailable {
				assert.ErrorIs(t, got, oauth.ErrUnavailable)
				assert.NotErrorIs(t, got, oauth.ErrInvalidToken)
				if strings.Contains(oauth.Chain(tc.Err), oauthtest.BackendText) {
					assert.Contains(t, got.Error(), oauthtest.BackendText, "the backend's error is kept for the host's log")
				}
				return
			}
			assert.ErrorIs(t, got, oauth.ErrInvalidToken)
			assert.NotErrorIs(t, got, oauth.ErrUnavailable)
		})
	}
	assert.ErrorIs(t, oauth.ForHost(fosite.ErrServerError.WithWrap(context.DeadlineExceeded)), context.DeadlineExceeded,
		"a deadline stays visible to the host")
}

// TestWriteRevocationResponse: a malformed request, a failed client
// authentication and a failure of ours are errors with their descriptions;
// anything about the token is 200 (RFC 7009 §2.2); nil is 200.
func TestWriteRevocationResponse(t *testing.T) {
	e := newEngine(t)
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{nil, 200, ""},
		{oauth.InvalidRequest.Hint("Client credentials missing."), 400, "invalid_request"},
		{oauth.InvalidClient.Hint("Wrong secret."), 401, "invalid_client"},
		{errors.New(oauthtest.SecretText), 500, "server_error"},
		{oauth.UnauthorizedClient.Hint("Another client's token."), 200, ""},
		{fosite.ErrInactiveToken, 200, ""},
	} {
		rec := httptest.NewRecorder()
		e.WriteRevocationResponse(t.Context(), rec, tc.err)
		assert.Equal(t, tc.status, rec.Code, "%v", tc.err)
		assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
		assert.NotContains(t, rec.Body.String(), oauthtest.SecretText)
		if tc.code == "" {
			assert.Empty(t, rec.Body.String(), "%v", tc.err)
			continue
		}
		var got struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		assert.Equal(t, tc.code, got.Error)
		if a := oauth.Translate(tc.err); a.Hint != "" {
			assert.Contains(t, got.Description, a.Hint, "the description keeps the hint")
		}
	}
}
