package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite/token/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider/internal/keys"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// testClock is a clock tests advance.
type testClock struct{ now time.Time }

func (c *testClock) Now() time.Time { return c.now }

func newSigner(t testing.TB, alg string) (signer, *keys.Manager, *testClock) {
	t.Helper()
	c := &testClock{now: time.Now()}
	m := keys.NewManager(memory.New(), keys.Options{Algorithm: alg, Now: c.Now, MaxTokenLifetime: time.Hour, CacheTTL: time.Minute})
	require.NoError(t, m.Ensure(context.Background()))
	return signer{m}, m, c
}

func jwsHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(b, &h))
	return h
}

func TestSignerSignsWithCurrentKeyAndValidates(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			s, m, _ := newSigner(t, alg)
			ctx := context.Background()
			tok, sig, err := s.Generate(ctx, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}, &jwt.Headers{})
			require.NoError(t, err)
			h := jwsHeader(t, tok)
			k, err := m.Current(ctx)
			require.NoError(t, err)
			assert.Equal(t, alg, h["alg"])
			assert.Equal(t, k.ID, h["kid"])
			assert.Equal(t, strings.Split(tok, ".")[2], sig)

			payload, _, err := m.Verify(ctx, tok)
			require.NoError(t, err, "the keys package verifies what the signer signs")
			assert.Contains(t, string(payload), `"sub":"alice"`)
			got, err := s.Validate(ctx, tok)
			require.NoError(t, err)
			assert.Equal(t, sig, got)
			decoded, err := s.Decode(ctx, tok)
			require.NoError(t, err)
			assert.Equal(t, "alice", decoded.Claims["sub"])
		})
	}
}

func TestSignerKeepsTypButNotKid(t *testing.T) {
	s, _, _ := newSigner(t, "ES256")
	tok, _, err := s.Generate(context.Background(), jwt.MapClaims{"sub": "x"}, &jwt.Headers{Extra: map[string]any{"typ": "at+jwt", "kid": "forged"}})
	require.NoError(t, err)
	h := jwsHeader(t, tok)
	assert.Equal(t, "at+jwt", h["typ"])
	assert.NotEqual(t, "forged", h["kid"], "the kid is always the signing key's")
}

// fosite#786: validation is by kid, not by the current key.
func TestSignerValidatesByKidAfterRotation(t *testing.T) {
	s, m, c := newSigner(t, "ES256")
	ctx := context.Background()
	oldTok, _, err := s.Generate(ctx, jwt.MapClaims{"sub": "x"}, &jwt.Headers{})
	require.NoError(t, err)
	newKid, err := m.Rotate(ctx, 0)
	require.NoError(t, err)
	c.now = c.now.Add(time.Second)
	tok, _, err := s.Generate(ctx, jwt.MapClaims{"sub": "x"}, &jwt.Headers{})
	require.NoError(t, err)
	assert.Equal(t, newKid, jwsHeader(t, tok)["kid"])
	_, err = s.Validate(ctx, oldTok)
	assert.NoError(t, err, "a token of the retired key validates while the key is published")
}

func TestSignerRejectsForgeries(t *testing.T) {
	s, m, _ := newSigner(t, "ES256")
	ctx := context.Background()
	tok, _, err := s.Generate(ctx, jwt.MapClaims{"sub": "alice"}, &jwt.Headers{})
	require.NoError(t, err)
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding.EncodeToString
	kid := jwsHeader(t, tok)["kid"].(string)

	none := enc([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + parts[1] + "."
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	foreignSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: other, KeyID: kid}}, nil)
	foreignJWS, _ := foreignSigner.Sign([]byte(`{"sub":"mallory"}`))
	foreign, _ := foreignJWS.CompactSerialize()
	set, _ := m.PublicJWKS(ctx)
	pubJSON, _ := json.Marshal(set.Keys[0])
	hsSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubJSON}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	hsJWS, _ := hsSigner.Sign([]byte(`{"sub":"mallory"}`))
	hs, _ := hsJWS.CompactSerialize()
	unknownKid := enc([]byte(`{"alg":"ES256","kid":"nope"}`)) + "." + parts[1] + "." + parts[2]
	tampered := parts[0] + "." + enc([]byte(`{"sub":"mallory"}`)) + "." + parts[2]

	for name, bad := range map[string]string{"alg none": none, "foreign key": foreign, "HS256 with public key": hs, "unknown kid": unknownKid, "tampered": tampered, "garbage": "x.y.z"} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Validate(ctx, bad)
			assert.Error(t, err)
		})
	}
}

func TestSignerExpiredTokenDecodesWithExpiredError(t *testing.T) {
	s, _, _ := newSigner(t, "ES256")
	tok, _, err := s.Generate(context.Background(), jwt.MapClaims{"sub": "x", "exp": time.Now().Add(-time.Hour).Unix()}, &jwt.Headers{})
	require.NoError(t, err)
	_, err = s.Decode(context.Background(), tok)
	var ve *jwt.ValidationError
	require.True(t, errors.As(err, &ve))
	assert.True(t, ve.Has(jwt.ValidationErrorExpired), "fosite accepts expired id_token_hints by this error")
}

func BenchmarkSignerGenerate(b *testing.B) {
	s, _, _ := newSigner(b, "ES256")
	for b.Loop() {
		if _, _, err := s.Generate(context.Background(), jwt.MapClaims{"sub": "x"}, &jwt.Headers{}); err != nil {
			b.Fatal(err)
		}
	}
}

// The header's typ is the caller's (else "JWT"), whatever was signed
// before with the same key (the go-jose signers are cached per key and
// typ); other header members are kept; claims of every kind come back as
// encoding/json reads them.
func TestSignerHeaderAndClaims(t *testing.T) {
	s, _, _ := newSigner(t, "ES256")
	ctx := context.Background()
	claims := jwt.MapClaims{"sub": "a\"<b>&", "n": int64(1 << 40), "i": 7, "f": 1.5, "aud": []string{"x", "y"}, "ext": map[string]any{"k": []any{"v", true}}}
	for _, c := range []struct {
		header map[string]any
		typ    string
	}{
		{map[string]any{"typ": "at+jwt"}, "at+jwt"},
		{nil, "JWT"},
		{map[string]any{"typ": "at+jwt"}, "at+jwt"},
		{map[string]any{"cty": "x"}, "JWT"},
		{nil, "JWT"},
	} {
		tok, _, err := s.Generate(ctx, claims, &jwt.Headers{Extra: c.header})
		require.NoError(t, err)
		h := jwsHeader(t, tok)
		assert.Equal(t, c.typ, h["typ"])
		assert.Equal(t, c.header["cty"], h["cty"], "other members are kept, and only where given")
		decoded, err := s.Decode(ctx, tok)
		require.NoError(t, err)
		want, err := json.Marshal(claims)
		require.NoError(t, err)
		got, err := json.Marshal(decoded.Claims)
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got))
	}
}

// signJWS signs only with a key of the algorithm it is labelled with:
// ES256 on P-256 ECDSA, RS256 on RSA; anything else is refused, never
// signed under a header that misnames it.
func TestSignJWSRefusesMismatchedKeys(t *testing.T) {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	for _, k := range []keys.SigningKey{
		{ID: "a", Algorithm: "RS256", Key: p256},
		{ID: "b", Algorithm: "ES256", Key: p384},
		{ID: "c", Algorithm: "ES256", Key: rsaKey},
		{ID: "d", Algorithm: "EdDSA", Key: edKey},
	} {
		_, err := signJWS(k, []byte("header.payload"))
		assert.Error(t, err, "%s: %s with %T", k.ID, k.Algorithm, k.Key)
	}
	for _, k := range []keys.SigningKey{{ID: "e", Algorithm: "ES256", Key: p256}, {ID: "f", Algorithm: "RS256", Key: rsaKey}} {
		sig, err := signJWS(k, []byte("header.payload"))
		require.NoError(t, err, k.ID)
		assert.NotEmpty(t, sig)
	}
}
