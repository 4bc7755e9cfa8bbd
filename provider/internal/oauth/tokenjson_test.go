package oauth

import (
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// appendJSONObject must write exactly what json.Marshal writes, which is
// what fosite's WriteAccessResponse wrote before it, for every kind of
// value and string.
func TestAppendJSONObjectIsJSONMarshal(t *testing.T) {
	strs := []string{"", "ory_at_abc.def", "openid offline_access", "a\"b", `back\slash`, "<script>&", "tab\there", "\x00\x1f\x7f",
		"é ü 日本", "\u2028\u2029", string([]byte{0xff, 0xfe}), "eyJhbGciOi.eyJzdWIi.sig-_"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		m := map[string]any{}
		for range rng.IntN(7) {
			k := strs[rng.IntN(len(strs))]
			switch rng.IntN(6) {
			case 0, 1:
				m[k] = strs[rng.IntN(len(strs))]
			case 2:
				m[k] = rng.Int64() - rng.Int64()
			case 3:
				m[k] = rng.IntN(7200) - 100
			case 4:
				m[k] = []string{strs[rng.IntN(len(strs))]}
			case 5:
				m[k] = map[string]any{"nested": strs[rng.IntN(len(strs))], "n": 1.5}
			}
		}
		want, err := json.Marshal(m)
		require.NoError(t, err)
		got, err := appendJSONObject(nil, m)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "%#v", m)
	}
}

func TestWriteAccessResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	writeAccessResponse(rec, map[string]any{"access_token": "at", "token_type": "bearer", "expires_in": int64(3599), "scope": "a b"})
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	assert.Equal(t, "no-cache", rec.Header().Get("Pragma"))
	assert.Equal(t, "application/json;charset=UTF-8", rec.Header().Get("Content-Type"))
	assert.Equal(t, `{"access_token":"at","expires_in":3599,"scope":"a b","token_type":"bearer"}`, rec.Body.String())

	rec = httptest.NewRecorder()
	writeAccessResponse(rec, map[string]any{"bad": func() {}})
	assert.Equal(t, 500, rec.Code, "a value JSON cannot hold is a server error, as in fosite")
}
