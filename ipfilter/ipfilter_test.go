package ipfilter_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/ipfilter"
)

// validEntries maps valid entries to their canonical form.
var validEntries = []struct {
	in, canonical string
}{
	{"192.0.2.7", "192.0.2.7"},
	{"  192.0.2.7\t", "192.0.2.7"},
	{"2001:db8::1", "2001:db8::1"},
	{"2001:0db8:0000::0001", "2001:db8::1"},
	{"192.0.2.0/24", "192.0.2.0/24"},
	{"192.0.2.7/32", "192.0.2.7"},
	{"0.0.0.0/0", "0.0.0.0/0"},
	{"10.0.0.0/8", "10.0.0.0/8"},
	{"2001:db8::/32", "2001:db8::/32"},
	{"2001:db8::1/128", "2001:db8::1"},
	{"::/0", "::/0"},
	{"192.0.2.10-192.0.2.20", "192.0.2.10-192.0.2.20"},
	{"192.0.2.10 - 192.0.2.20", "192.0.2.10-192.0.2.20"},
	{"192.0.2.10-192.0.2.10", "192.0.2.10-192.0.2.10"},
	{"2001:db8::1-2001:db8::ff", "2001:db8::1-2001:db8::ff"},
	{"::ffff:192.0.2.7", "192.0.2.7"},
	{"::ffff:192.0.2.0/120", "192.0.2.0/24"},
	{"::ffff:0:0/96", "0.0.0.0/0"},
	{"::ffff:192.0.2.7/128", "192.0.2.7"},
	{"::ffff:192.0.2.1-192.0.2.9", "192.0.2.1-192.0.2.9"},
	{"::ffff:192.0.2.1-::ffff:192.0.2.9", "192.0.2.1-192.0.2.9"},
}

var invalidEntries = []struct {
	in, reason string
}{
	{"", "empty entry"},
	{"   ", "empty entry"},
	{"192.0.2", `invalid address "192.0.2"`},
	{"192.0.2.256", `invalid address "192.0.2.256"`},
	{"010.0.0.1", `invalid address "010.0.0.1"`},
	{"example.com", `invalid address "example.com"`},
	{"192.0.2.1:80", `invalid address "192.0.2.1:80"`},
	{"[2001:db8::1]", `invalid address "[2001:db8::1]"`},
	{"fe80::1%eth0", "zones are not allowed"},
	{"fe80::%eth0/64", "zones are not allowed"},
	{"10.0.0.0/33", "prefix length 33 out of range for IPv4 (0-32)"},
	{"2001:db8::/129", "prefix length 129 out of range for IPv6 (0-128)"},
	{"10.0.0.0/", `invalid prefix length ""`},
	{"10.0.0.0/-1", "a range cannot contain a prefix length"},
	{"10.0.0.0/+8", `invalid prefix length "+8"`},
	{"10.0.0.0/08", `invalid prefix length "08"`},
	{"10.0.0.0/1000", `invalid prefix length "1000"`},
	{"10.0.0.0/x", `invalid prefix length "x"`},
	{"/8", `invalid address ""`},
	{"10.0.0.1/8", `host bits set; did you mean "10.0.0.0/8"?`},
	{"2001:db8::1/32", `host bits set; did you mean "2001:db8::/32"?`},
	{"::ffff:192.0.2.1/120", `host bits set; did you mean "192.0.2.0/24"?`},
	{"::ffff:0:0/95", "IPv4-mapped prefix length 95 shorter than 96"},
	{"10.0.0.0/8/8", "more than one '/'"},
	{"192.0.2.1-2001:db8::1", "range ends are of different address families"},
	{"192.0.2.20-192.0.2.10", "range start is after range end"},
	{"2001:db8::2-2001:db8::1", "range start is after range end"},
	{"192.0.2.1-192.0.2.2-192.0.2.3", "more than one '-'"},
	{"192.0.2.1-", "range end: missing address"},
	{"-192.0.2.1", "range start: missing address"},
	{"192.0.2.1-x", `range end: invalid address "x"`},
	{"192.0.2.0/24-192.0.2.255", "a range cannot contain a prefix length"},
	{"192.0.2.1,192.0.2.2", `invalid address "192.0.2.1,192.0.2.2"`},
}

func TestParseValid(t *testing.T) {
	for _, tc := range validEntries {
		t.Run(tc.in, func(t *testing.T) {
			l, err := ipfilter.Parse([]string{tc.in})
			require.NoError(t, err)
			assert.False(t, l.Empty())
			assert.Equal(t, tc.canonical, l.String())
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for i, tc := range invalidEntries {
		t.Run(tc.in, func(t *testing.T) {
			entries := []string{"192.0.2.1", tc.in}
			l, err := ipfilter.Parse(entries)
			require.Error(t, err, "entry %d", i)
			assert.True(t, l.Empty())
			var ee *ipfilter.EntryError
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, 1, ee.Index)
			assert.Equal(t, tc.in, ee.Entry)
			assert.Equal(t, tc.reason, ee.Reason)
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	entries := []string{"10.0.0.0/8", "bad", "192.0.2.1", "10.0.0.1/8", "", "2001:db8::1"}
	_, err := ipfilter.Parse(entries)
	require.Error(t, err)
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "error is an errors.Join")
	errs := joined.Unwrap()
	require.Len(t, errs, 3)
	want := []struct {
		index  int
		reason string
	}{
		{1, `invalid address "bad"`},
		{3, `host bits set; did you mean "10.0.0.0/8"?`},
		{4, "empty entry"},
	}
	for i, w := range want {
		var ee *ipfilter.EntryError
		require.True(t, errors.As(errs[i], &ee))
		assert.Equal(t, w.index, ee.Index)
		assert.Equal(t, entries[w.index], ee.Entry)
		assert.Equal(t, w.reason, ee.Reason)
	}
	assert.Equal(t, `ipfilter: entry 3 "10.0.0.1/8": host bits set; did you mean "10.0.0.0/8"?`, errs[1].Error())
	assert.Contains(t, err.Error(), `ipfilter: entry 1 "bad": invalid address "bad"`)
}

func TestParseLongEntryTruncated(t *testing.T) {
	long := strings.Repeat("1", 150)
	_, err := ipfilter.Parse([]string{long})
	var ee *ipfilter.EntryError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, strings.Repeat("1", 100)+"...", ee.Entry)
	assert.Equal(t, "entry longer than 100 bytes", ee.Reason)

	// Exactly 100 bytes is allowed.
	ok := strings.Repeat(" ", 93) + "1.2.3.4"
	require.Len(t, ok, 100)
	_, err = ipfilter.Parse([]string{ok})
	assert.NoError(t, err)
}

func TestParseEmpty(t *testing.T) {
	for _, entries := range [][]string{nil, {}} {
		l, err := ipfilter.Parse(entries)
		require.NoError(t, err)
		assert.True(t, l.Empty())
		assert.Equal(t, "", l.String())
		assert.False(t, l.Contains(netip.MustParseAddr("0.0.0.0")))
	}
	var zero ipfilter.List
	assert.True(t, zero.Empty())
	assert.False(t, zero.Contains(netip.MustParseAddr("192.0.2.1")))
}

func TestMustParse(t *testing.T) {
	assert.Equal(t, "10.0.0.0/8", ipfilter.MustParse("10.0.0.0/8").String())
	assert.Panics(t, func() { ipfilter.MustParse("10.0.0.1/8") })
}

func TestContains(t *testing.T) {
	l := ipfilter.MustParse(
		"10.0.0.0/8",
		"192.0.2.7",
		"192.0.2.10-192.0.2.20",
		"2001:db8::/32",
		"2001:db9::10-2001:db9::20",
		"fe80::1",
		"::ffff:198.51.100.0/120",
	)
	tests := []struct {
		addr string
		want bool
	}{
		{"10.0.0.0", true},
		{"10.255.255.255", true},
		{"9.255.255.255", false},
		{"11.0.0.0", false},
		{"192.0.2.7", true},
		{"192.0.2.6", false},
		{"192.0.2.8", false},
		{"192.0.2.9", false},
		{"192.0.2.10", true},
		{"192.0.2.15", true},
		{"192.0.2.20", true},
		{"192.0.2.21", false},
		{"::ffff:10.0.0.1", true},
		{"::ffff:192.0.2.20", true},
		{"::ffff:192.0.2.21", false},
		{"198.51.100.1", true},
		{"::ffff:198.51.100.255", true},
		{"198.51.101.0", false},
		{"2001:db8::", true},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
		{"2001:db9::f", false},
		{"2001:db9::10", true},
		{"2001:db9::20", true},
		{"2001:db9::21", false},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"fe80::2", false},
		// IPv4 addresses embedded in IPv6 other than mapped are not IPv4.
		{"::10.0.0.1", false},
		{"64:ff9b::10.0.0.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			assert.Equal(t, tc.want, l.Contains(netip.MustParseAddr(tc.addr)))
		})
	}
	assert.False(t, l.Contains(netip.Addr{}))
	assert.False(t, ipfilter.MustParse("0.0.0.0/0", "::/0").Contains(netip.Addr{}))
}

func TestContainsFamilies(t *testing.T) {
	v4all := ipfilter.MustParse("0.0.0.0/0")
	assert.True(t, v4all.Contains(netip.MustParseAddr("::ffff:1.2.3.4")))
	assert.False(t, v4all.Contains(netip.MustParseAddr("::1")))
	v6all := ipfilter.MustParse("::/0")
	assert.True(t, v6all.Contains(netip.MustParseAddr("::1")))
	assert.False(t, v6all.Contains(netip.MustParseAddr("1.2.3.4")))
	assert.False(t, v6all.Contains(netip.MustParseAddr("::ffff:1.2.3.4")))
}

func TestStringRoundTrip(t *testing.T) {
	var entries []string
	for _, tc := range validEntries {
		entries = append(entries, tc.in)
	}
	l, err := ipfilter.Parse(entries)
	require.NoError(t, err)
	s := l.String()
	l2, err := ipfilter.Parse(strings.Split(s, ","))
	require.NoError(t, err)
	assert.Equal(t, l, l2)
	assert.Equal(t, s, l2.String())

	l = ipfilter.MustParse("10.0.0.0/8", "192.0.2.1", "192.0.2.10-192.0.2.20")
	assert.Equal(t, "10.0.0.0/8,192.0.2.1,192.0.2.10-192.0.2.20", l.String())
}

func request(remote string, xff ...string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "https://gatehouse.example/token", nil)
	req.RemoteAddr = remote
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	return req
}

func TestClientAddr(t *testing.T) {
	r := ipfilter.Resolver{TrustedProxies: ipfilter.MustParse(
		"10.0.0.0/8", "2001:db8:1::/48", "192.168.1.1-192.168.1.5",
	)}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"untrusted peer without XFF", "203.0.113.9:1234", nil, "203.0.113.9"},
		{"untrusted peer with XFF ignored", "203.0.113.9:1234", []string{"198.51.100.1"}, "203.0.113.9"},
		{"untrusted peer with trusted XFF ignored", "203.0.113.9:1234", []string{"10.0.0.1"}, "203.0.113.9"},
		{"untrusted peer with malformed XFF ignored", "203.0.113.9:1234", []string{"garbage,,"}, "203.0.113.9"},
		{"untrusted peer with several XFF lines ignored", "203.0.113.9:1234", []string{"1.1.1.1", "2.2.2.2"}, "203.0.113.9"},
		{"untrusted bare peer", "203.0.113.9", nil, "203.0.113.9"},
		{"trusted peer without XFF", "10.0.0.1:443", nil, "10.0.0.1"},
		{"trusted peer single XFF", "10.0.0.1:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"trusted range peer", "192.168.1.5:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"just outside trusted range", "192.168.1.6:443", []string{"198.51.100.1"}, "192.168.1.6"},
		{"spoofed left element ignored", "10.0.0.1:443", []string{"6.6.6.6, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops skipped", "10.0.0.1:443", []string{"6.6.6.6, 198.51.100.1, 10.1.1.1, 192.168.1.2,10.2.2.2"}, "198.51.100.1"},
		{"all trusted leftmost", "10.0.0.1:443", []string{"10.3.3.3, 10.2.2.2, 192.168.1.1"}, "10.3.3.3"},
		{"whitespace trimmed", "10.0.0.1:443", []string{" \t198.51.100.1 \t"}, "198.51.100.1"},
		{"IPv6 peer and elements", "[2001:db8:1::5]:443", []string{"2001:db8:2::1, 2001:db8:1::7"}, "2001:db8:2::1"},
		{"IPv6 peer zone dropped", "[2001:db8:1::5%eth0]:443", nil, "2001:db8:1::5"},
		{"IPv6 bare peer", "2001:db8:1::5", []string{"198.51.100.1"}, "198.51.100.1"},
		{"untrusted IPv6 peer", "[2001:db8:2::5]:443", []string{"198.51.100.1"}, "2001:db8:2::5"},
		{"mapped peer trusted", "[::ffff:10.0.0.1]:443", []string{"198.51.100.1"}, "198.51.100.1"},
		{"mapped peer unmapped", "[::ffff:203.0.113.9]:443", nil, "203.0.113.9"},
		{"mapped element unmapped", "10.0.0.1:443", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"mapped trusted element skipped", "10.0.0.1:443", []string{"198.51.100.1, [::ffff:10.9.9.9]:80"}, "198.51.100.1"},
		{"elements with ports", "10.0.0.1:443", []string{"198.51.100.1:5555, 10.0.0.2:80"}, "198.51.100.1"},
		{"bracketed v6 element", "10.0.0.1:443", []string{"[2001:db8:2::1]"}, "2001:db8:2::1"},
		{"bracketed v6 element with port", "10.0.0.1:443", []string{"[2001:db8:2::1]:8080"}, "2001:db8:2::1"},
		{"50 elements", "10.0.0.1:443", []string{strings.Repeat("10.0.0.2,", 49) + "198.51.100.1"}, "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.ClientAddr(request(tc.remote, tc.xff...))
			require.NoError(t, err)
			assert.Equal(t, netip.MustParseAddr(tc.want), got)
		})
	}
}

func TestClientAddrErrors(t *testing.T) {
	r := ipfilter.Resolver{TrustedProxies: ipfilter.MustParse("10.0.0.0/8", "2001:db8:1::/48")}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   error
	}{
		{"several XFF lines", "10.0.0.1:443", []string{"198.51.100.1", "198.51.100.2"}, ipfilter.ErrForwardedFor},
		{"several XFF lines, one blank", "10.0.0.1:443", []string{"198.51.100.1", ""}, ipfilter.ErrForwardedFor},
		{"garbage element", "10.0.0.1:443", []string{"evil.example"}, ipfilter.ErrForwardedFor},
		{"garbage element on the left", "10.0.0.1:443", []string{"unknown, 198.51.100.1"}, ipfilter.ErrForwardedFor},
		{"garbage element behind untrusted", "10.0.0.1:443", []string{"198.51.100.1, <script>"}, ipfilter.ErrForwardedFor},
		{"empty element", "10.0.0.1:443", []string{"1.2.3.4,,5.6.7.8"}, ipfilter.ErrForwardedFor},
		{"trailing comma", "10.0.0.1:443", []string{"1.2.3.4,"}, ipfilter.ErrForwardedFor},
		{"blank element", "10.0.0.1:443", []string{"1.2.3.4, ,5.6.7.8"}, ipfilter.ErrForwardedFor},
		{"blank header", "10.0.0.1:443", []string{""}, ipfilter.ErrForwardedFor},
		{"whitespace header", "10.0.0.1:443", []string{"  "}, ipfilter.ErrForwardedFor},
		{"element with bad port", "10.0.0.1:443", []string{"1.2.3.4:65536"}, ipfilter.ErrForwardedFor},
		{"element with empty port", "10.0.0.1:443", []string{"1.2.3.4:"}, ipfilter.ErrForwardedFor},
		{"unbracketed v6 with port", "10.0.0.1:443", []string{"2001:db8::1:443x"}, ipfilter.ErrForwardedFor},
		{"bracketed v4", "10.0.0.1:443", []string{"[1.2.3.4]"}, ipfilter.ErrForwardedFor},
		{"unterminated bracket", "10.0.0.1:443", []string{"[2001:db8::1"}, ipfilter.ErrForwardedFor},
		{"CIDR element", "10.0.0.1:443", []string{"1.2.3.0/24"}, ipfilter.ErrForwardedFor},
		{"obfuscated address", "10.0.0.1:443", []string{"0x7f.1"}, ipfilter.ErrForwardedFor},
		{"too many elements", "10.0.0.1:443", []string{strings.Repeat("10.0.0.2,", 50) + "198.51.100.1"}, ipfilter.ErrForwardedFor},
		{"too many bytes", "10.0.0.1:443", []string{strings.Repeat(" ", 4090) + "1.2.3.4"}, ipfilter.ErrForwardedFor},
		{"IPv6 trusted peer garbage", "[2001:db8:1::1]:443", []string{"nope"}, ipfilter.ErrForwardedFor},
		{"empty RemoteAddr", "", nil, ipfilter.ErrRemoteAddr},
		{"hostname RemoteAddr", "localhost:80", nil, ipfilter.ErrRemoteAddr},
		{"pipe RemoteAddr", "@", nil, ipfilter.ErrRemoteAddr},
		{"RemoteAddr bad port", "10.0.0.1:http", nil, ipfilter.ErrRemoteAddr},
		{"RemoteAddr with spaces", " 10.0.0.1:80", nil, ipfilter.ErrRemoteAddr},
		{"RemoteAddr unbracketed v6 port", "2001:db8::1::80", []string{"1.2.3.4"}, ipfilter.ErrRemoteAddr},
		{"bad RemoteAddr with XFF", "garbage", []string{"198.51.100.1"}, ipfilter.ErrRemoteAddr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.ClientAddr(request(tc.remote, tc.xff...))
			require.ErrorIs(t, err, tc.want)
			assert.False(t, got.IsValid())
		})
	}
}

func TestClientAddrNonCanonicalHeaderKey(t *testing.T) {
	r := ipfilter.Resolver{TrustedProxies: ipfilter.MustParse("10.0.0.0/8")}
	req := request("10.0.0.1:443", "198.51.100.1")
	req.Header["x-forwarded-for"] = []string{"198.51.100.2"}
	_, err := r.ClientAddr(req)
	assert.ErrorIs(t, err, ipfilter.ErrForwardedFor)

	req = request("10.0.0.1:443")
	req.Header["x-forwarded-for"] = []string{"198.51.100.2"}
	got, err := r.ClientAddr(req)
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("198.51.100.2"), got)
}

func TestClientAddrZeroResolver(t *testing.T) {
	var r ipfilter.Resolver
	got, err := r.ClientAddr(request("10.0.0.1:443", "198.51.100.1"))
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("10.0.0.1"), got)

	_, err = r.ClientAddr(nil)
	assert.ErrorIs(t, err, ipfilter.ErrRemoteAddr)
}

func TestParseAddr(t *testing.T) {
	valid := map[string]string{
		"192.0.2.1":              "192.0.2.1",
		"192.0.2.1:0":            "192.0.2.1",
		"192.0.2.1:65535":        "192.0.2.1",
		"2001:db8::1":            "2001:db8::1",
		"[2001:db8::1]":          "2001:db8::1",
		"[2001:db8::1]:443":      "2001:db8::1",
		"::ffff:192.0.2.1":       "192.0.2.1",
		"[::ffff:192.0.2.1]:443": "192.0.2.1",
		"fe80::1%eth0":           "fe80::1",
		"[fe80::1%eth0]:443":     "fe80::1",
	}
	for in, want := range valid {
		got, err := ipfilter.ParseAddr(in)
		require.NoError(t, err, in)
		assert.Equal(t, netip.MustParseAddr(want), got, in)
	}
	invalid := []string{
		"", " 192.0.2.1", "192.0.2.1 ", "192.0.2.1:", "192.0.2.1:65536", "192.0.2.1:080",
		"192.0.2.1:+80", "192.0.2.1:-1", "192.0.2.1:80:80", "[192.0.2.1]", "[192.0.2.1]:80",
		"[2001:db8::1]:", "[2001:db8::1]80", "[2001:db8::1", "2001:db8::1]", "[[2001:db8::1]]",
		"[2001:db8::1]:443:443", "[]", "[]:80", "localhost", "1.2.3", "01.2.3.4", "1.2.3.4/32",
		"fe80::1%", ":80", ":",
	}
	for _, in := range invalid {
		_, err := ipfilter.ParseAddr(in)
		assert.Error(t, err, "%q", in)
	}
}
