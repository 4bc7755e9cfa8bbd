package provider

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"strings"
	"time"
)

// Device cookies ("Slow Down Online Guessing Attacks with Device Cookies",
// OWASP): a browser where a username signed in successfully gets a cookie
// for that username, and a sign-in attempt that presents it is counted on
// its own (deviceKey) instead of on the username's count of all other
// browsers (passwordKey). Guessing elsewhere then never locks the user out
// of a browser they used before. A device's count follows the same policy;
// while it is locked, the cookie's attempts are refused (they do not fall
// back to the username's count), and when the lock ends it is trusted
// again: a lasting distrust would send its owner back to the count that
// strangers can lock. Whoever holds a cookie without the password gets
// the same few guesses as from anywhere else.
//
// The cookie is named after a keyed digest of the normalised username, so
// a browser keeps one per user and the name tells nothing about who
// signed in there. Its value is
//
//	base64url(nonce[16] | expiry[8, Unix seconds, big-endian] | tag[32])
//	tag = HMAC-SHA256(k, "value\x00" | nonce | expiry | username)
//
// with k derived from the provider's GlobalSecret, so replicas sharing the
// secret accept each other's cookies, and a cookie for one username is
// worthless for another. Nothing is stored per cookie but the failure
// count of its nonce.
const (
	deviceCookiePrefix = "gatehouse_device_"
	deviceNonceLen     = 16
	deviceValueLen     = deviceNonceLen + 8 + sha256.Size
	deviceKeyInfo      = "gatehouse device cookie v1"
)

// deviceCookieKeys derives the device-cookie keys from the global secret
// and then the rotated ones: a cookie issued before a rotation stays valid.
// The derivation is domain-separated, so the keys are not those of tokens.
func (p *Provider) deviceCookieKeys() [][]byte {
	secrets := p.globalSecrets
	keys := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		k, err := hkdf.Key(sha256.New, s, nil, deviceKeyInfo, sha256.Size)
		if err != nil {
			k = nil // a secret HKDF refuses (FIPS-only mode) signs and verifies nothing
		}
		keys = append(keys, k)
	}
	return keys
}

// normalUsername is the form of a username every lockout count and device
// cookie uses: trimmed and lower-cased, so case variants are one user.
func normalUsername(username string) string {
	return strings.ToLower(strings.TrimSpace(username))
}

// deviceCookieName is the name of username's device cookie under key.
func deviceCookieName(key []byte, username string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("name\x00"))
	m.Write([]byte(normalUsername(username)))
	return deviceCookiePrefix + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// deviceTag is the MAC of a device cookie's nonce and expiry for username.
func deviceTag(key, nonceAndExpiry []byte, username string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("value\x00"))
	m.Write(nonceAndExpiry)
	m.Write([]byte(normalUsername(username)))
	return m.Sum(nil)
}

// setDeviceCookie gives the browser a new device cookie for username, after
// a successful sign-in: a fresh nonce each time, so its failure count
// starts from zero, valid for Config.DeviceCookieLifetime.
func (p *Provider) setDeviceCookie(w http.ResponseWriter, username string) {
	keys := p.deviceCookieKeys()
	if len(keys) == 0 || len(keys[0]) == 0 {
		return
	}
	key := keys[0]
	life := p.cfg.DeviceCookieLifetime
	v := make([]byte, deviceNonceLen+8, deviceValueLen)
	rand.Read(v[:deviceNonceLen])
	binary.BigEndian.PutUint64(v[deviceNonceLen:], uint64(p.cfg.Now().Add(life).Unix()))
	v = append(v, deviceTag(key, v, username)...)
	p.setCookie(w, deviceCookieName(key, username), base64.RawURLEncoding.EncodeToString(v), int(life/time.Second))
}

// deviceCookie returns the nonce of the valid device cookie for username
// that r presents, if any. A cookie that is malformed, forged, altered,
// issued for another username or expired is not valid: the attempt is
// then counted like one from an unknown browser.
func (p *Provider) deviceCookie(r *http.Request, username string) ([]byte, bool) {
	now := p.cfg.Now().Unix()
	for _, key := range p.deviceCookieKeys() {
		if len(key) == 0 {
			continue
		}
		c, err := r.Cookie(deviceCookieName(key, username))
		if err != nil {
			continue
		}
		v, err := base64.RawURLEncoding.DecodeString(c.Value)
		if err != nil || len(v) != deviceValueLen {
			continue
		}
		body, tag := v[:deviceNonceLen+8], v[deviceNonceLen+8:]
		if !hmac.Equal(tag, deviceTag(key, body, username)) {
			continue
		}
		if exp := binary.BigEndian.Uint64(body[deviceNonceLen:]); exp > uint64(1<<62) || int64(exp) <= now {
			continue
		}
		return body[:deviceNonceLen], true
	}
	return nil, false
}
