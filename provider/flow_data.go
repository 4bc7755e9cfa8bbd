package provider

import (
	"net/netip"
	"strconv"
	"time"
)

// The provider's values of a flow are typed fields of storage.AuthFlow
// (RequestedAt, ClientIP, Browser, Tenant, User); only the accessors below
// read or write them. Flows stored by the release before kept them under
// these keys of AuthFlow.Data; a flow lives at most Config.FlowLifetime, so
// such flows may still be in progress across an upgrade. When a field is
// empty, the accessors fall back to its old key, and the setters remove the
// key. TODO: remove the keys and the fallback one release after the fields
// were added: by then no flow written the old way is left.
const (
	legacyRequestedAt = "rat"     // Unix seconds
	legacyClientIP    = "ip"      // the address that started the grant
	legacyBrowser     = "browser" // digest of the browser cookie
	legacyTenant      = "tenant"  // the tenant ID the user chose
	legacyUser        = "user"    // the user (JSON) who signed in during the flow
)

// requestedAt is when the authorization request first arrived, in whole
// seconds.
func (f *flow) requestedAt() time.Time {
	if f.RequestedAt.IsZero() {
		if s, ok := f.Data[legacyRequestedAt]; ok {
			n, _ := strconv.ParseInt(s, 10, 64)
			return time.Unix(n, 0).UTC()
		}
	}
	return f.RequestedAt.UTC()
}

func (f *flow) setRequestedAt(t time.Time) {
	f.RequestedAt = t.Truncate(time.Second).UTC()
	delete(f.Data, legacyRequestedAt)
}

// clientIP is the address that started the grant ("" if unknown).
func (f *flow) clientIP() string {
	if f.ClientIP == "" {
		return f.Data[legacyClientIP]
	}
	return f.ClientIP
}

func (f *flow) setClientIP(a netip.Addr) {
	f.ClientIP = a.String()
	delete(f.Data, legacyClientIP)
}

// browserDigest is the digest of the browser cookie of the browser that
// started the flow.
func (f *flow) browserDigest() string {
	if f.Browser == "" {
		return f.Data[legacyBrowser]
	}
	return f.Browser
}

func (f *flow) setBrowserDigest(d string) {
	f.Browser = d
	delete(f.Data, legacyBrowser)
}

// chosenTenant is the ID of the tenant the user chose, or "".
func (f *flow) chosenTenant() string {
	if f.Tenant == "" {
		return f.Data[legacyTenant]
	}
	return f.Tenant
}

// chooseTenant records the tenant the user chose; "" forgets the choice.
func (f *flow) chooseTenant(id string) {
	f.Tenant = id
	delete(f.Data, legacyTenant)
}

// userJSON is the user (JSON) who signed in during the flow, or nil.
func (f *flow) userJSON() []byte {
	if len(f.User) == 0 {
		if s := f.Data[legacyUser]; s != "" {
			return []byte(s)
		}
		return nil
	}
	return f.User
}

func (f *flow) setUserJSON(b []byte) {
	f.User = b
	delete(f.Data, legacyUser)
}
