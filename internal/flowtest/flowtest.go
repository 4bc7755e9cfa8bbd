// Package flowtest drives Gatehouse's HTML login and consent pages the way a
// browser does, for end-to-end tests: it fetches a page, reads its form
// (action and hidden fields) and posts it back with a cookie jar.
package flowtest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// NewBrowser returns an HTTP client with a cookie jar that does not follow
// redirects, so a test sees each one.
func NewBrowser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Page is a fetched HTML page.
type Page struct {
	URL    *url.URL
	Status int
	Header http.Header
	Body   string
}

// Form is the first form of a page.
type Form struct {
	Action string
	Fields url.Values
}

var (
	formRe   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
)

// Form returns the page's first form, or fails the test.
func (p Page) Form(t testing.TB) Form {
	t.Helper()
	m := formRe.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("flowtest: no form on page %s (status %d):\n%s", p.URL, p.Status, p.Body)
	}
	f := Form{Action: html.UnescapeString(m[1]), Fields: url.Values{}}
	for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
		f.Fields.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	return f
}

// Get fetches u.
func Get(t testing.TB, c *http.Client, u string) Page {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("flowtest: GET %s: %v", u, err)
	}
	return read(t, resp)
}

// Submit posts the form with its hidden fields plus extra, resolving the
// action against the page's URL.
func Submit(t testing.TB, c *http.Client, p Page, extra url.Values) Page {
	t.Helper()
	f := p.Form(t)
	vals := url.Values{}
	for k, v := range f.Fields {
		vals[k] = v
	}
	for k, v := range extra {
		vals[k] = v
	}
	return Post(t, c, p.URL.ResolveReference(mustParse(t, f.Action)).String(), vals)
}

// Post posts a form to u.
func Post(t testing.TB, c *http.Client, u string, vals url.Values) Page {
	t.Helper()
	resp, err := c.Post(u, "application/x-www-form-urlencoded", strings.NewReader(vals.Encode()))
	if err != nil {
		t.Fatalf("flowtest: POST %s: %v", u, err)
	}
	return read(t, resp)
}

// Follow fetches the Location of a redirect page.
func Follow(t testing.TB, c *http.Client, p Page) Page {
	t.Helper()
	loc := p.Location(t)
	return Get(t, c, loc.String())
}

// Location returns the redirect target of p, or fails the test.
func (p Page) Location(t testing.TB) *url.URL {
	t.Helper()
	if p.Status < 300 || p.Status > 399 {
		t.Fatalf("flowtest: %s: want a redirect, got %d:\n%s", p.URL, p.Status, p.Body)
	}
	return p.URL.ResolveReference(mustParse(t, p.Header.Get("Location")))
}

func read(t testing.TB, resp *http.Response) Page {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("flowtest: read body: %v", err)
	}
	return Page{URL: resp.Request.URL, Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

func mustParse(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("flowtest: parse URL %q: %v", s, err)
	}
	return u
}

// FormWith returns the page's first form with the hidden field name set to
// value (one of several forms, such as the revoke button of one app), or
// fails the test.
func (p Page) FormWith(t testing.TB, name, value string) Form {
	t.Helper()
	for _, m := range formRe.FindAllStringSubmatch(p.Body, -1) {
		f := Form{Action: html.UnescapeString(m[1]), Fields: url.Values{}}
		for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
			f.Fields.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
		}
		if f.Fields.Get(name) == value {
			return f
		}
	}
	t.Fatalf("flowtest: no form with %s=%q on page %s (status %d):\n%s", name, value, p.URL, p.Status, p.Body)
	return Form{}
}

// SubmitForm posts form f of page p with its hidden fields plus extra, as
// Submit does for the first form.
func SubmitForm(t testing.TB, c *http.Client, p Page, f Form, extra url.Values) Page {
	t.Helper()
	vals := url.Values{}
	for k, v := range f.Fields {
		vals[k] = v
	}
	for k, v := range extra {
		vals[k] = v
	}
	return Post(t, c, p.URL.ResolveReference(mustParse(t, f.Action)).String(), vals)
}
