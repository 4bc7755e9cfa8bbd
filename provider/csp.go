package provider

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// PageSources are the sources, besides the pages' own inline styles, that
// the provider's HTML pages may load images, stylesheets and fonts from:
// a host's logo, stylesheet or web fonts in its own templates
// (Config.Templates). They are added to the pages'
// Content-Security-Policy, which otherwise allows nothing but inline
// styles (default-src 'none'). Scripts are never allowed, from anywhere:
// the pages need none, and a page that asks for a password must not run
// code from elsewhere.
//
// Each entry is an origin (https://cdn.example.com, https://*.example.com
// for its subdomains, http only on a loopback host) or the keyword
// 'self' (the provider's own origin); Images and Fonts may also list
// "data:". The consent page also allows images from the origin of the
// client's LogoURI.
type PageSources struct {
	// Images are added to img-src.
	Images []string
	// Styles are added to style-src, after 'unsafe-inline'.
	Styles []string
	// Fonts are added to font-src.
	Fonts []string
}

// pagePolicy builds the pages' Content-Security-Policy.
type pagePolicy struct {
	images, styles, fonts string // the sources of PageSources, space-joined
}

func newPagePolicy(s PageSources) pagePolicy {
	return pagePolicy{
		images: strings.Join(s.Images, " "),
		styles: strings.Join(s.Styles, " "),
		fonts:  strings.Join(s.Fonts, " "),
	}
}

// policy returns the Content-Security-Policy of a page that shows the
// logos at logoURIs ("" for none): nothing may load but inline styles and
// the sources of Config.PageSources, plus, for each logo, images from its
// origin; no framing, no <base>.
func (pp pagePolicy) policy(logoURIs ...string) string {
	images := pp.images
	for _, logoURI := range logoURIs {
		if logoURI == "" {
			continue
		}
		if o, ok := originOf(logoURI); ok && !slices.Contains(strings.Fields(images), o) {
			images = strings.TrimSpace(images + " " + o)
		}
	}
	var b strings.Builder
	b.WriteString("default-src 'none'")
	if images != "" {
		b.WriteString("; img-src " + images)
	}
	b.WriteString("; style-src 'unsafe-inline'")
	if pp.styles != "" {
		b.WriteString(" " + pp.styles)
	}
	if pp.fonts != "" {
		b.WriteString("; font-src " + pp.fonts)
	}
	b.WriteString("; frame-ancestors 'none'; base-uri 'none'")
	return b.String()
}

// checkPageSources reports the invalid entries of Config.PageSources.
func (c *Config) checkPageSources(e *configErrors) {
	for _, f := range []struct {
		name    string
		sources []string
		data    bool
	}{
		{"Images", c.PageSources.Images, true},
		{"Styles", c.PageSources.Styles, false},
		{"Fonts", c.PageSources.Fonts, true},
	} {
		for i, s := range f.sources {
			if msg := checkPageSource(s, f.data); msg != "" {
				e.bad(fmt.Sprintf("PageSources.%s[%d]", f.name, i), "%s", msg)
			}
		}
	}
}

// checkPageSource says what is wrong with a PageSources entry, or "".
func checkPageSource(s string, data bool) string {
	switch {
	case s == "'self'":
		return ""
	case s == "data:" && data:
		return ""
	case s == "data:":
		return `"data:" is allowed for images and fonts only`
	case strings.ContainsAny(s, " \t\n;,'\""):
		return fmt.Sprintf("%q must be one origin or 'self', without spaces, quotes, commas or semicolons", s)
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Sprintf("%q is not an origin: want scheme://host[:port], such as https://cdn.example.com", s)
	}
	host := u.Hostname()
	if strings.Contains(host, "*") && (!strings.HasPrefix(host, "*.") || strings.Count(host, "*") > 1 || len(host) < 3) {
		return fmt.Sprintf("%q: a wildcard may only stand for subdomains (https://*.example.com)", s)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(host)) {
		return fmt.Sprintf("%q must use https (http only on a loopback host)", s)
	}
	return ""
}
