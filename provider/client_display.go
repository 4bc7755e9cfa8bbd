package provider

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/gatehouse/gatehouse/storage"
)

// maxDisplayURI bounds a client's LogoURI and ClientURI.
const maxDisplayURI = 2048

// checkClientDisplay checks what the consent page shows of a client
// besides its name: its logo (LogoURI) and home page (ClientURI), each an
// absolute https URL (http only on a loopback host), as for redirect
// URIs, so that the page never loads or links anything else (a
// javascript: or data: URL, a plain-http image on a secure page).
func checkClientDisplay(e *clientErrs, c storage.Client) {
	for _, f := range []struct{ field, v string }{{"LogoURI", c.LogoURI}, {"ClientURI", c.ClientURI}} {
		if f.v == "" {
			continue
		}
		if msg := checkDisplayURI(f.v); msg != "" {
			e.add(f.field, "%s", msg)
		}
	}
}

// checkDisplayURI says what is wrong with a LogoURI or ClientURI, or "".
func checkDisplayURI(raw string) string {
	if len(raw) > maxDisplayURI {
		return fmt.Sprintf("must be at most %d bytes, got %d", maxDisplayURI, len(raw))
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Sprintf("%q must not contain spaces or control characters", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
		return fmt.Sprintf("%q must be an absolute URL without user information", raw)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())) {
		return fmt.Sprintf("%q must use https (http only on a loopback host)", raw)
	}
	return ""
}
