package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// TestRequestObjectsRefusedByFosite: should a request object reach fosite
// despite the provider's refusal of the request parameter, the client's
// request object algorithm keeps fosite from using it. With "" fosite
// accepts any alg, none included, and the unsigned object's state
// replaced the query's.
func TestRequestObjectsRefusedByFosite(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	require.NoError(t, err)
	mem := memory.New()
	require.NoError(t, mem.CreateClient(context.Background(), storage.Client{
		ID: "rp", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://rp.example/cb"},
		Scopes: []string{"openid"}, TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256", JWKS: jwks,
	}))
	f := &fosite.Fosite{Store: &Store{S: mem, Now: time.Now}, Config: &fosite.Config{}}

	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	claims := enc(map[string]any{"state": "state-from-the-object", "exp": time.Now().Add(time.Minute).Unix()})
	for _, alg := range []string{"none", noRequestObjects} {
		t.Run(alg, func(t *testing.T) {
			q := url.Values{
				"response_type": {"code"}, "client_id": {"rp"}, "redirect_uri": {"https://rp.example/cb"},
				"scope": {"openid"}, "state": {"state-from-the-query"},
				"request": {enc(map[string]string{"alg": alg, "typ": "JWT"}) + "." + claims + "."},
			}
			req, err := http.NewRequest(http.MethodGet, "https://op.example/authorize?"+q.Encode(), nil)
			require.NoError(t, err)
			ar, err := f.NewAuthorizeRequest(context.Background(), req)
			require.Error(t, err, "the request object must be refused")
			assert.Equal(t, "invalid_request_object", fosite.ErrorToRFC6749Error(err).ErrorField)
			assert.Equal(t, "state-from-the-query", ar.GetState())
		})
	}
	assert.NotEmpty(t, (&Client{}).GetRequestObjectSigningAlgorithm())
}

// Parsed ranges are cached by a key no other list shares: a list whose
// ranges joined would read as another's (a range holding a newline, an
// entry that looks like a length prefix) is parsed for itself, so a bad
// range never borrows a good list's verdict.
func TestParseRangesCacheKeys(t *testing.T) {
	lists := [][]string{
		{"127.0.0.1/32"}, {"127.0.0.1/32\n10.0.0.0/8"}, {"127.0.0.1/32", "10.0.0.0/8"},
		{"12:127.0.0.1/32"}, {"127.0.0.1/32", ""}, {"::1"}, {"bogus"},
	}
	keys := map[string]int{}
	for i, l := range lists {
		k := rangeKey(l)
		if j, dup := keys[k]; dup {
			t.Fatalf("lists %d and %d share the key %q", j, i, k)
		}
		keys[k] = i
	}
	for range 2 { // the second round is served from the cache
		for _, l := range lists {
			want, wantErr := ipfilter.Parse(l)
			got, bad := parseRanges(l)
			require.Equal(t, wantErr != nil, bad, "%q", l)
			for _, a := range []string{"127.0.0.1", "10.1.2.3", "::1", "192.0.2.1"} {
				addr := netip.MustParseAddr(a)
				require.Equal(t, want.Contains(addr), got.Contains(addr), "%q contains %s", l, a)
			}
		}
	}
}

// The parsed-ranges cache never holds more than maxRangeCache lists.
func TestParseRangesCacheIsBounded(t *testing.T) {
	for i := range maxRangeCache + 10 {
		l, bad := parseRanges([]string{fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)})
		require.False(t, bad)
		require.True(t, l.Contains(netip.MustParseAddr(fmt.Sprintf("10.%d.%d.7", i/256, i%256))))
		require.LessOrEqual(t, rangeCache.Load().n.Load(), int64(maxRangeCache))
	}
}
