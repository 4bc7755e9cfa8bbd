package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider/internal/fositeadapter"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// secretText is in the text of every input error (its cause and its debug
// message): no answer may carry it.
const secretText = "SECRET-internal-detail"

// stacked wraps an error as fosite's errorsx.WithStack does.
type stacked struct{ error }

func (s stacked) Unwrap() error { return s.error }

func withStack(err error) error { return stacked{err} }

// internal is an error text such as a driver returns: it must reach the
// log, never the client.
func internal(what string) error {
	return fmt.Errorf("%s: dial tcp 10.0.0.7:5432: %s", what, secretText)
}

// fositeWrapped is err as fosite's handlers return a storage error: inside
// server_error, with the text in the debug field, behind a stack.
func fositeWrapped(err error) error {
	return withStack(fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
}

type translationCase struct {
	name   string
	err    error
	status int
	code   string
	// desc must be in error_description.
	desc string
	// header, if set, must be set on the response (name: value).
	header [2]string
}

// translationCases are every error class the provider's endpoints meet, as
// they meet them (wrapped as fosite and the store adapter wrap them).
func translationCases() []translationCase {
	until := time.Now().Add(90 * time.Second)
	cases := []translationCase{
		// Storage sentinels.
		{"storage.ErrAlreadyUsed: a code consumed by a concurrent exchange",
			fositeWrapped(fmt.Errorf("memory: consume authorization code %q: %w", secretText, storage.ErrAlreadyUsed)),
			400, "invalid_grant", "The authorization code has already been used.", [2]string{}},
		{"fosite.ErrInvalidatedAuthorizeCode",
			fositeWrapped(fmt.Errorf("%s: %w", secretText, fosite.ErrInvalidatedAuthorizeCode)),
			400, "invalid_grant", "The authorization code has already been used.", [2]string{}},
		{"storage.ErrNotFound through the adapter and fosite's handler",
			withStack(fosite.ErrInvalidGrant.WithWrap(fosite.ErrNotFound.WithWrap(fmt.Errorf("%s: %w", secretText, storage.ErrNotFound))).WithHint("The refresh token is malformed or not valid.").WithDebug(secretText)),
			400, "invalid_grant", "The refresh token is malformed or not valid.", [2]string{}},
		{"storage.ErrNotFound bare (a fault of ours)",
			fmt.Errorf("%s: %w", secretText, storage.ErrNotFound),
			500, "server_error", "", [2]string{}},
		{"storage.ErrAlreadyExists (a token signature collision)",
			fositeWrapped(fmt.Errorf("%s: %w", secretText, storage.ErrAlreadyExists)),
			500, "server_error", "", [2]string{}},

		// The refresh race.
		{"refresh rotation lost (fosite.ErrSerializationFailure)",
			withStack(fosite.ErrInvalidRequest.WithDebugf("%s", secretText).
				WithWrap(fosite.ErrSerializationFailure.WithWrap(fmt.Errorf("%s: %w", secretText, storage.ErrAlreadyUsed))).
				WithHint("Failed to refresh token because of multiple concurrent requests using the same token. Please retry the request.")),
			400, "invalid_grant", "The refresh token was already used by a concurrent request", [2]string{}},
		{"refresh token presented within the reuse grace",
			fositeWrapped(fmt.Errorf("%w (%s)", fositeadapter.ErrRecentlyRotated, secretText)),
			400, "invalid_grant", "The refresh token was already used by a concurrent request", [2]string{}},
		{"refresh token reuse (fosite revoked the family)",
			fosite.ErrInvalidGrant.WithWrap(fosite.ErrInactiveToken).WithHint("The refresh token was already used.").WithDebug(secretText),
			400, "invalid_grant", "The refresh token was already used.", [2]string{}},

		// Backend failures and contexts.
		{"ErrUnavailable from the store, through fosite",
			fositeWrapped(fmt.Errorf("%w: %w", ErrUnavailable, internal("postgres: get client"))),
			503, "temporarily_unavailable", "retry later", [2]string{}},
		{"ErrUnavailable from a host callback, bare",
			fmt.Errorf("%w: lookup user: %w", ErrUnavailable, internal("ldap")),
			503, "temporarily_unavailable", "retry later", [2]string{}},
		{"ErrUnavailable inside invalid_client (fosite's client lookup)",
			withStack(fosite.ErrInvalidClient.WithWrap(fmt.Errorf("%w: %w", ErrUnavailable, internal("get client"))).WithDebug(secretText)),
			503, "temporarily_unavailable", "retry later", [2]string{}},
		{"context.DeadlineExceeded",
			fmt.Errorf("%s: %w", secretText, context.DeadlineExceeded),
			503, "temporarily_unavailable", "retry later", [2]string{}},
		{"context.Canceled",
			fositeWrapped(fmt.Errorf("%s: %w", secretText, context.Canceled)),
			503, "temporarily_unavailable", "retry later", [2]string{}},

		// Client assertions (go-jose and fosite's JWT validation).
		{"jwt.ValidationError, bare",
			&jwt.ValidationError{Errors: jwt.ValidationErrorExpired, Inner: errors.New(secretText)},
			401, "invalid_client", "The client assertion is invalid or expired.", [2]string{"WWW-Authenticate", `Basic realm="https://id.example.com"`}},
		{"jwt.ValidationError inside invalid_client",
			withStack(fosite.ErrInvalidClient.WithHint("Unable to verify the integrity of the 'client_assertion' value.").
				WithWrap(&jwt.ValidationError{Errors: jwt.ValidationErrorSignatureInvalid}).WithDebug(secretText)),
			401, "invalid_client", "The client assertion is invalid or expired.", [2]string{}},
		{"go-jose error from client authentication (clientAuthError)",
			clientAuthError(fmt.Errorf("%w: %s", jose.ErrCryptoFailure, secretText)),
			401, "invalid_client", "The client assertion could not be verified.", [2]string{"WWW-Authenticate", `Basic realm="https://id.example.com"`}},

		// Lockouts and address checks.
		{"password lockout (errPasswordLocked inside fosite's invalid_grant)",
			withStack(fosite.ErrInvalidGrant.WithHint("Unable to authenticate the provided username and password credentials.").
				WithWrap(fosite.ErrNotFound.WithWrap(errPasswordLocked)).WithDebug(secretText)),
			400, "invalid_grant", "Too many failed sign-ins for this username; try again later.", [2]string{}},
		{"client lockout (errClientLocked)",
			errClientLocked(until),
			401, "invalid_client", "Too many failed client authentications from this address", [2]string{"Retry-After", "90"}},
		{"client used from outside its IP ranges",
			errIPRefused(fosite.ErrInvalidClient),
			401, "invalid_client", "This client may not be used from this network address.", [2]string{}},

		// Anything else is a fault of ours.
		{"an unknown error",
			errors.New(secretText),
			500, "server_error", "", [2]string{}},
		{"an unknown error behind a stack",
			withStack(internal("template")),
			500, "server_error", "", [2]string{}},
	}
	// Every fosite error class passes through as fosite answers it, with
	// its cause and debug text withheld.
	for _, f := range []*fosite.RFC6749Error{
		fosite.ErrInvalidRequest, fosite.ErrUnauthorizedClient, fosite.ErrAccessDenied,
		fosite.ErrUnsupportedResponseType, fosite.ErrUnsupportedResponseMode, fosite.ErrInvalidScope,
		fosite.ErrServerError, fosite.ErrTemporarilyUnavailable, fosite.ErrUnsupportedGrantType,
		fosite.ErrInvalidGrant, fosite.ErrInvalidClient, fosite.ErrInvalidState, fosite.ErrMisconfiguration,
		fosite.ErrInsufficientEntropy, fosite.ErrNotFound, fosite.ErrRequestUnauthorized,
		fosite.ErrTokenSignatureMismatch, fosite.ErrInvalidTokenFormat, fosite.ErrTokenExpired,
		fosite.ErrScopeNotGranted, fosite.ErrTokenClaim, fosite.ErrInactiveToken, fosite.ErrLoginRequired,
		fosite.ErrInteractionRequired, fosite.ErrConsentRequired, fosite.ErrRequestNotSupported,
		fosite.ErrRequestURINotSupported, fosite.ErrRegistrationNotSupported, fosite.ErrInvalidRequestURI,
		fosite.ErrInvalidRequestObject, fosite.ErrJTIKnown, fosite.ErrRequestForbidden, fosite.ErrUnknownRequest,
	} {
		cases = append(cases, translationCase{
			"fosite " + f.ErrorField + " " + http.StatusText(f.CodeField),
			withStack(f.WithHint("A hint for the client.").WithWrap(errors.New(secretText)).WithDebug(secretText)),
			f.CodeField, f.ErrorField, f.DescriptionField + " A hint for the client.", [2]string{},
		})
	}
	return cases
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
	assert.Nil(t, rfcError(nil))
	for _, tc := range translationCases() {
		t.Run(tc.name, func(t *testing.T) {
			log.Reset()
			rec := httptest.NewRecorder()
			p.setRetryAfter(rec, tc.err)
			p.writeTokenError(t.Context(), rec, nil, tc.err)
			body := rec.Body.String()
			var got oauthError
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), body)
			assert.Equal(t, tc.status, rec.Code, body)
			assert.Equal(t, tc.code, got.Error, body)
			assert.Contains(t, got.Description, tc.desc)
			assert.NotContains(t, body, secretText, "no answer carries an error's text")
			assert.NotContains(t, body, "10.0.0.7")
			if tc.header[0] != "" {
				assert.Equal(t, tc.header[1], rec.Header().Get(tc.header[0]), "header %s", tc.header[0])
			}
			if tc.code == "invalid_client" {
				assert.NotEmpty(t, rec.Header().Get("WWW-Authenticate"), "invalid_client carries WWW-Authenticate (RFC 6749 §5.2)")
			}
			if tc.status >= 500 {
				assert.Contains(t, log.String(), secretText, "a fault of ours or a backend's is logged with its cause")
			} else {
				assert.Empty(t, log.String(), "a client's error is not logged")
			}
			rfc := rfcError(tc.err)
			assert.Equal(t, tc.status, rfc.CodeField, "rfcError and the written answer agree")
			assert.Equal(t, tc.code, rfc.ErrorField)
		})
	}
}

// TestHostErrors checks what Provider.Introspect makes of each error class:
// Gatehouse's sentinels, never a fosite type, the backend's own error kept
// for a failure.
func TestHostErrors(t *testing.T) {
	for _, tc := range translationCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := hostError(tc.err)
			var rfc *fosite.RFC6749Error
			assert.False(t, errors.As(got, &rfc), "no fosite error in the chain: %v", got)
			if tc.status == http.StatusServiceUnavailable {
				assert.ErrorIs(t, got, ErrUnavailable)
				assert.NotErrorIs(t, got, ErrInvalidToken)
				if strings.Contains(errorChain(tc.err), "dial tcp") {
					assert.Contains(t, got.Error(), "dial tcp", "the backend's error is kept for the host's log")
				}
				return
			}
			assert.ErrorIs(t, got, ErrInvalidToken)
			assert.NotErrorIs(t, got, ErrUnavailable)
		})
	}
	assert.ErrorIs(t, hostError(fosite.ErrServerError.WithWrap(context.DeadlineExceeded)), context.DeadlineExceeded,
		"a deadline stays visible to the host")
}

// TestCodeReuseIsNotRefreshRace checks the decision to revoke after a
// failed token response: only an authorization code lost to another
// exchange revokes; a lost refresh rotation never does.
func TestCodeReuseIsNotRefreshRace(t *testing.T) {
	code := &fosite.AccessRequest{GrantTypes: fosite.Arguments{"authorization_code"}}
	refresh := &fosite.AccessRequest{GrantTypes: fosite.Arguments{"refresh_token"}}
	used := fositeWrapped(fmt.Errorf("x: %w", storage.ErrAlreadyUsed))
	lost := withStack(fosite.ErrInvalidRequest.WithWrap(fosite.ErrSerializationFailure.WithWrap(storage.ErrAlreadyUsed)))
	assert.True(t, isCodeReuse(code, used))
	assert.True(t, isCodeReuse(code, fositeWrapped(fosite.ErrInvalidatedAuthorizeCode)))
	assert.False(t, isCodeReuse(refresh, used), "a refresh is never code reuse")
	assert.False(t, isCodeReuse(refresh, lost), "a lost rotation is not code reuse")
	assert.False(t, isCodeReuse(code, lost))
	assert.False(t, isCodeReuse(code, fositeWrapped(fmt.Errorf("%w: x", ErrUnavailable))))
	assert.False(t, isCodeReuse(nil, used))
}
