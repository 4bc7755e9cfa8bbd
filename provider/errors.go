package provider

import (
	"context"
	"encoding/json"
	"errors"
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

// classify maps errors that fosite would turn into server_error onto what
// the client should see: a lost single-use race is invalid_grant, a backend
// failure is temporarily_unavailable. It returns nil for anything else.
func classify(err error) *fosite.RFC6749Error {
	var ve *jwt.ValidationError
	switch {
	case errors.As(err, &ve):
		// fosite returns a client assertion's validation error unwrapped.
		return fosite.ErrInvalidClient.WithHint("The client assertion is invalid or expired.")
	case errors.Is(err, storage.ErrAlreadyUsed), errors.Is(err, fosite.ErrInvalidatedAuthorizeCode):
		// A concurrent exchange consumed the code between fosite's checks.
		return fosite.ErrInvalidGrant.WithHint("The authorization code has already been used.")
	case errors.Is(err, fositeadapter.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return fosite.ErrTemporarilyUnavailable.WithHint("The server is temporarily unable to handle the request; retry later.")
	}
	return nil
}

// writeTokenError writes a token-endpoint error, logging our own faults.
func (p *Provider) writeTokenError(ctx context.Context, w http.ResponseWriter, ar fosite.AccessRequester, err error) {
	if c := classify(err); c != nil {
		err = c
	}
	rfc := fosite.ErrorToRFC6749Error(err)
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
