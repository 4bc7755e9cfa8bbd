package oauth

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// TestKeptTokensBounded: the kept tokens never exceed maxKept; at the
// bound they are dropped all at once, and the token being kept is kept.
func TestKeptTokensBounded(t *testing.T) {
	var k kept[keptToken]
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

// TestKeptClients: a kept client is used while the version it was kept
// under holds and until the first of its secrets that was valid expires.
func TestKeptClients(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	c := NewClient(storage.Client{ID: "c", Secrets: []storage.SecretHash{
		{Hash: "expired", ExpiresAt: now.Add(-time.Minute)},
		{Hash: "later", ExpiresAt: now.Add(2 * time.Hour)},
		{Hash: "sooner", ExpiresAt: now.Add(time.Hour)},
		{Hash: "never"},
	}}, now)
	until := c.secretsChangeAfter(now)
	assert.Equal(t, now.Add(time.Hour), until, "the first expiry still to come")
	assert.True(t, NewClient(storage.Client{Secrets: []storage.SecretHash{{Hash: "never"}}}, now).secretsChangeAfter(now).IsZero())

	var k keptClientMap
	k.put("c", &keptClient{c: c, version: 7, until: until})
	assert.Same(t, c, k.get("c", 7, now))
	assert.Same(t, c, k.get("c", 7, until.Add(-time.Nanosecond)))
	assert.Nil(t, k.get("c", 7, until), "a secret expired: NewClient would keep fewer")
	assert.Nil(t, k.get("c", 8, now), "a client was written since")
	assert.Nil(t, k.get("other", 7, now))
}
