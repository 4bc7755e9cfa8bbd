package provider

import (
	"net/netip"
	"strconv"
	"time"
)

// The keys of storage.AuthFlow.Data the provider uses. Only the accessors
// below read or write them.
const (
	flowDataRequestedAt = "rat"     // Unix seconds
	flowDataClientIP    = "ip"      // the address that started the grant
	flowDataBrowser     = "browser" // digest of the browser cookie
	flowDataTenant      = "tenant"  // the tenant ID the user chose
	flowDataUser        = "user"    // the user (JSON) who signed in during the flow
)

// requestedAt is when the authorization request first arrived.
func (f *flow) requestedAt() time.Time {
	n, _ := strconv.ParseInt(f.Data[flowDataRequestedAt], 10, 64)
	return time.Unix(n, 0).UTC()
}

func (f *flow) setRequestedAt(t time.Time) {
	f.Data[flowDataRequestedAt] = strconv.FormatInt(t.Unix(), 10)
}

// clientIP is the address that started the grant ("" if unknown).
func (f *flow) clientIP() string { return f.Data[flowDataClientIP] }

func (f *flow) setClientIP(a netip.Addr) { f.Data[flowDataClientIP] = a.String() }

// browserDigest is the digest of the browser cookie of the browser that
// started the flow.
func (f *flow) browserDigest() string { return f.Data[flowDataBrowser] }

func (f *flow) setBrowserDigest(d string) { f.Data[flowDataBrowser] = d }

// chosenTenant is the ID of the tenant the user chose, or "".
func (f *flow) chosenTenant() string { return f.Data[flowDataTenant] }

func (f *flow) chooseTenant(id string) { f.Data[flowDataTenant] = id }

// userJSON is the user (JSON) who signed in during the flow, or nil.
func (f *flow) userJSON() []byte {
	if s := f.Data[flowDataUser]; s != "" {
		return []byte(s)
	}
	return nil
}

func (f *flow) setUserJSON(b []byte) { f.Data[flowDataUser] = string(b) }
