package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse/gatehouse/provider/internal/fositeadapter"
	"github.com/gatehouse/gatehouse/storage"
)

// oauthError is an RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeJSON writes v as a JSON response that must not be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONError writes an RFC 6749 error.
func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, oauthError{Error: code, Description: description})
}

// errTooLarge is returned by parseForm for an oversized body.
var errTooLarge = errors.New("request body too large")

// parseForm caps the body, parses the form and refuses duplicated
// parameters (RFC 6749 §3.1, §3.2). On failure it writes the error and
// returns false.
func (p *Provider) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, p.cfg.MaxBodyBytes)
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSONError(w, http.StatusRequestEntityTooLarge, "invalid_request", "The request body is larger than the server accepts.")
			return false
		}
		writeJSONError(w, http.StatusBadRequest, "invalid_request", "The request body could not be parsed; send application/x-www-form-urlencoded parameters.")
		return false
	}
	for k, v := range r.Form {
		if len(v) > 1 {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "The parameter '"+k+"' must not be included more than once.")
			return false
		}
	}
	return true
}

// Errors a host can test for with [errors.Is].
var (
	// ErrUnavailable marks a failure of a backend the provider depends on
	// (the store, the host's Authenticator or UserLookup, a factor's
	// verifier): a dropped connection, a timeout, a cancelled context. It is
	// not an answer about the request: the same request may succeed when
	// retried. The endpoints answer it with 503 temporarily_unavailable;
	// [Provider.Introspect] returns an error wrapping it (and the backend's
	// own error). A host should answer 503 (with Retry-After) and retry
	// later, never treat the token or user as invalid because of it.
	// Host callbacks may wrap it to say the same of their own failures.
	ErrUnavailable = fositeadapter.ErrUnavailable

	// ErrInvalidToken is returned (wrapped) by [Provider.Introspect] for a
	// token that grants nothing: missing, malformed, unknown, expired,
	// revoked, or not an access token. A resource server answers it with
	// 401 and WWW-Authenticate: Bearer error="invalid_token" (RFC 6750
	// §3.1); the client must get a new token.
	ErrInvalidToken = errors.New("provider: the access token is invalid, expired or revoked")
)

// rfcError is the provider's one translation of an error into the RFC 6749
// §5.2 answer a client sees (error code, description, HTTP status). Every
// endpoint writes its errors through it, so that one cause gets one answer
// everywhere. Causes fosite would answer with server_error (it wraps the
// store's and the host's errors in it) are recognised first, anywhere in
// the chain:
//
//   - a refresh token that lost a race: the rotation of it that another
//     request committed first (fosite.ErrSerializationFailure from the
//     store adapter), or its presentation within Config.RefreshReuseGrace
//     of that rotation: invalid_grant, saying so;
//   - an authorization code consumed between fosite's checks and its own
//     (storage.ErrAlreadyUsed, fosite.ErrInvalidatedAuthorizeCode):
//     invalid_grant, "already been used";
//   - a backend failure ([ErrUnavailable]), an expired deadline or a
//     cancelled context: 503 temporarily_unavailable;
//   - a client assertion that fails validation (fosite's
//     jwt.ValidationError; see also clientAuthError): invalid_client;
//   - a password grant refused by Config.PasswordLockout: invalid_grant.
//
// Any other fosite error is answered as fosite would (its own error code
// and description), and anything else is server_error. Descriptions never
// carry an error's text: only fosite's description and the hints set here
// and by the handlers; the cause goes to the log (errorChain).
func rfcError(err error) *fosite.RFC6749Error {
	var ve *jwt.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fositeadapter.ErrRecentlyRotated):
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
	case errors.Is(err, errPasswordLocked):
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
// presentation within Config.RefreshReuseGrace of it. It revokes nothing.
var errRefreshRaceLost = fosite.ErrInvalidGrant.WithHint("The refresh token was already used by a concurrent request; use the refresh token that request received.")

// isCodeReuse reports whether err, from the token response of an
// authorization_code grant, is the code's reuse: it lost the race to
// consume the code, and the family it began must be revoked (RFC 6749
// §4.1.2). A lost refresh race is never code reuse.
func isCodeReuse(ar fosite.AccessRequester, err error) bool {
	return ar != nil && ar.GetGrantTypes().ExactOne("authorization_code") &&
		(errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, fosite.ErrInvalidatedAuthorizeCode)) &&
		!errors.Is(err, fosite.ErrSerializationFailure)
}

// clientAuthError maps what fosite returns unwrapped from a failed client
// assertion check (a go-jose or JWT error, not an RFC 6749 one) to
// invalid_client; protocol errors and backend failures pass through. Use it
// on the errors of fosite calls that authenticate the client, before
// rfcError: elsewhere a bare error is a fault of ours (server_error).
func clientAuthError(err error) error {
	var rfc *fosite.RFC6749Error
	if err == nil || errors.As(err, &rfc) || rfcError(err).CodeField != http.StatusInternalServerError {
		return err
	}
	return fosite.ErrInvalidClient.WithHint("The client assertion could not be verified.").WithWrap(err)
}

// hostError is the error [Provider.Introspect] returns for err: one wrapping
// [ErrUnavailable] (and the backend's own error) when the token could not
// be checked, and one wrapping [ErrInvalidToken] otherwise. It never
// carries a fosite type, so a host needs nothing of fosite to handle it.
func hostError(err error) error {
	if rfcError(err).CodeField != http.StatusServiceUnavailable {
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

// writeTokenError writes a token-endpoint error (and the introspection
// endpoint's), logging our own faults.
func (p *Provider) writeTokenError(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error) {
	rfc := rfcError(err)
	switch rfc.CodeField {
	case http.StatusInternalServerError:
		p.cfg.Logger.LogAttrs(ctx, slog.LevelError, "token endpoint failed", slog.String("error", errorChain(err)))
	case http.StatusServiceUnavailable:
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "token endpoint: backend unavailable", slog.String("error", errorChain(err)))
	}
	if rfc.ErrorField == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+p.cfg.Issuer+`"`)
	}
	p.oauth.WriteAccessError(ctx, w, ar, rfc)
}

// errorChain renders err and its causes for logs (never for clients).
func errorChain(err error) string {
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

// writeJSONCacheable writes public metadata that clients may cache briefly.
func writeJSONCacheable(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_ = json.NewEncoder(w).Encode(v)
}
