package storagetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var timeType = reflect.TypeFor[time.Time]()

// assertSameRecord asserts that got is the record want (or slice of records)
// up to what backends may change: nil and empty slices and maps are equal,
// and times are compared as instants whatever their location. Everything
// else, including the bytes of every []byte, must match exactly.
func assertSameRecord(t *testing.T, want, got any, msgAndArgs ...any) bool {
	t.Helper()
	return assert.Equal(t, normalized(want), normalized(got), msgAndArgs...)
}

// normalized returns a deep copy of v in which every nil slice or map is
// empty and every time.Time is in UTC without a monotonic reading. v must be
// made of exported fields, as every storage record is.
func normalized(v any) any {
	if v == nil {
		return nil
	}
	src := reflect.ValueOf(v)
	dst := reflect.New(src.Type()).Elem()
	normalize(dst, src)
	return dst.Interface()
}

func normalize(dst, src reflect.Value) {
	if src.Type() == timeType {
		dst.Set(reflect.ValueOf(src.Interface().(time.Time).UTC()))
		return
	}
	switch src.Kind() {
	case reflect.Struct:
		for i := range src.NumField() {
			if !src.Type().Field(i).IsExported() {
				panic(fmt.Sprintf("storagetest: cannot compare unexported field %s.%s", src.Type(), src.Type().Field(i).Name))
			}
			normalize(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		n := src.Len()
		s := reflect.MakeSlice(src.Type(), n, n)
		for i := range n {
			normalize(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Map:
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			e := reflect.New(src.Type().Elem()).Elem()
			normalize(e, it.Value())
			m.SetMapIndex(it.Key(), e)
		}
		dst.Set(m)
	case reflect.Pointer, reflect.Interface:
		panic(fmt.Sprintf("storagetest: cannot compare %s", src.Type()))
	default:
		dst.Set(src)
	}
}

// scribble overwrites, in place, everything that *ptr shares through
// slices and maps: every string, byte and field reachable through a slice or
// map changes, and every map gains a key. A store that kept or returned
// aliases of a record sees its copy change when the record is scribbled on.
func scribble(ptr any) {
	v := reflect.ValueOf(ptr)
	if v.Kind() != reflect.Pointer {
		panic("storagetest: scribble needs a pointer")
	}
	scribbleValue(v.Elem())
}

func scribbleValue(v reflect.Value) {
	if v.Type() == timeType {
		if v.CanSet() {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).Add(time.Hour)))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			scribbleValue(v.Field(i))
		}
	case reflect.Slice:
		for i := range v.Len() {
			scribbleValue(v.Index(i)) // slice elements are always settable
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(it.Value())
			scribbleValue(e) // changes a slice element's backing array in place
			v.SetMapIndex(it.Key(), e)
		}
		if v.Type().Key().Kind() == reflect.String {
			k := reflect.New(v.Type().Key()).Elem()
			k.SetString("scribbled")
			v.SetMapIndex(k, reflect.New(v.Type().Elem()).Elem())
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(v.String() + "~scribbled")
		}
	case reflect.Uint8:
		if v.CanSet() {
			v.SetUint(v.Uint() ^ 0xff)
		}
	case reflect.Bool:
		if v.CanSet() {
			v.SetBool(!v.Bool())
		}
	case reflect.Int, reflect.Int64:
		if v.CanSet() {
			v.SetInt(v.Int() + 1)
		}
	}
}
