package provider

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

// requiredTemplates are the pages a Config.Templates override must define.
var requiredTemplates = []string{"login", "consent", "logout", "error", "mfa", "tenant"}

func (p *Provider) templates() (*template.Template, error) {
	t := p.cfg.Templates
	if t == nil {
		var err error
		t, err = template.ParseFS(templateFS, "templates/*.html")
		if err != nil {
			return nil, fmt.Errorf("provider: parse built-in templates: %w", err)
		}
	}
	for _, name := range requiredTemplates {
		if t.Lookup(name) == nil {
			return nil, &ConfigError{Field: "Templates", Reason: fmt.Sprintf("must define the template %q", name)}
		}
	}
	return t, nil
}

// pageData is what every page template receives; fields a page does not
// use are empty.
type pageData struct {
	Title       string
	Action      string
	CSRF        string
	Step        string
	Error       string
	Description string
	ClientName  string
	Subject     string
	Username    string
	Scopes      []string
	Factors     []string
	Tenant      *Tenant
	Tenants     []Tenant
	Params      map[string]string
	Done        bool
}

// setPageHeaders sets the headers every HTML page of the provider carries:
// no framing (RFC 9700 §4.16), no referrer leaking the query, no caching.
func setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// render executes a page template into a buffer first, so a template error
// never leaves a half-written page.
func (p *Provider) render(w http.ResponseWriter, status int, name string, data pageData) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		p.cfg.Logger.Error("provider: render page", "template", name, "error", err)
		setPageHeaders(w.Header())
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<!doctype html><title>Error</title><p>The page could not be shown.</p>"))
		return
	}
	setPageHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows an error page that is never a redirect.
func (p *Provider) renderError(w http.ResponseWriter, status int, code, description string) {
	p.render(w, status, "error", pageData{Title: "Request refused", Error: code, Description: description})
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
		p.renderTooLong(w)
		return false
	}
	return p.parsePage(w, r, min(p.cfg.MaxBodyBytes, maxAuthorizeRequest), true)
}

func (p *Provider) renderTooLong(w http.ResponseWriter) {
	p.renderError(w, http.StatusRequestURITooLong, "invalid_request",
		fmt.Sprintf("The authorization request is longer than the %d KiB the server accepts; send only the standard parameters.", maxAuthorizeRequest>>10))
}

// parsePage does the work of parsePageRequest, with bodies capped at
// maxBody; authorize selects parseAuthorizeRequest's answers and its cap on
// the parameters.
func (p *Provider) parsePage(w http.ResponseWriter, r *http.Request, maxBody int64, authorize bool) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		p.renderError(w, http.StatusMethodNotAllowed, "invalid_request", "Use GET or POST.")
		return false
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe) && authorize:
			p.renderTooLong(w)
		case errors.As(err, &mbe):
			p.renderError(w, http.StatusRequestEntityTooLarge, "invalid_request", "The request is larger than the server accepts.")
		default:
			p.renderError(w, http.StatusBadRequest, "invalid_request", "The request could not be read.")
		}
		return false
	}
	size := 0
	for k, v := range r.Form {
		if len(v) > 1 {
			p.renderError(w, http.StatusBadRequest, "invalid_request", "The parameter '"+k+"' must not be included more than once.")
			return false
		}
		size += len(k)
		for _, x := range v {
			size += len(x)
		}
	}
	if authorize && size > maxAuthorizeRequest {
		p.renderTooLong(w)
		return false
	}
	return true
}
