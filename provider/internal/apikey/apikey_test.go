package apikey

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatParseRoundTrip(t *testing.T) {
	for range 100 {
		id, secret := NewID(), NewSecret()
		key := Format(id, secret)
		assert.Len(t, key, Length)
		assert.Regexp(t, `^gatehouse_ak_[a-z2-7]{16}_[a-z2-7]{52}$`, key)
		gotID, gotSecret, err := Parse(key)
		require.NoError(t, err)
		assert.Equal(t, id, gotID)
		assert.Equal(t, secret, gotSecret)
	}
}

func TestParseRefusesLookAlikes(t *testing.T) {
	good := Format(NewID(), NewSecret())
	for _, bad := range []string{
		"",
		Prefix,
		good[:len(good)-1],
		good + "a",
		" " + good,
		good + "\n",
		strings.ToUpper(good),
		strings.Replace(good, "gatehouse_ak_", "gatehouse_AK_", 1),
		strings.Replace(good, "gatehouse_ak_", "gatehouse-ak-", 1),
		good[:len(Prefix)+IDLength] + "-" + good[len(Prefix)+IDLength+1:],
		good[:len(Prefix)] + "1" + good[len(Prefix)+1:],                 // 1 is not base32
		good[:len(good)-1] + "=",                                        // padding
		good[:len(good)-1] + "\x00",                                     // NUL
		good[:len(Prefix)+3] + "é" + good[len(Prefix)+5:],               // two bytes for two
		good[:len(Prefix)+IDLength] + "_" + good[len(Prefix)+IDLength:], // a doubled separator
	} {
		_, _, err := Parse(bad)
		assert.ErrorIs(t, err, ErrMalformed, "%q", bad)
	}
}

func TestHashVerify(t *testing.T) {
	current := []byte("0123456789abcdef0123456789abcdef")
	old := []byte("fedcba9876543210fedcba9876543210")
	id, secret := NewID(), NewSecret()
	h := NewHasher([][]byte{current})
	hash := h.Hash(id, secret)
	assert.True(t, strings.HasPrefix(hash, "hmac-sha256$"))
	assert.NotContains(t, hash, secret)
	assert.True(t, h.Verify(hash, id, secret))
	assert.False(t, h.Verify(hash, id, NewSecret()), "another secret")
	assert.False(t, h.Verify(hash, NewID(), secret), "the secret under another ID")
	assert.False(t, h.Verify("sha256$"+hash[len("hmac-sha256$"):], id, secret), "another format")
	assert.False(t, h.Verify(hash[:len(hash)-2], id, secret), "a truncated hash")
	assert.False(t, h.Verify("", id, secret))

	// Keys hashed under a rotated global secret verify while it is listed.
	oldHash := NewHasher([][]byte{old}).Hash(id, secret)
	assert.False(t, h.Verify(oldHash, id, secret), "not without the old global secret")
	assert.True(t, NewHasher([][]byte{current, old}).Verify(oldHash, id, secret), "with it, as a rotated secret")
	assert.Equal(t, hash, NewHasher([][]byte{current, old}).Hash(id, secret), "new hashes use the first")

	assert.NotEqual(t, Generation(hash), Generation(oldHash))
	assert.Equal(t, Generation(hash), Generation(hash))
}
