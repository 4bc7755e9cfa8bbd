package oauth

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/ory/fosite"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// codecStrings are strings of every kind the encoder treats differently:
// plain, needing an escape, HTML-escaped, non-ASCII, invalid UTF-8.
var codecStrings = []string{"", "sub-alice", "127.0.0.1", "a\"b", `back\slash`, "<script>&", "tab\there", "\x00\x1f\x7f",
	"é ü 日本", "\u2028\u2029", string([]byte{0xff, 0xfe}), "O_-K2LvqV6S7hyvI5UBk1APkwMQ51jNOG0EshKJx3gQ"}

// plainStrings need no escape in JSON.
var plainStrings = []string{"", "sub-alice", "127.0.0.1", "é ü 日本", "O_-K2LvqV6S7hyvI5UBk1APkwMQ51jNOG0EshKJx3gQ"}

// randomWire returns a random session; with plain, its strings need no
// escape (what the fast path decodes).
func randomWire(rng *rand.Rand, plain bool) wireSession {
	strs := codecStrings
	if plain {
		strs = plainStrings
	}
	str := func() string { return strs[rng.IntN(len(strs))] }
	num := func() int64 {
		switch rng.IntN(4) {
		case 0:
			return 0
		case 1:
			return -rng.Int64()
		default:
			return rng.Int64()
		}
	}
	list := func() []string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		l := make([]string, 1+rng.IntN(3))
		for i := range l {
			l[i] = str()
		}
		return l
	}
	anyMap := func() map[string]any {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return map[string]any{}
		}
		return map[string]any{str(): str(), "n": 1.5, "l": []any{"x", 2.0, true, nil}, "o": map[string]any{"k": str()}}
	}
	w := wireSession{Subject: str(), Username: str(), Headers: anyMap(), Extra: anyMap(), ClientIP: str(), LoginSID: str(), Principal: str(), APIKeyID: str()}
	if rng.IntN(2) == 0 {
		w.Expires = map[fosite.TokenType]int64{}
		for _, k := range []fosite.TokenType{fosite.AccessToken, fosite.RefreshToken, fosite.AuthorizeCode, fosite.IDToken} {
			if rng.IntN(2) == 0 {
				w.Expires[k] = num()
			}
		}
	}
	if rng.IntN(2) == 0 {
		w.Claims = &wireClaims{JTI: str(), Issuer: str(), Subject: str(), Audience: list(), Nonce: str(), ExpiresAt: num(), IssuedAt: num(),
			RequestedAt: num(), AuthTime: num(), AtHash: str(), ACR: str(), AMR: list(), CHash: str(), Extra: anyMap()}
	}
	switch rng.IntN(4) {
	case 0, 3:
		w.User = json.RawMessage(`{"sub":"sub-alice","name":"Alice Example","groups":["a","b"],"n":1}`)
	case 1:
		w.User = json.RawMessage(" {\"x\" : \"<&>\",\n \"y\": [1, 2]} ")
	case 2:
		if !plain {
			w.User = json.RawMessage(`{"bad":`)
		}
	}
	if rng.IntN(2) == 0 {
		w.Tenant = &Tenant{ID: str(), DomainID: str(), ShortName: str(), Name: str()}
	}
	return w
}

// The hand-written codec must write exactly what encoding/json wrote (the
// sessions already stored were written by it) and read back what
// encoding/json reads, for every kind of value and string.
func TestSessionCodecMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	fast := 0
	for i := range 3000 {
		w := randomWire(rng, i%2 == 0)
		want, wantErr := json.Marshal(w)
		got, err := appendWire(nil, &w)
		if wantErr != nil {
			require.Error(t, err, "case %d", i)
			continue
		}
		require.NoError(t, err, "case %d", i)
		require.Equal(t, string(want), string(got), "case %d", i)

		var viaJSON, viaCodec wireSession
		require.NoError(t, json.Unmarshal(want, &viaJSON))
		if decodeWire(want, &viaCodec) == nil {
			fast++
			assert.Equal(t, viaJSON, viaCodec, "case %d: %s", i, want)
		}
	}
	// Sessions without escaped strings take the fast path.
	assert.Greater(t, fast, 1000)
}

// What the provider stores takes the fast path: the sessions of a
// client_credentials token and of a user's code-flow grant.
func TestSessionCodecFastPath(t *testing.T) {
	for _, b := range []string{
		`{"exp":{"access_token":1764755000000000000},"ip":"127.0.0.1"}`,
		`{"sub":"sub-alice","usr":"alice","exp":{"access_token":1,"authorize_code":2,"refresh_token":3},"idt":{"sub":"sub-alice","rat":4,"auth_time":5,"acr":"1","amr":["pwd"],"ext":{"name":"Alice Example"}},"user":{"sub":"sub-alice","groups":["admins"],"permissions":["*"]},"tnt":{"id":"acme","dom":"dom-acme"},"ip":"127.0.0.1","sid":"O_-K2Lvq","pt":"application","akid":"k1"}`,
		// PostgreSQL's jsonb text form has spaces; bytea keeps ours, but
		// white space is JSON all the same.
		`{"exp": {"access_token": 1}, "ip": "::1"}`,
	} {
		var fast, slow wireSession
		require.NoError(t, decodeWire([]byte(b), &fast), b)
		require.NoError(t, json.Unmarshal([]byte(b), &slow))
		assert.Equal(t, slow, fast, b)
	}
	for _, b := range []string{
		`{"sub":"a","sub":"b"}`, `{"SUB":"a"}`, `{"sub":null}`, `{"sub":"\u0061"}`, `{"exp":{"access_token":1.0}}`,
		`{"exp":{"access_token":1e3}}`, `{"exp":{"a":1,"a":2}}`, `{"exp":{"access_token":01}}`, `{"unknown":1}`, `{}x`,
		`{"user":null}`, `{"idt":{"aud":"x"}}`, `{"exp":{"access_token":99999999999999999999}}`,
		`{"idt":{"acr":"1","acr":"2"}}`, `{"tnt":{"id":"a","id":"b"}}`, `{"idt":{"ext":{},"ext":{}}}`, `{"tnt":{"ID":"a"}}`,
	} {
		var w wireSession
		assert.ErrorIs(t, decodeWire([]byte(b), &w), errNotCanonical, b)
	}
}

// FuzzSessionCodec: for any input, decodeWire either declines it or reads
// exactly what json.Unmarshal reads; and a session it read encodes back
// to what json.Marshal writes.
func FuzzSessionCodec(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20 {
		w := randomWire(rng, rng.IntN(2) == 0)
		if b, err := json.Marshal(w); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"exp": {"access_token": 1}, "ip": "::1"}`))
	f.Add([]byte(`{"idt":{"aud":[],"amr":["pwd"],"ext":{"a":[1,{"b":"}"}]}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast wireSession
		if decodeWire(b, &fast) != nil {
			return
		}
		var slow wireSession
		require.NoError(t, json.Unmarshal(b, &slow), "the fast path read what encoding/json refuses: %q", b)
		require.Equal(t, slow, fast, "%q", b)
		want, err := json.Marshal(slow)
		require.NoError(t, err)
		got, err := appendWire(nil, &fast)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	})
}
