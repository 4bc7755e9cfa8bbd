package memory

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/gatehouse/gatehouse/storage"
)

// keyList keeps its first key inline: adding and removing in any order
// keeps every other key, and the list reports empty exactly when it is.
func TestKeyList(t *testing.T) {
	k := func(s string) tokenKey { return tokenKey{storage.KindAccessToken, s} }
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
