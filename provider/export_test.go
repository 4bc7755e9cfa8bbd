package provider

import (
	"encoding/base64"
	"net/netip"
	"testing"
)

// PasswordKey exposes the throttle key of a username to the tests.
var PasswordKey = passwordKey

// PasswordGrantKey is the password grant's throttle key of a username
// from a client address.
func PasswordGrantKey(username, addr string) string {
	return grantAddrKey(username, netip.MustParseAddr(addr))
}

// PasswordGrantCeilingKey is the password grant's throttle key of a
// username over all addresses.
var PasswordGrantCeilingKey = grantCeilingKey

// DeviceCookiePrefix starts the name of every device cookie.
const DeviceCookiePrefix = deviceCookiePrefix

// DeviceKey is the throttle key of the device cookie with this value, or
// "" if the value is malformed.
func DeviceKey(cookieValue string) string {
	v, err := base64.RawURLEncoding.DecodeString(cookieValue)
	if err != nil || len(v) != deviceValueLen {
		return ""
	}
	return deviceKey(v[:deviceNonceLen])
}

// ClientAuthKey exposes the throttle key of a (client ID, address) pair to
// the tests.
var ClientAuthKey = clientAuthKey

// BcryptRuns returns how many bcrypt comparisons of client secrets p has
// run.
func BcryptRuns(p *Provider) int64 { return p.hasher.BcryptRuns() }

// ShownMessageIDs returns the IDs of every message the provider's code and
// its built-in templates show, read from their source.
func ShownMessageIDs(t *testing.T) []string {
	return append(codeMessageIDs(t), templateMessageIDs(t)...)
}

// ProcessCPU is processCPU, for the package's external benchmarks.
var ProcessCPU = processCPU
