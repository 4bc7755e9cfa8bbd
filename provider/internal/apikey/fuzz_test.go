package apikey

import (
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics and accepts exactly the keys
// Format makes: whatever it accepts formats back to the same string, with
// parts of the right length and alphabet, and hashes and verifies.
//
//	go test -fuzz FuzzParse ./provider/internal/apikey
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"gatehouse_ak_abcdefghijklmnop_abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwxyz",
		"gatehouse_ak_2222222222222222_77777777777777777777777777777777777777777777777777zz",
		"gatehouse_ak_abcdefghijklmnop_",
		"gatehouse_ak__abcdefghijklmnop",
		"gatehouse_ak_",
		"",
		"Bearer gatehouse_ak_abcdefghijklmnop_abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwxyz",
		"gatehouse_ak_ABCDEFGHIJKLMNOP_ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"gatehouse_ak_abcdefghijklmno__abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwxyz",
		"gatehouse_ak_abcdefghijklmnop_abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvwxy\xff",
	} {
		f.Add(seed)
	}
	h := NewHasher([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	f.Fuzz(func(t *testing.T, key string) {
		id, secret, err := Parse(key)
		if err != nil {
			if id != "" || secret != "" {
				t.Fatalf("Parse(%q) failed but returned %q, %q", key, id, secret)
			}
			return
		}
		if Format(id, secret) != key {
			t.Fatalf("Parse(%q) = %q, %q, which format to %q", key, id, secret, Format(id, secret))
		}
		if !ValidID(id) || len(secret) != SecretLength || strings.Trim(secret, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("Parse(%q) accepted the parts %q, %q", key, id, secret)
		}
		if !h.Verify(h.Hash(id, secret), id, secret) {
			t.Fatalf("the hash of %q does not verify", key)
		}
	})
}
