// Package ipfilter implements IP allow-lists for OAuth clients and the
// resolution of the real client address of an HTTP request that arrives
// through trusted reverse proxies.
//
// A [List] is parsed from textual entries (single addresses, CIDR prefixes
// and inclusive ranges, IPv4 and IPv6) with [Parse], which rejects anything
// ambiguous: zones, CIDR prefixes with host bits set, reversed or mixed-family
// ranges and so on. IPv4-mapped IPv6 addresses are always treated as the IPv4
// address they map, both in lists and in the addresses checked against them.
//
// A [Resolver] determines the client address of a request. The
// X-Forwarded-For header is honoured only when the peer that sent the request
// is one of the [Resolver.TrustedProxies], and even then a malformed header is
// an error rather than a guess: callers must fail closed.
package ipfilter

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// maxEntryLen is the maximum length in bytes of one allow-list entry.
const maxEntryLen = 100

// Limits on the X-Forwarded-For header accepted from a trusted proxy.
const (
	maxForwardedBytes    = 4096
	maxForwardedElements = 50
)

// entry is one allow-list entry: the inclusive address interval [lo, hi],
// and, for single addresses and CIDR prefixes, the prefix it was written as.
// lo and hi are of the same family, unmapped and without zone.
type entry struct {
	lo, hi netip.Addr
	prefix netip.Prefix // valid for addresses and prefixes, zero for ranges
}

func (e entry) contains(a netip.Addr) bool {
	// Compare orders IPv4 before IPv6, so an address of the other family
	// is never inside the interval.
	return e.lo.Compare(a) <= 0 && a.Compare(e.hi) <= 0
}

func (e entry) String() string {
	if e.prefix.IsValid() {
		if e.prefix.IsSingleIP() {
			return e.prefix.Addr().String()
		}
		return e.prefix.String()
	}
	return e.lo.String() + "-" + e.hi.String()
}

// List is an allow-list of IP addresses: single addresses, CIDR prefixes and
// ranges, IPv4 and IPv6. The zero value is empty and contains nothing. A List
// is immutable and safe for concurrent use.
type List struct {
	entries []entry
}

// EntryError reports one invalid allow-list entry.
type EntryError struct {
	Index  int    // position in the entries given to Parse
	Entry  string // the entry as given (truncated to 100 bytes + "..." if longer)
	Reason string // why the entry is invalid
}

// Error implements the error interface, e.g.
// `ipfilter: entry 2 "10.0.0.1/8": host bits set; did you mean "10.0.0.0/8"?`.
func (e *EntryError) Error() string {
	return fmt.Sprintf("ipfilter: entry %d %q: %s", e.Index, e.Entry, e.Reason)
}

// Parse reads allow-list entries. Each entry is one of:
//
//	"192.0.2.7"                      a single address (IPv4 or IPv6)
//	"192.0.2.0/24", "2001:db8::/32"  a CIDR prefix
//	"192.0.2.10-192.0.2.20"          an inclusive range
//
// The two ends of a range must be of the same family with first <= last;
// spaces around the '-' are allowed. Surrounding whitespace is trimmed.
// IPv4-mapped IPv6 forms ("::ffff:192.0.2.7", "::ffff:192.0.2.0/120") are
// normalised to IPv4; a mapped prefix must have at least 96 bits.
//
// Parse rejects empty entries, unparsable addresses, zones ("fe80::1%eth0"),
// prefix lengths out of range, CIDR prefixes with host bits set, ranges with
// mixed families or first > last, entries with more than one '-' or '/' and
// entries longer than 100 bytes. Every invalid entry is reported: the error
// is an [errors.Join] of one [*EntryError] per bad entry, in order. On error
// the returned List is empty.
func Parse(entries []string) (List, error) {
	var (
		l    List
		errs []error
	)
	for i, s := range entries {
		e, reason := parseEntry(s)
		if reason != "" {
			errs = append(errs, &EntryError{Index: i, Entry: truncate(s), Reason: reason})
			continue
		}
		l.entries = append(l.entries, e)
	}
	if len(errs) > 0 {
		return List{}, errors.Join(errs...)
	}
	return l, nil
}

// MustParse is Parse for constants in tests and examples; it panics on error.
func MustParse(entries ...string) List {
	l, err := Parse(entries)
	if err != nil {
		panic(err)
	}
	return l
}

func truncate(s string) string {
	if len(s) > maxEntryLen {
		return s[:maxEntryLen] + "..."
	}
	return s
}

// parseEntry parses one entry. It returns a non-empty reason on error.
func parseEntry(s string) (entry, string) {
	if len(s) > maxEntryLen {
		return entry{}, fmt.Sprintf("entry longer than %d bytes", maxEntryLen)
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return entry{}, "empty entry"
	case strings.Contains(s, "%"):
		return entry{}, "zones are not allowed"
	case strings.Count(s, "/") > 1:
		return entry{}, "more than one '/'"
	case strings.Count(s, "-") > 1:
		return entry{}, "more than one '-'"
	case strings.Contains(s, "/") && strings.Contains(s, "-"):
		return entry{}, "a range cannot contain a prefix length"
	case strings.Contains(s, "-"):
		return parseRange(s)
	case strings.Contains(s, "/"):
		return parsePrefix(s)
	}
	a, reason := parseListAddr(s)
	if reason != "" {
		return entry{}, reason
	}
	return entry{lo: a, hi: a, prefix: netip.PrefixFrom(a, a.BitLen())}, ""
}

// parseListAddr parses a bare address of an entry, unmapped.
func parseListAddr(s string) (netip.Addr, string) {
	if s == "" {
		return netip.Addr{}, "missing address"
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Sprintf("invalid address %q", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, "zones are not allowed"
	}
	return a.Unmap(), ""
}

func parseRange(s string) (entry, string) {
	first, last, _ := strings.Cut(s, "-")
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	lo, reason := parseListAddr(first)
	if reason != "" {
		return entry{}, "range start: " + reason
	}
	hi, reason := parseListAddr(last)
	if reason != "" {
		return entry{}, "range end: " + reason
	}
	if lo.Is4() != hi.Is4() {
		return entry{}, "range ends are of different address families"
	}
	if lo.Compare(hi) > 0 {
		return entry{}, "range start is after range end"
	}
	return entry{lo: lo, hi: hi}, ""
}

func parsePrefix(s string) (entry, string) {
	addr, length, _ := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return entry{}, fmt.Sprintf("invalid address %q", addr)
	}
	if a.Zone() != "" {
		return entry{}, "zones are not allowed"
	}
	bits, ok := parseDecimal(length, 3)
	if !ok {
		return entry{}, fmt.Sprintf("invalid prefix length %q", length)
	}
	if bits > a.BitLen() {
		return entry{}, fmt.Sprintf("prefix length %d out of range for IPv%d (0-%d)", bits, ipVersion(a), a.BitLen())
	}
	if a.Is4In6() {
		if bits < 96 {
			return entry{}, fmt.Sprintf("IPv4-mapped prefix length %d shorter than 96", bits)
		}
		a, bits = a.Unmap(), bits-96
	}
	p := netip.PrefixFrom(a, bits)
	if m := p.Masked(); m != p {
		return entry{}, fmt.Sprintf("host bits set; did you mean %q?", m.String())
	}
	return entry{lo: p.Addr(), hi: lastAddr(p), prefix: p}, ""
}

// lastAddr returns the last address of the masked prefix p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr()
	if a.Is4() {
		b := a.As4()
		setHostBits(b[:], p.Bits())
		return netip.AddrFrom4(b)
	}
	b := a.As16()
	setHostBits(b[:], p.Bits())
	return netip.AddrFrom16(b)
}

func setHostBits(b []byte, bits int) {
	for i := range b {
		switch {
		case bits >= 8*(i+1):
		case bits <= 8*i:
			b[i] = 0xff
		default:
			b[i] |= 0xff >> (bits - 8*i)
		}
	}
}

func ipVersion(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

// parseDecimal parses a non-negative decimal number of at most maxDigits
// digits, without sign and without leading zeros.
func parseDecimal(s string, maxDigits int) (int, bool) {
	if s == "" || len(s) > maxDigits || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Contains reports whether a is in the list. a is unmapped first
// (::ffff:10.0.0.1 matches 10.0.0.1/8) and its zone ignored; an invalid
// (zero) address is never contained.
func (l List) Contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, e := range l.entries {
		if e.contains(a) {
			return true
		}
	}
	return false
}

// Empty reports whether the list has no entries.
func (l List) Empty() bool {
	return len(l.entries) == 0
}

// String returns the entries in canonical form, in the order they were given,
// comma-separated (e.g. "10.0.0.0/8,192.0.2.1,192.0.2.10-192.0.2.20").
// Parsing the comma-separated elements of a non-empty List's String yields
// an equal List. The empty List's String is "".
func (l List) String() string {
	var b strings.Builder
	for i, e := range l.entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.String())
	}
	return b.String()
}

// ErrForwardedFor is wrapped by the errors of [Resolver.ClientAddr] for a
// request from a trusted proxy whose X-Forwarded-For cannot be trusted:
// several X-Forwarded-For header lines, an empty element, an element that is
// not an IP address, or a header that is too long.
var ErrForwardedFor = errors.New("ipfilter: malformed X-Forwarded-For from a trusted proxy")

// ErrRemoteAddr is wrapped by the errors of [Resolver.ClientAddr] when
// http.Request.RemoteAddr is not an IP address (with or without port).
var ErrRemoteAddr = errors.New("ipfilter: request RemoteAddr is not an IP address")

// Resolver finds the client address of a request. The zero value trusts no
// proxy: the peer address is the client. A Resolver is safe for concurrent
// use.
type Resolver struct {
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed.
	TrustedProxies List
}

// ClientAddr returns the address of the client that sent req.
//
// The peer address is parsed from req.RemoteAddr ("ip:port", "[v6]:port" or
// a bare ip), unmapped and with any zone dropped. Unless the peer is one of
// the TrustedProxies it is the client, and any X-Forwarded-For header is
// ignored entirely, even if malformed.
//
// If the peer is trusted and the request has no X-Forwarded-For header, the
// peer itself is the client. With exactly one X-Forwarded-For header line,
// its comma-separated elements are read right to left, skipping elements
// that are themselves trusted proxies, and the first untrusted one is the
// client; if every element is trusted, the left-most one is. Elements may be
// "ip", "[v6]", "[v6]:port" or "v4:port", with surrounding whitespace; they
// are unmapped.
//
// ClientAddr never guesses: for a trusted peer, more than one
// X-Forwarded-For header line, an empty element (including a blank header),
// an unparsable element anywhere in the list, or a header of more than 50
// elements or 4096 bytes is an error wrapping [ErrForwardedFor]. An invalid
// RemoteAddr is an error wrapping [ErrRemoteAddr].
func (r Resolver) ClientAddr(req *http.Request) (netip.Addr, error) {
	if req == nil {
		return netip.Addr{}, fmt.Errorf("%w: nil request", ErrRemoteAddr)
	}
	peer, err := ParseAddr(req.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %q", ErrRemoteAddr, truncate(req.RemoteAddr))
	}
	if !r.TrustedProxies.Contains(peer) {
		return peer, nil
	}

	lines := forwardedFor(req.Header)
	switch {
	case len(lines) == 0:
		return peer, nil
	case len(lines) > 1:
		return netip.Addr{}, fmt.Errorf("%w: %d X-Forwarded-For header lines", ErrForwardedFor, len(lines))
	}
	v := lines[0]
	if len(v) > maxForwardedBytes {
		return netip.Addr{}, fmt.Errorf("%w: header longer than %d bytes", ErrForwardedFor, maxForwardedBytes)
	}
	if n := strings.Count(v, ",") + 1; n > maxForwardedElements {
		return netip.Addr{}, fmt.Errorf("%w: %d elements, more than %d", ErrForwardedFor, n, maxForwardedElements)
	}
	elems := strings.Split(v, ",")
	addrs := make([]netip.Addr, len(elems))
	for i, el := range elems {
		el = strings.TrimSpace(el)
		if el == "" {
			return netip.Addr{}, fmt.Errorf("%w: element %d is empty", ErrForwardedFor, i)
		}
		a, err := ParseAddr(el)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("%w: element %d %q is not an IP address", ErrForwardedFor, i, truncate(el))
		}
		addrs[i] = a
	}
	for i := len(addrs) - 1; i >= 0; i-- {
		if !r.TrustedProxies.Contains(addrs[i]) {
			return addrs[i], nil
		}
	}
	return addrs[0], nil
}

// forwardedFor returns all X-Forwarded-For header lines of h, whatever the
// case of the key (a hand-built header may not be canonical).
func forwardedFor(h http.Header) []string {
	var lines []string
	for k, vs := range h {
		if strings.EqualFold(k, "X-Forwarded-For") {
			lines = append(lines, vs...)
		}
	}
	return lines
}

// ParseAddr parses a single address as [Resolver.ClientAddr] does for
// X-Forwarded-For elements: "ip", "[v6]", "[v6]:port" or "v4:port", where
// port is a decimal number up to 65535. The result is unmapped and any zone
// is dropped. ParseAddr does not trim whitespace. It is exported for callers
// that get addresses from elsewhere.
func ParseAddr(s string) (netip.Addr, error) {
	a, ok := parseHostPort(s)
	if !ok {
		return netip.Addr{}, fmt.Errorf("ipfilter: invalid address %q", truncate(s))
	}
	return a.Unmap().WithZone(""), nil
}

func parseHostPort(s string) (netip.Addr, bool) {
	if strings.HasPrefix(s, "[") {
		host, rest, ok := strings.Cut(s[1:], "]")
		if !ok {
			return netip.Addr{}, false
		}
		if rest != "" && !validPort(rest) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return a, true
	}
	switch strings.Count(s, ":") {
	case 0: // bare IPv4
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.Addr{}, false
		}
		return a, true
	case 1: // v4:port
		host, port, _ := strings.Cut(s, ":")
		if !validPort(":" + port) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is4() {
			return netip.Addr{}, false
		}
		return a, true
	default: // bare IPv6
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		return a, true
	}
}

// validPort reports whether s is ":" followed by a decimal port 0-65535.
func validPort(s string) bool {
	p, ok := strings.CutPrefix(s, ":")
	if !ok {
		return false
	}
	n, ok := parseDecimal(p, 5)
	return ok && n <= 65535
}
