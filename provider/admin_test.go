package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

const adminToken = "admin-token-0123456789abcdef"

// adminAPI is the admin handler of a provider, mounted below /admin on an
// httptest server of its own (as a host mounts it on its admin listener).
type adminAPI struct {
	t   *testing.T
	url string // the server's URL + "/admin"
}

func newAdminAPI(t *testing.T, p *provider.Provider) *adminAPI {
	t.Helper()
	auth, err := provider.BearerAuthorizer(map[string]string{"ops": adminToken})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", p.AdminHandler(auth)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &adminAPI{t: t, url: srv.URL + "/admin"}
}

// adminAnswer is an answer of the admin API.
type adminAnswer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// fields returns the sorted names in the answer's "fields".
func (a adminAnswer) fields() []string {
	f, _ := a.body["fields"].(map[string]any)
	out := []string{}
	for k := range f {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// field returns why the answer says member name is invalid.
func (a adminAnswer) field(name string) string {
	f, _ := a.body["fields"].(map[string]any)
	s, _ := f[name].(string)
	return s
}

// call sends method path (below /admin) with body (nil: none; a string or
// []byte as it is; anything else as JSON) and the admin token, unless
// headers set Authorization ("" to send none).
func (ad *adminAPI) call(method, path string, body any, headers ...string) adminAnswer {
	ad.t.Helper()
	var r io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(ad.t, err)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, ad.url+path, r)
	require.NoError(ad.t, err)
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(ad.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(ad.t, err)
	a := adminAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		require.NoError(ad.t, json.Unmarshal(raw, &a.body), "the body is JSON: %s", raw)
	}
	assert.Equal(ad.t, "no-store", resp.Header.Get("Cache-Control"), "%s %s: Cache-Control", method, path)
	return a
}

// requireStatus fails the test unless a has status.
func (a adminAnswer) requireStatus(t *testing.T, status int) adminAnswer {
	t.Helper()
	require.Equal(t, status, a.status, "%s", a.raw)
	return a
}

// ccToken asks for a client_credentials token as id and returns the
// status and body.
func (e *env) ccToken(id, secret, scope string) (int, map[string]any) {
	e.t.Helper()
	v := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		v.Set("scope", scope)
	}
	status, body, _ := e.postForm("/oauth2/token", v, id, secret)
	return status, body
}

// apiStatus calls the protected API (RequireScopes("assets:read")) with
// token.
func (e *env) apiStatus(token string) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url("/api/assets"), nil)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	status, _, _ := e.do(req)
	return status
}

// fullClient is a registration that sets every member a caller may set.
func fullClient(id string) map[string]any {
	return map[string]any{
		"client_id":                       id,
		"client_name":                     "Nightly Export",
		"description":                     "Exports assets at night; owner ops@example.com",
		"customer":                        "acme",
		"redirect_uris":                   []string{"https://export.example.com/cb"},
		"post_logout_redirect_uris":       []string{"https://export.example.com/bye"},
		"grant_types":                     []string{"authorization_code", "refresh_token", "client_credentials"},
		"response_types":                  []string{"code"},
		"scope":                           "openid offline_access assets:read registry:read",
		"audience":                        []string{"https://api.example.com"},
		"required_role":                   "exporter",
		"permission_scope":                []string{"assets:read", "registry:read"},
		"ip_ranges":                       []string{"127.0.0.1/32", "2001:db8::/32"},
		"require_mfa":                     false,
		"require_pkce":                    true,
		"token_endpoint_auth_method":      "client_secret_post",
		"token_endpoint_auth_signing_alg": "",
		"jwks":                            nil,
		"access_token_format":             "opaque",
		"access_token_lifetime":           600,
		"refresh_token_lifetime":          86400,
		"auth_code_lifetime":              60,
		"id_token_lifetime":               900,
		"introspect_audiences":            []string{"https://api.example.com"},
	}
}

// Every route answers 401 with WWW-Authenticate: Bearer without a valid
// admin token, and does nothing.
func TestAdminUnauthenticated(t *testing.T) {
	e := newEnv(t)
	ad := newAdminAPI(t, e.p)
	routes := []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/clients", fullClient("intruder")},
		{http.MethodGet, "/clients", nil},
		{http.MethodGet, "/clients/svc", nil},
		{http.MethodPatch, "/clients/svc", map[string]any{"client_name": "Owned"}},
		{http.MethodDelete, "/clients/svc", nil},
		{http.MethodPost, "/clients/svc/secret", nil},
		{http.MethodGet, "/nowhere", nil},
	}
	for _, auth := range []struct {
		name, header, challenge string
	}{
		{"no token", "", `Bearer realm="gatehouse-admin"`},
		{"wrong token", "Bearer " + adminToken + "x", `Bearer realm="gatehouse-admin", error="invalid_token"`},
		{"a prefix of the token", "Bearer " + adminToken[:len(adminToken)-1], `Bearer realm="gatehouse-admin", error="invalid_token"`},
		{"Basic", "Basic " + adminToken, `Bearer realm="gatehouse-admin", error="invalid_token"`},
		{"empty bearer", "Bearer ", `Bearer realm="gatehouse-admin", error="invalid_token"`},
	} {
		for _, r := range routes {
			a := ad.call(r.method, r.path, r.body, "Authorization", auth.header)
			assert.Equal(t, http.StatusUnauthorized, a.status, "%s: %s %s", auth.name, r.method, r.path)
			assert.Equal(t, auth.challenge, a.header.Get("WWW-Authenticate"), "%s: %s %s", auth.name, r.method, r.path)
			assert.Equal(t, "unauthorized", a.body["error"], "%s: %s %s", auth.name, r.method, r.path)
			assert.NotContains(t, string(a.raw), "client_secret")
		}
	}
	// Nothing happened.
	_, err := e.p.GetClient(context.Background(), "intruder")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	got, err := e.p.GetClient(context.Background(), "svc")
	require.NoError(t, err)
	assert.Equal(t, e.svc, got, "svc unchanged, not deleted, secret not rotated")
	assert.Equal(t, http.StatusOK, e.ccStatus(e.svc.ID, e.svcSecret))
	// The token lower case scheme works (RFC 7235: the scheme is case-insensitive).
	assert.Equal(t, http.StatusOK, ad.call(http.MethodGet, "/clients/svc", nil, "Authorization", "bearer "+adminToken).status)
}

// BearerAuthorizer refuses short or malformed tokens and shared tokens,
// and names the actor whose token a request carries.
func TestBearerAuthorizer(t *testing.T) {
	for name, tokens := range map[string]map[string]string{
		"none":       {},
		"short":      {"ops": "short"},
		"space":      {"ops": "a token with spaces in it"},
		"no actor":   {"": adminToken},
		"shared":     {"ops": adminToken, "dev": adminToken},
		"bad suffix": {"ops": adminToken + "=x"},
	} {
		_, err := provider.BearerAuthorizer(tokens)
		assert.Error(t, err, name)
	}
	auth, err := provider.BearerAuthorizer(map[string]string{"ops": adminToken, "dev": "dev-token-0123456789abcdef/+="})
	require.NoError(t, err)
	for header, want := range map[string]string{
		"Bearer " + adminToken:                   "ops",
		"Bearer dev-token-0123456789abcdef/+=":   "dev",
		"BEARER   dev-token-0123456789abcdef/+=": "dev",
		"Bearer other-token-0123456789abcdef":    "",
	} {
		r := httptest.NewRequest(http.MethodGet, "/clients", nil)
		r.Header.Set("Authorization", header)
		actor, err := auth(r)
		assert.Equal(t, want, actor, header)
		if want == "" {
			assert.ErrorIs(t, err, provider.ErrAdminUnauthorized, header)
		}
	}
}

// POST /clients registers a client and answers 201 with it and, this once,
// its secret, which works at once; GET shows it without the secret.
func TestAdminCreate(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		clk := stoppedClock()
		e := newEnvOn(t, store, func(c *provider.Config) { c.Now = clk.Now })
		ad := newAdminAPI(t, e.p)
		now := clk.Now().Unix()

		a := ad.call(http.MethodPost, "/clients", fullClient("export")).requireStatus(t, http.StatusCreated)
		assert.Equal(t, "clients/export", a.header.Get("Location"))
		secret, _ := a.body["client_secret"].(string)
		assert.Len(t, secret, 43, "a generated 256-bit secret")
		want := fullClient("export")
		want["jwks"] = nil
		for k, v := range want {
			j, _ := json.Marshal(v)
			var norm any
			_ = json.Unmarshal(j, &norm)
			assert.Equal(t, norm, a.body[k], "member %s", k)
		}
		assert.Equal(t, float64(now+365*24*3600), a.body["client_secret_expires_at"], "Config.ClientSecretLifetime")
		assert.Equal(t, float64(now), a.body["created_at"])
		assert.Equal(t, float64(now), a.body["updated_at"])

		// Used at once (client_secret_post, from 127.0.0.1).
		status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"},
			"client_id": {"export"}, "client_secret": {secret}}, "", "")
		assert.Equal(t, http.StatusOK, status, "the new client's secret works")

		got := ad.call(http.MethodGet, "/clients/export", nil).requireStatus(t, http.StatusOK)
		assert.NotContains(t, got.body, "client_secret", "the secret is never shown again")
		delete(a.body, "client_secret")
		assert.Equal(t, a.body, got.body, "GET shows what POST answered")
		stored, err := e.store.GetClient(context.Background(), "export")
		require.NoError(t, err)
		assert.NotContains(t, fmt.Sprint(stored), secret, "the store holds a hash only")

		// A generated ID, a chosen secret expiry.
		at := now + 3600
		a = ad.call(http.MethodPost, "/clients", map[string]any{"grant_types": []string{"client_credentials"}, "client_secret_expires_at": at}).requireStatus(t, http.StatusCreated)
		assert.Len(t, a.body["client_id"], 24)
		assert.Equal(t, float64(at), a.body["client_secret_expires_at"])
		assert.Equal(t, "client_secret_basic", a.body["token_endpoint_auth_method"], "the default")
		assert.Equal(t, "", a.body["scope"])
		assert.Equal(t, []any{}, a.body["redirect_uris"], "lists are [] when empty")

		a = ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "far", "grant_types": []string{"client_credentials"}, "client_secret_expires_at": 4102444800}).requireStatus(t, http.StatusCreated)
		assert.Equal(t, float64(4102444800), a.body["client_secret_expires_at"], "2100-01-01: any time up to the year 9999")

		// A public client has no secret.
		a = ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "mobile", "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"http://127.0.0.1/cb"}, "scope": "openid"}).requireStatus(t, http.StatusCreated)
		assert.NotContains(t, a.body, "client_secret")
		assert.Equal(t, float64(0), a.body["client_secret_expires_at"])
		pub, err := e.p.GetClient(context.Background(), "mobile")
		require.NoError(t, err)
		assert.True(t, pub.Public)
	})
}

// A registration with invalid members is refused with 400 naming every one
// of them at once, by its JSON name; nothing is stored. An ID taken is 409.
func TestAdminCreateRefusals(t *testing.T) {
	clk := stoppedClock()
	e := newEnv(t, func(c *provider.Config) { c.Now = clk.Now })
	ad := newAdminAPI(t, e.p)

	bad := map[string]any{
		"client_id":                  "bad id!",
		"grant_types":                []string{"authorization_code", "magic"},
		"redirect_uris":              []string{"http://app.example.com/cb"},
		"ip_ranges":                  []string{"10.0.0.0/33"},
		"access_token_lifetime":      -5,
		"refresh_token_lifetime":     400 * 24 * 3600,
		"auth_code_lifetime":         3600,
		"id_token_lifetime":          1.5,
		"require_mfa":                "yes",
		"scope":                      5,
		"surprise":                   1,
		"client_secret":              "let-me-choose-0123456789",
		"created_at":                 5,
		"token_endpoint_auth_method": "private_key_jwt",
		"jwks":                       []string{"not", "an", "object"},
		"client_secret_expires_at":   clk.Now().Unix() - 1,
		"introspect_audiences":       []string{"has space"},
		"permission_scope":           []string{"assets:*:read"},
	}
	a := ad.call(http.MethodPost, "/clients", bad).requireStatus(t, http.StatusBadRequest)
	assert.Equal(t, "invalid_client_metadata", a.body["error"])
	assert.Equal(t, []string{
		"access_token_lifetime", "auth_code_lifetime", "client_id", "client_secret", "client_secret_expires_at", "created_at",
		"grant_types", "id_token_lifetime", "introspect_audiences", "ip_ranges", "jwks", "permission_scope", "redirect_uris",
		"refresh_token_lifetime", "require_mfa", "scope", "surprise", "token_endpoint_auth_signing_alg",
	}, a.fields(), "every invalid member at once: %s", a.raw)
	assert.Contains(t, a.field("grant_types"), `unknown grant type "magic"`)
	assert.Contains(t, a.field("redirect_uris"), "https")
	assert.Contains(t, a.field("surprise"), "unknown field")
	assert.Contains(t, a.field("client_secret"), "made by the server")
	assert.Contains(t, a.field("auth_code_lifetime"), "10 minutes")
	assert.Contains(t, a.field("refresh_token_lifetime"), "365 days")
	assert.Contains(t, a.field("token_endpoint_auth_signing_alg"), "private_key_jwt needs one of")
	for _, why := range a.body["fields"].(map[string]any) {
		for _, goName := range []string{"GrantTypes", "RedirectURIs", "TokenEndpointAuthMethod", "AuthCodeLifetime"} {
			assert.NotContains(t, why, goName, "reasons use the JSON names")
		}
	}
	list, err := e.p.ListClients(context.Background())
	require.NoError(t, err)
	assert.Len(t, list, 3, "nothing stored")

	// A well-formed registration with checks failing only.
	a = ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "pub", "token_endpoint_auth_method": "none",
		"grant_types": []string{"client_credentials"}, "client_secret_expires_at": clk.Now().Unix() + 60}).requireStatus(t, http.StatusBadRequest)
	assert.Equal(t, []string{"client_secret_expires_at", "grant_types"}, a.fields(), "%s", a.raw)

	// The ID is taken.
	a = ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}}).requireStatus(t, http.StatusConflict)
	assert.Equal(t, "already_exists", a.body["error"])
	assert.Equal(t, []string{"client_id"}, a.fields())
	got, err := e.p.GetClient(context.Background(), "svc")
	require.NoError(t, err)
	assert.Equal(t, e.svc, got, "the existing client is untouched")

	// Bodies that are not one JSON object.
	for name, tc := range map[string]struct {
		body        string
		contentType string
		status      int
	}{
		"not JSON":         {"grant_types=client_credentials", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		"no content type":  {`{}`, "", http.StatusUnsupportedMediaType},
		"array":            {`[]`, "application/json", http.StatusBadRequest},
		"broken":           {`{"client_id": "x"`, "application/json", http.StatusBadRequest},
		"trailing":         {`{"client_id": "x"} {}`, "application/json", http.StatusBadRequest},
		"duplicate member": {`{"client_id": "x", "client_id": "y"}`, "application/json", http.StatusBadRequest},
		"too large":        {`{"description": "` + strings.Repeat("x", 70<<10) + `"}`, "application/json", http.StatusRequestEntityTooLarge},
	} {
		a := ad.call(http.MethodPost, "/clients", tc.body, "Content-Type", tc.contentType)
		assert.Equal(t, tc.status, a.status, "%s: %s", name, a.raw)
		assert.Equal(t, "invalid_request", a.body["error"], name)
		assert.NotEmpty(t, a.body["error_description"], name)
	}
}

// GET /clients/{id} of an unknown client is 404; unknown routes are 404
// and wrong methods 405, in JSON.
func TestAdminRoutes(t *testing.T) {
	e := newEnv(t)
	ad := newAdminAPI(t, e.p)
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/clients/nobody"},
		{http.MethodPatch, "/clients/nobody"},
		{http.MethodDelete, "/clients/nobody"},
		{http.MethodPost, "/clients/nobody/secret"},
	} {
		var body any
		if r.method == http.MethodPatch {
			body = map[string]any{"client_name": "x"}
		}
		a := ad.call(r.method, r.path, body)
		assert.Equal(t, http.StatusNotFound, a.status, "%s %s", r.method, r.path)
		assert.Equal(t, "not_found", a.body["error"], "%s %s", r.method, r.path)
		assert.Contains(t, a.body["error_description"], `"nobody"`)
	}
	a := ad.call(http.MethodGet, "/elsewhere", nil)
	assert.Equal(t, http.StatusNotFound, a.status)
	assert.Equal(t, "not_found", a.body["error"])
	for path, allow := range map[string]string{"/clients": "GET, POST", "/clients/svc": "GET, PATCH, DELETE", "/clients/svc/secret": "POST"} {
		a := ad.call(http.MethodPut, path, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, a.status, path)
		assert.Equal(t, allow, a.header.Get("Allow"), path)
		assert.Equal(t, "method_not_allowed", a.body["error"], path)
	}
	// The admin handler serves no OAuth endpoint.
	assert.Equal(t, http.StatusNotFound, ad.call(http.MethodGet, "/.well-known/openid-configuration", nil).status)
	assert.Equal(t, http.StatusNotFound, ad.call(http.MethodPost, "/oauth2/token", "grant_type=client_credentials", "Content-Type", "application/x-www-form-urlencoded").status)
}

// GET /clients lists clients a page at a time, filtered by customer and by
// when the newest secret expires; bad parameters are named.
func TestAdminList(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		clk := stoppedClock()
		e := newEnvOn(t, store, func(c *provider.Config) { c.Now = clk.Now })
		ad := newAdminAPI(t, e.p)
		now := clk.Now().Unix()
		for i, c := range []map[string]any{
			{"client_id": "acme-a", "customer": "acme", "client_secret_expires_at": now + 10*24*3600},
			{"client_id": "acme-b", "customer": "acme", "client_secret_expires_at": now + 100*24*3600},
			{"client_id": "acme-c", "customer": "acme", "client_secret_expires_at": 0},
			{"client_id": "globex-a", "customer": "globex", "client_secret_expires_at": now + 24*3600},
		} {
			c["grant_types"] = []string{"client_credentials"}
			ad.call(http.MethodPost, "/clients", c).requireStatus(t, http.StatusCreated)
			_ = i
		}
		ids := func(a adminAnswer) []string {
			out := []string{}
			for _, it := range a.body["items"].([]any) {
				item := it.(map[string]any)
				assert.NotContains(t, item, "client_secret")
				out = append(out, item["client_id"].(string))
			}
			return out
		}
		all := ad.call(http.MethodGet, "/clients", nil).requireStatus(t, http.StatusOK)
		assert.Equal(t, []string{"acme-a", "acme-b", "acme-c", "globex-a", "spa", "svc", "web"}, ids(all))
		assert.Equal(t, "", all.body["next_cursor"], "one page")

		var pages [][]string
		path := "/clients?limit=3"
		for range 5 {
			a := ad.call(http.MethodGet, path, nil).requireStatus(t, http.StatusOK)
			pages = append(pages, ids(a))
			next := a.body["next_cursor"].(string)
			if next == "" {
				break
			}
			path = "/clients?limit=3&cursor=" + url.QueryEscape(next)
		}
		assert.Equal(t, [][]string{{"acme-a", "acme-b", "acme-c"}, {"globex-a", "spa", "svc"}, {"web"}}, pages)

		a := ad.call(http.MethodGet, "/clients?customer=acme", nil).requireStatus(t, http.StatusOK)
		assert.Equal(t, []string{"acme-a", "acme-b", "acme-c"}, ids(a))
		a = ad.call(http.MethodGet, fmt.Sprintf("/clients?secret_expires_before=%d", now+30*24*3600), nil).requireStatus(t, http.StatusOK)
		assert.Equal(t, []string{"acme-a", "globex-a"}, ids(a), "secrets expiring within 30 days (web, spa, svc: 365 days; acme-c never)")
		a = ad.call(http.MethodGet, fmt.Sprintf("/clients?customer=acme&secret_expires_before=%d&limit=1", now+365*24*3600), nil).requireStatus(t, http.StatusOK)
		assert.Equal(t, []string{"acme-a"}, ids(a))
		a = ad.call(http.MethodGet, fmt.Sprintf("/clients?customer=acme&secret_expires_before=%d&limit=1&cursor=%s", now+365*24*3600, a.body["next_cursor"]), nil).requireStatus(t, http.StatusOK)
		assert.Equal(t, []string{"acme-b"}, ids(a))
		assert.Equal(t, "", a.body["next_cursor"])
		a = ad.call(http.MethodGet, "/clients?customer=initech", nil).requireStatus(t, http.StatusOK)
		assert.Equal(t, []string{}, ids(a))

		a = ad.call(http.MethodGet, "/clients?limit=0&cursor=%21%21&secret_expires_before=soon&colour=blue&customer=a&customer=b", nil).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, "invalid_request", a.body["error"])
		assert.Equal(t, []string{"colour", "cursor", "customer", "limit", "secret_expires_before"}, a.fields())
		a = ad.call(http.MethodGet, "/clients?limit=1001", nil).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, []string{"limit"}, a.fields())
	})
}

// PATCH /clients/{id} applies a JSON merge patch: members given change,
// null clears, others stay; the change takes effect on the next request.
// Invalid members are all named and nothing is written.
func TestAdminPatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		clk := stoppedClock()
		e := newEnvOn(t, store, func(c *provider.Config) { c.Now = clk.Now })
		ad := newAdminAPI(t, e.p)
		before := ad.call(http.MethodGet, "/clients/svc", nil).requireStatus(t, http.StatusOK)
		status, _ := e.ccToken(e.svc.ID, e.svcSecret, "registry:read")
		require.Equal(t, http.StatusOK, status)

		clk.Advance(time.Minute)
		a := ad.call(http.MethodPatch, "/clients/svc", map[string]any{
			"client_name": "Batch Service", "description": "Nightly batch", "scope": "assets:read",
			"ip_ranges": []string{"192.0.2.0/24"}, "client_id": "svc", "created_at": before.body["created_at"],
		}, "Content-Type", "application/merge-patch+json").requireStatus(t, http.StatusOK)
		assert.Equal(t, "Batch Service", a.body["client_name"])
		assert.Equal(t, "Nightly batch", a.body["description"])
		assert.Equal(t, "assets:read", a.body["scope"])
		assert.Equal(t, []any{"192.0.2.0/24"}, a.body["ip_ranges"])
		assert.Equal(t, before.body["grant_types"], a.body["grant_types"], "members not in the patch stay")
		assert.Equal(t, before.body["client_secret_expires_at"], a.body["client_secret_expires_at"])
		assert.Equal(t, before.body["created_at"], a.body["created_at"])
		assert.Equal(t, float64(clk.Now().Unix()), a.body["updated_at"])
		assert.Equal(t, a.body, ad.call(http.MethodGet, "/clients/svc", nil).body, "stored")

		// The next request sees the change: 127.0.0.1 is outside the range now.
		status, body := e.ccToken(e.svc.ID, e.svcSecret, "assets:read")
		assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
		a = ad.call(http.MethodPatch, "/clients/svc", map[string]any{"ip_ranges": nil, "description": nil}).requireStatus(t, http.StatusOK)
		assert.Equal(t, []any{}, a.body["ip_ranges"], "null clears")
		assert.Equal(t, "", a.body["description"])
		status, _ = e.ccToken(e.svc.ID, e.svcSecret, "assets:read")
		assert.Equal(t, http.StatusOK, status)
		status, body = e.ccToken(e.svc.ID, e.svcSecret, "registry:read")
		assert.Equal(t, http.StatusBadRequest, status, "registry:read was removed from scope")
		assert.Equal(t, "invalid_scope", body["error"])

		// Refusals: every invalid member named; nothing written.
		cur := ad.call(http.MethodGet, "/clients/svc", nil)
		a = ad.call(http.MethodPatch, "/clients/svc", map[string]any{
			"client_id": "other", "created_at": 1, "updated_at": 2, "client_secret": "mine-0123456789abc",
			"client_secret_expires_at": 0, "grant_types": []string{"magic"}, "ip_ranges": []string{"300.0.0.1"},
			"id_token_lifetime": "long", "surprise": true, "token_endpoint_auth_method": "none",
		}).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, "invalid_client_metadata", a.body["error"])
		assert.Equal(t, []string{"client_id", "client_secret", "client_secret_expires_at", "created_at", "grant_types",
			"id_token_lifetime", "ip_ranges", "surprise", "updated_at"}, a.fields(), "%s", a.raw)
		assert.Contains(t, a.field("client_id"), "cannot be changed")
		assert.Contains(t, a.field("client_secret_expires_at"), "rotate the secret")
		a = ad.call(http.MethodPatch, "/clients/svc", map[string]any{"token_endpoint_auth_method": "none"}).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, []string{"grant_types"}, a.fields(), "a public client cannot use client_credentials: %s", a.raw)
		assert.Equal(t, cur.body, ad.call(http.MethodGet, "/clients/svc", nil).body, "nothing written")

		a = ad.call(http.MethodPatch, "/clients/svc", `["not an object"]`).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, "invalid_request", a.body["error"])
		a = ad.call(http.MethodPatch, "/clients/svc", `{}`, "Content-Type", "text/plain").requireStatus(t, http.StatusUnsupportedMediaType)
	})
}

// A narrowed permission_scope narrows existing grants at their next
// refresh.
func TestAdminPatchNarrowsGrants(t *testing.T) {
	a := newACEnv(t)
	ad := newAdminAPI(t, a.p)
	tok, _ := a.login(a.portal, a.portalSecret, webRedirect, "alice", answers{otp: a.code, tenant: "acme"}, "openid", "offline_access", "assets:read", "registry:read")
	ad.call(http.MethodPatch, "/clients/portal", map[string]any{"permission_scope": []string{"assets:read"}}).requireStatus(t, http.StatusOK)
	status, body := a.postFrom(http.DefaultClient, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, a.portal.ID, a.portalSecret, nil)
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.ElementsMatch(t, []string{"openid", "offline_access", "assets:read"}, strings.Fields(body["scope"].(string)))

	// Taking a scope the grant holds out of the client's scope ends the
	// grant at its next refresh instead: invalid_scope, authorize again.
	ad.call(http.MethodPatch, "/clients/portal", map[string]any{"scope": "openid offline_access profile email"}).requireStatus(t, http.StatusOK)
	status, body = a.postFrom(http.DefaultClient, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}, a.portal.ID, a.portalSecret, nil)
	assert.Equal(t, http.StatusBadRequest, status, "%v", body)
	assert.Equal(t, "invalid_scope", body["error"])
	assert.Contains(t, body["error_description"], "assets:read")
}

// POST /clients/{id}/secret rotates the secret: without a grace period the
// old one stops at once; with one it works until the grace ends and is then
// refused as expired.
func TestAdminRotate(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		clk := stoppedClock()
		e := newEnvOn(t, store, func(c *provider.Config) { c.Now = clk.Now; c.ClientAuthLockout.MaxFailures = 1000 })
		ad := newAdminAPI(t, e.p)

		a := ad.call(http.MethodPost, "/clients/svc/secret", nil).requireStatus(t, http.StatusOK)
		first := a.body["client_secret"].(string)
		assert.Len(t, first, 43)
		assert.Equal(t, "svc", a.body["client_id"])
		assert.Equal(t, float64(clk.Now().Unix()+365*24*3600), a.body["client_secret_expires_at"])
		assert.Equal(t, http.StatusUnauthorized, e.ccStatus("svc", e.svcSecret), "without grace the old secret stops at once")
		assert.Equal(t, http.StatusOK, e.ccStatus("svc", first))
		assert.NotContains(t, ad.call(http.MethodGet, "/clients/svc", nil).body, "client_secret")

		clk.Advance(time.Minute)
		a = ad.call(http.MethodPost, "/clients/svc/secret", map[string]any{"grace_period": 600}).requireStatus(t, http.StatusOK)
		second := a.body["client_secret"].(string)
		clk.Advance(599 * time.Second)
		assert.Equal(t, http.StatusOK, e.ccStatus("svc", first), "within the grace")
		assert.Equal(t, http.StatusOK, e.ccStatus("svc", second))
		clk.Advance(time.Second)
		assertExpiredAnswers(t, e.clientAuthAt("svc", first, false), "after the grace")
		assert.Equal(t, http.StatusOK, e.ccStatus("svc", second))

		// Refusals.
		for _, body := range []any{map[string]any{"grace_period": -1}, map[string]any{"grace_period": "1h"}, map[string]any{"grace": 60}} {
			a = ad.call(http.MethodPost, "/clients/svc/secret", body).requireStatus(t, http.StatusBadRequest)
			assert.Equal(t, "invalid_request", a.body["error"])
			assert.Len(t, a.fields(), 1, "%s", a.raw)
		}
		a = ad.call(http.MethodPost, "/clients/spa/secret", nil).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, []string{"token_endpoint_auth_method"}, a.fields(), "a public client has no secret: %s", a.raw)
		assert.Equal(t, http.StatusOK, e.ccStatus("svc", second), "the refusals changed nothing")
	})
}

// An expired secret over HTTP: a client registered with a secret expiring
// in a minute is listed as expiring, refused after the minute saying that
// the secret expired, and works again once rotated.
func TestAdminExpiredSecret(t *testing.T) {
	clk := stoppedClock()
	e := newEnv(t, func(c *provider.Config) { c.Now = clk.Now })
	ad := newAdminAPI(t, e.p)
	exp := clk.Now().Unix() + 60
	a := ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "short", "grant_types": []string{"client_credentials"},
		"scope": "assets:read", "client_secret_expires_at": exp}).requireStatus(t, http.StatusCreated)
	secret := a.body["client_secret"].(string)
	assert.Equal(t, http.StatusOK, e.ccStatus("short", secret))

	listed := ad.call(http.MethodGet, fmt.Sprintf("/clients?secret_expires_before=%d", exp+1), nil).requireStatus(t, http.StatusOK)
	require.Len(t, listed.body["items"], 1)
	assert.Equal(t, "short", listed.body["items"].([]any)[0].(map[string]any)["client_id"])

	clk.Advance(time.Minute)
	assertExpiredAnswers(t, e.clientAuthAt("short", secret, false), "an expired secret")
	a = ad.call(http.MethodPost, "/clients/short/secret", nil).requireStatus(t, http.StatusOK)
	assert.Equal(t, http.StatusOK, e.ccStatus("short", a.body["client_secret"].(string)))
}

// DELETE /clients/{id} answers 204 and revokes everything of the client:
// its tokens are refused at once at a protected API (RequireScopes), at
// introspection and at refresh, its consents and pending flows are gone,
// and a client registered again under the ID gets none of them back.
func TestAdminDelete(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		ad := newAdminAPI(t, e.p)
		ctx := context.Background()

		status, body := e.ccToken(e.svc.ID, e.svcSecret, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		svcToken := body["access_token"].(string)
		web := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")
		require.NotEmpty(t, web.RefreshToken)
		_, err := e.store.GetConsent(ctx, "sub-alice", "web")
		require.NoError(t, err, "alice's consent is remembered")
		// A flow left pending at the login page.
		cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
		browser := flowtest.NewBrowser(t)
		page := flowtest.Get(t, browser, cfg.AuthCodeURL("state-pending-01", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		require.Equal(t, http.StatusSeeOther, page.Status)
		login := flowtest.Get(t, browser, page.Location(t).String())
		require.Contains(t, login.Body, `name="password"`)
		for _, tok := range []string{svcToken, web.AccessToken} {
			assert.Equal(t, http.StatusOK, e.apiStatus(tok))
		}

		for _, id := range []string{"svc", "web"} {
			a := ad.call(http.MethodDelete, "/clients/"+id, nil)
			assert.Equal(t, http.StatusNoContent, a.status, id)
			assert.Empty(t, a.raw)
		}
		for _, tok := range []string{svcToken, web.AccessToken} {
			assert.Equal(t, http.StatusUnauthorized, e.apiStatus(tok), "a deleted client's token is refused at the protected API")
		}
		_, err = e.store.GetConsent(ctx, "sub-alice", "web")
		assert.ErrorIs(t, err, storage.ErrNotFound, "the consent is gone")
		assert.Equal(t, http.StatusNotFound, ad.call(http.MethodGet, "/clients/web", nil).status)
		assert.Equal(t, http.StatusNotFound, ad.call(http.MethodDelete, "/clients/web", nil).status, "deleted once")

		// Registered again under the same IDs: nothing of the old ones works.
		a := ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "svc", "grant_types": []string{"client_credentials"}, "scope": "assets:read"}).requireStatus(t, http.StatusCreated)
		ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "web", "grant_types": []string{"authorization_code", "refresh_token"},
			"redirect_uris": []string{webRedirect}, "scope": "openid offline_access assets:read"}).requireStatus(t, http.StatusCreated)
		for _, tok := range []string{svcToken, web.AccessToken} {
			assert.Equal(t, http.StatusUnauthorized, e.apiStatus(tok), "an old token is still refused after the ID is registered again")
			assert.Equal(t, false, e.introspectAs("svc", a.body["client_secret"].(string), tok)["active"])
		}
		_, err = e.store.GetConsent(ctx, "sub-alice", "web")
		assert.ErrorIs(t, err, storage.ErrNotFound, "the consent does not come back")
		next := flowtest.Submit(t, browser, login, url.Values{"username": {"alice"}, "password": {testUsers["alice"].password}})
		assert.GreaterOrEqual(t, next.Status, 400, "the pending flow is gone: it does not go on for the new client: %d %s", next.Status, next.Body)
	})
}
