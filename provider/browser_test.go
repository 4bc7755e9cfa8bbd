package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// These tests drive a real browser, headless Chromium, through
// github.com/chromedp/chromedp: the browser, not the test, enforces CORS
// and the Content-Security-Policy. They skip where no Chromium can be found
// (.ci/run installs Debian's chromium package). With GATEHOUSE_SCREENSHOTS
// set to a directory they also save the screenshots of docs/pages.md there.

// chromiumPath returns the Chromium to drive: $GATEHOUSE_CHROMIUM, or
// chromium (Debian's package), chromium-browser or google-chrome on the
// PATH. It skips the test when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("GATEHOUSE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium: the browser tests need one; install Debian's chromium package (apt-get install chromium), " +
		"or set GATEHOUSE_CHROMIUM to a Chromium or Chrome binary; .ci/run installs it")
	return ""
}

// newChromium starts a headless Chromium for the test and returns the
// context of its first tab, with a viewport fit for a screenshot of a page.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // tests run as root in CI, where Chromium's sandbox cannot start
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(760, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelTab(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(760, 900)), "start Chromium")
	return ctx
}

// screenshot saves the browser's viewport as name (a PNG) in
// $GATEHOUSE_SCREENSHOTS, when it is set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	t.Logf("screenshot %s", filepath.Join(dir, name))
}

// pageConfig is what the test pages' script needs to know.
type pageConfig struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientID"`
}

// spaPage is a single-page app: without a code it starts the
// authorization code flow with PKCE; with one it exchanges the code at the
// token endpoint and calls userinfo with fetch, and writes what it read
// into #out.
const spaPage = `<!doctype html>
<html><head><meta charset="utf-8"><title>SPA</title></head>
<body><pre id="out">working</pre>
<script>
const cfg = %s;
const out = document.getElementById("out");
const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const done = (result) => { out.textContent = JSON.stringify(result); out.dataset.done = "1"; };
(async () => {
  const redirect = location.origin + "/spa";
  const params = new URLSearchParams(location.search);
  if (!params.has("code")) {
    const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
    sessionStorage.setItem("verifier", verifier);
    location.assign(cfg.issuer + "/oauth2/authorize?" + new URLSearchParams({
      response_type: "code", client_id: cfg.clientID, redirect_uri: redirect, scope: "openid profile offline_access",
      state: "state-0123456789", code_challenge: b64url(new Uint8Array(digest)), code_challenge_method: "S256"}));
    return;
  }
  const result = {};
  try {
    const res = await fetch(cfg.issuer + "/oauth2/token", {method: "POST", body: new URLSearchParams({
      grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirect,
      client_id: cfg.clientID, code_verifier: sessionStorage.getItem("verifier")})});
    result.token = res.status;
    const tokens = await res.json();
    result.access_token = tokens.access_token;
    result.has_refresh_token = !!tokens.refresh_token;
    const ui = await fetch(cfg.issuer + "/userinfo", {headers: {Authorization: "Bearer " + tokens.access_token}});
    result.userinfo = ui.status;
    result.sub = (await ui.json()).sub;
  } catch (e) {
    result.error = String(e);
  }
  done(result);
})();
</script></body></html>`

// probePage calls userinfo with the access token in its URL's fragment
// (which needs a preflight: Authorization) and the token endpoint (a simple
// request: no preflight) with fetch, and writes into #out, for each,
// whether the page could read the answer.
const probePage = `<!doctype html>
<html><head><meta charset="utf-8"><title>probe</title></head>
<body><pre id="out">working</pre>
<script>
const cfg = %s;
const out = document.getElementById("out");
(async () => {
  const result = {};
  const attempt = async (name, url, init) => {
    try { const r = await fetch(url, init); result[name] = "read " + r.status; }
    catch (e) { result[name] = "refused"; }
  };
  await attempt("userinfo", cfg.issuer + "/userinfo", {headers: {Authorization: "Bearer " + location.hash.slice(1)}});
  await attempt("token", cfg.issuer + "/oauth2/token", {method: "POST", body: new URLSearchParams({
    grant_type: "refresh_token", refresh_token: "not-a-refresh-token", client_id: cfg.clientID})});
  out.textContent = JSON.stringify(result);
  out.dataset.done = "1";
})();
</script></body></html>`

// appServer serves the SPA (/spa) and the probe (/probe) at an origin of
// its own; cfg is read at each request, so the server can start before the
// client it names is registered.
func appServer(t *testing.T, cfg *atomic.Pointer[pageConfig]) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page := map[string]string{"/spa": spaPage, "/probe": probePage}[r.URL.Path]
		if page == "" {
			http.NotFound(w, r)
			return
		}
		b, _ := json.Marshal(cfg.Load())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, page, b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runPage loads u and returns what its script wrote into #out.
func runPage(t *testing.T, ctx context.Context, u string) map[string]any {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitVisible(`#out[data-done]`)))
	return readOut(t, ctx)
}

func readOut(t *testing.T, ctx context.Context) map[string]any {
	t.Helper()
	text, err := chromedp.Run(ctx, chromedp.Text(`#out`))
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal([]byte(text), &out), text)
	return out
}

// signIn fills the login page in the browser and submits it.
func signIn(t *testing.T, ctx context.Context, user, password string) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx,
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, user),
		chromedp.SendKeys(`#password`, password),
		chromedp.Click(`form button[type=submit]`),
	))
}

// TestBrowserSPA: a single-page app at its own origin (a loopback server
// that is the origin of its client's redirect URI) signs in with the code
// flow and, from its script, exchanges the code and calls userinfo. A page
// at an origin no client registered, and one at another client's origin,
// are refused by the browser: the first at the preflight, the second
// because the answers do not name it.
func TestBrowserSPA(t *testing.T) {
	ctx := newChromium(t)
	e := newEnv(t)
	var spaCfg, otherCfg atomic.Pointer[pageConfig]
	spa := appServer(t, &spaCfg)
	other := appServer(t, &otherCfg)
	stranger := appServer(t, &spaCfg)
	c, _, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "browser-spa", Name: "Example SPA", Public: true,
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{spa.URL + "/spa"},
		Scopes:       []string{"openid", "profile", "offline_access"},
	})
	require.NoError(t, err)
	_, _, err = e.p.CreateClient(context.Background(), storage.Client{
		ID: "other-spa", Public: true, RedirectURIs: []string{other.URL + "/spa"}, Scopes: []string{"openid"},
	})
	require.NoError(t, err)
	spaCfg.Store(&pageConfig{Issuer: e.issuer, ClientID: c.ID})
	otherCfg.Store(&pageConfig{Issuer: e.issuer, ClientID: c.ID}) // the SPA's client ID, from another client's origin

	// The SPA starts the flow; the user signs in and allows it.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(spa.URL+"/spa")))
	signIn(t, ctx, "alice", "alice-password")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(`button[value="allow"]`)))
	screenshot(t, ctx, "consent-default.png")
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`button[value="allow"]`), chromedp.WaitVisible(`#out[data-done]`)))
	got := readOut(t, ctx)
	assert.Nil(t, got["error"], "the SPA's fetch calls succeeded")
	assert.EqualValues(t, http.StatusOK, got["token"], "the SPA read its tokens")
	assert.Equal(t, true, got["has_refresh_token"])
	assert.EqualValues(t, http.StatusOK, got["userinfo"], "the SPA read userinfo")
	assert.Equal(t, "sub-alice", got["sub"])
	access, _ := got["access_token"].(string)
	require.NotEmpty(t, access)

	// The same calls from the SPA's origin: read (200, and the token
	// endpoint's 400 for a bad refresh token).
	assert.Equal(t, map[string]any{"userinfo": "read 200", "token": "read 400"}, runPage(t, ctx, spa.URL+"/probe#"+access),
		"the SPA's own origin reads both answers")
	// An origin no client registered: the preflight of userinfo is
	// refused, and the token endpoint's answer does not name it.
	assert.Equal(t, map[string]any{"userinfo": "refused", "token": "refused"}, runPage(t, ctx, stranger.URL+"/probe#"+access),
		"an unregistered origin reads nothing")
	// Another client's origin passes the preflight, but the answers for
	// the SPA's client and token do not name it.
	assert.Equal(t, map[string]any{"userinfo": "refused", "token": "refused"}, runPage(t, ctx, other.URL+"/probe#"+access),
		"another client's origin reads nothing of this client's")
}

// brandHead is a host's layout: its stylesheet and logo from its asset
// server, allowed by Config.PageSources; and an image and a script from
// another origin, which the Content-Security-Policy must block.
const brandHead = `{{define "head"}}<!doctype html>
<html lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Acme</title>
<link rel="stylesheet" href="{{.Assets}}/brand.css">
<script src="{{.Elsewhere}}/evil.js"></script>
</head>
<body><header class="brand"><img id="brand-logo" src="{{.Assets}}/acme.svg" alt="" width="32" height="32"> Acme Portal</header>
<img id="tracker" src="{{.Elsewhere}}/pixel.png" alt="" width="1" height="1">
<main>{{end}}`

const brandCSS = `body{font-family:"DejaVu Sans",system-ui,sans-serif;background:#0f2a44;margin:0;padding:2rem 1rem;color:#13202e}
header.brand{max-width:28rem;margin:0 auto 1rem;display:flex;align-items:center;gap:.6rem;color:#fff;font-weight:600;font-size:1.1rem}
#tracker{position:absolute}
main{max-width:28rem;margin:auto;background:#fff;border-radius:12px;padding:1.8rem 2rem;box-shadow:0 8px 24px #0006}
h1{font-size:1.2rem;margin:0}h2{font-size:.75rem;text-transform:uppercase;letter-spacing:.06em;color:#6b7a8c;margin:1.3rem 0 .4rem}
p{margin:.6rem 0}ul.scopes{list-style:none;padding:0;margin:0}
ul.scopes li{padding:.45rem .7rem;border:1px solid #e3e8ef;border-radius:6px;margin:.3rem 0}
.client{display:flex;align-items:center;gap:.8rem;margin-bottom:.6rem}.client img{border-radius:10px}
button{margin:1.2rem .4rem 0 0;padding:.6rem 1.4rem;border-radius:6px;border:0;background:#f28c28;color:#fff;font-weight:600;font-size:1rem}
button.secondary{background:#e9edf2;color:#13202e}.muted{font-size:.9rem}.muted a{color:#0f5fa8}
`

const acmeLogo = `<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#f28c28"/><path d="M9 23 16 8l7 15h-3.5l-1.4-3.2h-4.2L12.5 23zm5-6h4l-2-4.6z" fill="#fff"/></svg>`

const appLogo = `<svg xmlns="http://www.w3.org/2000/svg" width="48" height="48" viewBox="0 0 48 48"><rect width="48" height="48" rx="10" fill="#0f5fa8"/><rect x="11" y="26" width="6" height="11" fill="#fff"/><rect x="21" y="18" width="6" height="19" fill="#fff"/><rect x="31" y="11" width="6" height="26" fill="#fff"/></svg>`

// TestBrowserBrandedConsent shows the consent page as a host makes it its
// own: its layout with its stylesheet and logo (allowed by
// Config.PageSources), its text in German (ui_locales=de) with its scope
// descriptions, and the client's name, logo, home page and the tenant.
// The browser loads the host's stylesheet and logo and the client's logo,
// and blocks an image and a script from an origin not listed.
func TestBrowserBrandedConsent(t *testing.T) {
	ctx := newChromium(t)
	var blocked atomic.Int64 // requests that reached the unlisted origin
	asset := func(ctype, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ctype)
			fmt.Fprint(w, body)
		}
	}
	assets := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/brand.css":
			asset("text/css", brandCSS)(w, r)
		case "/acme.svg":
			asset("image/svg+xml", acmeLogo)(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(assets.Close)
	clientSite := httptest.NewServer(asset("image/svg+xml", appLogo))
	t.Cleanup(clientSite.Close)
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blocked.Add(1)
		if r.URL.Path == "/evil.js" {
			asset("text/javascript", `window.pwned = true;`)(w, r)
			return
		}
		asset("image/svg+xml", acmeLogo)(w, r)
	}))
	t.Cleanup(elsewhere.Close)

	pages := provider.BuiltinTemplates()
	head := strings.NewReplacer("{{.Assets}}", assets.URL, "{{.Elsewhere}}", elsewhere.URL).Replace(brandHead)
	template.Must(pages.Parse(head))

	db := newACDB()
	e := newEnv(t, func(c *provider.Config) {
		c.Authenticator, c.UserLookup = db, db
		c.Templates = pages
		c.PageSources = provider.PageSources{Images: []string{assets.URL}, Styles: []string{assets.URL}}
		c.Messages = map[string]provider.Messages{
			"en": {"scope.assets:read": "Read your assets", "scope.assets:write": "Change your assets", "scope-group.assets": "Assets"},
			"de": {"scope.assets:read": "Ihre Anlagen ansehen", "scope.assets:write": "Ihre Anlagen ändern", "scope-group.assets": "Anlagen",
				"consent.heading": "%s möchte auf Ihr Acme-Konto zugreifen"},
		}
	})
	c, _, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "acme-assets", Name: "Acme Assets", Public: true,
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"http://127.0.0.1:8081/cb"},
		Scopes:       []string{"openid", "profile", "email", "customer", "offline_access", "assets:read", "assets:write"},
		RequiredRole: "portal-user",
		Customer:     "acme",
		LogoURI:      clientSite.URL + "/logo.svg",
		ClientURI:    clientSite.URL + "/",
	})
	require.NoError(t, err)
	db.change("bob", func(u *provider.User) { u.Memberships[0].Permissions = []string{"assets:read", "assets:write"} })

	cfg := e.oauth2Config(c, "", "http://127.0.0.1:8081/cb", "openid", "profile", "email", "customer", "offline_access", "assets:read", "assets:write")
	authURL := cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("ui_locales", "de"))
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(authURL)))
	signIn(t, ctx, "bob", "bob-password")
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitVisible(`button[value="allow"]`)))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById("brand-logo").complete && document.querySelector(".client img").complete`))
	require.NoError(t, err, "the logos load")
	screenshot(t, ctx, "consent-branded-de.png")

	check := func(expr string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		require.NoError(t, err, expr)
		return v
	}
	assert.Equal(t, "de", check(`document.documentElement.lang`))
	assert.Equal(t, "Zugriff erlauben · Acme", check(`document.title`))
	assert.Equal(t, "Acme Assets möchte auf Ihr Acme-Konto zugreifen", check(`document.querySelector("h1").textContent`))
	assert.Equal(t, "Angemeldet als bob für Acme Corp.", check(`document.querySelector("main > p:not(.muted)").textContent`))
	assert.Equal(t, []any{"Ihr Konto", "Anlagen", "Dauerhafter Zugriff"}, check(`[...document.querySelectorAll("h2")].map(h => h.textContent)`))
	assert.Equal(t, []any{"Ihre Identität bestätigen", "Ihren Namen und Benutzernamen sehen", "Ihre E-Mail-Adresse sehen",
		"Sehen, für welchen Kunden Sie handeln", "Ihre Anlagen ansehen", "Ihre Anlagen ändern",
		"Zugriff behalten, während Sie die Anwendung nicht nutzen"},
		check(`[...document.querySelectorAll("ul.scopes li")].map(li => li.textContent)`))
	assert.Equal(t, clientSite.URL+"/", check(`document.querySelector(".muted a").href`), "the client's home page")
	assert.Equal(t, "rgb(15, 42, 68)", check(`getComputedStyle(document.body).backgroundColor`), "the host's stylesheet applies")
	assert.EqualValues(t, 32, check(`document.getElementById("brand-logo").naturalWidth`), "the host's logo loads")
	assert.EqualValues(t, 48, check(`document.querySelector(".client img").naturalWidth`), "the client's logo loads")
	assert.EqualValues(t, 0, check(`document.getElementById("tracker").naturalWidth`), "an image from an unlisted origin is blocked")
	assert.Equal(t, false, check(`window.pwned === true`), "a script from elsewhere does not run")
	assert.Zero(t, blocked.Load(), "the browser never asked the unlisted origin")
}
