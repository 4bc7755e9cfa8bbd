package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse/gatehouse/provider/internal/keys"
)

// signer is fosite's jwt.Signer on the provider's signing keys: it signs
// with the current key (kid in the header) and validates by kid against
// every published key. Decoding is a go-jose v3 boundary (fosite's
// token/jwt speaks v3); signing is ours, on go-jose v4.
type signer struct{ m *keys.Manager }

var _ jwt.Signer = signer{}

// Generate signs claims with the current key: a compact JWS whose header
// is the key's alg and kid, typ "JWT" unless header sets another, and
// header's other members. It is written here rather than through go-jose:
// the claims encoded by hand (jsonw: strings and integers without
// reflection, anything else with encoding/json), the header encoded once
// per key and type, and the signature made with crypto/ecdsa or
// crypto/rsa. On a JWT token endpoint, fosite's and go-jose's reflection
// and per-token signer set-up were a fifth of a request beside the
// signature itself. Verification stays with go-jose (Decode, and the keys
// package), and TestSignerHeaderAndClaims checks that it accepts what
// this writes.
func (s signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if claims == nil || header == nil {
		return "", "", errors.New("oauth: claims and header are required")
	}
	k, err := s.m.Current(ctx)
	if err != nil {
		return "", "", err
	}
	prefix, err := jwsPrefix(k, header.ToMap())
	if err != nil {
		return "", "", fmt.Errorf("oauth: sign: %w", err)
	}
	payload, err := appendJSONObject(make([]byte, 0, 512), claims)
	if err != nil {
		return "", "", fmt.Errorf("oauth: encode claims: %w", err)
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, len(prefix)+enc.EncodedLen(len(payload))+1+enc.EncodedLen(512))
	buf = append(buf, prefix...)
	buf = enc.AppendEncode(buf, payload)
	sig, err := signJWS(k, buf)
	if err != nil {
		return "", "", fmt.Errorf("oauth: sign: %w", err)
	}
	buf = append(buf, '.')
	start := len(buf)
	buf = enc.AppendEncode(buf, sig)
	raw := string(buf)
	return raw, raw[start:], nil
}

// signJWS signs a JWS signing input (header.payload) with k: ES256 as
// RFC 7518 §3.4 says (R and S, 32 bytes each), RS256 as PKCS #1 v1.5.
func signJWS(k keys.SigningKey, input []byte) ([]byte, error) {
	digest := sha256.Sum256(input)
	switch key := k.Key.(type) {
	case *ecdsa.PrivateKey:
		if k.Algorithm != "ES256" || key.Curve != elliptic.P256() {
			return nil, fmt.Errorf("key %s: an ECDSA key signs ES256 on P-256 only, not %s", k.ID, k.Algorithm)
		}
		r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case *rsa.PrivateKey:
		if k.Algorithm != "RS256" {
			return nil, fmt.Errorf("key %s: an RSA key signs RS256 only, not %s", k.ID, k.Algorithm)
		}
		return rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	}
	return nil, fmt.Errorf("key %s: unsupported key type %T", k.ID, k.Key)
}

// prefixKey identifies an encoded JWS header: the key (a pointer), its kid
// and alg, and the token type, the one header member that varies.
type prefixKey struct {
	key      crypto.Signer
	kid, alg string
	typ      string
}

// jwsPrefixes caches the encoded headers of the keys in use (a few: the
// current key, times the token types). A rotated key's stay until the
// process ends, about a hundred bytes per rotation and type.
var jwsPrefixes sync.Map // prefixKey -> string

// jwsPrefix returns the base64url-encoded protected header for k and
// header's members (but alg and kid, which are k's; typ "JWT" when header
// has none), followed by the dot.
func jwsPrefix(k keys.SigningKey, header map[string]any) (string, error) {
	typ := "JWT"
	if t, ok := header["typ"].(string); ok {
		typ = t
	}
	onlyTyp := true
	for name := range header {
		if name != "alg" && name != "kid" && name != "typ" {
			onlyTyp = false
		}
	}
	var ck *prefixKey
	switch k.Key.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey: // comparable: a cache key
		if onlyTyp {
			ck = &prefixKey{key: k.Key, kid: k.ID, alg: k.Algorithm, typ: typ}
			if p, ok := jwsPrefixes.Load(*ck); ok {
				return p.(string), nil
			}
		}
	}
	h := make(map[string]any, len(header)+3)
	for name, v := range header {
		h[name] = v
	}
	h["alg"], h["kid"], h["typ"] = k.Algorithm, k.ID, typ
	js, err := appendJSONObject(nil, h)
	if err != nil {
		return "", err
	}
	p := base64.RawURLEncoding.EncodeToString(js) + "."
	if ck != nil {
		jwsPrefixes.Store(*ck, p)
	}
	return p, nil
}

// Decode parses and verifies a token by its kid and returns it with its
// claims; an expired token comes back with a *jwt.ValidationError that has
// ValidationErrorExpired, as fosite expects.
func (s signer) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, err := s.m.Lookup(ctx, kid)
		if err != nil {
			return nil, err
		}
		if string(t.Method) != k.Algorithm {
			return nil, fmt.Errorf("oauth: token alg %q does not match key %q", t.Method, kid)
		}
		return k.Key.Public(), nil
	})
}

// Validate verifies a token and returns its signature.
func (s signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// Hash is SHA-256, the hash of ES256 and RS256 (for at_hash and c_hash).
func (signer) Hash(_ context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSignature returns the third part of a compact JWS.
func (signer) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("oauth: a JWT has three parts")
	}
	return parts[2], nil
}

// GetSigningMethodLength is the SHA-256 size.
func (signer) GetSigningMethodLength(context.Context) int { return sha256.Size }
