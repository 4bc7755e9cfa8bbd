package memory

import (
	"encoding/binary"
	"slices"

	"github.com/gatehouse/gatehouse/storage"
)

// A token's client, scopes, audiences and form are the same for most of
// the tokens of one client: a client_credentials client asks for the same
// scope every time, and fosite keeps the same two form fields. They are
// its shape, kept once in a shapeTable and counted, and a record holds the
// shape's number: 70 of an access token's 200 bytes.

// shapeTable interns shapes. The zero shapeTable is empty and ready to
// use. The caller serialises access (the store's lock).
type shapeTable struct {
	ids  map[string]uint32 // a shape's encoding -> its number
	rows []shapeRow        // by number
	free []uint32          // the numbers of released shapes, for reuse
}

type shapeRow struct {
	enc  string // encodeShape's encoding
	refs int    // the records that hold the number
}

// intern returns the number of the shape enc, counting one more record
// that holds it.
func (t *shapeTable) intern(enc []byte) uint32 {
	if id, ok := t.ids[string(enc)]; ok {
		t.rows[id].refs++
		return id
	}
	if t.ids == nil {
		t.ids = map[string]uint32{}
	}
	row := shapeRow{enc: string(enc), refs: 1}
	var id uint32
	if n := len(t.free); n > 0 {
		id, t.free = t.free[n-1], t.free[:n-1]
		t.rows[id] = row
	} else {
		id = uint32(len(t.rows))
		t.rows = append(t.rows, row)
	}
	t.ids[row.enc] = id
	return id
}

// release counts one record fewer that holds the shape id, and forgets the
// shape once none does.
func (t *shapeTable) release(id uint32) {
	row := &t.rows[id]
	if row.refs--; row.refs > 0 {
		return
	}
	delete(t.ids, row.enc)
	*row = shapeRow{}
	t.free = append(t.free, id)
}

// get returns the encoding of the shape id.
func (t *shapeTable) get(id uint32) string { return t.rows[id].enc }

// encodeShape appends the shape of r to b: ClientID, RequestedScopes,
// GrantedScopes, RequestedAudience, GrantedAudience and Form, the form's
// names in order, so that equal shapes have one encoding. Scope lists and
// audiences are written as the record's fields are (see encodeToken).
func encodeShape(b []byte, r *storage.Request) []byte {
	b = putString(b, r.ClientID)
	b = putStrings(b, r.RequestedScopes)
	switch {
	case r.GrantedScopes == nil:
		b = binary.AppendUvarint(b, 0)
	case r.RequestedScopes != nil && slices.Equal(r.GrantedScopes, r.RequestedScopes):
		b = binary.AppendUvarint(b, 1)
	default:
		b = binary.AppendUvarint(b, uint64(len(r.GrantedScopes))+2)
		for _, s := range r.GrantedScopes {
			b = putString(b, s)
		}
	}
	b = putStrings(b, r.RequestedAudience)
	b = putStrings(b, r.GrantedAudience)
	if r.Form == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Form))+1)
	var inline [8]string
	names := inline[:0]
	for k := range r.Form {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		b = putString(b, k)
		b = putStrings(b, r.Form[k])
	}
	return b
}

// decodeShape sets the shape's fields of r from the encoding enc, r's
// strings sharing enc's memory (a string: immutable) and its slices and
// map its own.
func decodeShape(enc string, r *storage.Request) {
	d := recReader{s: enc}
	r.ClientID = d.string()
	r.RequestedScopes = d.strings()
	switch n := int(d.uvarint()); n {
	case 0:
	case 1:
		r.GrantedScopes = slices.Clone(r.RequestedScopes)
	default:
		r.GrantedScopes = make([]string, n-2)
		for i := range r.GrantedScopes {
			r.GrantedScopes[i] = d.string()
		}
	}
	r.RequestedAudience = d.strings()
	r.GrantedAudience = d.strings()
	if n := int(d.uvarint()); n > 0 {
		r.Form = make(map[string][]string, n-1)
		for range n - 1 {
			k := d.string()
			r.Form[k] = d.strings()
		}
	}
}

// shapeClientID returns the ClientID of the shape encoding enc.
func shapeClientID(enc string) string {
	d := recReader{s: enc}
	return d.string()
}
