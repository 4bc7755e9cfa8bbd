package provider

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
)

//go:embed templates/*.html
var templateFS embed.FS

// requiredTemplates are the pages a Config.Templates override must define.
var requiredTemplates = []string{"login", "consent", "logout", "error", "mfa", "tenant"}

// accountTemplates are the pages of templates/account.html, which a
// Config.Templates override may define (all of them) or leave to the
// built-in ones (none of them).
var accountTemplates = []string{"account-apps", "account-security", "mfa-enroll", "mfa-recovery"}

// BuiltinTemplates returns a new copy of the built-in page templates
// (provider/templates): "login", "mfa", "tenant", "consent", "logout" and
// "error", the account pages "account-apps" and "account-security", and
// "mfa-enroll" and "mfa-recovery" (setting up a second factor during an
// authorization), each executed with a [PageData], and the blocks they share,
// "head" (from <!doctype html> to the opening <main>) and "foot". A host
// that wants its own look redefines some of them in the copy and passes it
// as Config.Templates:
//
//	t := provider.BuiltinTemplates()
//	template.Must(t.Parse(`{{define "head"}}...{{end}}`))
//
// The copy is the host's to change; each call parses anew.
func BuiltinTemplates() *template.Template {
	return template.Must(template.ParseFS(templateFS, "templates/*.html"))
}

func (p *Provider) templates() (*template.Template, error) {
	t := p.cfg.Templates
	if t == nil {
		t = BuiltinTemplates()
	}
	for _, name := range requiredTemplates {
		if t.Lookup(name) == nil {
			return nil, &ConfigError{Field: "Templates", Reason: fmt.Sprintf("must define the template %q", name)}
		}
	}
	defined := 0
	for _, name := range accountTemplates {
		if t.Lookup(name) != nil {
			defined++
		}
	}
	switch defined {
	case len(accountTemplates):
	case 0:
		// The built-in account pages, in the host's layout.
		c, err := t.Clone()
		if err == nil {
			_, err = c.ParseFS(templateFS, "templates/account.html")
		}
		if err != nil {
			return nil, &ConfigError{Field: "Templates", Reason: fmt.Sprintf("cannot add the built-in account pages: %v", err)}
		}
		t = c
	default:
		return nil, &ConfigError{Field: "Templates", Reason: fmt.Sprintf("defines some of the account pages' templates %q but not all; define all or none", accountTemplates)}
	}
	return t, nil
}

// PageData is what every page template receives (see [BuiltinTemplates]
// and Config.Templates). Fields a page does not use are empty; each field
// says which pages set it. Text for the user comes in the page's language
// (Lang): the fields the provider fills with text, and the methods
// [PageData.T] and [PageData.Strong] for a template's own.
type PageData struct {
	// Title is the page's title, in the page's language (every page).
	Title string
	// Lang is the page's language, a BCP 47 tag such as "en" or "de": the
	// catalogue its text comes from (see Config.Messages), for
	// <html lang="..."> (every page).
	Lang string
	// Action is the URL the page's form posts to: the interaction endpoint
	// with the flow's handle (login, mfa, tenant, consent) or the logout
	// endpoint (logout, before it is confirmed).
	Action string
	// CSRF is the value of the form's hidden field csrf_token, which the
	// form must send back (login, mfa, tenant, consent, logout).
	CSRF string
	// Step is the value of the form's hidden field "step": which step the
	// form submits, "login", "mfa", "tenant" or "consent".
	Step string
	// Error is, on the login, mfa, tenant and consent pages, what was wrong
	// with the last submission (a wrong password, a missing choice), in the
	// page's language; empty when nothing was. On the error page, it is
	// the OAuth 2.0 error code, such as "invalid_request" or
	// "access_denied".
	Error string
	// Description is, on the error page, what went wrong and what to do,
	// for the user, in the page's language.
	Description string
	// Detail is, on the error page, the error_description the protocol
	// gives for the application's developer, in English; empty when
	// Description says it all.
	Detail string
	// ClientID is the client's client_id (login, mfa, tenant, consent).
	ClientID string
	// ClientName is the client's registered Name, or its ID when it has
	// none (login, mfa, tenant, consent).
	ClientName string
	// ClientLogoURI is the client's registered logo (storage.Client.LogoURI),
	// or empty (consent). The consent page's Content-Security-Policy allows
	// images from its origin.
	ClientLogoURI string
	// ClientURI is the client's registered home page
	// (storage.Client.ClientURI), or empty (consent).
	ClientURI string
	// Subject is the signed-in user's subject identifier (mfa, tenant,
	// consent).
	Subject string
	// Username is, on the login page, the username the user typed (to
	// show it again after a failed attempt); on the mfa, tenant and consent
	// pages, the signed-in user's username, if known.
	Username string
	// SignedInAs is the signed-in user as the page shows them: the
	// username, else the subject (mfa, tenant, consent).
	SignedInAs string
	// Scopes are the scopes the consent would grant, as requested (such as
	// "openid" and "assets:read") (consent).
	Scopes []string
	// ScopeGroups are the same scopes, grouped and described for the user
	// (consent).
	ScopeGroups []ScopeGroup
	// Factors are the names (mfa.Factor.Name) of the second factors the
	// user may use, in the provider's order; the form sends the chosen one
	// as "factor" (mfa). [PageData.FactorLabel] names one for the user.
	Factors []string
	// Tenant is the tenant the consent is given for, or nil (consent).
	Tenant *Tenant
	// TenantName is Tenant's Name, else its ID, or empty (consent).
	TenantName string
	// Tenants are the tenants the user may choose from; the form sends the
	// chosen one's ID as "tenant" (tenant).
	Tenants []Tenant
	// Params are the hidden fields of the logout confirmation, by name
	// (logout, before it is confirmed).
	Params map[string]string
	// Done is true on the logout page once the user is signed out.
	Done bool
	// Account is what the account pages show (account-apps,
	// account-security) and what setting up a second factor during an
	// authorization shows (mfa-enroll, mfa-recovery); nil on every other
	// page.
	Account *AccountPage

	// cat is the catalogue of Lang.
	cat *catalogue
}

// T returns the message id of the page's catalogue (Config.Messages) in
// the page's language, with args formatted into it (see [Messages]); an ID
// the catalogue lacks comes back as it is. In a template:
//
//	{{.T "login.heading" .ClientName}}
func (d PageData) T(id string, args ...any) string {
	if d.cat == nil {
		return id
	}
	return d.cat.format(id, args...)
}

// Strong is [PageData.T] for text with markup: the message and its
// arguments are escaped, and each argument is set in <strong>. In a
// template:
//
//	{{.Strong "page.signed-in-as" .SignedInAs}}
func (d PageData) Strong(id string, args ...any) template.HTML {
	text := id
	if d.cat != nil {
		text = d.cat.text(id)
	}
	text = html.EscapeString(text)
	if len(args) == 0 {
		return template.HTML(text)
	}
	strs := d.cat.strings(args)
	for i, a := range strs {
		strs[i] = "<strong>" + html.EscapeString(a.(string)) + "</strong>"
	}
	return template.HTML(fmt.Sprintf(text, strs...))
}

// FactorLabel names the second factor called name for the user: the
// catalogue's "factor.<name>" ("Authenticator app" for "totp"), else name.
func (d PageData) FactorLabel(name string) string {
	if d.cat != nil {
		if t, ok := d.cat.lookup(factorKeyPrefix + name); ok {
			return t
		}
	}
	return name
}

// ScopeGroup is a heading of the consent page and the scopes under it.
type ScopeGroup struct {
	// ID names the group: "identity" for the OpenID Connect scopes that
	// share the user's claims (openid, profile, email, ... and
	// Config.Claims); "offline" for offline_access; for a permission, the
	// part before its first colon ("assets" for "assets:read"); "other"
	// for a permission without one.
	ID string
	// Title is the group's heading in the page's language: the catalogue's
	// "scope-group.<ID>", else ID.
	Title string
	// Scopes are the group's scopes, in the order requested.
	Scopes []ScopeInfo
}

// ScopeInfo is one scope on the consent page.
type ScopeInfo struct {
	// Name is the scope, such as "assets:read".
	Name string
	// Description is what the scope allows, for the user, in the page's
	// language: the catalogue's "scope.<Name>" ("Read your assets"); empty
	// when the catalogue has none, and the page then shows Name.
	Description string
}

// page returns the page data every page starts from: its language, from
// r and the ui_locales of the request it serves (see catalogues.forRequest),
// and its title.
func (p *Provider) page(r *http.Request, uiLocales string, title msgID) PageData {
	c := p.catalogues.forRequest(r, uiLocales)
	return PageData{Title: c.text(title.key), Lang: c.lang, cat: c}
}

// setPageHeaders sets the headers every HTML page of the provider carries:
// no framing (RFC 9700 §4.16), no referrer leaking the query, no caching,
// and csp as the Content-Security-Policy.
func setPageHeaders(h http.Header, csp string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// render executes a page template into a buffer first, so a template error
// never leaves a half-written page.
func (p *Provider) render(w http.ResponseWriter, status int, name string, data PageData) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		p.cfg.Logger.Error("provider: render page", "template", name, "error", err)
		setPageHeaders(w.Header(), p.csp.policy())
		w.WriteHeader(http.StatusInternalServerError)
		lang, text := "en", "The page could not be shown."
		if data.cat != nil {
			lang, text = data.cat.lang, data.cat.text(msgRenderFailed.key)
		}
		_, _ = fmt.Fprintf(w, "<!doctype html><html lang=\"%s\"><title>%s</title><p>%s</p>",
			html.EscapeString(lang), html.EscapeString(text), html.EscapeString(text))
		return
	}
	logos := []string{data.ClientLogoURI}
	if data.Account != nil {
		for _, a := range data.Account.Apps {
			logos = append(logos, a.LogoURI)
		}
	}
	setPageHeaders(w.Header(), p.csp.policy(logos...))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows an error page of the provider's own, which is never a
// redirect: code is the OAuth 2.0 error code, m says what went wrong. Its
// language follows r's ui_locales parameter (authorization and logout
// requests), if r's form has been parsed, then Accept-Language.
func (p *Provider) renderError(w http.ResponseWriter, r *http.Request, status int, code string, m message) {
	noteError(w, code)
	uiLocales := ""
	if r.Form != nil {
		uiLocales = r.Form.Get("ui_locales")
	}
	pd := p.page(r, uiLocales, msgErrorTitle)
	pd.Error = code
	pd.Description = pd.cat.render(m)
	p.render(w, status, "error", pd)
}

// renderProtocolError shows the error a of an authorization request that
// cannot be redirected: for the user, what its code means in the page's
// language ("error.<code>"), and the protocol's description for the
// application's developer.
func (p *Provider) renderProtocolError(w http.ResponseWriter, r *http.Request, uiLocales string, a oauth.Answer) {
	noteError(w, a.Code)
	pd := p.page(r, uiLocales, msgErrorTitle)
	pd.Error = a.Code
	if t, ok := pd.cat.lookup(errorKeyPrefix + a.Code); ok {
		pd.Description = t
	} else {
		pd.Description = pd.cat.text(msgErrorDefault.key)
	}
	pd.Detail = a.Description
	p.render(w, a.Status, "error", pd)
}

// maxAuthorizeRequest caps an authorization request's query, its body, and
// its decoded parameters together. Real requests fit in a few hundred bytes
// (an id_token_hint in one or two KiB); anything larger is junk, which
// would cost memory to parse and, in a stored parameter such as state,
// storage for the flow's lifetime.
const maxAuthorizeRequest = 8 << 10

// parsePageRequest accepts GET and POST, caps the body at
// Config.MaxBodyBytes, parses the form, and refuses repeated parameters
// (RFC 6749 §3.1), answering with an error page. It returns false when it
// has written the answer.
func (p *Provider) parsePageRequest(w http.ResponseWriter, r *http.Request) bool {
	return p.parsePage(w, r, p.cfg.MaxBodyBytes, false)
}

// parseAuthorizeRequest is parsePageRequest for the authorization
// endpoint: a query or body over maxAuthorizeRequest (or a body over a
// smaller Config.MaxBodyBytes), or parameters totalling more, are refused
// with 414 and an error page (never a redirect). 414 also for a body: a POSTed authorization request is the
// form serialisation of the URI a GET would carry (OpenID Connect Core 1.0
// §3.1.2.1).
func (p *Provider) parseAuthorizeRequest(w http.ResponseWriter, r *http.Request) bool {
	if len(r.URL.RawQuery) > maxAuthorizeRequest {
		p.renderTooLong(w, r)
		return false
	}
	return p.parsePage(w, r, min(p.cfg.MaxBodyBytes, maxAuthorizeRequest), true)
}

func (p *Provider) renderTooLong(w http.ResponseWriter, r *http.Request) {
	p.renderError(w, r, http.StatusRequestURITooLong, "invalid_request", msg(msgErrorTooLong, strconv.Itoa(maxAuthorizeRequest>>10)))
}

// parsePage does the work of parsePageRequest, with bodies capped at
// maxBody; authorize selects parseAuthorizeRequest's answers and its cap on
// the parameters.
func (p *Provider) parsePage(w http.ResponseWriter, r *http.Request, maxBody int64, authorize bool) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.renderError(w, r, http.StatusMethodNotAllowed, "invalid_request", msg(msgErrorMethod))
		return false
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe) && authorize:
			p.renderTooLong(w, r)
		case errors.As(err, &mbe):
			p.renderError(w, r, http.StatusRequestEntityTooLarge, "invalid_request", msg(msgErrorTooLarge))
		default:
			p.renderError(w, r, http.StatusBadRequest, "invalid_request", msg(msgErrorUnreadable))
		}
		return false
	}
	size := 0
	for k, v := range r.Form {
		if len(v) > 1 {
			p.renderError(w, r, http.StatusBadRequest, "invalid_request", msg(msgErrorRepeated, k))
			return false
		}
		size += len(k)
		for _, x := range v {
			size += len(x)
		}
	}
	if authorize && size > maxAuthorizeRequest {
		p.renderTooLong(w, r)
		return false
	}
	return true
}

// uiLocalesOf returns the ui_locales of a validated authorization request,
// or "".
func uiLocalesOf(ar *oauth.AuthorizeRequest) string {
	if ar == nil {
		return ""
	}
	return strings.TrimSpace(ar.Form().Get("ui_locales"))
}
