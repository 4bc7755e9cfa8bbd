package provider

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
)

// oauthError is an RFC 6749 §5.2 error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeJSON writes v as a JSON response that must not be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	setJSONHeaders(w)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeJSONBody writes an encoded JSON body as writeJSON writes v.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	setJSONHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// setJSONHeaders sets the headers of an uncacheable JSON answer.
// It is on every token and introspection answer, so the three values
// share one array (one allocation, not three); each is capped at its
// length, so that an Add to one reallocates it rather than writing over
// the next (TestJSONHeadersApart).
func setJSONHeaders(w http.ResponseWriter) {
	h := w.Header()
	v := make([]string, 3)
	v[0], v[1], v[2] = "application/json;charset=UTF-8", "no-store", "no-cache"
	h["Content-Type"], h["Cache-Control"], h["Pragma"] = v[0:1:1], v[1:2:2], v[2:3:3]
}

// writeJSONError writes an RFC 6749 error.
func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	noteError(w, code)
	writeJSON(w, status, oauthError{Error: code, Description: description})
}

// errTooLarge is returned by parseForm for an oversized body.
var errTooLarge = errors.New("request body too large")

// parseForm caps the body, parses the form and refuses duplicated
// parameters (RFC 6749 §3.1, §3.2). On failure it writes the error and
// returns false. r.Form and r.PostForm may then be one map (readForm):
// a caller must not change either.
func (p *Provider) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(rawWriter(w), r.Body, p.cfg.MaxBodyBytes)
	}
	if err := readForm(r); err != nil {
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
	ErrUnavailable = oauth.ErrUnavailable

	// ErrInvalidToken is returned (wrapped) by [Provider.Introspect] for a
	// token that grants nothing: missing, malformed, unknown, expired,
	// revoked, or not an access token. A resource server answers it with
	// 401 and WWW-Authenticate: Bearer error="invalid_token" (RFC 6750
	// §3.1); the client must get a new token.
	ErrInvalidToken = oauth.ErrInvalidToken
)

// writeTokenError writes a token-endpoint error (and the introspection
// endpoint's), logging our own faults.
func (p *Provider) writeTokenError(ctx context.Context, w http.ResponseWriter, ar *oauth.AccessRequest, err error) {
	a := oauth.Translate(err)
	noteError(w, a.Code)
	switch a.Status {
	case http.StatusInternalServerError:
		p.cfg.Logger.LogAttrs(ctx, slog.LevelError, "token endpoint failed", slog.String("error", oauth.Chain(err)))
	case http.StatusServiceUnavailable:
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "token endpoint: backend unavailable", slog.String("error", oauth.Chain(err)))
	}
	if a.Code == "invalid_client" {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+p.cfg.Issuer+`"`)
	}
	p.engine.WriteAccessError(ctx, w, ar, err)
}

// writeJSONCacheable writes public metadata that clients may cache briefly.
func writeJSONCacheable(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_ = json.NewEncoder(w).Encode(v)
}
