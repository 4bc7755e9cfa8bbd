package postgres

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormEncodingRoundTrips(t *testing.T) {
	forms := []map[string][]string{
		nil,
		{"": {}},
		{"": {""}},
		{"": {"", ""}, "a": {}},
		{"a": {"1", "2", "1"}, "b": {""}, "c": {}},
		{"&=%+ ;#?": {"&=%+ ;#?"}, "\x00": {"\x00\xff"}},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	randString := func() string {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			const alphabet = "a=&%+ \x00\xff\x80é"
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 500 {
		f := map[string][]string{}
		for range rng.IntN(4) + 1 {
			vals := make([]string, rng.IntN(3))
			for i := range vals {
				vals[i] = randString()
			}
			f[randString()] = vals
		}
		forms = append(forms, f)
	}
	for _, f := range forms {
		enc := encodeForm(f)
		got, err := decodeForm(enc)
		require.NoError(t, err)
		if len(f) == 0 {
			assert.Empty(t, got)
			continue
		}
		require.Len(t, got, len(f), "%q", f)
		for k, vals := range f {
			gv, ok := got[k]
			require.True(t, ok, "key %q of %q kept", k, f)
			assert.Equal(t, len(vals), len(gv), "values of %q", k)
			if len(vals) > 0 {
				assert.Equal(t, vals, gv, "values of %q", k)
			}
		}
		for i := 0; enc != nil && i < len(*enc); i++ {
			require.Less(t, (*enc)[i], byte(0x80), "the encoding is ASCII")
			require.NotZero(t, (*enc)[i], "the encoding has no NUL")
		}
	}
}

func TestDecodeFormRefusesCorruptText(t *testing.T) {
	for _, s := range []string{"a=%zz", "%g=1"} {
		_, err := decodeForm(&s)
		assert.Error(t, err, "%q", s)
	}
	s := "a=1&a=2"
	_, err := decodeData(&s)
	assert.Error(t, err, "a flow data key with two values")
}

func TestDataEncodingRoundTrips(t *testing.T) {
	for _, d := range []map[string]string{nil, {"": ""}, {"a": "", "": "b", "\x00": "\xff", "=": "&"}} {
		got, err := decodeData(encodeData(d))
		require.NoError(t, err)
		if len(d) == 0 {
			assert.Empty(t, got)
		} else {
			assert.Equal(t, d, got)
		}
	}
}

func TestPrefixPattern(t *testing.T) {
	for _, ok := range []string{"a", "gatehouse_", "t0123456789_", "a" + "0123456789012345678901234567890"[:30]} {
		_, err := buildOptions([]Option{WithTablePrefix(ok)})
		assert.NoError(t, err, "%q", ok)
	}
	_, err := buildOptions(nil)
	assert.NoError(t, err, "the default prefix")
}

func TestEmbeddedMigrationsAreNumbered(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for i, m := range ms {
		assert.Equal(t, i+1, m.version)
		assert.Contains(t, m.sql, "{{prefix}}")
	}
	assert.Equal(t, len(ms), SchemaVersion())
}
