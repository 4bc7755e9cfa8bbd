package provider

import (
	"net/url"
	"strings"
	"testing"
)

// redirectCases pin redirectURIRegistered. Each refused case is a variant
// that fosite v0.49.0's loopback matching (which parses and compares host,
// path and query) accepted; RFC 9700 §2.1 and RFC 8252 §7.3 want a string
// comparison in which only a loopback URI's port may vary.
var redirectCases = []struct {
	name       string
	registered string
	got        string
	want       bool
}{
	{"exact loopback", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081/spa", true},
	{"exact https", "https://app.example.com/cb", "https://app.example.com/cb", true},
	// RFC 8252 §7.3: a native app listens on an ephemeral port.
	{"loopback other port", "http://127.0.0.1:8081/spa", "http://127.0.0.1:50123/spa", true},
	{"loopback no port", "http://127.0.0.1:8081/spa", "http://127.0.0.1/spa", true},
	{"loopback registered without port", "http://127.0.0.1/spa", "http://127.0.0.1:8081/spa", true},
	{"loopback port 65535", "http://127.0.0.1:8081/spa", "http://127.0.0.1:65535/spa", true},
	{"ipv6 loopback other port", "http://[::1]:8081/cb", "http://[::1]:9/cb", true},
	{"loopback query kept", "http://127.0.0.1:8081/cb?app=1", "http://127.0.0.1:1234/cb?app=1", true},

	// Userinfo: fosite compared Hostname() only.
	{"userinfo", "http://127.0.0.1:8081/spa", "http://user@127.0.0.1:8081/spa", false},
	{"userinfo with port-like text", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081@evil.example/spa", false},
	// Percent-encoding: fosite compared the decoded Path.
	{"percent-encoded path", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081/%73pa", false},
	// Scheme case: url.Parse lower-cases it.
	{"upper-case scheme", "http://127.0.0.1:8081/spa", "HTTP://127.0.0.1:8081/spa", false},
	{"empty query", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081/spa?", false},
	{"empty fragment", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081/spa#", false},
	{"empty query other port", "http://127.0.0.1:8081/spa", "http://127.0.0.1:9/spa?", false},
	// RFC 9700 §4.1 variants.
	{"trailing slash", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081/spa/", false},
	{"added query", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081/spa?x=1", false},
	{"path case", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081/SPA", false},
	{"dot segments", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081/x/../spa", false},
	{"fragment", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081/spa#frag", false},
	{"https other port", "https://app.example.com/cb", "https://app.example.com:8443/cb", false},
	{"https host case", "https://app.example.com/cb", "https://APP.example.com/cb", false},
	{"https trailing dot", "https://app.example.com/cb", "https://app.example.com./cb", false},
	{"http non-loopback other port", "http://app.example.com:8080/cb", "http://app.example.com:9090/cb", false},
	// Only the two literals of RFC 8252 §7.3, written as registered.
	{"localhost", "http://localhost:8081/cb", "http://localhost:9/cb", false},
	{"other 127/8 address", "http://127.0.0.2:8081/cb", "http://127.0.0.2:9/cb", false},
	{"host prefix", "http://127.0.0.1:8081/spa", "http://127.0.0.10:8081/spa", false},
	{"host suffix", "http://127.0.0.1:8081/spa", "http://127.0.0.1.evil.example/spa", false},
	{"ipv6 expanded", "http://[::1]:8081/cb", "http://[0:0:0:0:0:0:0:1]:8081/cb", false},
	{"ipv6 zone", "http://[::1]:8081/cb", "http://[::1%25lo]:8081/cb", false},
	{"ipv4 for ipv6", "http://[::1]:8081/cb", "http://127.0.0.1:8081/cb", false},
	{"https loopback", "https://127.0.0.1:8443/cb", "https://127.0.0.1:9/cb", false},
	{"https received for http loopback", "http://127.0.0.1:8081/spa", "https://127.0.0.1:8081/spa", false},
	// Ports must be plain decimal 1-65535.
	{"empty port", "http://127.0.0.1:8081/spa", "http://127.0.0.1:/spa", false},
	{"port zero", "http://127.0.0.1:8081/spa", "http://127.0.0.1:0/spa", false},
	{"port leading zero", "http://127.0.0.1:8081/spa", "http://127.0.0.1:08081/spa", false},
	{"port too large", "http://127.0.0.1:8081/spa", "http://127.0.0.1:65536/spa", false},
	{"port too long", "http://127.0.0.1:8081/spa", "http://127.0.0.1:100000/spa", false},
	{"port sign", "http://127.0.0.1:8081/spa", "http://127.0.0.1:+8081/spa", false},
	{"two ports", "http://127.0.0.1:8081/spa", "http://127.0.0.1:8081:8081/spa", false},
	{"empty", "http://127.0.0.1:8081/spa", "", false},
}

func TestRedirectURIRegistered(t *testing.T) {
	for _, tt := range redirectCases {
		t.Run(tt.name, func(t *testing.T) {
			if got := redirectURIRegistered([]string{tt.registered}, tt.got); got != tt.want {
				t.Errorf("redirectURIRegistered([%q], %q) = %v; want %v", tt.registered, tt.got, got, tt.want)
			}
		})
	}
}

// FuzzRedirectURIRegistered checks that an accepted redirect URI is the
// registered one, or differs from it only in the port of an
// http://127.0.0.1 or http://[::1] authority: an independent, URL-parsing
// oracle must find the same scheme, host literal, path, query and
// fragment, in the same raw spelling, and no userinfo.
func FuzzRedirectURIRegistered(f *testing.F) {
	for _, tt := range redirectCases {
		f.Add(tt.registered, tt.got)
	}
	f.Fuzz(func(t *testing.T, registered, got string) {
		if !redirectURIRegistered([]string{registered}, got) || got == registered {
			return
		}
		r, err1 := url.Parse(registered)
		g, err2 := url.Parse(got)
		if err1 != nil || err2 != nil {
			t.Fatalf("accepted %q for %q, but they do not parse: %v, %v", got, registered, err1, err2)
		}
		host := r.Host
		if i := strings.LastIndex(host, ":"); i > strings.LastIndex(host, "]") {
			host = host[:i]
		}
		ok := strings.HasPrefix(registered, "http://") && strings.HasPrefix(got, "http://") &&
			(host == "127.0.0.1" || host == "[::1]") &&
			g.User == nil && r.User == nil &&
			strings.HasPrefix(g.Host, host) &&
			g.EscapedPath() == r.EscapedPath() && g.RawPath == r.RawPath &&
			g.RawQuery == r.RawQuery && g.ForceQuery == r.ForceQuery &&
			g.RawFragment == r.RawFragment && g.Fragment == r.Fragment
		if !ok {
			t.Fatalf("accepted %q for registered %q", got, registered)
		}
		if p := g.Port(); p != "" && !validPort(p) {
			t.Fatalf("accepted port %q in %q", p, got)
		}
	})
}
