package mfa

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rfcSecret is the SHA-1 seed of RFC 4226 Appendix D and RFC 6238 Appendix B.
var rfcSecret = []byte("12345678901234567890")

func TestRFC6238Vectors(t *testing.T) {
	// RFC 6238 Appendix B, SHA-1 rows. The 6-digit code is the last six
	// digits of the 8-digit value.
	for _, v := range []struct {
		unix    int64
		counter int64
		code8   string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	} {
		tm := time.Unix(v.unix, 0).UTC()
		assert.Equal(t, v.counter, Counter(tm), "counter of %d", v.unix)
		assert.Equal(t, v.code8, hotp(rfcSecret, uint64(Counter(tm)), 8), "8-digit code at %d", v.unix)
		assert.Equal(t, v.code8[2:], Code(rfcSecret, tm), "6-digit code at %d", v.unix)
		step, ok := Validate(rfcSecret, v.code8[2:], tm, 0)
		assert.True(t, ok, "valid at %d", v.unix)
		assert.Equal(t, v.counter, step)
	}
}

func TestRFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		assert.Equal(t, w, hotp(rfcSecret, uint64(i), 6), "HOTP counter %d", i)
	}
}

func TestValidateWindow(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 10, 0, time.UTC)
	c := Counter(now)
	for d := int64(-3); d <= 3; d++ {
		code := hotp(rfcSecret, uint64(c+d), 6)
		step, ok := Validate(rfcSecret, code, now, 0)
		if d >= -1 && d <= 1 {
			assert.True(t, ok, "step %+d accepted", d)
			assert.Equal(t, c+d, step)
		} else if ok {
			// A code of a step outside the window is accepted only if it
			// happens to equal a code inside it.
			assert.Contains(t, []string{hotp(rfcSecret, uint64(c-1), 6), Code(rfcSecret, now), hotp(rfcSecret, uint64(c+1), 6)}, code)
		} else {
			assert.False(t, ok, "step %+d refused", d)
		}
	}
	// Steps up to lastCounter are used.
	code := Code(rfcSecret, now)
	_, ok := Validate(rfcSecret, code, now, c)
	assert.False(t, ok, "the last used step is refused")
	_, ok = Validate(rfcSecret, code, now, c+1)
	assert.False(t, ok, "an earlier step than the last used is refused")
	step, ok := Validate(rfcSecret, code, now, c-1)
	assert.True(t, ok)
	assert.Equal(t, c, step)
	// Spaces are stripped.
	step, ok = Validate(rfcSecret, " "+code[:3]+" "+code[3:]+"\t", now, 0)
	assert.True(t, ok, "spaces are stripped")
	assert.Equal(t, c, step)
}

// malformedCodes are never valid codes, whatever the secret.
func malformedCodes(valid string) []string {
	return []string{
		"", " ", "      ", valid[:5], valid + "0", "0" + valid, "12345a", "abcdef", "12-345",
		"１２３４５６",      // full-width digits
		"١٢٣٤٥٦",      // Arabic-Indic digits
		"12345\u0666", // one Arabic-Indic digit
		"+12345", "-12345", "123456\x00", "\x00123456", "12345\xff", "\xff\xfe\xfd\xfc\xfb\xfa",
		strings.Repeat("1", 100000), strings.Repeat(valid, 1000), valid + "\n",
	}
}

func TestValidateMalformed(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 10, 0, time.UTC)
	valid := Code(rfcSecret, now)
	for _, code := range malformedCodes(valid) {
		assert.NotPanics(t, func() {
			_, ok := Validate(rfcSecret, code, now, 0)
			assert.False(t, ok, "%.20q refused", code)
		})
	}
	assert.NotPanics(t, func() { Validate(nil, valid, now, 0) }, "empty secret")
}

func TestSecretEncoding(t *testing.T) {
	s := GenerateSecret()
	assert.Len(t, s, 20)
	assert.NotEqual(t, s, GenerateSecret(), "random")

	enc := EncodeSecret(rfcSecret)
	assert.Equal(t, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", enc)
	for _, in := range []string{enc, strings.ToLower(enc), "gezd gnbv gy3t qojq gezd gnbv gy3t qojq", "GEZDGNBV-GY3TQOJQ-GEZDGNBV-GY3TQOJQ"} {
		got, err := DecodeSecret(in)
		require.NoError(t, err, in)
		assert.Equal(t, rfcSecret, got, in)
	}
	// With and without padding (10 bytes need 16 characters, no padding; 11
	// need padding).
	eleven := []byte("hello world")
	padded := "NBSWY3DPEB3W64TMMQ======"
	for _, in := range []string{padded, strings.TrimRight(padded, "="), strings.ToLower(padded)} {
		got, err := DecodeSecret(in)
		require.NoError(t, err, in)
		assert.Equal(t, eleven, got)
	}
	assert.Equal(t, strings.TrimRight(padded, "="), EncodeSecret(eleven), "no padding, upper case")

	for _, bad := range []string{"", "JBSWY3DP", "GEZDGNBVGY3TQOJ1", "GEZDGNBVGY3TQOJQ!", "ÄÖÜ"} {
		_, err := DecodeSecret(bad)
		assert.Error(t, err, "%q", bad)
	}
	got, err := DecodeSecret("JBSWY3DPEHPK3PXP")
	require.NoError(t, err, "exactly 80 bits")
	assert.Len(t, got, 10)
}

func TestKeyURI(t *testing.T) {
	raw := KeyURI("Example Co", "alice@example.com", rfcSecret)
	u, err := url.Parse(raw)
	require.NoError(t, err)
	assert.Equal(t, "otpauth", u.Scheme)
	assert.Equal(t, "totp", u.Host)
	assert.Equal(t, "/Example Co:alice@example.com", u.Path)
	assert.Equal(t, "/Example%20Co:alice@example.com", u.EscapedPath())
	q := u.Query()
	assert.Equal(t, url.Values{
		"secret":    {"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"},
		"issuer":    {"Example Co"},
		"algorithm": {"SHA1"},
		"digits":    {"6"},
		"period":    {"30"},
	}, q)
	assert.NotContains(t, raw, "+", "spaces are %20, which every app reads")

	// Characters that need escaping survive.
	u, err = url.Parse(KeyURI("A&B/C?", "bob+1@x.test", rfcSecret))
	require.NoError(t, err)
	assert.Equal(t, "/A&B/C?:bob+1@x.test", u.Path)
	assert.Equal(t, "A&B/C?", u.Query().Get("issuer"))
}

func TestLockedError(t *testing.T) {
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	e := &LockedError{Until: until}
	assert.Contains(t, e.Error(), "2030-01-02T03:04:05Z")
}
