package ipfilter_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/gatehouse/gatehouse/ipfilter"
)

func ExampleParse() {
	l, err := ipfilter.Parse([]string{"10.0.0.0/8", "192.0.2.10 - 192.0.2.20", "2001:db8::/32"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(l)
	for _, s := range []string{"10.1.2.3", "::ffff:192.0.2.20", "192.0.2.21", "2001:db8::1"} {
		fmt.Println(s, l.Contains(netip.MustParseAddr(s)))
	}

	_, err = ipfilter.Parse([]string{"10.0.0.1/8", "fe80::1%eth0"})
	fmt.Println(err)
	// Output:
	// 10.0.0.0/8,192.0.2.10-192.0.2.20,2001:db8::/32
	// 10.1.2.3 true
	// ::ffff:192.0.2.20 true
	// 192.0.2.21 false
	// 2001:db8::1 true
	// ipfilter: entry 0 "10.0.0.1/8": host bits set; did you mean "10.0.0.0/8"?
	// ipfilter: entry 1 "fe80::1%eth0": zones are not allowed
}

func ExampleResolver_ClientAddr() {
	r := ipfilter.Resolver{TrustedProxies: ipfilter.MustParse("10.0.0.0/8")}

	// A request through two trusted proxies; the left-most element was
	// supplied by the client and is not believed.
	req := httptest.NewRequest(http.MethodPost, "https://gatehouse.example/token", nil)
	req.RemoteAddr = "10.0.0.1:443"
	req.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.0.0.2")
	fmt.Println(r.ClientAddr(req))

	// A client talking directly cannot spoof its address.
	req.RemoteAddr = "203.0.113.9:50000"
	fmt.Println(r.ClientAddr(req))
	// Output:
	// 198.51.100.7 <nil>
	// 203.0.113.9 <nil>
}
