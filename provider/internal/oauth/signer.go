package oauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	jose3 "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse/gatehouse/provider/internal/keys"
)

// signer is fosite's jwt.Signer on the provider's signing keys: it signs
// with the current key (kid in the header) and validates by kid against
// every published key. It is a go-jose v3 boundary: fosite's token/jwt
// speaks v3; the keys package and everything outside this package use v4.
type signer struct{ m *keys.Manager }

var _ jwt.Signer = signer{}

// Generate signs claims with the current key.
func (s signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	if claims == nil || header == nil {
		return "", "", errors.New("oauth: claims and header are required")
	}
	k, err := s.m.Current(ctx)
	if err != nil {
		return "", "", err
	}
	tok := jwt.NewWithClaims(jose3.SignatureAlgorithm(k.Algorithm), claims)
	for name, v := range header.ToMap() {
		if name == "alg" || name == "kid" {
			continue
		}
		tok.Header[name] = v
	}
	raw, err := tok.SignedString(&jose3.JSONWebKey{Key: k.Key, KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"})
	if err != nil {
		return "", "", fmt.Errorf("oauth: sign: %w", err)
	}
	sig, err := s.GetSignature(ctx, raw)
	return raw, sig, err
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
