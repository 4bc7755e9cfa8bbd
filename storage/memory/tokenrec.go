package memory

import (
	"encoding/binary"
	"time"
	"unsafe"

	"github.com/gatehouse/gatehouse/storage"
)

// A live token is the memory store's most numerous record: a busy provider
// keeps one per access token for the token's lifetime. Kept as a
// storage.Token it cost about 1.2 KB of heap (a struct, a map for the form,
// a slice per scope list, the session bytes and a slice in the family
// index). tokenEntry keeps it as one immutable string, written once by
// encodeToken, plus the three fields that change in place. The indexes key
// on substrings of that string, so they allocate nothing of their own, and
// decoding on the way out copies what a caller could change (slices, maps,
// session bytes) while its strings share the record's memory, which is
// safe because strings are immutable.

// tokenEntry is a stored token.
type tokenEntry struct {
	rec     string // encodeToken's encoding of everything but the fields below
	expires stamp
	rotated stamp
	active  bool
}

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

// The fields of a record, in encoding order (newEntry's). Times are a
// varint of Unix seconds and a uvarint of nanoseconds. Strings and byte slices are a
// uvarint length and the bytes; a slice of strings or a map that may be nil
// is a uvarint of its length plus one, zero meaning nil.

func newEntry(t storage.Token) tokenEntry {
	r := &t.Request
	n := 64 + len(t.Signature) + len(r.ID) + len(r.ClientID) + len(r.LoginSID) +
		len(t.AccessSignature) + len(r.Subject) + len(r.Session)
	for _, l := range [][]string{r.RequestedScopes, r.GrantedScopes, r.RequestedAudience, r.GrantedAudience} {
		for _, s := range l {
			n += len(s) + 2
		}
	}
	for k, v := range r.Form {
		n += len(k) + 4
		for _, s := range v {
			n += len(s) + 2
		}
	}
	b := make([]byte, 0, n)
	b = putString(b, t.Signature)
	b = putString(b, r.ID)
	b = putString(b, r.ClientID)
	b = putString(b, r.LoginSID)
	b = putString(b, t.AccessSignature)
	b = putString(b, r.Subject)
	for _, at := range []time.Time{r.RequestedAt, t.CreatedAt} {
		st := toStamp(at)
		b = binary.AppendVarint(b, st.sec)
		b = binary.AppendUvarint(b, uint64(st.nsec))
	}
	b = putStrings(b, r.RequestedScopes)
	b = putStrings(b, r.GrantedScopes)
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
	return tokenEntry{
		// b is never written again, so the string may share its memory (as
		// strings.Builder does), which saves a copy of every record.
		rec:     unsafe.String(unsafe.SliceData(b), len(b)),
		expires: toStamp(t.ExpiresAt),
		rotated: toStamp(t.RotatedAt),
		active:  t.Active,
	}
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
// decoding the rest.
type head struct {
	signature, requestID, clientID, loginSID, accessSignature, subject string
}

func (e tokenEntry) head() head {
	r := recReader{s: e.rec}
	return head{
		signature:       r.string(),
		requestID:       r.string(),
		clientID:        r.string(),
		loginSID:        r.string(),
		accessSignature: r.string(),
		subject:         r.string(),
	}
}

// token decodes the entry as a storage.Token of kind, sharing nothing a
// caller could change with the store.
func (e tokenEntry) token(kind storage.TokenKind) storage.Token {
	r := recReader{s: e.rec}
	var t storage.Token
	t.Kind = kind
	t.Signature = r.string()
	t.Request.ID = r.string()
	t.Request.ClientID = r.string()
	t.Request.LoginSID = r.string()
	t.AccessSignature = r.string()
	t.Request.Subject = r.string()
	t.Request.RequestedAt = r.stamp().time()
	t.CreatedAt = r.stamp().time()
	t.Request.RequestedScopes = r.strings()
	t.Request.GrantedScopes = r.strings()
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
	t.ExpiresAt = e.expires.time()
	t.RotatedAt = e.rotated.time()
	t.Active = e.active
	return t
}
