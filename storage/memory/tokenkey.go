package memory

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"

	"github.com/gatehouse/gatehouse/storage"
)

// tokenKey is the key of a token: its kind (each kind is its own key
// space) and its signature in 34 bytes that hold no pointer (see arena).
// The provider's signatures are HMAC-SHA256 digests in unpadded base64url,
// 43 characters: such a signature, and any other canonical unpadded
// base64url of at most 32 bytes, is kept decoded, which gives it back
// exactly. Any other signature (a JWT's, a custom strategy's) is kept as
// its SHA-256 digest, and its record holds the signature itself.
type tokenKey struct {
	kind kindCode
	n    uint8 // bytes of raw in use, a decoded signature; hashedSig: raw is a digest
	raw  [32]byte
}

// hashedSig is tokenKey.n for a signature kept as its SHA-256 digest.
const hashedSig = 0xFF

// kindCode is a storage.TokenKind as a tokenKey keeps it. A kind's code is
// its place in storage.Kinds plus one; zero is no kind.
type kindCode uint8

// The codes of the kinds the store's methods name.
var (
	codeAuthCode     = codeOf(storage.KindAuthCode)
	codeAccessToken  = codeOf(storage.KindAccessToken)
	codeRefreshToken = codeOf(storage.KindRefreshToken)
)

// codeOf returns the code of kind, or 0 for a kind storage.Kinds does not
// list.
func codeOf(kind storage.TokenKind) kindCode {
	return kindCode(slices.Index(storage.Kinds, kind) + 1)
}

// kind returns the kind of c, which is not 0.
func (c kindCode) kind() storage.TokenKind { return storage.Kinds[c-1] }

// keyOf returns the key of the token of kind and signature sig.
func keyOf(kind kindCode, sig string) tokenKey {
	k := tokenKey{kind: kind}
	if n, ok := decodeSig(&k.raw, sig); ok {
		k.n = uint8(n)
		return k
	}
	k.n = hashedSig
	k.raw = sha256.Sum256([]byte(sig))
	return k
}

// hashed reports whether k keeps its signature as a digest, the record
// holding the signature.
func (k tokenKey) hashed() bool { return k.n == hashedSig }

// signature returns the signature of k, which is not hashed.
func (k tokenKey) signature() string {
	return base64.RawURLEncoding.EncodeToString(k.raw[:k.n])
}

// b64url maps a base64url character to its 6 bits, and any other byte to
// 0xFF.
var b64url = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeSig decodes s, unpadded base64url, into dst, and reports how many
// bytes it wrote. It refuses (ok false) what does not fit in dst and what
// is not the canonical encoding of its bytes (a length no encoding has, or
// bits set past the last byte), so that the bytes give back s exactly: two
// signatures never share a key.
func decodeSig(dst *[32]byte, s string) (n int, ok bool) {
	if len(s) > 43 || len(s)%4 == 1 {
		return 0, false
	}
	var acc uint32
	bits := 0
	for i := range len(s) {
		v := b64url[s[i]]
		if v == 0xFF {
			return 0, false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst[n] = byte(acc >> bits)
			n++
		}
	}
	if acc&(1<<bits-1) != 0 {
		return 0, false
	}
	return n, true
}
