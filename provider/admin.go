package provider

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// An AdminAuthorizer decides whether a request to the admin API
// ([Provider.AdminHandler]) may proceed. It returns the acting
// administrator's name, which the provider logs with every change (and
// which an audit trail can record), or an error: the request is then
// answered 401 with WWW-Authenticate: Bearer, and the error is logged but
// never shown to the caller. It is called for every request, concurrently.
type AdminAuthorizer func(r *http.Request) (actor string, err error)

// ErrAdminUnauthorized is the error of a [BearerAuthorizer] for a request
// without a valid bearer token.
var ErrAdminUnauthorized = errors.New("provider: admin request without a valid bearer token")

// bearerTokenSyntax is RFC 6750 §2.1's b64token.
var bearerTokenSyntax = regexp.MustCompile(`^[A-Za-z0-9\-._~+/]+=*$`)

// MinAdminTokenLength is the shortest token [BearerAuthorizer] accepts.
const MinAdminTokenLength = 16

// BearerAuthorizer returns an [AdminAuthorizer] that accepts a request
// whose Authorization header is "Bearer <token>" (RFC 6750 §2.1) for one
// of tokens, which maps each actor's name to its token, and returns that
// actor. A token must be at least [MinAdminTokenLength] characters of the
// RFC 6750 token syntax (A-Z a-z 0-9 - . _ ~ + / and trailing =), and no
// two actors may share one. The presented token is compared with every
// configured one in constant time (their SHA-256 digests, so lengths leak
// nothing either). Generate tokens with at least 128 bits from a secure
// random source, for example 32 random bytes in base64url.
func BearerAuthorizer(tokens map[string]string) (AdminAuthorizer, error) {
	if len(tokens) == 0 {
		return nil, errors.New("provider: BearerAuthorizer needs at least one actor and token")
	}
	type entry struct {
		actor  string
		digest [sha256.Size]byte
	}
	var entries []entry
	seen := map[[sha256.Size]byte]string{}
	for _, actor := range slices.Sorted(maps.Keys(tokens)) {
		tok := tokens[actor]
		switch {
		case actor == "":
			return nil, errors.New("provider: BearerAuthorizer: an actor's name must not be empty")
		case len(tok) < MinAdminTokenLength || !bearerTokenSyntax.MatchString(tok):
			return nil, fmt.Errorf("provider: BearerAuthorizer: the token of %q must be at least %d characters of A-Z a-z 0-9 - . _ ~ + / (RFC 6750 §2.1)", actor, MinAdminTokenLength)
		}
		d := sha256.Sum256([]byte(tok))
		if other, dup := seen[d]; dup {
			return nil, fmt.Errorf("provider: BearerAuthorizer: %q and %q have the same token; give each its own", other, actor)
		}
		seen[d] = actor
		entries = append(entries, entry{actor, d})
	}
	return func(r *http.Request) (string, error) {
		tok, ok := bearerToken(r)
		if !ok {
			return "", ErrAdminUnauthorized
		}
		d := sha256.Sum256([]byte(tok))
		actor := ""
		for _, e := range entries { // every one, whatever matches
			if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
				actor = e.actor
			}
		}
		if actor == "" {
			return "", ErrAdminUnauthorized
		}
		return actor, nil
	}, nil
}

// AdminHandler returns the client administration API: JSON over HTTP, for
// a host to serve on its own admin listener (never on the one that serves
// [Provider.Handler]), behind authorize, which every request must pass
// (401 otherwise). Its routes are relative to where it is mounted; mount it
// below a prefix with [http.StripPrefix]:
//
//	POST   /clients               register a client: 201 with it and, this once, its client_secret
//	GET    /clients               list: {"items": [...], "next_cursor": "..."}; query parameters
//	                              customer, secret_expires_before (seconds since the epoch),
//	                              limit (1-1000, default 100) and cursor (a next_cursor)
//	GET    /clients/{id}          the client
//	PATCH  /clients/{id}          change it with a JSON merge patch (RFC 7396): 200 with it
//	DELETE /clients/{id}          delete it and every token, consent and pending flow of it: 204
//	POST   /clients/{id}/secret   rotate its secret: 200 with it and the new client_secret; the
//	                              body {"grace_period": seconds} keeps the old secrets valid that
//	                              long, else they end at once
//	GET    /audit                 the audit trail, newest first: {"items": [...], "next_cursor":
//	                              "..."}; query parameters client_id, subject, type (event types,
//	                              comma-separated), since and until (RFC 3339 or seconds since
//	                              the epoch; since inclusive, until exclusive), limit (1-1000,
//	                              default 100) and cursor (a next_cursor)
//
// and the routes of API keys and application users (on a store that keeps
// them; 501 otherwise):
//
//	POST   /users/{subject}/api-keys           make a user's key: 201 with it and, this once, api_key
//	POST   /application-users/{id}/api-keys    make an application user's key: the same
//	GET    /api-keys                           list: {"items": [...], "next_cursor": "..."}; query
//	                                           parameters owner, owner_type, limit and cursor
//	GET    /api-keys/{id}                      the key, never its secret
//	POST   /api-keys/{id}/rotate               a new secret (200 with the new api_key); the old one
//	                                           stops at once; 409 conflict to each loser of a race
//	DELETE /api-keys/{id}                      delete it and end its tokens: 204
//	POST   /application-users                  create one: 201
//	GET    /application-users                  list: {"items": [...]}
//	GET    /application-users/{id}             the application user
//	PATCH  /application-users/{id}             change it with a JSON merge patch: 200
//	DELETE /application-users/{id}             delete it, its keys and its tokens: 204
//
// A key is {"id", "api_key" (once), "name", "owner_type", "owner",
// "tenant", "permission_scope", "ip_ranges", "forwarded_for_ranges",
// "expires_at", "created_at", "rotated_at", "last_used_at"}; an
// application user {"id", "name", "description", "tenant", "roles",
// "permissions", "access_token_lifetime", "created_at", "updated_at"}.
// Reads and changes of keys are audit events; see docs/administration.md.
//
// A client is a JSON object with RFC 7591 names where one exists (see
// docs/administration.md): client_id, client_name, description, customer,
// redirect_uris, post_logout_redirect_uris, grant_types, response_types,
// scope (space-separated), audience, required_role, permission_scope,
// ip_ranges, require_mfa, require_pkce, token_endpoint_auth_method ("none"
// for a public client), token_endpoint_auth_signing_alg, jwks,
// access_token_format, accepts_api_keys, application_user, the lifetimes
// access_token_lifetime,
// refresh_token_lifetime, auth_code_lifetime and id_token_lifetime in
// seconds (0: the provider's), introspect_audiences,
// client_secret_expires_at (seconds since the epoch, 0 = never; may be
// given at registration, else Config.ClientSecretLifetime applies),
// created_at and updated_at. The secret is never shown again after the
// answer that made it. Unknown members are refused.
//
// Errors are {"error": "...", "error_description": "...", "fields":
// {"<member>": "why"}}: 400 invalid_client_metadata naming every invalid
// member at once (the checks of [Provider.CreateClient] and
// [Provider.UpdateClient]), 400 invalid_request for a malformed body or
// query, 401 unauthorized, 404 not_found, 405, 409 already_exists (an ID
// taken), 413, 415 (a body that is not JSON), 501 not_implemented (GET
// /audit when the store keeps no audit trail), 503 temporarily_unavailable
// (a store failure, or an audit event that could not be written). Every
// answer has Cache-Control: no-store and X-Request-Id.
//
// Changes take effect on the next request: every endpoint loads the client
// from the store. A narrowed permission scope narrows existing grants at
// their next refresh. Each change is logged at Info with the actor; secrets
// never are. Every change and every read of clients is recorded in the
// audit trail (docs/audit.md) with the actor, before the answer is sent:
// if the event cannot be written the answer is 503 and, with a store that
// is a [storage.Transactor], the change is not made. A refused request is
// recorded as admin.auth_failed.
func (p *Provider) AdminHandler(authorize AdminAuthorizer) http.Handler {
	if authorize == nil {
		panic("provider: AdminHandler needs an AdminAuthorizer (for example from BearerAuthorizer)")
	}
	a := &admin{p: p}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /clients", a.create)
	mux.HandleFunc("GET /clients", a.list)
	mux.HandleFunc("GET /clients/{id}", a.get)
	mux.HandleFunc("PATCH /clients/{id}", a.patch)
	mux.HandleFunc("DELETE /clients/{id}", a.delete)
	mux.HandleFunc("POST /clients/{id}/secret", a.rotate)
	a.keyRoutes(mux)
	mux.HandleFunc("GET /audit", a.auditLog)
	for pattern, allow := range map[string]string{
		"/clients":             "GET, POST",
		"/clients/{id}":        "GET, PATCH, DELETE",
		"/clients/{id}/secret": "POST",
		"/audit":               "GET",
	} {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeAdminError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+allow+".", nil)
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeAdminError(w, http.StatusNotFound, "not_found", "No such route: the admin API serves /clients, /api-keys, /application-users, /users/{subject}/api-keys and /audit, relative to where it is mounted.", nil)
	})
	ep := p.tel.endpoint("admin")
	ep.withRoute = true
	return p.instrument(ep, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := authorize(r)
		if err != nil {
			p.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, "admin: request refused: not authenticated",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
			p.audit(r.Context(), storage.AuditEvent{Type: AuditAdminAuthFailed, Actor: storage.AuditActor{Kind: storage.ActorAdmin},
				Details: details("method", r.Method, "path", r.URL.Path)})
			challenge := `Bearer realm="gatehouse-admin"`
			if r.Header.Get("Authorization") != "" {
				challenge += `, error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", challenge)
			writeAdminError(w, http.StatusUnauthorized, "unauthorized", "Send an admin token: Authorization: Bearer <token>.", nil)
			return
		}
		r = r.WithContext(WithActor(r.Context(), storage.AuditActor{Kind: storage.ActorAdmin, ID: actor}))
		mux.ServeHTTP(w, r)
		// The route the mux chose, for the span's name and http.route.
		telOf(w).setPattern(r.Pattern)
	}))
}

// admin serves the admin API's routes.
type admin struct{ p *Provider }

// adminError is the body of an admin API error.
type adminError struct {
	Error       string            `json:"error"`
	Description string            `json:"error_description"`
	Fields      map[string]string `json:"fields,omitempty"`
}

func writeAdminError(w http.ResponseWriter, status int, code, desc string, fields fieldErrors) {
	noteError(w, code)
	writeJSON(w, status, adminError{Error: code, Description: desc, Fields: fields})
}

// logChange logs a change made by the request's actor.
func (a *admin) logChange(r *http.Request, msg, clientID string, attrs ...slog.Attr) {
	actor := actorFrom(r.Context()).ID
	a.p.cfg.Logger.LogAttrs(r.Context(), slog.LevelInfo, msg,
		append([]slog.Attr{slog.String("actor", actor), slog.String("client_id", clientID)}, attrs...)...)
}

// fail writes the answer to err, an error of the provider's client
// methods, about client id.
func (a *admin) fail(w http.ResponseWriter, r *http.Request, id string, err error) {
	var bad fieldErrors
	switch {
	case errors.As(err, &bad):
		writeAdminError(w, http.StatusBadRequest, "invalid_client_metadata", "Some fields are invalid; see fields.", bad)
	case errors.Is(err, ErrInvalidClient):
		bad = fieldErrors{}
		bad.addClientErrors(err, nil)
		writeAdminError(w, http.StatusBadRequest, "invalid_client_metadata", "Some fields are invalid; see fields.", bad)
	case errors.Is(err, storage.ErrNotFound):
		writeAdminError(w, http.StatusNotFound, "not_found", fmt.Sprintf("There is no client %q.", id), nil)
	case errors.Is(err, errAuditWrite):
		a.p.cfg.Logger.LogAttrs(r.Context(), slog.LevelError, "admin: audit trail unavailable",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		desc := "The audit trail could not be written, so nothing was done; retry later."
		if _, tx := a.p.store.(storage.Transactor); !tx {
			desc = "The audit trail could not be written; the request may have taken effect, check before retrying."
		}
		if r.Method == http.MethodGet {
			desc = "The audit trail could not be written, so the answer is withheld; retry later."
		}
		writeAdminError(w, http.StatusServiceUnavailable, "temporarily_unavailable", desc, nil)
	case errors.Is(err, storage.ErrAlreadyExists):
		writeAdminError(w, http.StatusConflict, "already_exists",
			fmt.Sprintf("A client %q exists already; choose another client_id, or leave it out to have one generated.", id),
			fieldErrors{"client_id": "is taken"})
	default:
		a.p.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "admin: backend unavailable",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		writeAdminError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The client store could not be reached; retry later.", nil)
	}
}

// readObject reads the request's JSON object body (of media type
// application/json, or one of types). An empty body is nil with ok when
// optional. On failure it writes the error and returns ok false.
func (a *admin) readObject(w http.ResponseWriter, r *http.Request, optional bool, types ...string) (map[string]json.RawMessage, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(rawWriter(w), r.Body, a.p.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeAdminError(w, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("The body is larger than the %d bytes the server accepts.", a.p.cfg.MaxBodyBytes), nil)
		return nil, false
	case err != nil:
		writeAdminError(w, http.StatusBadRequest, "invalid_request", "The body could not be read.", nil)
		return nil, false
	case len(body) == 0 && optional:
		return nil, true
	}
	types = append(types, "application/json")
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !slices.Contains(types, mt) {
		writeAdminError(w, http.StatusUnsupportedMediaType, "invalid_request",
			"Send the body as JSON, with Content-Type: "+strings.Join(types, " or ")+".", nil)
		return nil, false
	}
	members, err := decodeObject(body)
	if err != nil {
		writeAdminError(w, http.StatusBadRequest, "invalid_request", "Invalid body: "+err.Error()+".", nil)
		return nil, false
	}
	return members, true
}

// create serves POST /clients.
func (a *admin) create(w http.ResponseWriter, r *http.Request) {
	members, ok := a.readObject(w, r, false)
	if !ok {
		return
	}
	c, opts, bad := decodeRegistration(members)
	if len(bad) > 0 {
		// Check the rest too, so that every invalid member is named at once.
		if _, _, err := a.p.prepareClientWithSecret(c, opts); err != nil {
			bad.addClientErrors(err, bad)
		}
		a.fail(w, r, c.ID, bad)
		return
	}
	created, plain, err := a.p.CreateClient(r.Context(), c, opts...)
	if err != nil {
		a.fail(w, r, c.ID, err)
		return
	}
	a.logChange(r, "admin: client created", created.ID)
	doc := docOf(created)
	doc.ClientSecret = plain
	w.Header().Set("Location", "clients/"+url.PathEscape(created.ID))
	writeJSON(w, http.StatusCreated, doc)
}

// get serves GET /clients/{id}.
func (a *admin) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := a.p.GetClient(r.Context(), id)
	if err != nil {
		a.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, docOf(c))
}

// patch serves PATCH /clients/{id}: the merge patch is applied inside the
// update, to the client as stored, so concurrent patches of different
// members both take effect.
func (a *admin) patch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	members, ok := a.readObject(w, r, false, "application/merge-patch+json")
	if !ok {
		return
	}
	updated, err := a.p.UpdateClient(r.Context(), id, func(cur storage.Client) (storage.Client, error) {
		next, bad := applyPatch(cur, members)
		if len(bad) > 0 {
			if _, err := a.p.checkClient(next); err != nil {
				bad.addClientErrors(err, bad)
			}
			return cur, bad
		}
		return next, nil
	})
	if err != nil {
		a.fail(w, r, id, err)
		return
	}
	a.logChange(r, "admin: client changed", id, slog.Any("fields", slices.Sorted(maps.Keys(members))))
	writeJSON(w, http.StatusOK, docOf(updated))
}

// delete serves DELETE /clients/{id}.
func (a *admin) delete(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.p.DeleteClient(r.Context(), id); err != nil {
		a.fail(w, r, id, err)
		return
	}
	a.logChange(r, "admin: client deleted", id)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// rotate serves POST /clients/{id}/secret.
func (a *admin) rotate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	members, ok := a.readObject(w, r, true)
	if !ok {
		return
	}
	grace, bad := parseGrace(members)
	if len(bad) > 0 {
		writeAdminError(w, http.StatusBadRequest, "invalid_request", "The body may hold only grace_period, in seconds.", bad)
		return
	}
	plain, err := a.p.RotateClientSecret(r.Context(), id, grace)
	if err != nil {
		a.fail(w, r, id, err)
		return
	}
	a.logChange(r, "admin: client secret rotated", id, slog.Duration("grace_period", grace))
	c, err := a.p.getClient(r.Context(), id)
	if err != nil {
		a.fail(w, r, id, err)
		return
	}
	doc := docOf(c)
	doc.ClientSecret = plain
	writeJSON(w, http.StatusOK, doc)
}

// listPage is the answer to GET /clients.
type listPage struct {
	Items      []clientDoc `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

// The page sizes of GET /clients.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
)

// list serves GET /clients.
func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	q, limit, bad := parseListQuery(r.URL.Query())
	if len(bad) > 0 {
		writeAdminError(w, http.StatusBadRequest, "invalid_request", "Some query parameters are invalid; see fields.", bad)
		return
	}
	q.Limit = limit + 1 // one more tells whether there is a next page
	found, err := a.p.FindClients(r.Context(), q)
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	var page listPage
	page.Items, page.NextCursor = pageOf(found, limit, func(c storage.Client) string { return c.ID }, docOf)
	writeJSON(w, http.StatusOK, page)
}

// pageOf turns found, the records of a list query asked for limit+1 of
// them, into a page: at most limit documents, and the cursor of the next
// page ("" for the last one).
func pageOf[T, D any](found []T, limit int, id func(T) string, doc func(T) D) (items []D, next string) {
	if len(found) > limit {
		found = found[:limit]
		next = base64.RawURLEncoding.EncodeToString([]byte(id(found[limit-1])))
	}
	items = make([]D, 0, len(found))
	for _, r := range found {
		items = append(items, doc(r))
	}
	return items, next
}

// parsePaging reads the paging parameters every list query has, limit and
// cursor, into *limit and *after, and reports whether name was one of
// them (a bad value is added to bad).
func parsePaging(name, val string, limit *int, after *string, bad fieldErrors) bool {
	switch name {
	case "limit":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > maxListLimit {
			bad.add(name, fmt.Sprintf("must be a whole number from 1 to %d", maxListLimit))
			return true
		}
		*limit = n
	case "cursor":
		id, err := base64.RawURLEncoding.DecodeString(val)
		if err != nil || len(id) == 0 {
			bad.add(name, "must be a next_cursor this API returned")
			return true
		}
		*after = string(id)
	default:
		return false
	}
	return true
}

// parseListQuery reads GET /clients' query parameters.
func parseListQuery(v url.Values) (storage.ClientQuery, int, fieldErrors) {
	bad := fieldErrors{}
	var q storage.ClientQuery
	limit := defaultListLimit
	for name, vals := range v {
		if len(vals) > 1 {
			bad.add(name, "must be given at most once")
			continue
		}
		val := vals[0]
		switch name {
		case "customer":
			q.Customer = val
		case "secret_expires_before":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 || n > maxEpochSeconds {
				bad.add(name, "must be a time in whole seconds since the epoch")
				continue
			}
			q.SecretExpiresBefore = time.Unix(n, 0)
		default:
			if !parsePaging(name, val, &limit, &q.After, bad) {
				bad.add(name, "unknown parameter (use customer, secret_expires_before, limit, cursor)")
			}
		}
	}
	return q, limit, bad
}
