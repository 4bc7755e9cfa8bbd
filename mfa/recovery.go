package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// Recovery codes are 12 characters of Crockford's base32 alphabet (60
// bits), shown in groups of four: "k7q2-9xmv-3hpd". They are stored only as
// hashes; the subject is hashed in, so equal codes of two users hash apart
// and a stolen database cannot be attacked for every user at once.
const (
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryLen      = 12
	recoveryGroup    = 4
	recoveryPrefix   = "sha256$"
	recoveryAD       = "gatehouse/mfa/recovery/v1\x00"
)

// newRecoveryCodes returns n new recovery codes and their hashes.
func newRecoveryCodes(subject string, n int) (codes, hashes []string) {
	for range n {
		var raw [recoveryLen]byte
		rand.Read(raw[:])
		var b strings.Builder
		for i, c := range raw {
			if i > 0 && i%recoveryGroup == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[c&31]) // 256 is a multiple of 32: uniform
		}
		code := b.String()
		canon, _ := canonicalRecovery(code)
		codes = append(codes, code)
		hashes = append(hashes, hashRecovery(subject, canon))
	}
	return codes, hashes
}

// canonicalRecovery returns the canonical form of a recovery code as typed:
// lower case, without hyphens and spaces, with the letters Crockford's
// alphabet leaves out read as the digits they look like. ok is false if it
// cannot be a recovery code.
func canonicalRecovery(code string) (canon string, ok bool) {
	if len(code) > 64 {
		return "", false
	}
	var b strings.Builder
	for i := range len(code) {
		c := code[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		switch c {
		case '-', ' ', '\t':
			continue
		case 'o':
			c = '0'
		case 'i', 'l':
			c = '1'
		}
		if strings.IndexByte(recoveryAlphabet, c) < 0 {
			return "", false
		}
		b.WriteByte(c)
	}
	if b.Len() != recoveryLen {
		return "", false
	}
	return b.String(), true
}

func hashRecovery(subject, canon string) string {
	sum := sha256.Sum256([]byte(recoveryAD + subject + "\x00" + canon))
	return recoveryPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// matchRecovery returns the index of code's hash in hashes, or -1. Every
// hash is compared, in constant time.
func matchRecovery(subject, code string, hashes []string) int {
	canon, ok := canonicalRecovery(code)
	if !ok {
		return -1
	}
	h := []byte(hashRecovery(subject, canon))
	found := -1
	for i, stored := range hashes {
		if subtle.ConstantTimeCompare(h, []byte(stored)) == 1 && found < 0 {
			found = i
		}
	}
	return found
}
