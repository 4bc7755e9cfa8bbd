package memory

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/stretchr/testify/assert"
)

// keyList keeps its first key inline: adding and removing in any order
// keeps every other key, and the list reports empty exactly when it is.
func TestKeyList(t *testing.T) {
	k := func(s string) tokenKey { return tokenKey{codeAccessToken, s} }
	collect := func(l keyList) []string {
		var out []string
		for x := range l.all() {
			out = append(out, x.sig)
		}
		return out
	}
	var l keyList
	assert.Empty(t, collect(l))
	for _, s := range []string{"a", "b", "c", "d"} {
		l = l.add(k(s))
	}
	assert.Equal(t, []string{"a", "b", "c", "d"}, collect(l))
	l, empty := l.remove(k("a"))
	assert.False(t, empty)
	assert.Equal(t, []string{"b", "c", "d"}, collect(l))
	l, _ = l.remove(k("c"))
	l, _ = l.remove(k("missing"))
	assert.Equal(t, []string{"b", "d"}, collect(l))
	l = l.add(k("e"))
	l, _ = l.remove(k("b"))
	l, empty = l.remove(k("d"))
	assert.False(t, empty)
	assert.Equal(t, []string{"e"}, collect(l))
	l, empty = l.remove(k("e"))
	assert.True(t, empty)
	assert.Empty(t, collect(l))
	for range l.all() {
		t.Fatal("an empty list yields nothing")
	}
}

// Every kind storage.Kinds lists has a code of its own that gives the kind
// back; a kind it does not list has none, and a token of it is refused.
func TestKindCodes(t *testing.T) {
	seen := map[kindCode]bool{}
	for _, kind := range storage.Kinds {
		c := codeOf(kind)
		assert.NotZero(t, c, kind)
		assert.False(t, seen[c], "%s: a code of its own", kind)
		seen[c] = true
		assert.Equal(t, kind, c.kind())
	}
	assert.Zero(t, codeOf("session"))
	tok := ccAccessToken(1, time.Now())
	tok.Kind = "session"
	err := New().CreateToken(t.Context(), tok)
	assert.ErrorContains(t, err, `kind "session"`)
}
