package scope

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	for _, ok := range []string{"assets:read", "assets:*", "a", "*", "x:y:*", "DATASTORE-VIEWER", "registry:read"} {
		assert.NoError(t, Check(ok), ok)
	}
	for _, bad := range []string{"", "a b", "assets*", "*:read", "a:*:b", ":a", "a::b", "a:", "quote\"", "back\\slash", "tab\t", "é", strings.Repeat("a", 257)} {
		assert.Error(t, Check(bad), "%q", bad)
	}
	var pe *ParseError
	_, err := Parse("assets:read as*ets")
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "as*ets", pe.Input)
}

func TestCovers(t *testing.T) {
	s := MustNew("assets:*", "registry:read")
	for p, want := range map[string]bool{
		"assets:read": true, "assets:write": true, "assets:write:own": true, "assets:*": true,
		"assets": false, "assetsx:read": false, "registry:read": true, "registry:write": false, "registry:*": false, "*": false,
	} {
		assert.Equal(t, want, s.Covers(p), p)
	}
	assert.True(t, MustNew("*").Covers("anything:at:all"))
}

func TestNormalize(t *testing.T) {
	assert.Equal(t, Set{"assets:*", "b"}, MustNew("b", "assets:read", "assets:*", "b", "assets:x:*"))
	assert.Equal(t, Set{}, MustNew())
}

func TestIntersect(t *testing.T) {
	tests := []struct {
		name                  string
		requested, client, us string
		want                  string
		dropped               []Dropped
	}{
		{"exact", "assets:read", "assets:read registry:read", "assets:read", "assets:read", nil},
		{"client bounds the user", "assets:read assets:write", "assets:read registry:read", "assets:*", "assets:read",
			[]Dropped{{"assets:write", ReasonClient}}},
		{"user bounds the client", "assets:read registry:read", "assets:read registry:read", "assets:read", "assets:read",
			[]Dropped{{"registry:read", ReasonUser}}},
		{"requested wildcard narrows to what both hold", "assets:*", "assets:read assets:write", "assets:*", "assets:read assets:write",
			[]Dropped{{"assets:*", ReasonClient}}},
		{"wildcards on every side", "assets:*", "assets:*", "assets:*", "assets:*", nil},
		{"demo: alice in acme on demo-web", "assets:read assets:write registry:read", "assets:read registry:read", "assets:read assets:write registry:read",
			"assets:read registry:read", []Dropped{{"assets:write", ReasonClient}}},
		{"nothing in common", "x:y", "assets:read", "assets:read", "", []Dropped{{"x:y", ReasonClient}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := Parse(tt.requested)
			c, _ := Parse(tt.client)
			u, _ := Parse(tt.us)
			got := Intersect(r, c, u)
			assert.Equal(t, tt.want, got.Granted.String())
			assert.Equal(t, tt.dropped, got.Dropped)
		})
	}
	t.Run("no client bound", func(t *testing.T) {
		got := Intersect(MustNew("assets:read", "x:y"), nil, MustNew("assets:*"))
		assert.Equal(t, "assets:read", got.Granted.String())
		assert.Equal(t, []Dropped{{"x:y", ReasonUser}}, got.Dropped)
	})
}

func TestCatalog(t *testing.T) {
	c := Catalog{
		"DATASTORE-VIEWER": MustNew("datastore:read", "datastore:list"),
		"portal-user":      MustNew("portal:login"),
	}
	assert.Equal(t, Set{"assets:read", "datastore:list", "datastore:read", "portal:login"}, c.Expand("DATASTORE-VIEWER", "portal-user", "assets:read", "bad perm*"))
	assert.Equal(t, Set{}, c.Expand())
}

// FuzzIntersectLaws checks the algebra on arbitrary inputs: the result is
// covered by each input, intersection is commutative and idempotent, and
// parsing the printed set gives it back.
func FuzzIntersectLaws(f *testing.F) {
	f.Add("assets:read assets:write", "assets:*", "assets:read registry:read")
	f.Add("*", "a:*", "a:b:c")
	f.Add("a:b:* a:b:c", "a:*", "")
	f.Add("x", "y", "z")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		A, errA := Parse(a)
		B, errB := Parse(b)
		C, errC := Parse(c)
		if errA != nil || errB != nil || errC != nil {
			return
		}
		ab := A.Intersect(B)
		for _, p := range ab {
			if !A.Covers(p) || !B.Covers(p) {
				t.Fatalf("%q ∩ %q = %q: %q not covered by both", A, B, ab, p)
			}
		}
		if ba := B.Intersect(A); ab.String() != ba.String() {
			t.Fatalf("not commutative: %q vs %q", ab, ba)
		}
		if aa := A.Intersect(A); aa.String() != A.String() {
			t.Fatalf("not idempotent: %q ∩ itself = %q", A, aa)
		}
		if again, err := Parse(A.String()); err != nil || again.String() != A.String() {
			t.Fatalf("round trip %q -> %q (%v)", A, again, err)
		}
		r := Intersect(A, B, C)
		for _, p := range r.Granted {
			if !A.Covers(p) || !B.Covers(p) || !C.Covers(p) {
				t.Fatalf("granted %q not covered by every input", p)
			}
		}
		if r2 := Intersect(A, C, B); r.Granted.String() != r2.Granted.String() {
			t.Fatalf("client and user bounds do not commute: %q vs %q", r.Granted, r2.Granted)
		}
	})
}
