package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse/gatehouse/storage"
)

// Errors the provider and the store adapter share. The provider exports
// the first two under its own name.
var (
	// ErrUnavailable marks a storage or user-backend failure that is not a
	// protocol outcome (a dropped connection, a timeout). The provider
	// exports it as provider.ErrUnavailable and answers it with
	// temporarily_unavailable and 503.
	ErrUnavailable = errors.New("provider: backend unavailable")

	// ErrInvalidToken is what [ForHost] returns for a token that grants
	// nothing; the provider exports it as provider.ErrInvalidToken.
	ErrInvalidToken = errors.New("provider: the access token is invalid, expired or revoked")

	// ErrPasswordRefused is the cause of a password grant refused for its
	// username and password (see [Authenticator]): invalid_grant.
	ErrPasswordRefused = errors.New("oauth: the username or password is wrong, or the username is locked")

	// ErrPasswordLocked is the cause of a password refused because the
	// username is locked by the provider's password lockout: invalid_grant,
	// saying so.
	ErrPasswordLocked = errors.New("provider: too many failed sign-ins for this username")

	// ErrRecentlyRotated is the store's answer to a refresh token presented
	// again less than [Store.RefreshReuseGrace] after its rotation
	// committed: a lost race, not reuse.
	ErrRecentlyRotated = errors.New("oauth: the refresh token was rotated within the reuse grace period")
)

// Kind is an RFC 6749 §5.2 error code (or an OpenID Connect one) with the
// HTTP status and description the provider answers it with. The provider
// builds its protocol errors from these; an error made by a Kind keeps its
// cause for the log and never shows the cause to the client.
type Kind struct{ base *fosite.RFC6749Error }

// The kinds the provider produces.
var (
	InvalidRequest          = Kind{fosite.ErrInvalidRequest}
	InvalidClient           = Kind{fosite.ErrInvalidClient}
	InvalidGrant            = Kind{fosite.ErrInvalidGrant}
	InvalidScope            = Kind{fosite.ErrInvalidScope}
	UnauthorizedClient      = Kind{fosite.ErrUnauthorizedClient}
	UnsupportedResponseType = Kind{fosite.ErrUnsupportedResponseType}
	AccessDenied            = Kind{fosite.ErrAccessDenied}
	ServerError             = Kind{fosite.ErrServerError}
	TemporarilyUnavailable  = Kind{fosite.ErrTemporarilyUnavailable}
	LoginRequired           = Kind{fosite.ErrLoginRequired}
	ConsentRequired         = Kind{fosite.ErrConsentRequired}
	InteractionRequired     = Kind{fosite.ErrInteractionRequired}
	RequestNotSupported     = Kind{fosite.ErrRequestNotSupported}
	RequestURINotSupported  = Kind{fosite.ErrRequestURINotSupported}
)

// Hint returns the error with hint appended to the kind's description.
func (k Kind) Hint(hint string) error { return k.base.WithHint(hint) }

// Hintf is Hint with a format.
func (k Kind) Hintf(format string, args ...any) error { return k.base.WithHintf(format, args...) }

// Wrap returns the error with hint (if not empty) and cause, which reaches
// the log but never the client.
func (k Kind) Wrap(hint string, cause error) error {
	e := k.base.WithWrap(cause)
	if hint != "" {
		e = e.WithHint(hint)
	}
	return e
}

// Debug returns the error with a message for the log only.
func (k Kind) Debug(debug string) error { return k.base.WithDebug(debug) }

// In reports whether err's chain holds an error of kind k.
func (k Kind) In(err error) bool { return errors.Is(err, k.base) }

// Answer is what a client is told of an error (RFC 6749 §5.2).
type Answer struct {
	// Status is the HTTP status.
	Status int
	// Code is the error code ("invalid_grant").
	Code string
	// Description is the error_description: the code's description and
	// the hint; never an error's text.
	Description string
	// Hint is the hint alone.
	Hint string
}

// Translate returns the answer to err (see [translate]); the zero Answer for
// nil.
func Translate(err error) Answer {
	rfc := translate(err)
	if rfc == nil {
		return Answer{}
	}
	return Answer{Status: rfc.CodeField, Code: rfc.ErrorField, Description: rfc.GetDescription(), Hint: rfc.HintField}
}

// HintOf returns the hint of the protocol error in err's chain, or "".
func HintOf(err error) string {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		return rfc.HintField
	}
	return ""
}

// translate is the provider's one translation of an error into the RFC
// 6749 §5.2 answer a client sees (error code, description, HTTP status).
// Every endpoint writes its errors through it, so that one cause gets one
// answer everywhere. Causes fosite would answer with server_error (it wraps
// the store's and the host's errors in it) are recognised first, anywhere
// in the chain:
//
//   - a refresh token that lost a race: the rotation of it that another
//     request committed first (fosite.ErrSerializationFailure from the
//     store adapter), or its presentation within the reuse grace period of
//     that rotation ([ErrRecentlyRotated]): invalid_grant, saying so;
//   - an authorization code consumed between fosite's checks and its own
//     (storage.ErrAlreadyUsed, fosite.ErrInvalidatedAuthorizeCode):
//     invalid_grant, "already been used";
//   - a backend failure ([ErrUnavailable]), an expired deadline or a
//     cancelled context: 503 temporarily_unavailable;
//   - a client assertion that fails validation (fosite's
//     jwt.ValidationError; see also clientAuthError): invalid_client;
//   - a password refused by the lockout ([ErrPasswordLocked]):
//     invalid_grant.
//
// Any other protocol error is answered as it says (its own code and
// description), and anything else is server_error. Descriptions never carry
// an error's text: only the kind's description and the hints; the cause
// goes to the log ([Chain]).
func translate(err error) *fosite.RFC6749Error {
	var ve *jwt.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrRecentlyRotated):
		return errRefreshRaceLost.WithWrap(err)
	case errors.Is(err, fosite.ErrSerializationFailure):
		// fosite says invalid_request "multiple concurrent requests", and
		// the store error in it is storage.ErrAlreadyUsed: neither is about
		// a code, and neither is reuse.
		return errRefreshRaceLost.WithWrap(err)
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fosite.ErrTemporarilyUnavailable.WithHint("The server is temporarily unable to handle the request; retry later.").WithWrap(err)
	case errors.As(err, &ve):
		// fosite returns a client assertion's validation error unwrapped.
		return fosite.ErrInvalidClient.WithHint("The client assertion is invalid or expired.").WithWrap(err)
	case errors.Is(err, storage.ErrAlreadyUsed), errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
		// A concurrent exchange consumed the code between fosite's checks.
		return fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.").WithWrap(err)
	case errors.Is(err, ErrPasswordLocked):
		return fosite.ErrInvalidGrant.WithHint("Too many failed sign-ins for this username; try again later.").WithWrap(err)
	}
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		return rfc
	}
	return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
}

// errRefreshRaceLost is the answer to every loser of a refresh race that is
// not reuse: the rotation another request committed first, or a
// presentation within the reuse grace period of it. It revokes nothing.
var errRefreshRaceLost = fosite.ErrInvalidGrant.WithHint("The refresh token was already used by a concurrent request; use the refresh token that request received.")

// IsCodeReuse reports whether err, from [Engine.IssueTokens] for ar, is an
// authorization code's reuse: the exchange lost the race to consume the
// code, and the family the code began must be revoked (RFC 6749 §4.1.2). A
// lost refresh race is never code reuse.
func IsCodeReuse(ar *AccessRequest, err error) bool {
	return ar.GrantType() == "authorization_code" &&
		(errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode)) &&
		!errors.Is(err, fosite.ErrSerializationFailure)
}

// clientAuthError maps what fosite returns unwrapped from a failed client
// assertion check (a go-jose or JWT error, not an RFC 6749 one) to
// invalid_client; protocol errors and backend failures pass through. The
// engine applies it to the errors of every fosite call that authenticates
// a client: elsewhere a bare error is a fault of ours (server_error).
func clientAuthError(err error) error {
	if err == nil { // before the errors.As target, which escapes: no allocation on success
		return nil
	}
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) || translate(err).CodeField != http.StatusInternalServerError {
		return err
	}
	return fosite.ErrInvalidClient.WithHint("The client assertion could not be verified.").WithWrap(err)
}

// ForHost is the error the provider returns to its host for a token check
// that failed with err: one wrapping [ErrUnavailable] (and the backend's
// own error) when the token could not be checked, and [ErrInvalidToken]
// otherwise. It never carries a fosite type, so a host needs nothing of
// fosite to handle it.
func ForHost(err error) error {
	if translate(err).CodeField != http.StatusServiceUnavailable {
		return ErrInvalidToken
	}
	cause := backendCause(err)
	switch {
	case cause == nil:
		return ErrUnavailable
	case errors.Is(cause, ErrUnavailable):
		return cause
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, cause)
}

// backendCause returns the outermost error in err's chain that has no fosite
// error in it: the store's or the host's error that fosite wrapped, or nil.
func backendCause(err error) error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		var rfc *fosite.RFC6749Error
		if !errors.As(e, &rfc) {
			return e
		}
	}
	return nil
}

// Chain renders err and its causes for logs (never for clients).
func Chain(err error) string {
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		s := rfc.ErrorField
		if rfc.HintField != "" {
			s += ": " + rfc.HintField
		}
		if rfc.DebugField != "" {
			s += ": " + rfc.DebugField
		}
		if c := rfc.Unwrap(); c != nil {
			s += ": " + c.Error()
		}
		return s
	}
	return err.Error()
}
