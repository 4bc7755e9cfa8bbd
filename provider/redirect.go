package provider

import (
	"slices"
	"strings"
)

// redirectURIRegistered reports whether got, a redirect_uri as received
// (the decoded parameter value, neither parsed nor normalised), is one of
// the registered URIs.
//
// The comparison is of strings, byte for byte (RFC 9700 §2.1, RFC 6749
// §3.1.2.3 with RFC 3986 §6.2.1 simple string comparison): a different
// case, an added userinfo, query, "?" or "#", a percent-encoded character or
// a dot segment is a different URI. The one exception is RFC 8252 §7.3: for
// a registered loopback redirect URI, one whose scheme is "http" and whose
// host is the IP literal 127.0.0.1 or [::1], the port may differ, because
// a native app listens on whatever port the system gives it. Everything
// else (the lower-case "http://", the host literal, and all that follows
// the port) must be identical. The received port may be any port from 1
// to 65535 in plain decimal without leading zeros, or no port at all (port
// 80 is one of "any port"); "localhost" gets no exception (RFC 8252 §8.3).
//
// https://www.rfc-editor.org/rfc/rfc9700#section-2.1
// https://www.rfc-editor.org/rfc/rfc8252#section-7.3
func redirectURIRegistered(registered []string, got string) bool {
	if slices.Contains(registered, got) {
		return true
	}
	for _, reg := range registered {
		if loopbackPortMatch(reg, got) {
			return true
		}
	}
	return false
}

// loopbackHosts are the IP literals whose redirect URIs may vary in port.
var loopbackHosts = []string{"127.0.0.1", "[::1]"}

// loopbackPortMatch reports whether reg is a loopback redirect URI and got
// is reg with another port (or none).
func loopbackPortMatch(reg, got string) bool {
	for _, host := range loopbackHosts {
		prefix := "http://" + host
		regRest, ok := cutPort(reg, prefix)
		if !ok {
			continue
		}
		gotRest, ok := cutPort(got, prefix)
		return ok && gotRest == regRest
	}
	return false
}

// cutPort returns what follows prefix and an optional ":port" in s; ok is
// false when s does not start with prefix, when prefix is not followed by
// the end, a port, "/", "?" or "#" (so 127.0.0.1 is not a prefix of
// 127.0.0.10 or 127.0.0.1.example.com), or when the port is not plain
// decimal from 1 to 65535.
func cutPort(s, prefix string) (rest string, ok bool) {
	rest, found := strings.CutPrefix(s, prefix)
	if !found {
		return "", false
	}
	if port, ok := strings.CutPrefix(rest, ":"); ok {
		n := 0
		for n < len(port) && port[n] >= '0' && port[n] <= '9' {
			n++
		}
		if !validPort(port[:n]) {
			return "", false
		}
		rest = port[n:]
	}
	if rest != "" && !strings.ContainsRune("/?#", rune(rest[0])) {
		return "", false
	}
	return rest, true
}

// validPort reports whether p is a port from 1 to 65535 written without
// leading zeros.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}
