package storagetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gatehouse/gatehouse/storage"
)

// These test the suite's own machinery, so that a helper that compared too
// little or scribbled on nothing cannot make the suite pass vacuously.

func TestNormalizedTreatsNilAsEmpty(t *testing.T) {
	a := newToken(storage.KindAuthCode, "s", "r")
	a.Request.Form, a.Request.GrantedAudience, a.Request.Session = nil, nil, nil
	b := a
	b.Request.Form, b.Request.GrantedAudience, b.Request.Session = map[string][]string{}, []string{}, []byte{}
	assert.Equal(t, normalized(a), normalized(b))
	assert.NotEqual(t, a, b, "the difference normalized hides is real")
}

func TestNormalizedComparesInstants(t *testing.T) {
	a := newClient("c")
	b := inZone(a, kolkata)
	assert.Equal(t, normalized(a), normalized(b))
	b.UpdatedAt = b.UpdatedAt.Add(time.Microsecond)
	assert.NotEqual(t, normalized(a), normalized(b))
}

// fullRecords are fixtures that set every field, so that round trips of
// them check every column a backend has.
func fullRecords() []any {
	return []any{
		newClient("c"), newToken(storage.KindRefreshToken, "s", "r"), newConsent("a", "c"),
		newLoginSession("l", "a"), newFlow("f"), seededKey(), newMFA("m"),
		newThrottle("t"), newAPIKey("k", storage.PrincipalUser, "u"), newAppUser("a"), newAuditEvent("e", 0),
	}
}

func TestFixturesSetEveryField(t *testing.T) {
	for _, record := range fullRecords() {
		v := reflect.ValueOf(record)
		for i := range v.NumField() {
			if _, ok := record.(storage.Client); ok && v.Type().Field(i).Name == "Public" {
				continue // newPublicClient sets it
			}
			assert.False(t, v.Field(i).IsZero(), "%T.%s is zero in its fixture", record, v.Type().Field(i).Name)
		}
		if tok, ok := record.(storage.Token); ok {
			r := reflect.ValueOf(tok.Request)
			for i := range r.NumField() {
				assert.False(t, r.Field(i).IsZero(), "Request.%s is zero in its fixture", r.Type().Field(i).Name)
			}
		}
	}
}

func TestNormalizedSeesEveryField(t *testing.T) {
	for _, record := range fullRecords() {
		typ := reflect.TypeOf(record)
		for i := range typ.NumField() {
			changed := reflect.New(typ).Elem()
			changed.Set(reflect.ValueOf(normalized(record))) // a deep copy
			scribbleValue(changed.Field(i))
			assert.NotEqual(t, normalized(record), normalized(changed.Interface()),
				"a change to %s.%s is seen", typ, typ.Field(i).Name)
		}
	}
}

func TestScribbleReachesSharedMemory(t *testing.T) {
	tok := newToken(storage.KindAuthCode, "s", "r")
	alias := tok // shares every slice and map
	scribble(&tok)
	want := newToken(storage.KindAuthCode, "s", "r")
	assert.NotEqual(t, want.Request.Session, alias.Request.Session)
	assert.NotEqual(t, want.Request.Form["nonce"], alias.Request.Form["nonce"])
	assert.Contains(t, alias.Request.Form, "scribbled")
	assert.NotEqual(t, want.Request.GrantedScopes, alias.Request.GrantedScopes)

	c := newClient("c")
	aliasC := c
	scribble(&c)
	assert.NotEqual(t, newClient("c").Secrets, aliasC.Secrets, "fields of structs in slices change")

	f := newFlow("f")
	aliasF := f
	scribble(&f)
	assert.NotEqual(t, newFlow("f").Data, aliasF.Data)
}

func TestInZoneKeepsInstants(t *testing.T) {
	k := newKey("k", base)
	moved := inZone(k, newYork)
	assert.Equal(t, newYork, moved.CreatedAt.Location())
	assert.True(t, moved.CreatedAt.Equal(k.CreatedAt))
	assert.True(t, moved.RetiredAt.IsZero(), "zero times stay zero")
}

func TestEveryMethodCoversTheInterface(t *testing.T) {
	var want []string
	typ := reflect.TypeFor[storage.Store]()
	for i := range typ.NumMethod() {
		want = append(want, typ.Method(i).Name)
	}
	var got []string
	for _, c := range everyMethod(nil) {
		got = append(got, c.method)
	}
	slices.Sort(got)
	assert.Equal(t, want, got, "Context/* must call every method of storage.Store")
}

func TestPrincipalMethodsCoverTheInterface(t *testing.T) {
	var want []string
	typ := reflect.TypeFor[storage.ApplicationUserStore]()
	for i := range typ.NumMethod() {
		want = append(want, typ.Method(i).Name)
	}
	var got []string
	for _, c := range principalMethods(nil) {
		got = append(got, c.method)
	}
	slices.Sort(got)
	assert.Equal(t, want, got, "ApplicationUsers/Context* must call every method of storage.ApplicationUserStore")
}

func TestRaceReleasesAll(t *testing.T) {
	errs := race(50, func(i int) error {
		if i == 7 {
			return nil
		}
		return storage.ErrAlreadyUsed
	})
	assert.Len(t, errs, 50)
	assert.Equal(t, 1, wins(errs))
}

func TestSubtestNamesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range groups {
		for _, c := range g.cases {
			name := g.name + "/" + c.name
			assert.False(t, seen[name], "duplicate subtest %s", name)
			seen[name] = true
		}
	}
}
