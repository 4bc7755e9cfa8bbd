// Package oauthtest holds test fixtures for the error translation of
// package oauth: every error class the provider's endpoints meet, built as
// fosite and the store adapter build them. Tests outside package oauth use
// it to drive those errors through their own writers without importing
// fosite.
package oauthtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// SecretText is in the text of every input error (its cause and its debug
// message): no answer may carry it.
const SecretText = "SECRET-internal-detail"

// BackendText is in the text of the backend errors: it must reach the log,
// never the client.
const BackendText = "dial tcp 10.0.0.7:5432"

// stacked wraps an error as fosite's errorsx.WithStack does.
type stacked struct{ error }

func (s stacked) Unwrap() error { return s.error }

func withStack(err error) error { return stacked{err} }

// internal is an error text such as a driver returns.
func internal(what string) error {
	return fmt.Errorf("%s: %s: %s", what, BackendText, SecretText)
}

// fositeWrapped is err as fosite's handlers return a storage error: inside
// server_error, with the text in the debug field, behind a stack.
func fositeWrapped(err error) error {
	return withStack(fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
}

// Case is an error and the answer it must get.
type Case struct {
	Name   string
	Err    error
	Status int
	Code   string
	// Desc must be in error_description.
	Desc string
}

// Cases are every error class the provider's endpoints meet, as they meet
// them (wrapped as fosite and the store adapter wrap them).
func Cases() []Case {
	cases := []Case{
		// Storage sentinels.
		{"storage.ErrAlreadyUsed: a code consumed by a concurrent exchange",
			fositeWrapped(fmt.Errorf("memory: consume authorization code %q: %w", SecretText, storage.ErrAlreadyUsed)),
			400, "invalid_grant", "The authorization code has already been used."},
		{"fosite.ErrInvalidatedAuthorizeCode",
			fositeWrapped(fmt.Errorf("%s: %w", SecretText, fosite.ErrInvalidatedAuthorizeCode)),
			400, "invalid_grant", "The authorization code has already been used."},
		{"storage.ErrNotFound through the adapter and fosite's handler",
			withStack(fosite.ErrInvalidGrant.WithWrap(fosite.ErrNotFound.WithWrap(fmt.Errorf("%s: %w", SecretText, storage.ErrNotFound))).WithHint("The refresh token is malformed or not valid.").WithDebug(SecretText)),
			400, "invalid_grant", "The refresh token is malformed or not valid."},
		{"storage.ErrNotFound bare (a fault of ours)",
			fmt.Errorf("%s: %w", SecretText, storage.ErrNotFound),
			500, "server_error", ""},
		{"storage.ErrAlreadyExists (a token signature collision)",
			fositeWrapped(fmt.Errorf("%s: %w", SecretText, storage.ErrAlreadyExists)),
			500, "server_error", ""},

		// The refresh race.
		{"refresh rotation lost (fosite.ErrSerializationFailure)",
			withStack(fosite.ErrInvalidRequest.WithDebugf("%s", SecretText).
				WithWrap(fosite.ErrSerializationFailure.WithWrap(fmt.Errorf("%s: %w", SecretText, storage.ErrAlreadyUsed))).
				WithHint("Failed to refresh token because of multiple concurrent requests using the same token. Please retry the request.")),
			400, "invalid_grant", "The refresh token was already used by a concurrent request"},
		{"refresh token presented within the reuse grace",
			fositeWrapped(fmt.Errorf("%w (%s)", oauth.ErrRecentlyRotated, SecretText)),
			400, "invalid_grant", "The refresh token was already used by a concurrent request"},
		{"refresh token reuse (fosite revoked the family)",
			fosite.ErrInvalidGrant.WithWrap(fosite.ErrInactiveToken).WithHint("The refresh token was already used.").WithDebug(SecretText),
			400, "invalid_grant", "The refresh token was already used."},

		// Backend failures and contexts.
		{"ErrUnavailable from the store, through fosite",
			fositeWrapped(fmt.Errorf("%w: %w", oauth.ErrUnavailable, internal("postgres: get client"))),
			503, "temporarily_unavailable", "retry later"},
		{"ErrUnavailable from a host callback, bare",
			fmt.Errorf("%w: lookup user: %w", oauth.ErrUnavailable, internal("ldap")),
			503, "temporarily_unavailable", "retry later"},
		{"ErrUnavailable inside invalid_client (fosite's client lookup)",
			withStack(fosite.ErrInvalidClient.WithWrap(fmt.Errorf("%w: %w", oauth.ErrUnavailable, internal("get client"))).WithDebug(SecretText)),
			503, "temporarily_unavailable", "retry later"},
		{"context.DeadlineExceeded",
			fmt.Errorf("%s: %w", SecretText, context.DeadlineExceeded),
			503, "temporarily_unavailable", "retry later"},
		{"context.Canceled",
			fositeWrapped(fmt.Errorf("%s: %w", SecretText, context.Canceled)),
			503, "temporarily_unavailable", "retry later"},

		// Client assertions (fosite's JWT validation).
		{"jwt.ValidationError, bare",
			&jwt.ValidationError{Errors: jwt.ValidationErrorExpired, Inner: errors.New(SecretText)},
			401, "invalid_client", "The client assertion is invalid or expired."},
		{"jwt.ValidationError inside invalid_client",
			withStack(fosite.ErrInvalidClient.WithHint("Unable to verify the integrity of the 'client_assertion' value.").
				WithWrap(&jwt.ValidationError{Errors: jwt.ValidationErrorSignatureInvalid}).WithDebug(SecretText)),
			401, "invalid_client", "The client assertion is invalid or expired."},

		// The password lockout.
		{"password lockout (ErrPasswordLocked inside fosite's invalid_grant)",
			withStack(fosite.ErrInvalidGrant.WithHint("Unable to authenticate the provided username and password credentials.").
				WithWrap(fosite.ErrNotFound.WithWrap(fmt.Errorf("%w: %w", oauth.ErrPasswordRefused, oauth.ErrPasswordLocked))).WithDebug(SecretText)),
			400, "invalid_grant", "Too many failed sign-ins for this username; try again later."},

		// Anything else is a fault of ours.
		{"an unknown error",
			errors.New(SecretText),
			500, "server_error", ""},
		{"an unknown error behind a stack",
			withStack(internal("template")),
			500, "server_error", ""},
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
		cases = append(cases, Case{
			"fosite " + f.ErrorField + " " + http.StatusText(f.CodeField),
			withStack(f.WithHint("A hint for the client.").WithWrap(errors.New(SecretText)).WithDebug(SecretText)),
			f.CodeField, f.ErrorField, f.DescriptionField + " A hint for the client.",
		})
	}
	return cases
}
