package memory

import (
	"reflect"
	"testing"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/stretchr/testify/assert"
)

// TestCopiesShareNothing fills every slice and map of every record, at any
// depth, and checks that the copy function gives each its own memory, so
// that a field added to a record later cannot be forgotten in copy.go.
func TestCopiesShareNothing(t *testing.T) {
	check(t, copyClient)
	check(t, encodeDecode) // tokens are encoded, not copied
	check(t, copyConsent)
	check(t, copyLoginSession)
	check(t, copyAuthFlow)
	check(t, copySigningKey)
	check(t, copyMFA)
}

func check[T any](t *testing.T, copyFn func(T) T) {
	t.Helper()
	var rec T
	fill(reflect.ValueOf(&rec).Elem())
	cp := copyFn(rec)
	assert.Equal(t, rec, cp, "%T: the copy is equal", rec)
	assertDisjoint(t, reflect.TypeOf(rec).String(), reflect.ValueOf(rec), reflect.ValueOf(cp))
}

// fill makes every slice and map in v non-empty.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	}
}

func assertDisjoint(t *testing.T, path string, a, b reflect.Value) {
	t.Helper()
	switch a.Kind() {
	case reflect.Struct:
		if a.Type().PkgPath() == "time" {
			return
		}
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				assertDisjoint(t, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		}
	case reflect.Slice:
		assert.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared by the copy", path)
		for i := range a.Len() {
			assertDisjoint(t, path+"[i]", a.Index(i), b.Index(i))
		}
	case reflect.Map:
		assert.NotEqual(t, a.Pointer(), b.Pointer(), "%s is shared by the copy", path)
		for _, k := range a.MapKeys() {
			assertDisjoint(t, path+"[k]", a.MapIndex(k), b.MapIndex(k))
		}
	}
}

// copyClient puts the client's string lists in one array: appending to
// one of the copy's lists must not write over the next.
func TestCopyClientListsAreCapped(t *testing.T) {
	c := storage.Client{RedirectURIs: []string{"https://a/cb"}, GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"}}
	cp := copyClient(c)
	cp.RedirectURIs = append(cp.RedirectURIs, "https://evil/cb")
	assert.Equal(t, []string{"client_credentials"}, cp.GrantTypes, "the append wrote over the next list")
	cp.GrantTypes = append(cp.GrantTypes, "password")
	assert.Equal(t, []string{"read"}, cp.Scopes, "the append wrote over the next list")
	assert.Equal(t, []string{"https://a/cb"}, c.RedirectURIs)
}

// encodeDecode writes tok's record and shape as the store does and
// decodes them, the kind put back as it was (fill's kind is none the store
// knows).
func encodeDecode(tok storage.Token) storage.Token {
	k := keyOf(codeAccessToken, tok.Signature)
	var a arena
	var shapes shapeTable
	shape := shapes.intern(encodeShape(nil, &tok.Request))
	exp := toStamp(tok.ExpiresAt)
	e := tokenEntry{at: a.put(encodeToken(nil, k, tok, shape)), expSec: exp.sec, expNsec: exp.nsec, active: tok.Active}
	got := decodeToken(k, e, a.get(e.at), &shapes, toStamp(tok.RotatedAt), "", false)
	got.Kind = tok.Kind
	return got
}
