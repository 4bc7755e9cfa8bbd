package oauth

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeptTokensBounded: the kept tokens never exceed maxKept; at the
// bound they are dropped all at once, and the token being kept is kept.
func TestKeptTokensBounded(t *testing.T) {
	var k keptTokens
	assert.Nil(t, k.get("a"), "nothing is kept at first")
	k.put("0", &keptToken{})
	k.put("0", &keptToken{}) // kept already: no second count
	assert.Equal(t, int64(1), k.m.Load().n.Load())
	for i := range maxKept {
		k.put(strconv.Itoa(i), &keptToken{})
	}
	require.Equal(t, int64(maxKept), k.m.Load().n.Load())
	require.NotNil(t, k.get("0"))

	k.put("one more", &keptToken{})
	assert.Equal(t, int64(1), k.m.Load().n.Load(), "at the bound, the kept tokens are dropped")
	assert.Nil(t, k.get("0"))
	assert.NotNil(t, k.get("one more"))

	k.drop("one more")
	k.drop("one more")
	assert.Nil(t, k.get("one more"))
	assert.Equal(t, int64(0), k.m.Load().n.Load(), "a drop counts once")
}
