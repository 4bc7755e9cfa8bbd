package ipfilter_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gatehouse/gatehouse/ipfilter"
)

// FuzzParse feeds newline-separated entries to Parse.
func FuzzParse(f *testing.F) {
	for _, tc := range validEntries {
		f.Add(tc.in, "192.0.2.15")
	}
	for _, tc := range invalidEntries {
		f.Add(tc.in, "::ffff:10.0.0.1")
	}
	f.Add("10.0.0.0/8\n192.0.2.1\n192.0.2.10-192.0.2.20", "10.1.2.3")
	f.Add("2001:db8::/32\n::ffff:192.0.2.0/120", "2001:db8::1")
	f.Add(strings.Repeat("1", 150), "")

	f.Fuzz(func(t *testing.T, input, probe string) {
		entries := strings.Split(input, "\n")
		l, err := ipfilter.Parse(entries)

		if a, perr := netip.ParseAddr(probe); perr == nil {
			_ = l.Contains(a)
		}
		_ = l.Contains(netip.Addr{})

		if err != nil {
			if !l.Empty() {
				t.Fatalf("Parse(%q) returned a non-empty list with error %v", entries, err)
			}
			var ee *ipfilter.EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("Parse(%q) error %v is not an *EntryError", entries, err)
			}
			if ee.Index < 0 || ee.Index >= len(entries) {
				t.Fatalf("Parse(%q) error index %d out of range", entries, ee.Index)
			}
			return
		}
		if l.Empty() {
			t.Fatalf("Parse(%q) succeeded with an empty list", entries)
		}
		s := l.String()
		l2, err := ipfilter.Parse(strings.Split(s, ","))
		if err != nil {
			t.Fatalf("String() %q of Parse(%q) does not re-parse: %v", s, entries, err)
		}
		if s2 := l2.String(); s2 != s {
			t.Fatalf("String() not stable: %q then %q", s, s2)
		}
		if !equalLists(l, l2) {
			t.Fatalf("round trip of %q changed the list", s)
		}
		// Every bare address entry is contained in the list.
		for _, e := range entries {
			if a, perr := netip.ParseAddr(strings.TrimSpace(e)); perr == nil {
				if !l.Contains(a) {
					t.Fatalf("Parse(%q) does not contain its entry %q", entries, e)
				}
			}
		}
	})
}

func equalLists(a, b ipfilter.List) bool {
	return a.String() == b.String() && assert.ObjectsAreEqual(a, b)
}

// FuzzClientAddr fuzzes the peer address and the X-Forwarded-For header.
func FuzzClientAddr(f *testing.F) {
	seeds := []struct {
		remote, xff string
		twoLines    bool
	}{
		{"203.0.113.9:1234", "198.51.100.1", false},
		{"10.0.0.1:443", "", false},
		{"10.0.0.1:443", "6.6.6.6, 198.51.100.1, 10.1.1.1", false},
		{"10.0.0.1:443", "10.3.3.3, 10.2.2.2", false},
		{"10.0.0.1:443", "1.2.3.4,,5.6.7.8", false},
		{"10.0.0.1:443", "garbage", false},
		{"10.0.0.1:443", "198.51.100.1", true},
		{"[2001:db8:1::5]:443", "[2001:db8:2::1]:80, 2001:db8:1::7", false},
		{"[::ffff:10.0.0.1]:443", "::ffff:198.51.100.1", false},
		{"[fe80::1%eth0]:443", "fe80::2%eth1", false},
		{"192.168.1.3", "198.51.100.1:5555", false},
		{"garbage", "198.51.100.1", false},
		{"", "", false},
		{"10.0.0.1:443", strings.Repeat("10.0.0.2,", 50) + "1.2.3.4", false},
	}
	for _, s := range seeds {
		f.Add(s.remote, s.xff, s.twoLines)
	}
	r := ipfilter.Resolver{TrustedProxies: ipfilter.MustParse(
		"10.0.0.0/8", "2001:db8:1::/48", "192.168.1.1-192.168.1.5", "fe80::/10",
	)}

	f.Fuzz(func(t *testing.T, remote, xff string, twoLines bool) {
		var req = request(remote)
		if xff != "" || twoLines {
			req.Header.Add("X-Forwarded-For", xff)
		}
		if twoLines {
			req.Header.Add("X-Forwarded-For", "198.51.100.1")
		}
		got, err := r.ClientAddr(req)
		if err != nil {
			if got.IsValid() {
				t.Fatalf("ClientAddr returned %v with error %v", got, err)
			}
			if !errors.Is(err, ipfilter.ErrRemoteAddr) && !errors.Is(err, ipfilter.ErrForwardedFor) {
				t.Fatalf("unexpected error %v", err)
			}
		} else {
			if !got.IsValid() || got.Is4In6() || got.Zone() != "" {
				t.Fatalf("ClientAddr returned %#v without error", got)
			}
		}

		peer, perr := ipfilter.ParseAddr(remote)
		switch {
		case perr != nil:
			if !errors.Is(err, ipfilter.ErrRemoteAddr) {
				t.Fatalf("RemoteAddr %q does not parse (%v) but ClientAddr returned %v, %v", remote, perr, got, err)
			}
		case !r.TrustedProxies.Contains(peer):
			if err != nil || got != peer {
				t.Fatalf("untrusted peer %q: got %v, %v; want %v", remote, got, err, peer)
			}
		case twoLines:
			if !errors.Is(err, ipfilter.ErrForwardedFor) {
				t.Fatalf("two X-Forwarded-For lines from trusted peer: got %v, %v", got, err)
			}
		case err == nil && got != peer:
			// The client must come from the header.
			found := false
			for _, el := range strings.Split(xff, ",") {
				if a, e := ipfilter.ParseAddr(strings.TrimSpace(el)); e == nil && a == got {
					found = true
				}
			}
			if !found {
				t.Fatalf("client %v is neither the peer nor in X-Forwarded-For %q", got, xff)
			}
		}
	})
}
