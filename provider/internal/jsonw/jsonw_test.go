package jsonw

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

type sample struct {
	A string            `json:"a,omitempty"`
	B string            `json:"b"`
	N int64             `json:"n,omitempty"`
	T bool              `json:"t"`
	L []string          `json:"l,omitempty"`
	M map[string]any    `json:"m,omitempty"`
	X map[string]string `json:"-"`
}

func (s sample) appendJSON(b []byte) ([]byte, error) {
	o := Object{B: append(b, '{')}
	o.Str("a", s.A)
	o.StrAlways("b", s.B)
	o.Int("n", s.N)
	o.Bool("t", s.T)
	o.List("l", s.L)
	o.Marshal("m", s.M)
	return append(o.B, '}'), o.Err
}

// Object writes what encoding/json writes for the same struct, for every
// kind of string (plain, escaped, HTML, non-ASCII, invalid UTF-8) and the
// zero values that omitempty leaves out.
func TestObjectIsJSONMarshal(t *testing.T) {
	strs := []string{"", "plain", "a\"b", `back\slash`, "<script>&", "tab\there", "\x00\x1f\x7f", "é ü 日本", "\u2028\u2029", string([]byte{0xff, 0xfe})}
	rng := rand.New(rand.NewPCG(7, 8))
	str := func() string { return strs[rng.IntN(len(strs))] }
	for i := range 3000 {
		s := sample{A: str(), B: str(), T: rng.IntN(2) == 0}
		if rng.IntN(2) == 0 {
			s.N = rng.Int64() - rng.Int64()
		}
		switch rng.IntN(3) {
		case 0:
			s.L = []string{}
		case 1:
			s.L = []string{str(), str()}
		}
		if rng.IntN(2) == 0 {
			s.M = map[string]any{str(): str(), "n": 1.5}
		}
		want, err := json.Marshal(s)
		require.NoError(t, err)
		got, err := s.appendJSON(nil)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got), "case %d", i)
	}
	_, err := sample{M: map[string]any{"f": func() {}}}.appendJSON(nil)
	require.Error(t, err, "a value encoding/json refuses")
}
