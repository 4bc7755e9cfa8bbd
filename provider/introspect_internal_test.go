package provider

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The introspection answer is written by hand: byte for byte what
// json.NewEncoder wrote before, for every field set or empty and every
// kind of string.
func TestIntrospectionJSONIsEncoders(t *testing.T) {
	strs := []string{"", "svc", "assets:read openid", "a\"b", "<&>", "é 日本", "\x00", string([]byte{0xff})}
	rng := rand.New(rand.NewPCG(9, 10))
	str := func() string { return strs[rng.IntN(len(strs))] }
	list := func() []string {
		switch rng.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		return []string{str(), str()}
	}
	num := func() int64 { return []int64{0, 1764755000, -1}[rng.IntN(3)] }
	for i := range 2000 {
		r := introspectionResponse{Active: rng.IntN(2) == 0, Scope: str(), ClientID: str(), Username: str(), TokenType: str(),
			Exp: num(), Iat: num(), Sub: str(), Aud: list(), Iss: str(), AuthTime: num(), AMR: list(), ACR: str(),
			Customer: str(), ClientIP: str(), PrincipalType: str()}
		var want bytes.Buffer
		require.NoError(t, json.NewEncoder(&want).Encode(r))
		require.Equal(t, want.String(), string(r.appendJSON(nil)), "case %d", i)
	}
}

func TestInactiveBodyIsEncoders(t *testing.T) {
	var want bytes.Buffer
	require.NoError(t, json.NewEncoder(&want).Encode(map[string]any{"active": false}))
	require.Equal(t, want.String(), inactiveBody)
}
