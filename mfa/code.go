package mfa

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"net/url"
	"strings"
	"time"
)

// TOTP parameters (RFC 6238): HMAC-SHA-1, 6 digits, 30 second steps, and
// one step of clock drift accepted either way.
const (
	digits     = 6
	period     = 30
	window     = 1
	secretSize = 20
	// minSecretSize is the smallest secret DecodeSecret accepts: 80 bits,
	// the minimum of RFC 4226 §4.
	minSecretSize = 10
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// GenerateSecret returns a new random 20-byte (160-bit) TOTP secret from
// crypto/rand, the size RFC 4226 recommends for HMAC-SHA-1.
func GenerateSecret() []byte {
	b := make([]byte, secretSize)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return b
}

// Counter returns the TOTP time step of t: t.Unix()/30.
func Counter(t time.Time) int64 { return t.Unix() / period }

// Code returns the 6-digit TOTP code of t's 30 second step, zero-padded.
func Code(secret []byte, t time.Time) string {
	return hotp(secret, uint64(Counter(t)), digits)
}

// hotp is RFC 4226's HOTP value of counter, n digits long, zero-padded.
func hotp(secret []byte, counter uint64, n int) string {
	mac := hmac.New(sha1.New, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	out := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}

// normalizeCode strips ASCII spaces and tabs from code and reports whether
// what is left is exactly 6 ASCII digits.
func normalizeCode(code string) (string, bool) {
	if len(code) > 64 {
		return "", false
	}
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, code)
	if len(code) != digits {
		return "", false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return "", false
		}
	}
	return code, true
}

// Validate checks code against the TOTP codes of the steps counter-1,
// counter and counter+1 of t, comparing in constant time per candidate, and
// returns the matching step. It refuses any step <= lastCounter (already
// used), so a caller that records the returned step as the new lastCounter
// accepts every code at most once and never an older one. code must be
// exactly 6 ASCII digits once spaces are stripped. If two steps match, the
// latest is returned.
func Validate(secret []byte, code string, t time.Time, lastCounter int64) (step int64, ok bool) {
	code, valid := normalizeCode(code)
	if !valid {
		return 0, false
	}
	counter := Counter(t)
	for s := counter - window; s <= counter+window; s++ {
		want := hotp(secret, uint64(s), digits)
		match := subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1
		if match && s > lastCounter {
			step, ok = s, true
		}
	}
	return step, ok
}

// EncodeSecret returns secret in base32, upper case, without padding, as
// authenticator apps expect it.
func EncodeSecret(secret []byte) string { return b32.EncodeToString(secret) }

// DecodeSecret decodes a base32 secret as users and other systems write it:
// upper or lower case, with spaces or hyphens between groups, with or without
// padding. It refuses secrets shorter than 10 bytes (80 bits).
func DecodeSecret(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '-':
			return -1
		}
		return r
	}, strings.ToUpper(s))
	s = strings.TrimRight(s, "=")
	b, err := b32.DecodeString(s)
	if err != nil {
		return nil, errors.New("mfa: secret is not valid base32")
	}
	if len(b) < minSecretSize {
		return nil, errors.New("mfa: secret is shorter than 80 bits")
	}
	return b, nil
}

// KeyURI returns the otpauth://totp/ URI of the secret in the key-uri format
// of Google Authenticator, for a QR code: the label "issuer:account" path
// escaped, and the parameters secret (base32 without padding), issuer,
// algorithm=SHA1, digits=6 and period=30. Neither issuer nor account should
// contain a colon.
func KeyURI(issuer, account string, secret []byte) string {
	q := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(url.PathEscape(issuer + ":" + account))
	b.WriteString("?secret=")
	b.WriteString(EncodeSecret(secret))
	b.WriteString("&issuer=")
	b.WriteString(q(issuer))
	b.WriteString("&algorithm=SHA1&digits=6&period=30")
	return b.String()
}
