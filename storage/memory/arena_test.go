package memory

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// The arena gives back every record as it was put, whatever its size (a
// record of its own chunk too), across chunk boundaries; a chunk goes once
// its last record is freed, and its index is used again.
func TestArena(t *testing.T) {
	var a arena
	rec := func(i int) []byte {
		size := 1 + i*37%700
		if i%97 == 0 {
			size = ownChunk + i // a chunk of its own
		}
		return bytes.Repeat([]byte{byte(i)}, size)
	}
	const n = 2000
	refs := make([]recRef, n)
	for i := range n {
		refs[i] = a.put(rec(i))
	}
	for i := range n {
		require.Equal(t, rec(i), a.get(refs[i]), "record %d", i)
	}
	chunks := len(a.chunks)
	require.Greater(t, chunks, 10, "the records span many chunks")
	for i := range n / 2 {
		a.del(refs[i])
	}
	for i := n / 2; i < n; i++ {
		require.Equal(t, rec(i), a.get(refs[i]), "record %d kept", i)
	}
	released := 0
	for _, c := range a.chunks {
		if c == nil {
			released++
		}
	}
	assert.Greater(t, released, chunks/3, "the chunks of the freed half are released")
	assert.Len(t, a.free, released)
	for i := range n / 2 {
		refs[i] = a.put(rec(i))
	}
	assert.Empty(t, a.free, "released chunks' indexes are used again")
	assert.Equal(t, chunks, len(a.chunks))
	for i := range n {
		require.Equal(t, rec(i), a.get(refs[i]), "record %d", i)
		a.del(refs[i])
	}
	for i, l := range a.live {
		assert.Zero(t, l, "chunk %d", i)
	}
	assert.LessOrEqual(t, arenaBytes(&a), chunkSize, "at most the chunk being filled is left")
}

// A token whose neighbours in the arena expire long before it (a refresh
// token among access tokens) does not keep their chunk: a sweep moves the
// live records of the chunks it finds sparse (those its own deletions made
// sparse, by the next sweep), and the arena shrinks to about the size of
// what lives. The tokens moved read back the same, through their key and
// through the indexes.
func TestSweepCompactsTheArena(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	s := New()
	const n = 20_000
	var long []storage.Token
	for i := range n {
		tok := ccAccessToken(i, now)
		tok.ExpiresAt = now.Add(time.Minute)
		if i%20 == 0 {
			tok.ExpiresAt = now.Add(30 * 24 * time.Hour)
			tok.Request.Subject = fmt.Sprintf("user-%d", i)
			long = append(long, tok)
		}
		require.NoError(t, s.CreateToken(ctx, tok))
	}
	full := arenaBytes(&s.recs)
	deleted, err := s.DeleteExpired(ctx, now.Add(time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, n-len(long), deleted)
	_, err = s.DeleteExpired(ctx, now.Add(time.Hour))
	require.NoError(t, err)
	kept := arenaBytes(&s.recs)
	t.Logf("arena: %d KiB for %d tokens, %d KiB for the %d left after the sweep", full>>10, n, kept>>10, len(long))
	assert.Less(t, kept, full/8, "the sweep gave back the chunks the expired tokens left sparse")
	for _, want := range long {
		got, err := s.GetToken(ctx, storage.KindAccessToken, want.Signature)
		require.NoError(t, err)
		assert.Equal(t, want.Request.ID, got.Request.ID)
		assert.Equal(t, want.Request.Session, got.Request.Session)
		grants, err := s.ListGrants(ctx, want.Request.Subject, now)
		require.NoError(t, err)
		require.Len(t, grants, 1, "the subject index finds the moved token")
		assert.Equal(t, want.Signature, grants[0].Signature)
	}
	require.NoError(t, s.RevokeFamily(ctx, storage.KindAccessToken, long[0].Request.ID))
	got, err := s.GetToken(ctx, storage.KindAccessToken, long[0].Signature)
	require.NoError(t, err)
	assert.False(t, got.Active, "the family index finds the moved token")
}

// A signature that is canonical unpadded base64url of at most 32 bytes is
// kept decoded, any other as its digest with the record holding it, and
// each reads back as it was stored; signatures differing in a byte, in
// their last character's spare bits or by a newline that a lenient decoder
// would skip have distinct keys.
func TestTokenKeys(t *testing.T) {
	hmac := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xA7}, 32))
	jwtSig := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0x5C}, 64))
	for _, tc := range []struct {
		sig     string
		decoded bool
	}{
		{hmac, true},
		{"", true},
		{"AB", false}, // 12 bits: spare bits set
		{"AA", true},
		{"A", false}, // no encoding is 1 character long
		{jwtSig, false},
		{hmac + "A", false}, // 44 characters: more than 32 bytes
		{hmac[:42] + "\n" + hmac[42:], false},
		{"sig-1", false},
		{"a+b/c=", false}, // standard base64, padded
		{strings.Repeat("x", 1000), false},
	} {
		k := keyOf(codeAccessToken, tc.sig)
		assert.Equal(t, tc.decoded, !k.hashed(), "%q", tc.sig)
		if !k.hashed() {
			assert.Equal(t, tc.sig, k.signature())
		}
		s := New()
		tok := ccAccessToken(1, time.Now())
		tok.Signature = tc.sig
		require.NoError(t, s.CreateToken(t.Context(), tok), "%q", tc.sig)
		got, err := s.GetToken(t.Context(), storage.KindAccessToken, tc.sig)
		require.NoError(t, err, "%q", tc.sig)
		assert.Equal(t, tc.sig, got.Signature)
	}
	distinct := map[tokenKey]string{}
	for _, sig := range []string{hmac, hmac[:42] + "B", hmac[:42] + "C", hmac[:42] + "\n" + hmac[42:], "AA", "AB", "AC", ""} {
		k := keyOf(codeAccessToken, sig)
		other, dup := distinct[k]
		assert.False(t, dup, "%q and %q share a key", sig, other)
		distinct[k] = sig
	}
}

// No signature panics the key, and two signatures share a key only when
// they are the same; a decoded key gives its signature back.
func FuzzTokenKey(f *testing.F) {
	for _, s := range []string{"", "AA", "AB", "A", "sig-1", "q4oHOrTmCK1xE1kcSTBWoOe-bz2C3Eye4jxjYUQ2DQg", "a\nb", "\xff\xfe"} {
		f.Add(s, "AA")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := keyOf(codeAccessToken, a), keyOf(codeAccessToken, b)
		if a != b && ka == kb {
			t.Fatalf("%q and %q share a key", a, b)
		}
		if !ka.hashed() {
			if got := ka.signature(); got != a {
				t.Fatalf("key of %q gives back %q", a, got)
			}
			if want, err := base64.RawURLEncoding.Strict().DecodeString(a); err != nil || !reflect.DeepEqual(want, ka.raw[:ka.n]) {
				t.Fatalf("key of %q decodes as %x; the standard decoder: %x, %v", a, ka.raw[:ka.n], want, err)
			}
		}
	})
}

// Tokens of one client, scopes and form share one shape, however their
// forms were built; a shape is forgotten with its last token, and its
// number used again.
func TestShapesShared(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	s := New()
	for i := range 100 {
		tok := ccAccessToken(i, now)
		tok.Request.Form = map[string][]string{}
		if i%2 == 0 { // the same fields, added in the other order
			tok.Request.Form["scope"] = []string{"assets:read"}
			tok.Request.Form["grant_type"] = []string{"client_credentials"}
		} else {
			tok.Request.Form["grant_type"] = []string{"client_credentials"}
			tok.Request.Form["scope"] = []string{"assets:read"}
		}
		require.NoError(t, s.CreateToken(ctx, tok))
	}
	other := ccAccessToken(1000, now)
	other.Request.ClientID = "other"
	require.NoError(t, s.CreateToken(ctx, other))
	require.Len(t, s.shapes.ids, 2, "one shape for the hundred tokens, one for the other client's")
	require.NoError(t, s.DeleteToken(ctx, storage.KindAccessToken, other.Signature))
	require.Len(t, s.shapes.ids, 1, "a shape goes with its last token")
	require.Len(t, s.shapes.free, 1)
	for i := range 100 {
		require.NoError(t, s.DeleteToken(ctx, storage.KindAccessToken, ccAccessToken(i, now).Signature))
	}
	require.Empty(t, s.shapes.ids)
	require.NoError(t, s.CreateToken(ctx, other))
	require.Len(t, s.shapes.rows, 2, "numbers are used again")
	got, err := s.GetToken(ctx, storage.KindAccessToken, other.Signature)
	require.NoError(t, err)
	assert.Equal(t, "other", got.Request.ClientID)
}

// A request ID is kept as 16 bytes only when it is a UUID in canonical
// form, which gives it back exactly; its text hashes as the ID's does.
func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"0b7c6d2e-8f1a-4c3b-9d5e-6f7a8b9c0d1e", "0B7C6D2E-8F1A-4C3B-9D5E-6F7A8B9C0D1E",
		"0b7c6d2e8f1a4c3b9d5e6f7a8b9c0d1e", "0b7c6d2e-8f1a-4c3b-9d5e-6f7a8b9c0d1", "", "f1", "0b7c6d2e-8f1a-4c3b-9d5e+6f7a8b9c0d1e"} {
		f.Add(s)
	}
	x := newTokenIndex()
	f.Fuzz(func(t *testing.T, s string) {
		rec := putID(nil, s)
		r := recReader{s: string(rec)}
		id := r.id()
		if r.off != len(rec) {
			t.Fatalf("%q: read %d of %d bytes", s, r.off, len(rec))
		}
		if got := id.String(); got != s {
			t.Fatalf("%q comes back as %q", s, got)
		}
		if !id.is(s) || id.is(s+"x") {
			t.Fatalf("%q: is is wrong", s)
		}
		if x.hashID(id) != x.hash(s) {
			t.Fatalf("%q: the ID's hash is not its text's", s)
		}
		var u [16]byte
		if canonical := parseUUID(&u, s); id.isUUID != canonical || canonical && len(rec) != 17 {
			t.Fatalf("%q: %d bytes, kept as a UUID %v, canonical %v", s, len(rec), id.isUUID, canonical)
		}
	})
}

// The maps that hold an entry per token, and the arena's chunks, hold no
// pointer, so that the garbage collector does not scan them (see arena):
// a field with a pointer added to any of these types fails here.
func TestTokenStoreHoldsNoPointers(t *testing.T) {
	s := New()
	for name, typ := range map[string]reflect.Type{
		"Store.tokens":          reflect.TypeOf(s.tokens),
		"Store.rotated":         reflect.TypeOf(s.rotated),
		"tokenIndex.one":        reflect.TypeOf(s.families.one),
		"an arena chunk's byte": reflect.TypeOf(s.recs.chunks).Elem().Elem(),
		"Store.auditLog":        reflect.TypeOf(s.auditLog).Elem(),
	} {
		parts := []reflect.Type{typ}
		if typ.Kind() == reflect.Map {
			parts = []reflect.Type{typ.Key(), typ.Elem()}
		}
		for _, part := range parts {
			assert.False(t, hasPointers(part), "%s: %s holds a pointer", name, part)
		}
	}
}

// hasPointers reports whether a value of type t holds a pointer.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	}
	return true // pointers, strings, slices, maps, channels, functions, interfaces
}

// arenaBytes returns the bytes the chunks of a hold.
func arenaBytes(a *arena) int {
	n := 0
	for _, c := range a.chunks {
		n += len(c)
	}
	return n
}

// A signature kept as its digest is checked against the one its record
// holds: a digest shared by two signatures (which SHA-256 makes
// impossible to find, so the test plants one) finds nothing for the other.
func TestHashedKeyChecksTheSignature(t *testing.T) {
	ctx := t.Context()
	s := New()
	tok := ccAccessToken(1, time.Now())
	tok.Signature = "sig-A"
	require.NoError(t, s.CreateToken(ctx, tok))
	a, b := keyOf(codeAccessToken, "sig-A"), keyOf(codeAccessToken, "sig-B")
	require.True(t, a.hashed() && b.hashed())
	s.tokens[b] = s.tokens[a] // sig-B's digest now leads to sig-A's record
	_, err := s.GetToken(ctx, storage.KindAccessToken, "sig-B")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.ErrorIs(t, s.DeleteToken(ctx, storage.KindAccessToken, "sig-B"), storage.ErrNotFound)
	got, err := s.GetToken(ctx, storage.KindAccessToken, "sig-A")
	require.NoError(t, err)
	assert.Equal(t, "sig-A", got.Signature)
}
