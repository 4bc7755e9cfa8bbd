package memory

import (
	"encoding/binary"
	"slices"
	"time"
	"unsafe"

	"github.com/gatehouse/gatehouse/storage"
)

// A live token is the memory store's most numerous record: a busy provider
// keeps one per access token for the token's lifetime. Kept as a
// storage.Token it cost about 1.2 KB of heap (a struct, a map for the form,
// a slice per scope list, the session bytes and a slice in the family
// index). A token is kept as one record, written once by encodeToken into
// the store's arena, plus a tokenEntry of the fields that change in place.
// Decoding on the way out copies the record into one string, which the
// token's strings share, and copies what a caller could change (slices,
// maps, session bytes) apart.

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

// The fields of a record, in encoding order (encodeToken's). RequestedAt is a
// varint of Unix seconds and a uvarint of nanoseconds; CreatedAt, nearly
// always the same instant, is the two differences from it, as varints.
// Strings and byte slices are a uvarint length and the bytes; a slice of
// strings or a map that may be nil is a uvarint of its length plus one,
// zero meaning nil, except GrantedScopes: a uvarint of its length plus two,
// zero meaning nil and one "equal to RequestedScopes" (a copy of them), the
// common case.
//
// The signature comes first: empty when the key gives it back (see
// tokenKey).
//
// The usual access token's record is about 200 bytes: written in a buffer
// on the stack, then copied into the arena.

// encodeToken appends the record of t, whose key is k, to b.
func encodeToken(b []byte, k tokenKey, t storage.Token) []byte {
	r := &t.Request
	if k.hashed() {
		b = putString(b, t.Signature)
	} else {
		b = putString(b, "")
	}
	b = putString(b, r.ID)
	b = putString(b, r.ClientID)
	b = putString(b, r.LoginSID)
	b = putString(b, t.AccessSignature)
	b = putString(b, r.Subject)
	req, created := toStamp(r.RequestedAt), toStamp(t.CreatedAt)
	b = binary.AppendVarint(b, req.sec)
	b = binary.AppendUvarint(b, uint64(req.nsec))
	b = binary.AppendVarint(b, created.sec-req.sec)
	b = binary.AppendVarint(b, int64(created.nsec)-int64(req.nsec))
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
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(r.Form))+1)
		for k, v := range r.Form {
			b = putString(b, k)
			b = putStrings(b, v)
		}
	}
	if r.Session == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(r.Session))+1)
		b = append(b, r.Session...)
	}
	return b
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
	signature, requestID, clientID, loginSID, accessSignature, subject string
}

// headOf reads the head of the record rec.
func headOf(rec []byte) head {
	r := recReader{s: unsafe.String(unsafe.SliceData(rec), len(rec))}
	return head{
		signature:       r.string(),
		requestID:       r.string(),
		clientID:        r.string(),
		loginSID:        r.string(),
		accessSignature: r.string(),
		subject:         r.string(),
	}
}

// decodeToken decodes the record rec of the token of key k and entry e,
// rotated at rotated (the zero stamp: never), as a storage.Token that
// shares no memory with the store.
func decodeToken(k tokenKey, e tokenEntry, rec []byte, rotated stamp) storage.Token {
	r := recReader{s: string(rec)}
	var t storage.Token
	t.Kind = k.kind.kind()
	t.Signature = r.string()
	if !k.hashed() {
		t.Signature = k.signature()
	}
	t.Request.ID = r.string()
	t.Request.ClientID = r.string()
	t.Request.LoginSID = r.string()
	t.AccessSignature = r.string()
	t.Request.Subject = r.string()
	req := r.stamp()
	t.Request.RequestedAt = req.time()
	created := stamp{sec: req.sec + r.varint()}
	created.nsec = int32(int64(req.nsec) + r.varint())
	t.CreatedAt = created.time()
	t.Request.RequestedScopes = r.strings()
	switch n := int(r.uvarint()); n {
	case 0:
	case 1:
		t.Request.GrantedScopes = slices.Clone(t.Request.RequestedScopes)
	default:
		t.Request.GrantedScopes = make([]string, n-2)
		for i := range t.Request.GrantedScopes {
			t.Request.GrantedScopes[i] = r.string()
		}
	}
	t.Request.RequestedAudience = r.strings()
	t.Request.GrantedAudience = r.strings()
	if n := int(r.uvarint()); n > 0 {
		t.Request.Form = make(map[string][]string, n-1)
		for range n - 1 {
			k := r.string()
			t.Request.Form[k] = r.strings()
		}
	}
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
