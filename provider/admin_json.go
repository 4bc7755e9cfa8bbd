package provider

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// clientDoc is a client as the admin API shows it: JSON snake_case with
// the RFC 7591 names where one exists. Durations are whole seconds, times
// seconds since the epoch (0: none). ClientSecret is set only in the answer
// that made the secret.
type clientDoc struct {
	ClientID                    string          `json:"client_id"`
	ClientSecret                string          `json:"client_secret,omitempty"`
	ClientSecretExpiresAt       int64           `json:"client_secret_expires_at"`
	ClientName                  string          `json:"client_name"`
	Description                 string          `json:"description"`
	LogoURI                     string          `json:"logo_uri"`
	ClientURI                   string          `json:"client_uri"`
	Customer                    string          `json:"customer"`
	RedirectURIs                []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs      []string        `json:"post_logout_redirect_uris"`
	GrantTypes                  []string        `json:"grant_types"`
	ResponseTypes               []string        `json:"response_types"`
	Scope                       string          `json:"scope"`
	Audience                    []string        `json:"audience"`
	RequiredRole                string          `json:"required_role"`
	PermissionScope             []string        `json:"permission_scope"`
	IPRanges                    []string        `json:"ip_ranges"`
	RequireMFA                  bool            `json:"require_mfa"`
	RequirePKCE                 bool            `json:"require_pkce"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg"`
	JWKS                        json.RawMessage `json:"jwks"`
	AccessTokenFormat           string          `json:"access_token_format"`
	AccessTokenLifetime         int64           `json:"access_token_lifetime"`
	RefreshTokenLifetime        int64           `json:"refresh_token_lifetime"`
	AuthCodeLifetime            int64           `json:"auth_code_lifetime"`
	IDTokenLifetime             int64           `json:"id_token_lifetime"`
	IntrospectAudiences         []string        `json:"introspect_audiences"`
	RefreshBoundToLogin         bool            `json:"refresh_bound_to_login"`
	AcceptsAPIKeys              bool            `json:"accepts_api_keys"`
	ApplicationUser             string          `json:"application_user"`
	CreatedAt                   int64           `json:"created_at"`
	UpdatedAt                   int64           `json:"updated_at"`
}

// docOf returns the document of c (as the provider returns clients:
// secrets without hashes). Lists are [] rather than null.
func docOf(c storage.Client) clientDoc {
	list := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	jwks := json.RawMessage("null")
	if len(c.JWKS) > 0 {
		jwks = json.RawMessage(c.JWKS)
	}
	return clientDoc{
		ClientID:                    c.ID,
		ClientSecretExpiresAt:       unixOrZero(newestSecretExpiry(c)),
		ClientName:                  c.Name,
		Description:                 c.Description,
		LogoURI:                     c.LogoURI,
		ClientURI:                   c.ClientURI,
		Customer:                    c.Customer,
		RedirectURIs:                list(c.RedirectURIs),
		PostLogoutRedirectURIs:      list(c.PostLogoutRedirectURIs),
		GrantTypes:                  list(c.GrantTypes),
		ResponseTypes:               list(c.ResponseTypes),
		Scope:                       strings.Join(c.Scopes, " "),
		Audience:                    list(c.Audience),
		RequiredRole:                c.RequiredRole,
		PermissionScope:             list(c.PermissionScope),
		IPRanges:                    list(c.IPRanges),
		RequireMFA:                  c.RequireMFA,
		RequirePKCE:                 c.RequirePKCE,
		TokenEndpointAuthMethod:     c.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg,
		JWKS:                        jwks,
		AccessTokenFormat:           c.AccessTokenFormat,
		AccessTokenLifetime:         int64(c.AccessTokenLifetime / time.Second),
		RefreshTokenLifetime:        int64(c.RefreshTokenLifetime / time.Second),
		AuthCodeLifetime:            int64(c.AuthCodeLifetime / time.Second),
		IDTokenLifetime:             int64(c.IDTokenLifetime / time.Second),
		IntrospectAudiences:         list(c.IntrospectAudiences),
		RefreshBoundToLogin:         c.RefreshBoundToLogin,
		AcceptsAPIKeys:              c.AcceptsAPIKeys,
		ApplicationUser:             c.ApplicationUser,
		CreatedAt:                   unixOrZero(c.CreatedAt),
		UpdatedAt:                   unixOrZero(c.UpdatedAt),
	}
}

// newestSecretExpiry is when c's newest secret expires: zero for never,
// and for a client without a secret.
func newestSecretExpiry(c storage.Client) time.Time {
	if len(c.Secrets) == 0 {
		return time.Time{}
	}
	return c.Secrets[0].ExpiresAt
}

// maxAdminSeconds bounds the durations and times the admin API accepts in
// seconds, so that none overflows a time.Duration: 100 years.
const maxAdminSeconds = 100 * 365 * 24 * 60 * 60

// maxEpochSeconds is the last second of the year 9999, the latest time the
// admin API accepts.
const maxEpochSeconds = 253402300799

// epochSeconds reads a time in whole seconds since the epoch; 0 and null
// are the zero time (never).
func epochSeconds(v json.RawMessage) (time.Time, error) {
	var n *json.Number
	bad := errors.New("must be a time in whole seconds since the epoch (0: never)")
	if json.Unmarshal(v, &n) != nil {
		return time.Time{}, bad
	}
	if n == nil {
		return time.Time{}, nil
	}
	i, err := n.Int64()
	switch {
	case err != nil || i < 0 || i > maxEpochSeconds:
		return time.Time{}, bad
	case i == 0:
		return time.Time{}, nil
	}
	return time.Unix(i, 0), nil
}

// docField is one member of a client document: how a value given for it
// sets a storage.Client. set is nil for the members a caller cannot set.
type docField struct {
	name   string // the JSON name
	goName string // the storage.Client field ClientError names, or the option's name
	set    func(c *storage.Client, v json.RawMessage) error
	// readOnly says why the member cannot be set (for set == nil).
	readOnly string
}

// The setters' type errors, which say what the member must be.
var (
	errWantString  = errors.New("must be a string")
	errWantStrings = errors.New("must be an array of strings")
	errWantBool    = errors.New("must be true or false")
	errWantObject  = errors.New("must be a JSON object (a JSON Web Key Set: {\"keys\": [...]})")
	errWantSeconds = fmt.Errorf("must be a whole number of seconds from 0 to %d (0: the provider's default)", maxAdminSeconds)
)

func setString(f func(*storage.Client) *string) func(*storage.Client, json.RawMessage) error {
	return func(c *storage.Client, v json.RawMessage) error {
		var s *string
		if json.Unmarshal(v, &s) != nil {
			return errWantString
		}
		*f(c) = ""
		if s != nil {
			*f(c) = *s
		}
		return nil
	}
}

func setStrings(f func(*storage.Client) *[]string) func(*storage.Client, json.RawMessage) error {
	return func(c *storage.Client, v json.RawMessage) error {
		var s []string
		if json.Unmarshal(v, &s) != nil {
			return errWantStrings
		}
		*f(c) = s
		return nil
	}
}

func setBool[T any](f func(*T) *bool) func(*T, json.RawMessage) error {
	return func(c *T, v json.RawMessage) error {
		var b *bool
		if json.Unmarshal(v, &b) != nil {
			return errWantBool
		}
		*f(c) = b != nil && *b
		return nil
	}
}

func setSeconds(f func(*storage.Client) *time.Duration) func(*storage.Client, json.RawMessage) error {
	return func(c *storage.Client, v json.RawMessage) error {
		n, err := seconds(v)
		if err != nil {
			return err
		}
		*f(c) = time.Duration(n) * time.Second
		return nil
	}
}

// seconds reads a whole number of seconds from 0 to maxAdminSeconds; null
// is 0.
func seconds(v json.RawMessage) (int64, error) {
	var n *json.Number
	if json.Unmarshal(v, &n) != nil {
		return 0, errWantSeconds
	}
	if n == nil {
		return 0, nil
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > maxAdminSeconds {
		return 0, errWantSeconds
	}
	return i, nil
}

// docFields are the members of a client document a caller may send, in
// the order of clientDoc.
var docFields = []docField{
	{name: "client_id", goName: "ID", set: setString(func(c *storage.Client) *string { return &c.ID })},
	{name: "client_secret", goName: "secret",
		readOnly: "is made by the server, and shown only in the answer that made it; rotate it with POST /clients/{id}/secret"},
	// Given at registration only (decodeRegistration reads it as the
	// SecretExpiresAt option); applyPatch refuses a change.
	{name: "client_secret_expires_at", goName: "SecretExpiresAt"},
	{name: "client_name", goName: "Name", set: setString(func(c *storage.Client) *string { return &c.Name })},
	{name: "description", goName: "Description", set: setString(func(c *storage.Client) *string { return &c.Description })},
	{name: "logo_uri", goName: "LogoURI", set: setString(func(c *storage.Client) *string { return &c.LogoURI })},
	{name: "client_uri", goName: "ClientURI", set: setString(func(c *storage.Client) *string { return &c.ClientURI })},
	{name: "customer", goName: "Customer", set: setString(func(c *storage.Client) *string { return &c.Customer })},
	{name: "redirect_uris", goName: "RedirectURIs", set: setStrings(func(c *storage.Client) *[]string { return &c.RedirectURIs })},
	{name: "post_logout_redirect_uris", goName: "PostLogoutRedirectURIs", set: setStrings(func(c *storage.Client) *[]string { return &c.PostLogoutRedirectURIs })},
	{name: "grant_types", goName: "GrantTypes", set: setStrings(func(c *storage.Client) *[]string { return &c.GrantTypes })},
	{name: "response_types", goName: "ResponseTypes", set: setStrings(func(c *storage.Client) *[]string { return &c.ResponseTypes })},
	{name: "scope", goName: "Scopes", set: func(c *storage.Client, v json.RawMessage) error {
		var s *string
		if json.Unmarshal(v, &s) != nil {
			return errors.New("must be a string of scopes separated by spaces")
		}
		c.Scopes = nil
		if s != nil {
			c.Scopes = strings.Fields(*s)
		}
		return nil
	}},
	{name: "audience", goName: "Audience", set: setStrings(func(c *storage.Client) *[]string { return &c.Audience })},
	{name: "required_role", goName: "RequiredRole", set: setString(func(c *storage.Client) *string { return &c.RequiredRole })},
	{name: "permission_scope", goName: "PermissionScope", set: setStrings(func(c *storage.Client) *[]string { return &c.PermissionScope })},
	{name: "ip_ranges", goName: "IPRanges", set: setStrings(func(c *storage.Client) *[]string { return &c.IPRanges })},
	{name: "require_mfa", goName: "RequireMFA", set: setBool(func(c *storage.Client) *bool { return &c.RequireMFA })},
	{name: "require_pkce", goName: "RequirePKCE", set: setBool(func(c *storage.Client) *bool { return &c.RequirePKCE })},
	{name: "token_endpoint_auth_method", goName: "TokenEndpointAuthMethod", set: func(c *storage.Client, v json.RawMessage) error {
		var s *string
		if json.Unmarshal(v, &s) != nil {
			return errWantString
		}
		c.TokenEndpointAuthMethod = ""
		if s != nil {
			c.TokenEndpointAuthMethod = *s
		}
		// RFC 7591 §2: "none" is a public client.
		c.Public = c.TokenEndpointAuthMethod == "none"
		return nil
	}},
	{name: "token_endpoint_auth_signing_alg", goName: "TokenEndpointAuthSigningAlg", set: setString(func(c *storage.Client) *string { return &c.TokenEndpointAuthSigningAlg })},
	{name: "jwks", goName: "JWKS", set: func(c *storage.Client, v json.RawMessage) error {
		v = bytes.TrimSpace(v)
		if bytes.Equal(v, []byte("null")) {
			c.JWKS = nil
			return nil
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(v, &obj) != nil {
			return errWantObject
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, v); err != nil {
			return errWantObject
		}
		c.JWKS = compact.Bytes()
		return nil
	}},
	{name: "access_token_format", goName: "AccessTokenFormat", set: setString(func(c *storage.Client) *string { return &c.AccessTokenFormat })},
	{name: "access_token_lifetime", goName: "AccessTokenLifetime", set: setSeconds(func(c *storage.Client) *time.Duration { return &c.AccessTokenLifetime })},
	{name: "refresh_token_lifetime", goName: "RefreshTokenLifetime", set: setSeconds(func(c *storage.Client) *time.Duration { return &c.RefreshTokenLifetime })},
	{name: "auth_code_lifetime", goName: "AuthCodeLifetime", set: setSeconds(func(c *storage.Client) *time.Duration { return &c.AuthCodeLifetime })},
	{name: "id_token_lifetime", goName: "IDTokenLifetime", set: setSeconds(func(c *storage.Client) *time.Duration { return &c.IDTokenLifetime })},
	{name: "introspect_audiences", goName: "IntrospectAudiences", set: setStrings(func(c *storage.Client) *[]string { return &c.IntrospectAudiences })},
	{name: "refresh_bound_to_login", goName: "RefreshBoundToLogin", set: setBool(func(c *storage.Client) *bool { return &c.RefreshBoundToLogin })},
	{name: "accepts_api_keys", goName: "AcceptsAPIKeys", set: setBool(func(c *storage.Client) *bool { return &c.AcceptsAPIKeys })},
	{name: "application_user", goName: "ApplicationUser", set: setString(func(c *storage.Client) *string { return &c.ApplicationUser })},
	{name: "created_at", goName: "CreatedAt", readOnly: "is set by the server"},
	{name: "updated_at", goName: "UpdatedAt", readOnly: "is set by the server"},
}

// lookupDocField returns the member called name.
func lookupDocField(name string) (docField, bool) {
	i := slices.IndexFunc(docFields, func(f docField) bool { return f.name == name })
	if i < 0 {
		return docField{}, false
	}
	return docFields[i], true
}

// jsonNames maps the Go names a [ClientError] uses to the JSON members:
// the storage.Client fields, and the names of what is not one.
var jsonNames = func() map[string]string {
	m := map[string]string{"Public": "token_endpoint_auth_method", "Secrets": "client_secret_expires_at"}
	for _, f := range docFields {
		m[f.goName] = f.name
	}
	return m
}()

// goNameWords finds the Go names in a ClientError's reason, to be
// replaced by their JSON names (longest first, so that AuthCodeLifetime is
// not read as a shorter name).
var goNameWords = func() *regexp.Regexp {
	names := slices.Collect(maps.Keys(jsonNames))
	names = slices.DeleteFunc(names, func(n string) bool { return n == "secret" || n == "ID" })
	slices.SortFunc(names, func(a, b string) int { return len(b) - len(a) })
	return regexp.MustCompile(`\b(` + strings.Join(names, "|") + `)\b`)
}()

// fieldErrors are the invalid members of a request, by JSON name, each
// with why. It is an error so that an update function can return it.
type fieldErrors map[string]string

func (f fieldErrors) Error() string {
	keys := slices.Sorted(maps.Keys(f))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + f[k]
	}
	return "provider: invalid client fields: " + strings.Join(parts, "; ")
}

// add records why for member name; a second reason is appended.
func (f fieldErrors) add(name, why string) {
	if prev, ok := f[name]; ok {
		if strings.Contains(prev, why) {
			return
		}
		why = prev + "; " + why
	}
	f[name] = why
}

// addClientErrors adds the [ClientError]s in err, under their JSON names,
// except for members that are bad already (a member that did not decode
// is zero, and its checks say nothing useful). It reports whether err held
// any.
func (f fieldErrors) addClientErrors(err error, skip fieldErrors) bool {
	found := false
	eachJoined(err, func(err error) {
		var ce *ClientError
		if !errors.As(err, &ce) {
			return
		}
		found = true
		name, ok := jsonNames[ce.Field]
		if !ok {
			name = ce.Field
		}
		if _, bad := skip[name]; bad {
			return
		}
		f.add(name, goNameWords.ReplaceAllStringFunc(ce.Reason, func(w string) string { return jsonNames[w] }))
	})
	return found
}

// eachJoined calls f with every error err joins (errors.Join, at any
// depth), or with err itself when it joins none.
func eachJoined(err error, f func(error)) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			eachJoined(e, f)
		}
		return
	}
	f(err)
}

// decodeObject reads a JSON object's members, keeping each as it is; a
// duplicated member is an error (its meaning would be ambiguous).
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, errors.New("the body must be a JSON object")
	}
	out := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("the body is not valid JSON")
		}
		key := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("the body is not valid JSON")
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("the member %q appears more than once", key)
		}
		out[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, errors.New("the body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the body must hold one JSON object and nothing else")
	}
	return out, nil
}

// decodeRegistration reads a registration: the client, and the secret's
// expiry if client_secret_expires_at is given. Every member that is
// unknown, read-only or of the wrong type is in the fieldErrors.
func decodeRegistration(members map[string]json.RawMessage) (storage.Client, []SecretOption, fieldErrors) {
	var c storage.Client
	var opts []SecretOption
	bad := fieldErrors{}
	for name, v := range members {
		f, known := lookupDocField(name)
		switch {
		case !known:
			bad.add(name, "unknown field")
		case name == "client_secret_expires_at":
			at, err := epochSeconds(v)
			if err != nil {
				bad.add(name, err.Error())
				continue
			}
			opts = append(opts, SecretExpiresAt(at))
		case f.set == nil:
			bad.add(name, f.readOnly)
		default:
			if err := f.set(&c, v); err != nil {
				bad.add(name, err.Error())
			}
		}
	}
	return c, opts, bad
}

// applyPatch applies a JSON merge patch (RFC 7396) to cur and returns the
// client it describes. Members that cannot change (client_id, the secret,
// the times) may appear only with their current value.
func applyPatch(cur storage.Client, patch map[string]json.RawMessage) (storage.Client, fieldErrors) {
	bad := fieldErrors{}
	doc, err := json.Marshal(docOf(cur))
	if err != nil {
		bad.add("client_id", "the stored client could not be shown: "+err.Error())
		return cur, bad
	}
	var current map[string]json.RawMessage
	_ = json.Unmarshal(doc, &current)
	next := cur
	for name, v := range patch {
		f, known := lookupDocField(name)
		if !known {
			bad.add(name, "unknown field")
			continue
		}
		merged, err := mergePatch(current[name], v)
		if err != nil {
			bad.add(name, err.Error())
			continue
		}
		if f.set == nil || name == "client_id" {
			if !jsonEqual(merged, current[name]) {
				bad.add(name, immutableReason(f))
			}
			continue
		}
		if err := f.set(&next, merged); err != nil {
			bad.add(name, err.Error())
		}
	}
	return next, bad
}

// immutableReason says why a member cannot be changed by a patch.
func immutableReason(f docField) string {
	switch f.name {
	case "client_id":
		return "cannot be changed; register a new client and delete this one"
	case "client_secret_expires_at":
		return "is set when a secret is made; rotate the secret (POST /clients/{id}/secret) for a new one"
	}
	return f.readOnly
}

// mergePatch returns target with patch merged into it (RFC 7396 §2): an
// object patch merges member by member (null removes), anything else
// replaces the target.
func mergePatch(target, patch json.RawMessage) (json.RawMessage, error) {
	var p any
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return nil, errors.New("is not valid JSON")
	}
	po, ok := p.(map[string]any)
	if !ok {
		return patch, nil
	}
	var t any
	if len(target) > 0 {
		dec := json.NewDecoder(bytes.NewReader(target))
		dec.UseNumber()
		_ = dec.Decode(&t)
	}
	out, err := json.Marshal(mergeValue(t, po))
	if err != nil {
		return nil, errors.New("is not valid JSON")
	}
	return out, nil
}

func mergeValue(target any, patch map[string]any) any {
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range patch {
		switch pv := v.(type) {
		case nil:
			delete(t, k)
		case map[string]any:
			t[k] = mergeValue(t[k], pv)
		default:
			t[k] = v
		}
	}
	return t
}

// jsonEqual reports whether a and b are the same JSON value (numbers
// compared by value, objects whatever their members' order).
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return bytes.Equal(xs, ys)
}

// parseGrace reads the body of a secret rotation: empty, or
// {"grace_period": seconds}.
func parseGrace(members map[string]json.RawMessage) (time.Duration, fieldErrors) {
	bad := fieldErrors{}
	var grace time.Duration
	for name, v := range members {
		if name != "grace_period" {
			bad.add(name, "unknown field (the body may hold only grace_period)")
			continue
		}
		n, err := seconds(v)
		if err != nil {
			bad.add(name, fmt.Sprintf("must be a whole number of seconds from 0 to %d", maxAdminSeconds))
			continue
		}
		grace = time.Duration(n) * time.Second
	}
	return grace, bad
}
