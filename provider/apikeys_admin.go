package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// The admin API's routes for API keys and application users (see
// [Provider.AdminHandler]):
//
//	POST   /users/{subject}/api-keys             make a key for a user: 201 with it and, this once, api_key
//	POST   /application-users/{id}/api-keys      make a key for an application user: the same
//	GET    /api-keys                             list: {"items": [...], "next_cursor": "..."}; query parameters
//	                                             owner, owner_type (user or application), limit (1-1000,
//	                                             default 100) and cursor
//	GET    /api-keys/{id}                        the key (never its secret)
//	POST   /api-keys/{id}/rotate                 a new secret: 200 with the key and the new api_key; the old
//	                                             secret stops at once; the body {"expires_at": seconds} is optional
//	DELETE /api-keys/{id}                        delete it: 204
//	POST   /application-users                    create one: 201
//	GET    /application-users                    list: {"items": [...]}
//	GET    /application-users/{id}               the application user
//	PATCH  /application-users/{id}               change it with a JSON merge patch (RFC 7396): 200
//	DELETE /application-users/{id}               delete it, its keys and its tokens: 204

// keyRoutes adds the routes of API keys and application users to mux.
func (a *admin) keyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /users/{subject}/api-keys", a.createKey(storage.PrincipalUser, "subject"))
	mux.HandleFunc("POST /application-users/{id}/api-keys", a.createKey(storage.PrincipalApplication, "id"))
	mux.HandleFunc("GET /api-keys", a.listKeys)
	mux.HandleFunc("GET /api-keys/{id}", a.getKey)
	mux.HandleFunc("POST /api-keys/{id}/rotate", a.rotateKey)
	mux.HandleFunc("DELETE /api-keys/{id}", a.deleteKey)
	mux.HandleFunc("POST /application-users", a.createAppUser)
	mux.HandleFunc("GET /application-users", a.listAppUsers)
	mux.HandleFunc("GET /application-users/{id}", a.getAppUser)
	mux.HandleFunc("PATCH /application-users/{id}", a.patchAppUser)
	mux.HandleFunc("DELETE /application-users/{id}", a.deleteAppUser)
	for pattern, allow := range map[string]string{
		"/users/{subject}/api-keys":        "POST",
		"/application-users/{id}/api-keys": "POST",
		"/api-keys":                        "GET",
		"/api-keys/{id}":                   "GET, DELETE",
		"/api-keys/{id}/rotate":            "POST",
		"/application-users":               "GET, POST",
		"/application-users/{id}":          "GET, PATCH, DELETE",
	} {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeAdminError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+allow+".", nil)
		})
	}
}

// apiKeyDoc is an API key as the admin API shows it. APIKey is set only in
// the answer that made the secret. Times are seconds since the epoch (0:
// none; an expires_at of 0 is never).
type apiKeyDoc struct {
	ID                 string   `json:"id"`
	APIKey             string   `json:"api_key,omitempty"`
	Name               string   `json:"name"`
	OwnerType          string   `json:"owner_type"`
	Owner              string   `json:"owner"`
	Tenant             string   `json:"tenant"`
	PermissionScope    []string `json:"permission_scope"`
	IPRanges           []string `json:"ip_ranges"`
	ForwardedForRanges []string `json:"forwarded_for_ranges"`
	RequireMFA         bool     `json:"require_mfa"`
	ExpiresAt          int64    `json:"expires_at"`
	CreatedAt          int64    `json:"created_at"`
	RotatedAt          int64    `json:"rotated_at"`
	LastUsedAt         int64    `json:"last_used_at"`
}

func keyDocOf(k storage.APIKey) apiKeyDoc {
	return apiKeyDoc{
		ID: k.ID, Name: k.Name, OwnerType: string(k.OwnerType), Owner: k.Owner, Tenant: k.Tenant,
		PermissionScope: listOf(k.PermissionScope), IPRanges: listOf(k.IPRanges), ForwardedForRanges: listOf(k.ForwardedForRanges), RequireMFA: k.RequireMFA,
		ExpiresAt: unixOrZero(k.ExpiresAt), CreatedAt: unixOrZero(k.CreatedAt), RotatedAt: unixOrZero(k.RotatedAt), LastUsedAt: unixOrZero(k.LastUsedAt),
	}
}

// listOf is s, or [] for nil.
func listOf(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// appUserDoc is an application user as the admin API shows it; the
// lifetime is whole seconds (0: the client's).
type appUserDoc struct {
	ID                  string   `json:"id"`
	Name                string   `json:"name"`
	Description         string   `json:"description"`
	Tenant              string   `json:"tenant"`
	Roles               []string `json:"roles"`
	Permissions         []string `json:"permissions"`
	AccessTokenLifetime int64    `json:"access_token_lifetime"`
	CreatedAt           int64    `json:"created_at"`
	UpdatedAt           int64    `json:"updated_at"`
}

func appUserDocOf(u storage.ApplicationUser) appUserDoc {
	return appUserDoc{
		ID: u.ID, Name: u.Name, Description: u.Description, Tenant: u.Tenant,
		Roles: listOf(u.Roles), Permissions: listOf(u.Permissions),
		AccessTokenLifetime: int64(u.AccessTokenLifetime / time.Second),
		CreatedAt:           unixOrZero(u.CreatedAt), UpdatedAt: unixOrZero(u.UpdatedAt),
	}
}

// recField is one member of a record's document: how a value given for it
// sets the record T; set is nil for a member a caller cannot set.
type recField[T any] struct {
	name     string // the JSON name
	goName   string // the field an APIKeyError or ApplicationUserError names
	set      func(*T, json.RawMessage) error
	readOnly string // why it cannot be set (set == nil)
}

func textField[T any](f func(*T) *string) func(*T, json.RawMessage) error {
	return func(r *T, v json.RawMessage) error {
		var s *string
		if json.Unmarshal(v, &s) != nil {
			return errWantString
		}
		*f(r) = ""
		if s != nil {
			*f(r) = *s
		}
		return nil
	}
}

func textsField[T any](f func(*T) *[]string) func(*T, json.RawMessage) error {
	return func(r *T, v json.RawMessage) error {
		var s []string
		if json.Unmarshal(v, &s) != nil {
			return errWantStrings
		}
		*f(r) = s
		return nil
	}
}

const setByServer = "is set by the server"

// keyFields are the members of a key document.
var keyFields = []recField[storage.APIKey]{
	{name: "id", goName: "ID", readOnly: "is made by the server"},
	{name: "api_key", goName: "secret", readOnly: "is made by the server and shown only in the answer that made it; rotate the key (POST /api-keys/{id}/rotate) for a new one"},
	{name: "name", goName: "Name", set: textField(func(k *storage.APIKey) *string { return &k.Name })},
	{name: "owner_type", goName: "OwnerType", readOnly: "is given by the route: POST /users/{subject}/api-keys or POST /application-users/{id}/api-keys"},
	{name: "owner", goName: "Owner", readOnly: "is given by the route: POST /users/{subject}/api-keys or POST /application-users/{id}/api-keys"},
	{name: "tenant", goName: "Tenant", set: textField(func(k *storage.APIKey) *string { return &k.Tenant })},
	{name: "permission_scope", goName: "PermissionScope", set: textsField(func(k *storage.APIKey) *[]string { return &k.PermissionScope })},
	{name: "ip_ranges", goName: "IPRanges", set: textsField(func(k *storage.APIKey) *[]string { return &k.IPRanges })},
	{name: "forwarded_for_ranges", goName: "ForwardedForRanges", set: textsField(func(k *storage.APIKey) *[]string { return &k.ForwardedForRanges })},
	{name: "require_mfa", goName: "RequireMFA", set: setBool(func(k *storage.APIKey) *bool { return &k.RequireMFA })},
	{name: "expires_at", goName: "ExpiresAt"}, // read by decodeKey as the SecretExpiresAt option
	{name: "created_at", goName: "CreatedAt", readOnly: setByServer},
	{name: "rotated_at", goName: "RotatedAt", readOnly: setByServer},
	{name: "last_used_at", goName: "LastUsedAt", readOnly: setByServer},
}

// appUserFields are the members of an application user's document.
var appUserFields = []recField[storage.ApplicationUser]{
	{name: "id", goName: "ID", set: textField(func(u *storage.ApplicationUser) *string { return &u.ID })},
	{name: "name", goName: "Name", set: textField(func(u *storage.ApplicationUser) *string { return &u.Name })},
	{name: "description", goName: "Description", set: textField(func(u *storage.ApplicationUser) *string { return &u.Description })},
	{name: "tenant", goName: "Tenant", set: textField(func(u *storage.ApplicationUser) *string { return &u.Tenant })},
	{name: "roles", goName: "Roles", set: textsField(func(u *storage.ApplicationUser) *[]string { return &u.Roles })},
	{name: "permissions", goName: "Permissions", set: textsField(func(u *storage.ApplicationUser) *[]string { return &u.Permissions })},
	{name: "access_token_lifetime", goName: "AccessTokenLifetime", set: func(u *storage.ApplicationUser, v json.RawMessage) error {
		n, err := seconds(v)
		if err != nil {
			return err
		}
		u.AccessTokenLifetime = time.Duration(n) * time.Second
		return nil
	}},
	{name: "created_at", goName: "CreatedAt", readOnly: setByServer},
	{name: "updated_at", goName: "UpdatedAt", readOnly: setByServer},
}

// findField returns the member called name.
func findField[T any](fields []recField[T], name string) (recField[T], bool) {
	i := slices.IndexFunc(fields, func(f recField[T]) bool { return f.name == name })
	if i < 0 {
		return recField[T]{}, false
	}
	return fields[i], true
}

// jsonName is the member of fields whose Go name is goName, or goName.
func jsonName[T any](fields []recField[T], goName string) string {
	for _, f := range fields {
		if f.goName == goName {
			return f.name
		}
	}
	return goName
}

// decodeRecord sets a new record from members, except those skip names
// (read by the caller). Unknown, read-only and mistyped members are in
// the fieldErrors.
func decodeRecord[T any](fields []recField[T], members map[string]json.RawMessage, skip ...string) (T, fieldErrors) {
	var rec T
	bad := fieldErrors{}
	for name, v := range members {
		f, known := findField(fields, name)
		switch {
		case !known:
			bad.add(name, "unknown field")
		case slices.Contains(skip, name):
		case f.set == nil:
			bad.add(name, f.readOnly)
		default:
			if err := f.set(&rec, v); err != nil {
				bad.add(name, err.Error())
			}
		}
	}
	return rec, bad
}

// patchRecord applies a JSON merge patch (RFC 7396) to cur, whose document
// is doc; members that cannot change may appear only with their current
// value.
func patchRecord[T any](fields []recField[T], cur T, doc any, patch map[string]json.RawMessage, immutable ...string) (T, fieldErrors) {
	bad := fieldErrors{}
	raw, _ := json.Marshal(doc)
	var current map[string]json.RawMessage
	_ = json.Unmarshal(raw, &current)
	next := cur
	for name, v := range patch {
		f, known := findField(fields, name)
		if !known {
			bad.add(name, "unknown field")
			continue
		}
		merged, err := mergePatch(current[name], v)
		if err != nil {
			bad.add(name, err.Error())
			continue
		}
		if f.set == nil || slices.Contains(immutable, name) {
			if !jsonEqual(merged, current[name]) {
				why := f.readOnly
				if why == "" {
					why = "cannot be changed"
				}
				bad.add(name, why)
			}
			continue
		}
		if err := f.set(&next, merged); err != nil {
			bad.add(name, err.Error())
		}
	}
	return next, bad
}

// addRecordErrors adds to bad the field errors in err (a join of
// *APIKeyError or *ApplicationUserError), under their JSON names, except
// for members bad already; it reports whether err held any.
func addRecordErrors[T any](bad fieldErrors, fields []recField[T], err error) bool {
	found := false
	eachJoined(err, func(err error) {
		var ke *APIKeyError
		var ue *ApplicationUserError
		field, reason := "", ""
		switch {
		case errors.As(err, &ke):
			field, reason = ke.Field, ke.Reason
		case errors.As(err, &ue):
			field, reason = ue.Field, ue.Reason
		default:
			return
		}
		found = true
		name := jsonName(fields, field)
		if _, already := bad[name]; !already {
			bad.add(name, reason)
		}
	})
	return found
}

// failRecord writes the answer to err, an error of the provider's API key
// or application user methods about the record what (for example "API
// key") id.
func failRecord[T any](a *admin, w http.ResponseWriter, r *http.Request, fields []recField[T], code, what, id string, err error) {
	bad := fieldErrors{}
	var ke *APIKeyError
	switch {
	case errors.As(err, &bad):
		writeAdminError(w, http.StatusBadRequest, code, "Some fields are invalid; see fields.", bad)
	case errors.As(err, &ke) && ke.Field == "Owner" && strings.HasPrefix(ke.Reason, "there is no "):
		writeAdminError(w, http.StatusNotFound, "not_found", strings.ToUpper(ke.Reason[:1])+ke.Reason[1:]+".", nil)
	case addRecordErrors(bad, fields, err):
		writeAdminError(w, http.StatusBadRequest, code, "Some fields are invalid; see fields.", bad)
	case errors.Is(err, ErrAPIKeyRotatedConcurrently):
		writeAdminError(w, http.StatusConflict, "conflict",
			"The key was rotated by a concurrent request, which received its new secret; this request changed nothing. Get the key, and rotate it again if you need a secret yourself.", nil)
	case errors.Is(err, storage.ErrNotFound):
		writeAdminError(w, http.StatusNotFound, "not_found", fmt.Sprintf("There is no %s %q.", what, id), nil)
	case errors.Is(err, storage.ErrAlreadyExists):
		writeAdminError(w, http.StatusConflict, "already_exists", fmt.Sprintf("An %s %q exists already; choose another id, or leave it out to have one generated.", what, id),
			fieldErrors{"id": "is taken"})
	case errors.Is(err, ErrAPIKeysUnsupported):
		writeAdminError(w, http.StatusNotImplemented, "not_implemented", "The provider's store keeps no API keys or application users.", nil)
	default:
		a.p.cfg.Logger.LogAttrs(r.Context(), slog.LevelWarn, "admin: backend unavailable",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
		writeAdminError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The store or the user directory could not be reached; retry later.", nil)
	}
}

const (
	keyErrorCode     = "invalid_api_key_metadata"
	appUserErrorCode = "invalid_application_user_metadata"
)

func (a *admin) failKey(w http.ResponseWriter, r *http.Request, id string, err error) {
	failRecord(a, w, r, keyFields, keyErrorCode, "API key", id, err)
}

func (a *admin) failAppUser(w http.ResponseWriter, r *http.Request, id string, err error) {
	failRecord(a, w, r, appUserFields, appUserErrorCode, "application user", id, err)
}

// readExpiry reads an optional expires_at member as a SecretOption.
func readExpiry(members map[string]json.RawMessage, bad fieldErrors) []SecretOption {
	v, ok := members["expires_at"]
	if !ok {
		return nil
	}
	at, err := epochSeconds(v)
	if err != nil {
		bad.add("expires_at", err.Error())
		return nil
	}
	return []SecretOption{SecretExpiresAt(at)}
}

// createKey serves POST /users/{subject}/api-keys and POST
// /application-users/{id}/api-keys.
func (a *admin) createKey(ownerType storage.PrincipalType, param string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		members, ok := a.readObject(w, r, true)
		if !ok {
			return
		}
		k, bad := decodeRecord(keyFields, members, "expires_at")
		opts := readExpiry(members, bad)
		k.OwnerType, k.Owner = ownerType, r.PathValue(param)
		if len(bad) > 0 {
			// Check the rest too, so that every invalid member is named at once.
			if _, err := a.p.prepareAPIKey(r.Context(), k, opts); err != nil {
				addRecordErrors(bad, keyFields, err)
			}
			a.failKey(w, r, "", bad)
			return
		}
		created, key, err := a.p.CreateAPIKey(r.Context(), k, opts...)
		if err != nil {
			a.failKey(w, r, "", err)
			return
		}
		doc := keyDocOf(created)
		doc.APIKey = key
		w.Header().Set("Location", "/api-keys/"+url.PathEscape(created.ID))
		writeJSON(w, http.StatusCreated, doc)
	}
}

// keyPage is the answer to GET /api-keys.
type keyPage struct {
	Items      []apiKeyDoc `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

// listKeys serves GET /api-keys.
func (a *admin) listKeys(w http.ResponseWriter, r *http.Request) {
	q, limit, bad := parseKeyQuery(r.URL.Query())
	if len(bad) > 0 {
		writeAdminError(w, http.StatusBadRequest, "invalid_request", "Some query parameters are invalid; see fields.", bad)
		return
	}
	q.Limit = limit + 1 // one more tells whether there is a next page
	found, err := a.p.FindAPIKeys(r.Context(), q)
	if err != nil {
		a.failKey(w, r, "", err)
		return
	}
	var page keyPage
	page.Items, page.NextCursor = pageOf(found, limit, func(k storage.APIKey) string { return k.ID }, keyDocOf)
	writeJSON(w, http.StatusOK, page)
}

// parseKeyQuery reads GET /api-keys' query parameters.
func parseKeyQuery(v url.Values) (storage.APIKeyQuery, int, fieldErrors) {
	bad := fieldErrors{}
	var q storage.APIKeyQuery
	limit := defaultListLimit
	for name, vals := range v {
		if len(vals) > 1 {
			bad.add(name, "must be given at most once")
			continue
		}
		val := vals[0]
		switch name {
		case "owner":
			q.Owner = val
		case "owner_type":
			switch t := storage.PrincipalType(val); t {
			case storage.PrincipalUser, storage.PrincipalApplication:
				q.OwnerType = t
			default:
				bad.add(name, `must be "user" or "application"`)
			}
		default:
			if !parsePaging(name, val, &limit, &q.After, bad) {
				bad.add(name, "unknown parameter (use owner, owner_type, limit, cursor)")
			}
		}
	}
	return q, limit, bad
}

// getKey serves GET /api-keys/{id}.
func (a *admin) getKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	k, err := a.p.GetAPIKey(r.Context(), id)
	if err != nil {
		a.failKey(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, keyDocOf(k))
}

// rotateKey serves POST /api-keys/{id}/rotate.
func (a *admin) rotateKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	members, ok := a.readObject(w, r, true)
	if !ok {
		return
	}
	bad := fieldErrors{}
	for name := range members {
		if name != "expires_at" {
			bad.add(name, "unknown field (the body may hold only expires_at)")
		}
	}
	opts := readExpiry(members, bad)
	if len(bad) > 0 {
		writeAdminError(w, http.StatusBadRequest, "invalid_request", "The body may hold only expires_at, in seconds since the epoch (0: never).", bad)
		return
	}
	k, key, err := a.p.RotateAPIKey(r.Context(), id, opts...)
	if err != nil {
		a.failKey(w, r, id, err)
		return
	}
	doc := keyDocOf(k)
	doc.APIKey = key
	writeJSON(w, http.StatusOK, doc)
}

// deleteKey serves DELETE /api-keys/{id}.
func (a *admin) deleteKey(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.p.DeleteAPIKey(r.Context(), id); err != nil {
		a.failKey(w, r, id, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// createAppUser serves POST /application-users.
func (a *admin) createAppUser(w http.ResponseWriter, r *http.Request) {
	members, ok := a.readObject(w, r, false)
	if !ok {
		return
	}
	u, bad := decodeRecord(appUserFields, members)
	if len(bad) > 0 {
		if err := a.p.checkAppUser(r.Context(), u, true); err != nil {
			addRecordErrors(bad, appUserFields, err)
		}
		a.failAppUser(w, r, u.ID, bad)
		return
	}
	created, err := a.p.CreateApplicationUser(r.Context(), u)
	if err != nil {
		a.failAppUser(w, r, u.ID, err)
		return
	}
	w.Header().Set("Location", "/application-users/"+url.PathEscape(created.ID))
	writeJSON(w, http.StatusCreated, appUserDocOf(created))
}

// listAppUsers serves GET /application-users.
func (a *admin) listAppUsers(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.Query()) > 0 {
		writeAdminError(w, http.StatusBadRequest, "invalid_request", "GET /application-users takes no query parameters.", nil)
		return
	}
	all, err := a.p.ListApplicationUsers(r.Context())
	if err != nil {
		a.failAppUser(w, r, "", err)
		return
	}
	items := []appUserDoc{}
	for _, u := range all {
		items = append(items, appUserDocOf(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// getAppUser serves GET /application-users/{id}.
func (a *admin) getAppUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	u, err := a.p.GetApplicationUser(r.Context(), id)
	if err != nil {
		a.failAppUser(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, appUserDocOf(u))
}

// patchAppUser serves PATCH /application-users/{id}: the merge patch is
// applied inside the update, to the record as stored.
func (a *admin) patchAppUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	members, ok := a.readObject(w, r, false, "application/merge-patch+json")
	if !ok {
		return
	}
	updated, err := a.p.UpdateApplicationUser(r.Context(), id, func(cur storage.ApplicationUser) (storage.ApplicationUser, error) {
		next, bad := patchRecord(appUserFields, cur, appUserDocOf(cur), members, "id")
		if len(bad) > 0 {
			return cur, bad
		}
		return next, nil
	})
	if err != nil {
		a.failAppUser(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, appUserDocOf(updated))
}

// deleteAppUser serves DELETE /application-users/{id}.
func (a *admin) deleteAppUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.p.DeleteApplicationUser(r.Context(), id); err != nil {
		a.failAppUser(w, r, id, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
