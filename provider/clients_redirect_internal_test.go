package provider

import (
	"context"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
)

// FuzzCheckRedirectURI checks what client registration accepts as a
// redirect URI: fosite's own checks at the authorization endpoint accept it
// too (IsValidRedirectURI, and redirectURISecure as its
// RedirectSecureChecker), so a registered URI never fails only once a user
// has signed in; fosite redirects to the URI as registered; a confidential
// client gets no URI a public one would not; only http, https and, for
// public clients, RFC 8252 §7.1 private-use schemes pass; and never a
// fragment, a wildcard host or a script or content scheme.
func FuzzCheckRedirectURI(f *testing.F) {
	for _, s := range []string{
		"com.example.app:/oauth2redirect", "com.example.app://cb", "com.example.app:cb", "Com.Example.App:/cb",
		"com..app:/cb", "myapp:/cb", "https://app.example.com/cb", "https://*.example.com/cb", "http://127.0.0.1:8080/cb",
		"http://[::1]/cb", "http://localhost/cb", "http://app.example.com/cb", "javascript:alert(1)", "data:text/html,x",
		"file:///etc/passwd", "about:blank", "https:/cb", "https://app.example.com/cb#x", "/cb", "",
		"com.example.app:/cb?x=1&y=%20", "https://user@app.example.com/cb", "https://app.example.com/a%2Fb",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, public bool) {
		err := checkRedirectURI(raw, public)
		if !public && err == nil {
			if perr := checkRedirectURI(raw, true); perr != nil {
				t.Fatalf("%q accepted for a confidential client, refused for a public one: %v", raw, perr)
			}
		}
		if err != nil {
			if !strings.Contains(err.Error(), "redirect URI "+strconv.Quote(raw)) {
				t.Fatalf("the error does not name the URI: %v", err)
			}
			return
		}
		u, perr := url.Parse(raw)
		switch {
		case perr != nil:
			t.Fatalf("accepted %q, which does not parse: %v", raw, perr)
		case !oauth.ValidRedirectURI(u):
			t.Fatalf("accepted %q, which fosite's IsValidRedirectURI refuses", raw)
		case !redirectURISecure(context.Background(), u):
			t.Fatalf("accepted %q, which the RedirectSecureChecker refuses", raw)
		case u.String() != raw:
			t.Fatalf("accepted %q, which fosite would redirect to as %q", raw, u.String())
		case u.Fragment != "" || strings.Contains(raw, "#"):
			t.Fatalf("accepted %q with a fragment", raw)
		case strings.Contains(u.Host, "*"):
			t.Fatalf("accepted %q with a wildcard host", raw)
		case slices.Contains(unsafeRedirectSchemes, u.Scheme):
			t.Fatalf("accepted %q with scheme %s", raw, u.Scheme)
		case u.Scheme == "https":
		case u.Scheme == "http":
			if !isLoopbackHost(u.Hostname()) {
				t.Fatalf("accepted http off loopback: %q", raw)
			}
		case !public || !isPrivateUseRedirect(u):
			t.Fatalf("accepted %q (scheme %q) for public=%v", raw, u.Scheme, public)
		}
	})
}
