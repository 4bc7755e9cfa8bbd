package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
)

// The stored form of a TOTP secret (storage.MFARecord.TOTPSecret) is one
// format byte followed by the payload:
//
//	formatPlain  || secret
//	formatSealed || nonce (12 bytes) || AES-256-GCM(secret), additional data
//	                sealAD || subject
//
// The subject in the additional data binds a sealed secret to its record: a
// sealed secret copied to another subject's record does not open.
const (
	formatPlain  byte = 0
	formatSealed byte = 1
)

const sealAD = "gatehouse/mfa/totp/v1\x00"

// errSecret is returned when a stored secret cannot be opened: it was
// sealed for another subject or with another key, it is corrupt, or its
// format does not match the configured key. It is a server-side failure,
// not a wrong code.
var errSecret = errors.New("mfa: stored TOTP secret cannot be opened (wrong key, wrong subject or corrupt)")

// seal returns the stored form of secret.
func (t *TOTP) seal(subject string, secret []byte) []byte {
	if t.aead == nil {
		return append([]byte{formatPlain}, secret...)
	}
	out := make([]byte, 1+t.aead.NonceSize(), 1+t.aead.NonceSize()+len(secret)+t.aead.Overhead())
	out[0] = formatSealed
	rand.Read(out[1:])
	return t.aead.Seal(out, out[1:], secret, []byte(sealAD+subject))
}

// open returns the secret of a stored form. With a key only sealed secrets
// open (so that a database writer cannot plant a known plain secret);
// without one only plain secrets do.
func (t *TOTP) open(subject string, stored []byte) ([]byte, error) {
	if len(stored) == 0 {
		return nil, errSecret
	}
	switch {
	case t.aead == nil && stored[0] == formatPlain:
		return append([]byte(nil), stored[1:]...), nil
	case t.aead != nil && stored[0] == formatSealed:
		n := t.aead.NonceSize()
		if len(stored) < 1+n+t.aead.Overhead() {
			return nil, errSecret
		}
		secret, err := t.aead.Open(nil, stored[1:1+n], stored[1+n:], []byte(sealAD+subject))
		if err != nil {
			return nil, errSecret
		}
		return secret, nil
	}
	return nil, errSecret
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
