// Package jsonw writes JSON by hand on the provider's hot paths (token
// responses, introspection answers, stored sessions), byte for byte as
// encoding/json writes the same values, without its reflection: strings
// that need no escaping are copied as they are, and anything else is
// handed to encoding/json.
package jsonw

import (
	"encoding/json"
	"strconv"
)

// AppendString appends json.Marshal(s) to b: quoted as it is when nothing
// in it needs escaping (tokens, IDs and scopes never do), by encoding/json's
// own rules (HTML characters escaped, invalid UTF-8 replaced) otherwise.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			js, _ := json.Marshal(s) // a string always marshals
			return append(b, js...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Object appends the members of a JSON object as encoding/json writes a
// struct's fields: the methods named for a value leave out its zero value
// (the field's omitempty), Always writes it whatever it is. Start with
// B holding the opening brace; append the closing one when done.
type Object struct {
	B   []byte
	n   int   // members written
	Err error // the first error of Marshal
}

// Key writes the key of the next member.
func (o *Object) Key(k string) {
	if o.n > 0 {
		o.B = append(o.B, ',')
	}
	o.n++
	o.B = AppendString(o.B, k)
	o.B = append(o.B, ':')
}

// Str writes a string member unless v is empty.
func (o *Object) Str(k, v string) {
	if v != "" {
		o.StrAlways(k, v)
	}
}

// StrAlways writes a string member.
func (o *Object) StrAlways(k, v string) {
	o.Key(k)
	o.B = AppendString(o.B, v)
}

// Int writes an integer member unless v is 0.
func (o *Object) Int(k string, v int64) {
	if v != 0 {
		o.Key(k)
		o.B = strconv.AppendInt(o.B, v, 10)
	}
}

// Bool writes a boolean member.
func (o *Object) Bool(k string, v bool) {
	o.Key(k)
	o.B = strconv.AppendBool(o.B, v)
}

// List writes a list of strings unless it is empty.
func (o *Object) List(k string, v []string) {
	if len(v) > 0 {
		o.Key(k)
		o.B = append(o.B, '[')
		for i, s := range v {
			if i > 0 {
				o.B = append(o.B, ',')
			}
			o.B = AppendString(o.B, s)
		}
		o.B = append(o.B, ']')
	}
}

// Marshal writes a free-form map with encoding/json unless it is empty.
func (o *Object) Marshal(k string, m map[string]any) {
	if len(m) > 0 && o.Err == nil {
		js, err := json.Marshal(m)
		if err != nil {
			o.Err = err
			return
		}
		o.Key(k)
		o.B = append(o.B, js...)
	}
}
