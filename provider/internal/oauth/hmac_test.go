package oauth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// macPair is fosite's HMAC check and opaqueMAC, made from the same
// secrets.
type macPair struct {
	fosite func(token string) error
	ours   *opaqueMAC
}

func newMACPair(global []byte, rotated ...[]byte) macPair {
	s := compose.NewOAuth2HMACStrategy(&fosite.Config{GlobalSecret: global, RotatedGlobalSecrets: rotated})
	return macPair{
		fosite: func(token string) error { return s.Enigma.Validate(context.Background(), token) },
		ours:   newOpaqueMAC(global, rotated),
	}
}

// agree checks that both accept token, or both refuse it for the same
// reason.
func (p macPair) agree(t *testing.T, token string) {
	t.Helper()
	want, got := p.fosite(token), p.ours.validate(token)
	if (want == nil) != (got == nil) {
		t.Fatalf("token %q: fosite says %v, opaqueMAC says %v", token, want, got)
	}
	for _, sentinel := range []error{fosite.ErrTokenSignatureMismatch, fosite.ErrInvalidTokenFormat} {
		if errors.Is(want, sentinel) != errors.Is(got, sentinel) {
			t.Fatalf("token %q: fosite says %v, opaqueMAC says %v", token, want, got)
		}
	}
}

// tokensOf returns a token made with each secret by fosite, without its
// prefix.
func tokensOf(t testing.TB, secrets ...[]byte) []string {
	var out []string
	for _, s := range secrets {
		tok, _, err := compose.NewOAuth2HMACStrategy(&fosite.Config{GlobalSecret: s}).Enigma.Generate(context.Background())
		require.NoError(t, err)
		out = append(out, tok)
	}
	return out
}

var (
	macGlobal  = []byte("0123456789abcdef0123456789abcdef-and-more-than-32") // only the first 32 bytes key the HMAC
	macRotated = []byte("fedcba9876543210fedcba9876543210")
	macOther   = []byte("another-secret-of-32-bytes-000000")
)

// TestOpaqueMAC: tokens of the global and of a rotated secret pass, as
// with fosite; tampered, foreign and malformed ones fail, as with fosite;
// a short secret fails as it does in fosite.
func TestOpaqueMAC(t *testing.T) {
	p := newMACPair(macGlobal, macRotated)
	toks := tokensOf(t, macGlobal, macRotated, macOther, macGlobal[:32])
	assert.NoError(t, p.ours.validate(toks[0]), "the global secret's token")
	assert.NoError(t, p.ours.validate(toks[1]), "a rotated secret's token")
	assert.ErrorIs(t, p.ours.validate(toks[2]), fosite.ErrTokenSignatureMismatch, "another secret's token")
	assert.NoError(t, p.ours.validate(toks[3]), "only the first 32 bytes of a secret count")
	key, sig, _ := strings.Cut(toks[0], ".")
	for _, tok := range append(toks, key+"."+toks[2][strings.IndexByte(toks[2], '.')+1:], key, "."+sig, key+".", "", ".", key+"."+sig+"x", key+"."+sig[:len(sig)-1],
		key+"."+sig+"=", "!"+key+"."+sig, key+".."+sig, strings.Repeat("A", 200)+"."+sig, key+"."+strings.Repeat("A", 200)) {
		p.agree(t, tok)
	}
	for _, short := range []macPair{newMACPair([]byte("short")), newMACPair(macGlobal, []byte("short")), newMACPair(nil)} {
		for _, tok := range append(toks, "", "x", key+".") {
			short.agree(t, tok)
		}
	}
	if !raceEnabled {
		assert.Equal(t, 0.0, testing.AllocsPerRun(100, func() { _ = p.ours.validate(toks[1]) }), "a check allocates nothing")
	}
}

// FuzzOpaqueMAC: opaqueMAC and fosite accept and refuse the same tokens.
func FuzzOpaqueMAC(f *testing.F) {
	toks := tokensOf(f, macGlobal, macRotated, macOther)
	for _, tok := range toks {
		f.Add(tok)
		f.Add(tok[:len(tok)-1] + "A")
	}
	f.Add("")
	f.Add(".")
	f.Add("a.b")
	p := newMACPair(macGlobal, macRotated)
	f.Fuzz(func(t *testing.T, token string) {
		p.agree(t, token)
	})
}
