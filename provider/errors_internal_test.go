package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/provider/internal/oauth/oauthtest"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// translationCase is an error and the answer the token endpoint's writer
// must give it.
type translationCase struct {
	oauthtest.Case
	// header, if set, must be set on the response (name: value).
	header [2]string
}

// translationCases are every error class the engine translates
// (oauthtest.Cases) and the provider's own.
func translationCases() []translationCase {
	var cases []translationCase
	for _, c := range oauthtest.Cases() {
		cases = append(cases, translationCase{Case: c})
	}
	until := time.Now().Add(90 * time.Second)
	return append(cases,
		translationCase{oauthtest.Case{Name: "client lockout (errClientLocked)", Err: errClientLocked(until),
			Status: 401, Code: "invalid_client", Desc: "Too many failed client authentications from this address"},
			[2]string{"Retry-After", "90"}},
		translationCase{oauthtest.Case{Name: "client used from outside its IP ranges", Err: errIPRefused(oauth.InvalidClient),
			Status: 401, Code: "invalid_client", Desc: "This client may not be used from this network address."},
			[2]string{"WWW-Authenticate", `Basic realm="https://id.example.com"`}},
		translationCase{oauthtest.Case{Name: "an unreadable X-Forwarded-For", Err: oauth.InvalidRequest.Wrap("The client address cannot be determined.", errors.New(oauthtest.SecretText)),
			Status: 400, Code: "invalid_request", Desc: "The client address cannot be determined."},
			[2]string{}},
		translationCase{oauthtest.Case{Name: "a password grant's user in no eligible tenant", Err: oauth.InvalidGrant.Hint(oauth.HintOf(oauth.AccessDenied.Hint("Reserved for a customer."))),
			Status: 400, Code: "invalid_grant", Desc: "Reserved for a customer."},
			[2]string{}},
		translationCase{oauthtest.Case{Name: "the password grant's lockout as the provider returns it", Err: fmt.Errorf("%w: %w", oauth.ErrPasswordRefused, errPasswordLocked),
			Status: 400, Code: "invalid_grant", Desc: "Too many failed sign-ins for this username"},
			[2]string{}},
	)
}

func newTranslationProvider(t *testing.T, log *bytes.Buffer) *Provider {
	t.Helper()
	p, err := New(Config{
		Logger: slog.New(slog.NewTextHandler(log, nil)),
		Issuer: "https://id.example.com",
		Store:  memory.New(),
		Authenticator: UserAuthenticatorFunc(func(context.Context, string, string) (User, error) {
			return User{}, ErrInvalidCredentials
		}),
		GlobalSecret: []byte("0123456789abcdef0123456789abcdef"),
	})
	require.NoError(t, err)
	return p
}

// TestErrorTranslation writes every error class through the token
// endpoint's writer (as the token handler does: Retry-After, then the
// error) and checks the status, the error code, the description, the
// headers, and that nothing of the cause's text reaches the client.
func TestErrorTranslation(t *testing.T) {
	var log bytes.Buffer
	p := newTranslationProvider(t, &log)
	assert.Equal(t, oauth.Answer{}, oauth.Translate(nil))
	for _, tc := range translationCases() {
		t.Run(tc.Name, func(t *testing.T) {
			log.Reset()
			rec := httptest.NewRecorder()
			p.setRetryAfter(rec, tc.Err)
			p.writeTokenError(t.Context(), rec, nil, tc.Err)
			body := rec.Body.String()
			var got oauthError
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), body)
			assert.Equal(t, tc.Status, rec.Code, body)
			assert.Equal(t, tc.Code, got.Error, body)
			assert.Contains(t, got.Description, tc.Desc)
			assert.NotContains(t, body, oauthtest.SecretText, "no answer carries an error's text")
			assert.NotContains(t, body, oauthtest.BackendText)
			if tc.header[0] != "" {
				assert.Equal(t, tc.header[1], rec.Header().Get(tc.header[0]), "header %s", tc.header[0])
			}
			if tc.Code == "invalid_client" {
				assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"), "invalid_client carries WWW-Authenticate (RFC 6749 §5.2)")
			}
			if tc.Status >= 500 {
				assert.Contains(t, log.String(), oauthtest.SecretText, "a fault of ours or a backend's is logged with its cause")
			} else {
				assert.Empty(t, log.String(), "a client's error is not logged")
			}
			a := oauth.Translate(tc.Err)
			assert.Equal(t, tc.Status, a.Status, "Translate and the written answer agree")
			assert.Equal(t, tc.Code, a.Code)
			assert.Equal(t, got.Description, a.Description)
		})
	}
}

// TestJSONHeadersApart: the values setJSONHeaders sets share an array,
// and a handler that adds to one of them changes none of the others.
func TestJSONHeadersApart(t *testing.T) {
	rec := httptest.NewRecorder()
	setJSONHeaders(rec)
	h := rec.Header()
	h.Add("Content-Type", "text/plain")
	h.Add("Cache-Control", "private")
	assert.Equal(t, []string{"application/json;charset=UTF-8", "text/plain"}, h.Values("Content-Type"))
	assert.Equal(t, []string{"no-store", "private"}, h.Values("Cache-Control"))
	assert.Equal(t, []string{"no-cache"}, h.Values("Pragma"))
	assert.Equal(t, 1.0, testing.AllocsPerRun(100, func() { setJSONHeaders(rec) }), "one allocation for the three values")
}
