package provider

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

// requiredTemplates are the pages a Config.Templates override must define.
var requiredTemplates = []string{"login", "consent", "logout", "error"}

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
