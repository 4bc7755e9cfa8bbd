package provider

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
)

var (
	// msgIDRe finds the message IDs the Go code declares.
	msgIDRe = regexp.MustCompile(`msgID\{"([^"]+)"\}`)
	// templateKeyRe finds the message IDs the templates name.
	templateKeyRe = regexp.MustCompile(`\.(?:T|Strong) "([^"]+)"`)
)

// codeMessageIDs returns the message IDs of the package's Go code (the
// msg* variables), read from the source so that a new one cannot be
// forgotten here.
func codeMessageIDs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range msgIDRe.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	require.NotEmpty(t, out)
	return out
}

// templateMessageIDs returns the message IDs the built-in templates name.
func templateMessageIDs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("templates/*.html")
	require.NoError(t, err)
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range templateKeyRe.FindAllStringSubmatch(string(b), -1) {
			out = append(out, m[1])
		}
	}
	require.NotEmpty(t, out)
	return out
}

// Every message the code and the templates show is in every built-in
// catalogue, with the same arguments; the catalogues have the same IDs;
// and every ID of English is used, by the code, the templates, or one of
// the families named at run time.
func TestMessageIDs(t *testing.T) {
	en, de := builtinMessages["en"], builtinMessages["de"]
	require.NotEmpty(t, en)
	require.NotEmpty(t, de)
	used := map[string]bool{}
	for _, id := range append(codeMessageIDs(t), templateMessageIDs(t)...) {
		used[id] = true
		for tag, cat := range builtinMessages {
			_, ok := cat[id]
			assert.True(t, ok, "catalogue %q lacks %q, a message the provider shows", tag, id)
		}
	}
	for id, text := range en {
		other, ok := de[id]
		if !assert.True(t, ok, "de lacks %q", id) {
			continue
		}
		assert.True(t, sameArguments(text, other), "de %q takes other arguments than en: %q vs %q", id, other, text)
		assert.NotEqual(t, text, other, "de %q is not translated", id)
		assert.NotEmpty(t, strings.TrimSpace(text), id)
	}
	for id := range de {
		_, ok := en[id]
		assert.True(t, ok, "de has %q, which en does not", id)
	}
	for id := range en {
		switch {
		case used[id]:
		case strings.HasPrefix(id, scopeKeyPrefix):
			assert.True(t, slices.ContainsFunc(claimScopeTable, func(c claimScope) bool { return scopeKeyPrefix+c.name == id }),
				"%q describes a scope that is not built in", id)
		case strings.HasPrefix(id, scopeGroupKeyPrefix):
			assert.Contains(t, []string{scopeGroupIdentity, scopeGroupOffline, scopeGroupOther}, strings.TrimPrefix(id, scopeGroupKeyPrefix))
		case strings.HasPrefix(id, factorKeyPrefix):
			assert.Equal(t, "factor.totp", id, "the built-in factor")
		case strings.HasPrefix(id, errorKeyPrefix):
			assert.Regexp(t, `^error\.[a-z_]+$`, id, "an OAuth 2.0 error code's message")
		default:
			t.Errorf("message %q is never shown: remove it, or show it", id)
		}
	}
	// Every built-in claim scope has a description.
	for _, c := range claimScopeTable {
		_, ok := en[scopeKeyPrefix+c.name]
		assert.True(t, ok, "en describes the built-in scope %q", c.name)
	}
}

func TestWaitLocalized(t *testing.T) {
	cs := newCatalogues(nil, nil)
	en, de := cs.lookup("en"), cs.lookup("de")
	for _, tc := range []struct {
		d      time.Duration
		en, de string
	}{
		{0, "1 second", "1 Sekunde"},
		{400 * time.Millisecond, "1 second", "1 Sekunde"},
		{1500 * time.Millisecond, "2 seconds", "2 Sekunden"},
		{30 * time.Second, "30 seconds", "30 Sekunden"},
		{119 * time.Second, "119 seconds", "119 Sekunden"},
		{120 * time.Second, "2 minutes", "2 Minuten"},
		{121 * time.Second, "3 minutes", "3 Minuten"}, // rounded up: never less than the wait
		{15 * time.Minute, "15 minutes", "15 Minuten"},
	} {
		assert.Equal(t, tc.en, wait(tc.d).localize(en), tc.d)
		assert.Equal(t, tc.de, wait(tc.d).localize(de), tc.d)
	}
	// A single minute only arises from a host's catalogue with a shorter
	// threshold; the message exists for translations that need it.
	assert.Equal(t, "1 minute", en.text(msgMinute.key))
}

func TestPreferredLanguages(t *testing.T) {
	req := func(accept string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		if accept != "" {
			r.Header.Set("Accept-Language", accept)
		}
		return r
	}
	for _, tc := range []struct {
		name, uiLocales, accept string
		want                    []string
	}{
		{"none", "", "", nil},
		{"one", "", "de", []string{"de"}},
		{"by weight, stable", "", "fr;q=0.5, de-CH, en;q=0.8, it;q=0.5", []string{"de-CH", "en", "fr", "it"}},
		{"weight 0 and * dropped", "", "*, de;q=0, fr", []string{"fr"}},
		{"malformed entries dropped", "", "de;q=x, <script>, fr;q=2, nl;q=0.3", []string{"nl"}},
		{"ui_locales first, in order", "fr-CA de", "en", []string{"fr-CA", "de", "en"}},
		{"bounded", strings.Repeat("de ", 40), strings.Repeat("fr,", 40), append(slices.Repeat([]string{"de"}, 16), slices.Repeat([]string{"fr"}, 16)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, preferredLanguages(req(tc.accept), tc.uiLocales))
		})
	}
}

func TestCatalogueChoice(t *testing.T) {
	host := map[string]Messages{
		"en":    {"login.submit": "Log in"},
		"fr":    {"login.submit": "Se connecter"},
		"de-CH": {"login.password": "Passwort (Schweiz)"},
	}
	req := func(accept string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Accept-Language", accept)
		return r
	}
	cs := newCatalogues(host, nil)
	for _, tc := range []struct {
		name, uiLocales, accept, lang string
		want                          map[string]string
	}{
		{"English by default", "", "", "en", map[string]string{"login.submit": "Log in", "login.password": "Password"}},
		{"German built in", "", "de-DE, en;q=0.5", "de", map[string]string{"login.submit": "Anmelden"}},
		{"a host's region over its base", "", "de-CH", "de-CH", map[string]string{"login.password": "Passwort (Schweiz)", "login.submit": "Anmelden"}},
		{"a host's language falls back to English, the host's English included", "", "fr", "fr",
			map[string]string{"login.submit": "Se connecter", "login.password": "Password", "login.username": "Username"}},
		{"unknown languages: English", "", "ja, ko", "en", nil},
		{"the first known language wins", "", "ja, fr;q=0.9, de;q=0.8", "fr", nil},
		{"ui_locales before Accept-Language", "de", "fr", "de", nil},
		{"case does not matter", "", "DE-ch", "de-CH", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cs.forRequest(req(tc.accept), tc.uiLocales)
			assert.Equal(t, tc.lang, c.lang)
			for k, v := range tc.want {
				assert.Equal(t, v, c.text(k), k)
			}
		})
	}

	t.Run("Config.Language", func(t *testing.T) {
		var got []string
		cs := newCatalogues(host, func(r *http.Request, preferred []string) string {
			got = preferred
			return r.URL.Query().Get("lang")
		})
		r := req("fr, de;q=0.5")
		r.URL.RawQuery = "lang=de-AT"
		assert.Equal(t, "de", cs.forRequest(r, "it").lang, "the host's choice, by its base language")
		assert.Equal(t, []string{"it", "fr", "de"}, got, "the host sees ui_locales, then Accept-Language")
		r.URL.RawQuery = "lang=xx"
		assert.Equal(t, "en", cs.forRequest(r, "").lang, "an unknown choice is English")
		r.URL.RawQuery = ""
		assert.Equal(t, "fr", cs.forRequest(r, "").lang, `"" lets the provider choose`)
	})
}

func TestPagePolicy(t *testing.T) {
	none := newPagePolicy(PageSources{})
	assert.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'", none.policy(""))
	assert.Equal(t, "default-src 'none'; img-src https://cdn.app.example; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
		none.policy("https://CDN.app.example:443/logo.png?v=1"), "the logo's origin, normalised")
	assert.Equal(t, none.policy(""), none.policy("javascript:alert(1)"), "no origin, no source")

	host := newPagePolicy(PageSources{Images: []string{"'self'", "data:"}, Styles: []string{"https://cdn.example"}, Fonts: []string{"https://fonts.example", "data:"}})
	assert.Equal(t, "default-src 'none'; img-src 'self' data: https://logos.example; style-src 'unsafe-inline' https://cdn.example; font-src https://fonts.example data:; frame-ancestors 'none'; base-uri 'none'",
		host.policy("https://logos.example/x.svg"))
	assert.NotContains(t, host.policy(""), "script-src", "scripts stay under default-src 'none'")
}

// An error code without a message of its own is explained by
// error.default, with the protocol's description as the detail.
func TestProtocolErrorWithoutMessage(t *testing.T) {
	p := &Provider{catalogues: newCatalogues(nil, nil), csp: newPagePolicy(PageSources{})}
	p.tmpl = BuiltinTemplates()
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept-Language", "de")
	w := httptest.NewRecorder()
	p.renderProtocolError(w, r, "", oauth.Answer{Status: http.StatusBadRequest, Code: "slow_down", Description: "Slow down."})
	assert.Equal(t, http.StatusBadRequest, w.Code)
	assert.Contains(t, w.Body.String(), `<p class="error">Die Anfrage konnte nicht abgeschlossen werden.</p>`)
	assert.Contains(t, w.Body.String(), `<p lang="en"><code>slow_down</code>: Slow down.</p>`)
}
