package provider_test

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// langTransport sends every request with an Accept-Language header, as a
// browser set to that language does.
type langTransport struct{ accept string }

func (l langTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept-Language", l.accept)
	return http.DefaultTransport.RoundTrip(r)
}

// browserIn returns a flowtest browser that asks for pages in accept.
func browserIn(t *testing.T, accept string) *http.Client {
	b := flowtest.NewBrowser(t)
	b.Transport = langTransport{accept}
	return b
}

// smsFactor is a second factor that every user has and no code passes:
// with it the MFA page offers a choice of methods.
type smsFactor struct{}

func (smsFactor) Name() string                                   { return "sms" }
func (smsFactor) Method() string                                 { return "sms" }
func (smsFactor) Enrolled(context.Context, string) (bool, error) { return true, nil }
func (smsFactor) Verify(context.Context, string, string) error   { return mfa.ErrInvalidCode }

// hostMessages are a host's descriptions of its permission scopes.
var hostMessages = map[string]provider.Messages{
	"en": {"scope.assets:read": "Read your assets", "scope-group.assets": "Assets"},
	"de": {"scope.assets:read": "Ihre Anlagen lesen", "scope-group.assets": "Anlagen"},
}

// germanCheck checks pages for the German catalogue: the messages each
// page should show, in German, and no English message anywhere.
type germanCheck struct {
	t      *testing.T
	en, de provider.Messages
	// seen are the IDs of the messages found on a page.
	seen map[string]bool
}

func newGermanCheck(t *testing.T) *germanCheck {
	all := provider.BuiltinMessages()
	en, de := all["en"], all["de"]
	for tag, m := range hostMessages {
		for k, v := range m {
			map[string]provider.Messages{"en": en, "de": de}[tag][k] = v
		}
	}
	return &germanCheck{t: t, en: en, de: de, seen: map[string]bool{}}
}

// shows is a message a page must show: id with its arguments, set in
// <strong> when strong (PageData.Strong).
type shows struct {
	id     string
	args   []string
	strong bool
}

func say(id string, args ...string) shows    { return shows{id: id, args: args} }
func strong(id string, args ...string) shows { return shows{id: id, args: args, strong: true} }

var (
	styleRe     = regexp.MustCompile(`(?s)<style>.*?</style>`)
	englishRe   = regexp.MustCompile(`(?s)<(p|span|div) lang="en">.*?</(p|span|div)>`)
	tagRe       = regexp.MustCompile(`(?s)<[^>]*>`)
	verbRe      = regexp.MustCompile(`%(\[\d+\])?s`)
	stopWordsRe = regexp.MustCompile(`(?i)\b(the|you|your|please|and|is|are|to|of|for|with|sign|again|this|was|not)\b`)
)

// page checks p: its status, that it is German, that it shows each of
// want, and that no English message of the catalogue and no English word
// is on it (but in an element marked lang="en": the protocol's detail for
// developers).
func (g *germanCheck) page(name string, p flowtest.Page, status int, want ...shows) {
	t := g.t
	t.Helper()
	require.Equal(t, status, p.Status, "%s:\n%s", name, p.Body)
	assert.Contains(t, p.Body, `<html lang="de">`, name)
	for _, w := range want {
		text, ok := g.de[w.id]
		require.True(t, ok, "%s: no German message %q", name, w.id)
		var html string
		switch {
		case w.strong:
			args := make([]any, len(w.args))
			for i, a := range w.args {
				args[i] = "<strong>" + template.HTMLEscapeString(a) + "</strong>"
			}
			html = fmt.Sprintf(template.HTMLEscapeString(text), args...)
		case len(w.args) > 0:
			args := make([]any, len(w.args))
			for i, a := range w.args {
				args[i] = a
			}
			html = template.HTMLEscapeString(fmt.Sprintf(text, args...))
		default:
			html = template.HTMLEscapeString(text)
		}
		if assert.Contains(t, p.Body, html, "%s: %s", name, w.id) {
			g.seen[w.id] = true
		}
	}
	body := englishRe.ReplaceAllString(styleRe.ReplaceAllString(p.Body, ""), "")
	for id, en := range g.en {
		if en == g.de[id] {
			continue
		}
		for _, frag := range verbRe.Split(en, -1) {
			frag = strings.Trim(frag, " .:,")
			if frag == "" || (len(frag) < 5 && frag != strings.Trim(en, " .:,")) {
				continue // too short to tell a language by
			}
			assert.NotContains(t, body, template.HTMLEscapeString(frag), "%s: English %q (%s)", name, frag, id)
		}
	}
	visible := tagRe.ReplaceAllString(body, " ")
	assert.Empty(t, stopWordsRe.FindAllString(visible, -1), "%s: English words in %q", name, strings.Join(strings.Fields(visible), " "))
}

// TestPagesInGerman renders every page and every error page of the
// provider in German, the second built-in language, and finds the German
// messages and no English one on them: nothing the user reads is left
// hard-coded. Every message the code and the templates show is checked on
// some page (but the durations, which TestWaitLocalized checks, and
// error.default, for codes without a message of their own).
func TestPagesInGerman(t *testing.T) {
	g := newGermanCheck(t)
	const accept = "de-DE,de;q=0.9,en;q=0.5"
	a := newACEnv(t, func(c *provider.Config) {
		c.Factors = append(c.Factors, smsFactor{})
		c.Messages = hostMessages
	})
	ctx := context.Background()
	_, err := a.p.UpdateClient(ctx, a.portal.ID, func(c storage.Client) (storage.Client, error) {
		c.LogoURI, c.ClientURI = "https://portal.example/logo.png", "https://portal.example/"
		return c, nil
	})
	require.NoError(t, err)
	b := browserIn(t, accept)
	cfg := a.oauth2Config(a.portal, a.portalSecret, webRedirect, "openid", "offline_access", "customer", "assets:read")
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-0123456789"))

	// Login.
	login := flowtest.Follow(t, b, flowtest.Get(t, b, authURL))
	g.page("login", login, http.StatusOK, say("login.title"), say("login.heading", "Portal"), say("login.username"), say("login.password"), say("login.submit"))
	g.page("login, empty", flowtest.Submit(t, b, login, url.Values{"username": {""}, "password": {""}}), http.StatusUnauthorized, say("login.missing"))
	g.page("login, wrong", flowtest.Submit(t, b, login, url.Values{"username": {"alice"}, "password": {"wrong"}}), http.StatusUnauthorized, say("login.wrong"))
	_, err = a.p.CreateApplicationUser(ctx, storage.ApplicationUser{ID: "bot-1", Name: "Bot"})
	require.NoError(t, err)
	a.db.add("robot", "robot-password", provider.User{Subject: "bot-1", Username: "robot"})
	g.page("login, application user", flowtest.Submit(t, b, login, url.Values{"username": {"robot"}, "password": {"robot-password"}}), http.StatusUnauthorized, say("login.application-user"))
	var locked flowtest.Page
	for range 6 {
		locked = flowtest.Submit(t, b, login, url.Values{"username": {"mallory"}, "password": {"guess"}})
		if strings.Contains(locked.Body, "Zu viele") {
			break
		}
	}
	g.page("login, locked", locked, http.StatusUnauthorized, say("login.locked", "30 Sekunden"), say("duration.seconds", "30"))

	// MFA, with a choice of two factors.
	mfaPage := flowtest.Follow(t, b, flowtest.Submit(t, b, login, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	g.page("mfa", mfaPage, http.StatusOK, say("mfa.title"), say("mfa.intro", "Portal"), say("mfa.method"), say("factor.totp"), say("mfa.code"), say("mfa.submit"))
	g.page("mfa, unknown method", flowtest.Submit(t, b, mfaPage, url.Values{"factor": {"carrier-pigeon"}, "otp": {"123456"}}), http.StatusUnauthorized, say("mfa.choose-method"))
	g.page("mfa, empty", flowtest.Submit(t, b, mfaPage, url.Values{"otp": {""}}), http.StatusUnauthorized, say("mfa.missing"))
	g.page("mfa, wrong", flowtest.Submit(t, b, mfaPage, url.Values{"otp": {"000000"}}), http.StatusUnauthorized, say("mfa.wrong"))
	var mfaLocked flowtest.Page
	for range 6 {
		mfaLocked = flowtest.Submit(t, b, mfaPage, url.Values{"otp": {"000000"}})
		if strings.Contains(mfaLocked.Body, "Zu viele") {
			break
		}
	}
	g.page("mfa, locked", mfaLocked, http.StatusUnauthorized, say("mfa.locked", "30 Sekunden"))
	a.nextStep() // the lock's 30 s
	a.mfaClock.Advance(1)

	// Tenant.
	tenantPage := flowtest.Follow(t, b, flowtest.Submit(t, b, mfaPage, url.Values{"otp": {a.code()}}))
	g.page("tenant", tenantPage, http.StatusOK, say("tenant.title"), strong("page.signed-in-as", "alice"), say("tenant.question", "Portal"), say("tenant.label"), say("tenant.submit"))
	g.page("tenant, unknown", flowtest.Submit(t, b, tenantPage, url.Values{"tenant": {"initech"}}), http.StatusBadRequest, say("tenant.choose"))

	// Consent: the client's logo and home page, the tenant, the scopes
	// grouped and described (the host's for assets:read).
	consent := flowtest.Follow(t, b, flowtest.Submit(t, b, tenantPage, url.Values{"tenant": {"acme"}}))
	g.page("consent", consent, http.StatusOK, say("consent.title"), say("consent.heading", "Portal"), say("consent.logo-alt", "Portal"),
		say("consent.client-uri", "Portal"), strong("consent.signed-in-tenant", "alice", "Acme Corp"), say("consent.will-be-allowed", "Portal"),
		say("scope-group.identity"), say("scope.openid"), say("scope.customer"), say("scope-group.assets"), say("scope.assets:read"),
		say("scope-group.offline"), say("scope.offline_access"), say("consent.allow"), say("consent.deny"))
	g.page("consent, no decision", flowtest.Submit(t, b, consent, url.Values{"decision": {"maybe"}}), http.StatusOK, say("consent.choose"))
	back := flowtest.Submit(t, b, consent, url.Values{"decision": {"allow"}}).Location(t)
	tok, err := cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	idToken, _ := tok.Extra("id_token").(string)
	require.NotEmpty(t, idToken)

	// The account pages.
	accountInGerman(t, g, accept)

	// Logout: the confirmation, then signed out.
	confirm := flowtest.Get(t, b, a.url("/oauth2/logout"))
	g.page("logout", confirm, http.StatusOK, say("logout.title"), say("logout.question"), say("logout.submit"))
	g.page("logged out", flowtest.Submit(t, b, confirm, nil), http.StatusOK, say("logout.done-title"), say("logout.done"))
	logoutErr := func(q url.Values) flowtest.Page { return flowtest.Get(t, b, a.url("/oauth2/logout?"+q.Encode())) }
	g.page("logout, bad hint", logoutErr(url.Values{"id_token_hint": {"not-a-token"}}), http.StatusBadRequest, say("error.title"), say("logout.bad-hint"))
	g.page("logout, hint for another client", logoutErr(url.Values{"id_token_hint": {idToken}, "client_id": {a.spa.ID}}), http.StatusBadRequest, say("logout.client-mismatch"))
	g.page("logout, no client", logoutErr(url.Values{"post_logout_redirect_uri": {"https://portal.example/bye"}}), http.StatusBadRequest, say("logout.needs-client"))
	g.page("logout, unregistered target", logoutErr(url.Values{"client_id": {a.portal.ID}, "post_logout_redirect_uri": {"https://portal.example/bye"}}), http.StatusBadRequest, say("logout.unregistered-redirect"))

	// The provider's own error pages.
	g.page("no flow", flowtest.Get(t, b, a.url("/oauth2/interaction")), http.StatusBadRequest, say("error.title"), say("error.flow-missing"))
	g.page("unknown flow", flowtest.Get(t, b, a.url("/oauth2/interaction?flow=unknown")), http.StatusBadRequest, say("error.flow-expired"))
	start := flowtest.Get(t, b, authURL).Location(t)
	g.page("another browser", flowtest.Get(t, browserIn(t, accept), start.String()), http.StatusForbidden, say("error.other-browser"))
	g.page("forged form", flowtest.Post(t, b, start.String(), url.Values{"csrf_token": {"forged"}, "step": {"login"}}), http.StatusForbidden, say("error.csrf"))
	g.page("too long", flowtest.Get(t, b, authURL+"&state="+strings.Repeat("x", 9000)), http.StatusRequestURITooLong, say("error.too-long", "8"))
	g.page("repeated", flowtest.Get(t, b, a.url("/oauth2/authorize?client_id=a&client_id=b")), http.StatusBadRequest, say("error.repeated-param", "client_id"))
	g.page("method", do(t, b, http.MethodPut, a.url("/oauth2/authorize"), ""), http.StatusMethodNotAllowed, say("error.method"))
	g.page("unreadable", do(t, b, http.MethodPost, start.String(), "a=%zz"), http.StatusBadRequest, say("error.unreadable"))
	g.page("too large", do(t, b, http.MethodPost, start.String(), "a="+strings.Repeat("x", 70<<10)), http.StatusRequestEntityTooLarge, say("error.too-large"))
	unknown := a.oauth2Config(storage.Client{ID: "nobody"}, "", webRedirect, "openid").AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))
	protocol := flowtest.Get(t, b, unknown)
	g.page("protocol error", protocol, http.StatusUnauthorized, say("error.title"), say("error.invalid_client"), say("error.details"))
	assert.Regexp(t, `<p lang="en"><code>invalid_client</code>: .*Client authentication failed`, protocol.Body, "the protocol's description, for developers, marked English")

	// Too many flows, an unavailable store, a template that fails.
	lim := newEnv(t, func(c *provider.Config) { c.FlowLimits.PerAddress = 1 })
	lb := browserIn(t, accept)
	limURL := lim.oauth2Config(lim.spa, "", spaRedirect, "openid").AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))
	require.Equal(t, http.StatusSeeOther, flowtest.Get(t, lb, limURL).Status)
	g.page("too many flows", flowtest.Get(t, lb, limURL), http.StatusTooManyRequests, say("error.too-many-flows"))

	down := &flakyFlowStore{Store: memory.New()}
	de := newEnvOn(t, down)
	db := browserIn(t, accept)
	flowURL := flowtest.Get(t, db, de.oauth2Config(de.spa, "", spaRedirect, "openid").AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))).Location(t)
	down.fail.Store(true)
	g.page("store down", flowtest.Get(t, db, flowURL.String()), http.StatusServiceUnavailable, say("error.unavailable"))

	broken := provider.BuiltinTemplates()
	template.Must(broken.Parse(`{{define "login"}}{{.NoSuchField}}{{end}}`))
	re := newEnv(t, func(c *provider.Config) { c.Templates = broken })
	rb := browserIn(t, accept)
	failed := flowtest.Follow(t, rb, flowtest.Get(t, rb, re.oauth2Config(re.spa, "", spaRedirect, "openid").AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))))
	g.page("template fails", failed, http.StatusInternalServerError, say("page.render-failed"))

	for _, id := range provider.ShownMessageIDs(t) {
		switch {
		case strings.HasPrefix(id, "duration."), id == "error.default":
			continue // TestWaitLocalized, TestProtocolErrorWithoutMessage
		}
		assert.True(t, g.seen[id], "message %q was not checked on any page", id)
	}
}

// do sends a request with a form body (or none) from browser b.
func do(t *testing.T, b *http.Client, method, u, body string) flowtest.Page {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return flowtest.Page{URL: resp.Request.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(got)}
}

// flakyFlowStore fails GetAuthFlow while fail is set.
type flakyFlowStore struct {
	storage.Store
	fail atomic.Bool
}

func (s *flakyFlowStore) GetAuthFlow(ctx context.Context, id string) (storage.AuthFlow, error) {
	if s.fail.Load() {
		return storage.AuthFlow{}, errors.New("database down")
	}
	return s.Store.GetAuthFlow(ctx, id)
}

// A host's template receives every field of PageData the consent page
// sets, and the text in the page's language.
func TestTemplateReceivesPageData(t *testing.T) {
	tmpl := provider.BuiltinTemplates()
	template.Must(tmpl.Parse(`{{define "consent"}}<html lang="{{.Lang}}">
title={{.Title}}
client={{.ClientID}}|{{.ClientName}}|{{.ClientLogoURI}}|{{.ClientURI}}
user={{.Subject}}|{{.Username}}|{{.SignedInAs}}
tenant={{.Tenant.ID}}|{{.TenantName}}
scopes={{range .Scopes}}{{.}} {{end}}
groups={{range .ScopeGroups}}[{{.ID}}:{{.Title}}:{{range .Scopes}}{{.Name}}={{.Description}};{{end}}]{{end}}
form={{.Step}}|{{if .CSRF}}csrf{{end}}|{{if .Action}}action{{end}}
t={{.T "consent.heading" .ClientName}}
strong={{.Strong "consent.signed-in-tenant" .SignedInAs .TenantName}}
{{end}}`))
	a := newACEnv(t, func(c *provider.Config) {
		c.Templates = tmpl
		c.Messages = hostMessages
	})
	_, err := a.p.UpdateClient(context.Background(), a.spa.ID, func(c storage.Client) (storage.Client, error) {
		c.Name, c.LogoURI, c.ClientURI = "Acme <App>", "https://acme.example/logo.svg", "https://acme.example/"
		return c, nil
	})
	require.NoError(t, err)
	b := browserIn(t, "de")
	cfg := a.oauth2Config(a.spa, "", spaRedirect, "openid", "customer", "offline_access", "assets:read", "assets:write", "registry:read")
	page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	page = flowtest.Follow(t, b, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	require.Contains(t, page.Body, `name="otp"`)
	page = flowtest.Follow(t, b, flowtest.Submit(t, b, page, url.Values{"otp": {a.code()}}))
	assert.Equal(t, `<html lang="de">
title=Zugriff erlauben
client=acme-spa|Acme &lt;App&gt;|https://acme.example/logo.svg|https://acme.example/
user=sub-alice|alice|alice
tenant=acme|Acme Corp
scopes=openid customer offline_access assets:read assets:write registry:read 
groups=[identity:Ihr Konto:openid=Ihre Identität bestätigen;customer=Sehen, für welchen Kunden Sie handeln;][assets:Anlagen:assets:read=Ihre Anlagen lesen;assets:write=;][registry:registry:registry:read=;][offline:Dauerhafter Zugriff:offline_access=Zugriff behalten, während Sie die Anwendung nicht nutzen;]
form=consent|csrf|action
t=Acme &lt;App&gt; möchte auf Ihr Konto zugreifen
strong=Angemeldet als <strong>alice</strong> für <strong>Acme Corp</strong>.
`, page.Body)
	assert.Equal(t, "default-src 'none'; img-src https://acme.example; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
		page.Header.Get("Content-Security-Policy"), "the consent page may show the client's logo")
}

// The pages' Content-Security-Policy: nothing but inline styles by
// default; the host's sources added; never a script.
func TestPageContentSecurityPolicy(t *testing.T) {
	loginPage := func(e *env) flowtest.Page {
		b := flowtest.NewBrowser(t)
		return flowtest.Follow(t, b, flowtest.Get(t, b, e.oauth2Config(e.spa, "", spaRedirect, "openid").AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	}
	def := loginPage(newEnv(t))
	require.Contains(t, def.Body, `name="password"`)
	assert.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'", def.Header.Get("Content-Security-Policy"))
	assert.Equal(t, "DENY", def.Header.Get("X-Frame-Options"))

	host := loginPage(newEnv(t, func(c *provider.Config) {
		c.PageSources = provider.PageSources{
			Images: []string{"https://cdn.example.com", "data:"},
			Styles: []string{"https://cdn.example.com", "'self'"},
			Fonts:  []string{"https://*.fonts.example"},
		}
	}))
	assert.Equal(t, "default-src 'none'; img-src https://cdn.example.com data:; style-src 'unsafe-inline' https://cdn.example.com 'self'; font-src https://*.fonts.example; frame-ancestors 'none'; base-uri 'none'",
		host.Header.Get("Content-Security-Policy"))

	e := newEnv(t)
	b := flowtest.NewBrowser(t)
	errPage := flowtest.Get(t, b, e.url("/oauth2/interaction"))
	assert.Equal(t, http.StatusBadRequest, errPage.Status)
	assert.Equal(t, "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'", errPage.Header.Get("Content-Security-Policy"), "error pages too")
}

func TestPageSourcesConfig(t *testing.T) {
	cfg := func(s provider.PageSources) error {
		_, err := provider.New(provider.Config{Issuer: "http://127.0.0.1:9000", Store: memory.New(), Authenticator: userDB{}, PageSources: s})
		return err
	}
	for _, tc := range []struct {
		name  string
		s     provider.PageSources
		field string
	}{
		{"a script keyword", provider.PageSources{Styles: []string{"'unsafe-eval'"}}, "PageSources.Styles[0]"},
		{"two sources in one", provider.PageSources{Images: []string{"https://a.example https://b.example"}}, "PageSources.Images[0]"},
		{"a directive smuggled in", provider.PageSources{Images: []string{"https://a.example;script-src"}}, "PageSources.Images[0]"},
		{"everything", provider.PageSources{Fonts: []string{"*"}}, "PageSources.Fonts[0]"},
		{"plain http", provider.PageSources{Images: []string{"http://cdn.example"}}, "PageSources.Images[0]"},
		{"a path", provider.PageSources{Styles: []string{"https://cdn.example/css/"}}, "PageSources.Styles[0]"},
		{"data: for styles", provider.PageSources{Styles: []string{"data:"}}, "PageSources.Styles[0]"},
		{"a bad wildcard", provider.PageSources{Images: []string{"https://cdn.*.example"}}, "PageSources.Images[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ce *provider.ConfigError
			if assert.ErrorAs(t, cfg(tc.s), &ce) {
				assert.Equal(t, tc.field, ce.Field)
			}
		})
	}
	assert.NoError(t, cfg(provider.PageSources{
		Images: []string{"'self'", "data:", "https://cdn.example", "https://*.example.com", "http://127.0.0.1:8080"},
		Styles: []string{"https://cdn.example:8443/"}, Fonts: []string{"data:", "https://fonts.example"},
	}))
}

func TestMessagesConfig(t *testing.T) {
	cfg := func(m map[string]provider.Messages) error {
		_, err := provider.New(provider.Config{Issuer: "http://127.0.0.1:9000", Store: memory.New(), Authenticator: userDB{}, Messages: m})
		return err
	}
	for _, tc := range []struct {
		name   string
		m      map[string]provider.Messages
		reason string
	}{
		{"unknown ID", map[string]provider.Messages{"en": {"login.sbmit": "Go"}}, `unknown message ID "login.sbmit"`},
		{"a family without a name", map[string]provider.Messages{"en": {"scope.": "Everything"}}, `unknown message ID "scope."`},
		{"missing argument", map[string]provider.Messages{"fr": {"login.heading": "Connexion"}}, `"login.heading" must take the arguments`},
		{"extra argument", map[string]provider.Messages{"fr": {"login.title": "Connexion"}, "de": {"tenant.question": "Für %s oder %s?"}}, `"tenant.question" must take the arguments`},
		{"not a string verb", map[string]provider.Messages{"de": {"login.heading": "Anmelden bei %d"}}, `"login.heading" must take the arguments`},
		{"empty", map[string]provider.Messages{"de": {"login.submit": " "}}, `"login.submit" is empty`},
		{"bad tag", map[string]provider.Messages{"de_DE": {"login.submit": "Los"}}, "BCP 47"},
		{"same tag twice", map[string]provider.Messages{"de": {}, "DE": {}}, "the same language"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cfg(tc.m)
			var ce *provider.ConfigError
			require.ErrorAs(t, err, &ce)
			assert.True(t, strings.HasPrefix(ce.Field, "Messages["), ce.Field)
			assert.Contains(t, err.Error(), tc.reason)
		})
	}
	assert.NoError(t, cfg(map[string]provider.Messages{
		"en":    {"login.submit": "Log in", "scope.assets:read": "Read your assets", "factor.sms": "Text message", "error.slow_down": "Slow down."},
		"de-CH": {"login.heading": "Bei %s anmelden", "tenant.question": "Für wen handelt %[1]s?"},
		"fr":    {"login.title": "Connexion", "page.signed-in-as": "Connecté en tant que %s (100 %%)."},
	}))
}

// A client's logo and home page must be https URLs (http on loopback),
// like its redirect URIs: the consent page loads the one and links the
// other.
func TestClientDisplayURIs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name, logo, home, field string
	}{
		{"javascript link", "", "javascript:alert(1)", "ClientURI"},
		{"data image", "data:image/png;base64,AAAA", "", "LogoURI"},
		{"plain http", "http://app.example/logo.png", "", "LogoURI"},
		{"relative", "", "/home", "ClientURI"},
		{"user information", "https://user:pw@app.example/logo.png", "", "LogoURI"},
		{"spaces", "", "https://app.example/a b", "ClientURI"},
		{"too long", "https://app.example/" + strings.Repeat("x", 2048), "", "LogoURI"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.p.CreateClient(ctx, storage.Client{ID: "c-" + strings.ReplaceAll(tc.name, " ", "-"), Public: true,
				RedirectURIs: []string{"https://app.example/cb"}, LogoURI: tc.logo, ClientURI: tc.home})
			var ce *provider.ClientError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
	c, _, err := e.p.CreateClient(ctx, storage.Client{ID: "ok", Public: true, RedirectURIs: []string{"https://app.example/cb"},
		LogoURI: "https://cdn.app.example/logo.svg?v=3", ClientURI: "http://127.0.0.1:3000/"})
	require.NoError(t, err)
	assert.Equal(t, "https://cdn.app.example/logo.svg?v=3", c.LogoURI)
	assert.Equal(t, "http://127.0.0.1:3000/", c.ClientURI)
	_, err = e.p.UpdateClient(ctx, "ok", func(c storage.Client) (storage.Client, error) {
		c.ClientURI = "ftp://app.example/"
		return c, nil
	})
	var ce *provider.ClientError
	require.ErrorAs(t, err, &ce, "an update is checked too")
	assert.Equal(t, "ClientURI", ce.Field)
}

// The English pages show the scopes' descriptions in English, the host's
// included, and the raw name of a scope without one.
func TestConsentScopesInEnglish(t *testing.T) {
	a := newACEnv(t, func(c *provider.Config) { c.Messages = hostMessages })
	b := flowtest.NewBrowser(t)
	cfg := a.oauth2Config(a.spa, "", spaRedirect, "openid", "assets:read", "assets:write", "registry:read")
	page := flowtest.Follow(t, b, flowtest.Get(t, b, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	page = flowtest.Follow(t, b, flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}}))
	page = flowtest.Follow(t, b, flowtest.Submit(t, b, page, url.Values{"otp": {a.code()}}))
	require.Contains(t, page.Body, `name="decision"`)
	assert.Contains(t, page.Body, `<html lang="en">`)
	for _, want := range []string{
		`<h2>Your account</h2>`, `<li data-scope="openid">Confirm who you are</li>`,
		`<h2>Assets</h2>`, `<li data-scope="assets:read">Read your assets</li>`, `<li data-scope="assets:write"><code>assets:write</code></li>`,
		`<h2>registry</h2>`, `<li data-scope="registry:read"><code>registry:read</code></li>`,
		`Signed in as <strong>alice</strong> for <strong>Acme Corp</strong>.`,
	} {
		assert.Contains(t, page.Body, want)
	}
	assert.Less(t, strings.Index(page.Body, "Your account"), strings.Index(page.Body, "Assets"), "the user's claims first")
	assert.Less(t, strings.Index(page.Body, "Assets"), strings.Index(page.Body, "registry"), "then the permissions' groups by ID")
}
