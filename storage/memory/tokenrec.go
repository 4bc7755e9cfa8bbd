package memory

import (
	"encoding/binary"
	"encoding/hex"
	"time"
	"unsafe"

	"github.com/gatehouse/gatehouse/storage"
)

// A live token is the memory store's most numerous record: a busy provider
// keeps one per access token for the token's lifetime. Kept as a
// storage.Token it cost about 1.2 KB of heap (a struct, a map for the form,
// a slice per scope list, the session bytes and a slice in the family
// index). A token is kept as one record, written once by encodeToken into
// the store's arena, plus a tokenEntry of the fields that change in place;
// its client, scopes, audiences and form, which most tokens of a client
// share, are kept once for them all (see shapeTable). Decoding on the way
// out copies the record into one string, which the token's strings share,
// and copies what a caller could change (slices, maps, session bytes)
// apart.

// tokenEntry is a stored token: 24 bytes, no pointer (see arena). RotatedAt,
// which only a rotated refresh token has, is kept in Store.rotated.
type tokenEntry struct {
	at      recRef // the record, in Store.recs
	expSec  int64  // ExpiresAt, as a stamp
	expNsec int32
	active  bool
}

// expires returns the entry's ExpiresAt.
func (e tokenEntry) expires() stamp { return stamp{sec: e.expSec, nsec: e.expNsec} }

// stamp is a time.Time without location or monotonic reading: the instant
// the store gives back (in UTC), in 12 bytes rather than 24.
type stamp struct {
	sec  int64
	nsec int32
}

func toStamp(t time.Time) stamp {
	return stamp{sec: t.Unix(), nsec: int32(t.Nanosecond())}
}

func (s stamp) time() time.Time { return time.Unix(s.sec, int64(s.nsec)).UTC() }

// before reports whether s is before t, as time.Time.Before would.
func (s stamp) before(t stamp) bool {
	return s.sec < t.sec || s.sec == t.sec && s.nsec < t.nsec
}

// The fields of a record, in encoding order (encodeToken's): Signature
// (empty when the key gives it back, see tokenKey), Request.ID (an ID
// field, below), LoginSID, AccessSignature, Subject, RequestedAt,
// CreatedAt, the number of the shape (see shapeTable) and Session.
// RequestedAt is a varint of Unix seconds and a uvarint of nanoseconds;
// CreatedAt, nearly always the same instant, is the two differences from
// it, as varints. Strings and byte slices are a uvarint length and the
// bytes; a slice of strings or a map that may be nil is a uvarint of its
// length plus one, zero meaning nil, except GrantedScopes (in the shape):
// a uvarint of its length plus two, zero meaning nil and one "equal to
// RequestedScopes" (a copy of them), the common case.
//
// An ID field is a uvarint tag and bytes: tag 0, a UUID in its canonical
// text form (36 characters, lowercase hex; fosite's request IDs) as its 16
// bytes; tag n > 0, a string of n-1 bytes.
//
// The usual access token's record is about 100 bytes: written in a buffer
// on the stack, then copied into the arena.

// encodeToken appends the record of t, whose key is k and shape shape, to
// b.
func encodeToken(b []byte, k tokenKey, t storage.Token, shape uint32) []byte {
	r := &t.Request
	if k.hashed() {
		b = putString(b, t.Signature)
	} else {
		b = putString(b, "")
	}
	b = putID(b, r.ID)
	b = putString(b, r.LoginSID)
	b = putString(b, t.AccessSignature)
	b = putString(b, r.Subject)
	req, created := toStamp(r.RequestedAt), toStamp(t.CreatedAt)
	b = binary.AppendVarint(b, req.sec)
	b = binary.AppendUvarint(b, uint64(req.nsec))
	b = binary.AppendVarint(b, created.sec-req.sec)
	b = binary.AppendVarint(b, int64(created.nsec)-int64(req.nsec))
	b = binary.AppendUvarint(b, uint64(shape))
	if r.Session == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(r.Session))+1)
		b = append(b, r.Session...)
	}
	return b
}

// putID appends the ID field of id.
func putID(b []byte, id string) []byte {
	var u [16]byte
	if parseUUID(&u, id) {
		b = binary.AppendUvarint(b, 0)
		return append(b, u[:]...)
	}
	b = binary.AppendUvarint(b, uint64(len(id))+1)
	return append(b, id...)
}

// parseUUID decodes s into u if s is a UUID in canonical text form, and
// reports whether it is: exactly what formatUUID gives back.
func parseUUID(u *[16]byte, s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, lo := unhex(s[i]), unhex(s[i+1])
		if hi > 15 || lo > 15 {
			return false
		}
		u[j] = hi<<4 | lo
		j++
	}
	return j == 16
}

// unhex returns the value of the lowercase hex digit c, or 0xFF.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return 0xFF
}

// formatUUID writes u in canonical text form.
func formatUUID(dst *[36]byte, u *[16]byte) {
	hex.Encode(dst[0:8], u[0:4])
	hex.Encode(dst[9:13], u[4:6])
	hex.Encode(dst[14:18], u[6:8])
	hex.Encode(dst[19:23], u[8:10])
	hex.Encode(dst[24:36], u[10:16])
	dst[8], dst[13], dst[18], dst[23] = '-', '-', '-', '-'
}

func putString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func putStrings(b []byte, l []string) []byte {
	if l == nil {
		return binary.AppendUvarint(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(l))+1)
	for _, s := range l {
		b = putString(b, s)
	}
	return b
}

// recReader reads a record in encoding order. The store wrote every record
// it reads, so a malformed one is a bug in this file, and panics.
type recReader struct {
	s   string
	off int
}

func (r *recReader) uvarint() uint64 {
	v, n := uvarintString(r.s[r.off:])
	if n <= 0 {
		panic("memory: corrupt token record")
	}
	r.off += n
	return v
}

func (r *recReader) varint() int64 {
	u := r.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (r *recReader) stamp() stamp {
	sec := r.varint()
	return stamp{sec: sec, nsec: int32(r.uvarint())}
}

func (r *recReader) string() string {
	n := int(r.uvarint())
	s := r.s[r.off : r.off+n]
	r.off += n
	return s
}

func (r *recReader) strings() []string {
	n := int(r.uvarint())
	if n == 0 {
		return nil
	}
	l := make([]string, n-1)
	for i := range l {
		l[i] = r.string()
	}
	return l
}

// uvarintString is binary.Uvarint on a string, without converting it.
func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}

// head is the part of a record the indexes and sweeps need, read without
// decoding the rest. Its strings are views of the arena's memory: valid
// while the caller holds the lock and changes no token, and to be cloned
// before they are kept.
type head struct {
	signature                          string
	requestID                          recID
	loginSID, accessSignature, subject string
	shape                              uint32
}

// recID is an ID field as a record holds it (see putID).
type recID struct {
	raw    string // the ID, or its 16 bytes if uuid
	isUUID bool
}

// is reports whether the ID is s.
func (id recID) is(s string) bool {
	if !id.isUUID {
		return id.raw == s
	}
	var u [16]byte
	return parseUUID(&u, s) && string(u[:]) == id.raw
}

// text returns the ID as text, in buf when it is a UUID.
func (id recID) text(buf *[36]byte) []byte {
	if !id.isUUID {
		return unsafe.Slice(unsafe.StringData(id.raw), len(id.raw))
	}
	formatUUID(buf, (*[16]byte)(unsafe.Pointer(unsafe.StringData(id.raw))))
	return buf[:]
}

// String returns the ID as a string of its own.
func (id recID) String() string {
	var buf [36]byte
	return string(id.text(&buf))
}

func (r *recReader) id() recID {
	tag := int(r.uvarint())
	if tag == 0 {
		id := recID{raw: r.s[r.off : r.off+16], isUUID: true}
		r.off += 16
		return id
	}
	id := recID{raw: r.s[r.off : r.off+tag-1]}
	r.off += tag - 1
	return id
}

// headOf reads the head of the record rec.
func headOf(rec []byte) head {
	r := recReader{s: unsafe.String(unsafe.SliceData(rec), len(rec))}
	h := head{signature: r.string(), requestID: r.id(), loginSID: r.string(), accessSignature: r.string(), subject: r.string()}
	r.stamp()
	r.varint()
	r.varint()
	h.shape = uint32(r.uvarint())
	return h
}

// decodeToken decodes the record rec of the token of key k and entry e,
// its shape from shapes, rotated at rotated (the zero stamp: never), as a
// storage.Token that shares no memory with the store but the shape's (a
// string, immutable). sig, if known, is the token's signature (the
// caller's, a string too), which spares encoding the key's bytes again.
func decodeToken(k tokenKey, e tokenEntry, rec []byte, shapes *shapeTable, rotated stamp, sig string, known bool) storage.Token {
	r := recReader{s: string(rec)}
	var t storage.Token
	t.Kind = k.kind.kind()
	t.Signature = r.string()
	switch {
	case known:
		t.Signature = sig
	case !k.hashed():
		t.Signature = k.signature()
	}
	if id := r.id(); id.isUUID {
		t.Request.ID = id.String()
	} else {
		t.Request.ID = id.raw // a slice of r.s, the record's copy
	}
	t.Request.LoginSID = r.string()
	t.AccessSignature = r.string()
	t.Request.Subject = r.string()
	req := r.stamp()
	t.Request.RequestedAt = req.time()
	created := stamp{sec: req.sec + r.varint()}
	created.nsec = int32(int64(req.nsec) + r.varint())
	t.CreatedAt = created.time()
	decodeShape(shapes.get(uint32(r.uvarint())), &t.Request)
	if n := int(r.uvarint()); n > 0 {
		t.Request.Session = []byte(r.s[r.off : r.off+n-1])
		if t.Request.Session == nil {
			t.Request.Session = []byte{}
		}
	}
	t.ExpiresAt = e.expires().time()
	if rotated != (stamp{}) {
		t.RotatedAt = rotated.time()
	}
	t.Active = e.active
	return t
}
