package provider_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// defaultPaths are the documented defaults of every Paths field.
var defaultPaths = map[string]string{
	"Authorize":   "/oauth2/authorize",
	"Token":       "/oauth2/token",
	"Introspect":  "/oauth2/introspect",
	"Revoke":      "/oauth2/revoke",
	"Userinfo":    "/userinfo",
	"Logout":      "/oauth2/logout",
	"Discovery":   "/.well-known/openid-configuration",
	"JWKS":        "/.well-known/jwks.json",
	"Interaction": "/oauth2/interaction",
	"Account":     "/account",
}

// pathFields are the names of Paths' fields, read by reflection so that a
// field added later is in every test below without being listed.
func pathFields() []string {
	t := reflect.TypeFor[provider.Paths]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = t.Field(i).Name
	}
	return names
}

// setPath sets the Paths field named field.
func setPath(p *provider.Paths, field, v string) {
	reflect.ValueOf(p).Elem().FieldByName(field).SetString(v)
}

const pathsIssuer = "http://127.0.0.1:9000"

func pathsConfig(issuer string, paths provider.Paths) provider.Config {
	return provider.Config{Issuer: issuer, Store: memory.New(), Authenticator: userDB{}, Paths: paths, GlobalSecret: []byte("0123456789abcdef0123456789abcdef")}
}

// configErrors returns the *ConfigErrors of a join, and fails the test if
// the join holds any other error.
func configErrors(t testing.TB, err error) []*provider.ConfigError {
	t.Helper()
	var out []*provider.ConfigError
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ce *provider.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("not a *provider.ConfigError: %T %v", err, err)
		}
		out = append(out, ce)
	}
	if err != nil {
		walk(err)
	}
	return out
}

// serves reports the status of a GET of path on h; the ServeMux answers
// 404 for a path that nothing is mounted on.
func serves(t testing.TB, h http.Handler, path string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, pathsIssuer+path, nil)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// Every Paths field has its documented default and is served there.
func TestPathsDefaults(t *testing.T) {
	require.ElementsMatch(t, pathFields(), keys(defaultPaths), "defaultPaths lists every Paths field")
	p, err := provider.New(pathsConfig(pathsIssuer, provider.Paths{}))
	require.NoError(t, err)
	for field, def := range defaultPaths {
		assert.NotEqual(t, http.StatusNotFound, serves(t, p.Handler(), def), "Paths.%s at %s", field, def)
	}
	assert.Equal(t, http.StatusNotFound, serves(t, p.Handler(), "/nothing"))
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Every Paths field is mounted where it says, below the issuer's path, and
// no longer at its default.
func TestPathsMounted(t *testing.T) {
	for _, field := range pathFields() {
		t.Run(field, func(t *testing.T) {
			var paths provider.Paths
			custom := "/custom/" + strings.ToLower(field)
			setPath(&paths, field, custom)
			p, err := provider.New(pathsConfig(pathsIssuer+"/tenant", paths))
			require.NoError(t, err)
			assert.NotEqual(t, http.StatusNotFound, serves(t, p.Handler(), "/tenant"+custom), "served at its path")
			assert.Equal(t, http.StatusNotFound, serves(t, p.Handler(), "/tenant"+defaultPaths[field]), "no longer at its default")
			assert.Equal(t, http.StatusNotFound, serves(t, p.Handler(), custom), "only below the issuer's path")
		})
	}
}

// Two endpoints on one path made New panic inside net/http's ServeMux
// ("pattern conflicts"). Every pair of Paths fields on one path is now a
// *ConfigError naming both fields, whether both were set to one value or
// one was set to the other's default.
func TestPathsDuplicated(t *testing.T) {
	fields := pathFields()
	for i, a := range fields {
		for _, b := range fields[i+1:] {
			t.Run(a+"+"+b, func(t *testing.T) {
				var both provider.Paths
				setPath(&both, a, "/same")
				setPath(&both, b, "/same")
				var onDefault provider.Paths
				setPath(&onDefault, b, defaultPaths[a])
				for name, paths := range map[string]provider.Paths{"both set": both, "on the other's default": onDefault} {
					var p *provider.Provider
					var err error
					require.NotPanics(t, func() { p, err = provider.New(pathsConfig(pathsIssuer, paths)) }, name)
					assert.Nil(t, p, name)
					ces := configErrors(t, err)
					require.Len(t, ces, 1, "%s: %v", name, err)
					assert.Contains(t, []string{"Paths." + a, "Paths." + b}, ces[0].Field, name)
					assert.Contains(t, err.Error(), "Paths."+a, name)
					assert.Contains(t, err.Error(), "Paths."+b, name)
					assert.Contains(t, err.Error(), "give each endpoint its own path", name)
				}
			})
		}
	}
}

// Paths that net/http's ServeMux would refuse (and panic on), read as a
// pattern with a method, host or wildcard, serve as a subtree, or never
// reach (requests are cleaned before routing) are *ConfigErrors naming the
// field.
func TestPathsInvalid(t *testing.T) {
	for _, tc := range []struct {
		path, reason string
	}{
		{"oauth2/token", `starting with "/"`},
		{"example.com/token", `starting with "/"`}, // a host part in the pattern
		{"GET /oauth2/token", `starting with "/"`}, // a method in the pattern
		{"/oauth2/token /x", "no spaces"},          // panicked: invalid method
		{"/oauth2/{token}", "{"},                   // a wildcard
		{"/oauth2/{$}", "{"},                       //
		{"/oauth2/{", "{"},                         // panicked: bad wildcard segment
		{"/oauth2/x}", "}"},                        //
		{"/oauth2/token?x=1", "?"},                 //
		{"/oauth2/token#x", "#"},                   //
		{"/oauth2/%74oken", "%"},                   // the ServeMux unescapes it; discovery would not
		{"/oauth2/tök", "letters, digits"},         //
		{"/oauth2/token\t", "letters, digits"},     //
		{"/", `must not end with "/"`},             // a subtree: every unknown path
		{"/oauth2/", `must not end with "/"`},      //
		{"/oauth2//token", "clean path"},           //
		{"/oauth2/./token", "clean path"},          //
		{"/oauth2/../token", "clean path"},         //
		{"/oauth2/token/.", "clean path"},          //
	} {
		t.Run(tc.path, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { _, err = provider.New(pathsConfig(pathsIssuer, provider.Paths{Token: tc.path})) })
			ces := configErrors(t, err)
			require.Len(t, ces, 1, "%v", err)
			assert.Equal(t, "Paths.Token", ces[0].Field)
			assert.Contains(t, ces[0].Reason, tc.reason)
			assert.Contains(t, ces[0].Reason, strconv.Quote(tc.path), "names the value")
		})
	}
	// The characters RFC 3986 allows in a path segment as they are.
	p, err := provider.New(pathsConfig(pathsIssuer, provider.Paths{Token: "/a-b._~!$&'()*+,;=:@/Token2"}))
	require.NoError(t, err)
	assert.NotEqual(t, http.StatusNotFound, serves(t, p.Handler(), "/a-b._~!$&'()*+,;=:@/Token2"))
}

// An issuer whose path is not clean is refused: no endpoint below it could
// be reached.
func TestIssuerPathClean(t *testing.T) {
	for _, issuer := range []string{pathsIssuer + "//", pathsIssuer + "/a//b", pathsIssuer + "/a/../b", pathsIssuer + "/./a"} {
		_, err := provider.New(pathsConfig(issuer, provider.Paths{}))
		ces := configErrors(t, err)
		require.Len(t, ces, 1, "%s: %v", issuer, err)
		assert.Equal(t, "Issuer", ces[0].Field, issuer)
		assert.Contains(t, ces[0].Reason, "clean path", issuer)
	}
	for _, issuer := range []string{pathsIssuer + "/", pathsIssuer + "/a/", pathsIssuer + "/a.b/c"} {
		_, err := provider.New(pathsConfig(issuer, provider.Paths{}))
		assert.NoError(t, err, issuer)
	}
}

// FuzzConfigPaths: New never panics, whatever the Paths and the issuer's
// path; it fails only with *ConfigErrors about them; and when it succeeds
// every endpoint is served at the issuer's path plus its own.
func FuzzConfigPaths(f *testing.F) {
	f.Add("", "")
	f.Add("", "/oauth2/authorize\n/oauth2/authorize")
	f.Add("/tenant", "\n\n\n\n\n\n\n\n/oauth2/token")
	f.Add("", "/a b\n/{x}\n/{$}\n/x/\n/\n//\n/a/../b\nhost/a\n/%41")
	f.Add("/t%20x", "/a\n/b\n/c\n/d\n/e\n/f\n/g\n/h\n/i")
	f.Add("/%2E%2E", "")
	f.Add("/a/%2e", "")
	f.Add("/{a}", "/a/{b...}\n/a/{b}/c\nGET /a\n/a\t/b\n/a?b\n/a#b\n/é\n/a;b\n/a:b@c")
	fields := pathFields()
	f.Fuzz(func(t *testing.T, issuerPath, paths string) {
		var ps provider.Paths
		for i, v := range strings.SplitN(paths, "\n", len(fields)) {
			setPath(&ps, fields[i], v)
		}
		issuer := pathsIssuer + issuerPath
		p, err := provider.New(pathsConfig(issuer, ps)) // a panic fails the fuzz target
		if err != nil {
			for _, ce := range configErrors(t, err) {
				if ce.Field != "Issuer" && !strings.HasPrefix(ce.Field, "Paths.") {
					t.Fatalf("error about another field: %v", ce)
				}
			}
			return
		}
		u, err := url.Parse(issuer)
		require.NoError(t, err)
		prefix := strings.TrimSuffix(u.EscapedPath(), "/")
		for _, field := range fields {
			v := reflect.ValueOf(ps).FieldByName(field).String()
			if v == "" {
				v = defaultPaths[field]
			}
			if status := serves(t, p.Handler(), prefix+v); status == http.StatusNotFound || status == http.StatusMovedPermanently {
				t.Fatalf("Paths.%s = %q below issuer %q: GET %s answered %d", field, v, issuer, prefix+v, status)
			}
		}
	})
}
