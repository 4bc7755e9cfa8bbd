package keys

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func newManager(t *testing.T, alg string) (*Manager, *clock, storage.Store) {
	t.Helper()
	c := &clock{now: time.Now()}
	s := memory.New()
	m := NewManager(s, Options{Algorithm: alg, Now: c.Now, MaxTokenLifetime: time.Hour, CacheTTL: time.Minute})
	require.NoError(t, m.Ensure(context.Background()))
	return m, c, s
}

// sign signs a token with m's current key as the oauth package does (kid
// and alg in the header) and returns it with its signature part.
func sign(t *testing.T, m *Manager) (string, string) {
	t.Helper()
	k, err := m.Current(context.Background())
	require.NoError(t, err)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k.Key},
		(&jose.SignerOptions{}).WithHeader("kid", k.ID))
	require.NoError(t, err)
	payload, _ := json.Marshal(map[string]any{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	jws, err := signer.Sign(payload)
	require.NoError(t, err)
	tok, err := jws.CompactSerialize()
	require.NoError(t, err)
	return tok, strings.Split(tok, ".")[2]
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(b, &h))
	return h
}

func TestSignAndVerify(t *testing.T) {
	for _, alg := range []string{"ES256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			m, _, _ := newManager(t, alg)
			ctx := context.Background()
			tok, sig := sign(t, m)
			h := header(t, tok)
			assert.Equal(t, alg, h["alg"])
			assert.NotEmpty(t, h["kid"])
			assert.Equal(t, strings.Split(tok, ".")[2], sig)

			payload, hdr, err := m.Verify(ctx, tok)
			require.NoError(t, err)
			assert.Contains(t, string(payload), `"sub":"alice"`)
			assert.Equal(t, h["kid"], hdr.KeyID)

			set, err := m.PublicJWKS(ctx)
			require.NoError(t, err)
			require.Len(t, set.Keys, 1)
			assert.True(t, set.Keys[0].IsPublic())
			raw, _ := json.Marshal(set)
			assert.NotContains(t, string(raw), `"d":`, "no private material")
			assert.Equal(t, "sig", set.Keys[0].Use)
		})
	}
}

func TestRotationPublishAheadAndRetire(t *testing.T) {
	m, c, _ := newManager(t, "ES256")
	ctx := context.Background()
	oldTok, _ := sign(t, m)
	oldKid := header(t, oldTok)["kid"]

	newKid, err := m.Rotate(ctx, 10*time.Minute)
	require.NoError(t, err)
	set, _ := m.PublicJWKS(ctx)
	assert.Len(t, set.Keys, 2, "the next key is published before it signs")
	tok, _ := sign(t, m)
	assert.Equal(t, oldKid, header(t, tok)["kid"], "the old key signs until the new one activates")

	c.Advance(11 * time.Minute)
	tok, _ = sign(t, m)
	assert.Equal(t, newKid, header(t, tok)["kid"])
	_, _, err = m.Verify(ctx, oldTok)
	assert.NoError(t, err, "tokens of the retired key verify while it is published")

	c.Advance(time.Hour) // past retirement + MaxTokenLifetime
	set, _ = m.PublicJWKS(ctx)
	require.Len(t, set.Keys, 1)
	assert.Equal(t, newKid, set.Keys[0].KeyID)
	_, _, err = m.Verify(ctx, oldTok)
	assert.Error(t, err, "an expired key verifies nothing")
}

func TestReplicasShareKeys(t *testing.T) {
	m1, c, s := newManager(t, "ES256")
	m2 := NewManager(s, Options{Now: c.Now, MaxTokenLifetime: time.Hour, CacheTTL: time.Minute})
	require.NoError(t, m2.Ensure(context.Background()))
	set, _ := m2.PublicJWKS(context.Background())
	assert.Len(t, set.Keys, 1, "Ensure reuses the existing key")

	kid, err := m1.Rotate(context.Background(), 0)
	require.NoError(t, err)
	tok, _ := sign(t, m1)
	assert.Equal(t, kid, header(t, tok)["kid"])
	_, _, err = m2.Verify(context.Background(), tok)
	assert.NoError(t, err, "an unknown kid makes the other replica reload")
}

func TestForgeriesRejected(t *testing.T) {
	m, _, _ := newManager(t, "ES256")
	ctx := context.Background()
	tok, _ := sign(t, m)
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding.EncodeToString
	kid := header(t, tok)["kid"].(string)

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
			_, _, err := m.Verify(ctx, bad)
			assert.Error(t, err)
		})
	}
}

func TestConcurrentSignAndRotate(t *testing.T) {
	m, _, _ := newManager(t, "ES256")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if i == 0 {
					_, err := m.Rotate(context.Background(), 0)
					assert.NoError(t, err)
					continue
				}
				tok, _ := sign(t, m)
				_, _, err := m.Verify(context.Background(), tok)
				assert.NoError(t, err)
			}
		}()
	}
	wg.Wait()
}
