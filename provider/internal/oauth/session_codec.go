package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/provider/internal/jsonw"

	"github.com/ory/fosite"
)

// A session is encoded on every token write and decoded on every token
// read (introspection, refresh, userinfo, the code exchange): through
// encoding/json's reflection that was a tenth of an introspection's CPU.
// appendWire and decodeWire do the same work by hand for the values a
// session holds (strings, Unix-nanosecond integers, string lists), and
// hand the free-form values (header and claim maps) to encoding/json.
//
// They are exact: appendWire writes json.Marshal(w) byte for byte, and
// decodeWire reads into w what json.Unmarshal would, or, for anything
// outside the canonical form (a duplicate or unknown key, null, an escape
// in a string, a number that is not a plain integer), reports that it did
// not and leaves the input to json.Unmarshal. FuzzSessionCodec and
// TestSessionCodecMatchesEncodingJSON hold both to that.

// appendWire appends json.Marshal(w) to b.
func appendWire(b []byte, w *wireSession) ([]byte, error) {
	o := jsonw.Object{B: append(b, '{')}
	o.Str("sub", w.Subject)
	o.Str("usr", w.Username)
	if len(w.Expires) > 0 {
		o.Key("exp")
		o.B = appendExpires(o.B, w.Expires)
	}
	if c := w.Claims; c != nil {
		o.Key("idt")
		var err error
		if o.B, err = appendClaims(o.B, c); err != nil {
			return nil, err
		}
	}
	o.Marshal("hdr", w.Headers)
	o.Marshal("ext", w.Extra)
	if len(w.User) > 0 && o.Err == nil {
		o.Key("user")
		o.B, o.Err = appendRaw(o.B, w.User)
	}
	if t := w.Tenant; t != nil {
		o.Key("tnt")
		t := jsonw.Object{B: append(o.B, '{')}
		t.StrAlways("id", w.Tenant.ID)
		t.Str("dom", w.Tenant.DomainID)
		t.Str("short", w.Tenant.ShortName)
		t.Str("name", w.Tenant.Name)
		o.B = append(t.B, '}')
	}
	o.Str("ip", w.ClientIP)
	o.Str("sid", w.LoginSID)
	o.Str("pt", w.Principal)
	o.Str("akid", w.APIKeyID)
	if o.Err != nil {
		return nil, o.Err
	}
	return append(o.B, '}'), nil
}

// appendClaims appends the ID token claims.
func appendClaims(b []byte, c *wireClaims) ([]byte, error) {
	w := jsonw.Object{B: append(b, '{')}
	w.Str("jti", c.JTI)
	w.Str("iss", c.Issuer)
	w.Str("sub", c.Subject)
	w.List("aud", c.Audience)
	w.Str("nonce", c.Nonce)
	w.Int("exp", c.ExpiresAt)
	w.Int("iat", c.IssuedAt)
	w.Int("rat", c.RequestedAt)
	w.Int("auth_time", c.AuthTime)
	w.Str("at_hash", c.AtHash)
	w.Str("acr", c.ACR)
	w.List("amr", c.AMR)
	w.Str("c_hash", c.CHash)
	w.Marshal("ext", c.Extra)
	return append(w.B, '}'), w.Err
}

// appendExpires appends a token-type-to-nanoseconds map, keys sorted as
// encoding/json sorts them.
func appendExpires(b []byte, m map[fosite.TokenType]int64) []byte {
	var buf [4]fosite.TokenType
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonw.AppendString(b, string(k))
		b = append(b, ':')
		b = strconv.AppendInt(b, m[k], 10)
	}
	return append(b, '}')
}

func appendMarshal(b []byte, v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, js...), nil
}

// appendRaw appends a json.RawMessage as json.Marshal does: compacted,
// with <, > and & (and U+2028, U+2029) escaped in strings. Raw JSON that is
// already so (what the provider stores: json.Marshal's output) is checked
// and copied; anything else goes through json.Marshal.
func appendRaw(b []byte, raw json.RawMessage) ([]byte, error) {
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case c == '<' || c == '>' || c == '&' || c == 0xe2:
			return appendMarshal(b, raw)
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			return appendMarshal(b, raw)
		}
	}
	if !json.Valid(raw) {
		return appendMarshal(b, raw) // for its error
	}
	return append(b, raw...), nil
}

// errNotCanonical tells decodeWire's caller to use json.Unmarshal.
var errNotCanonical = errors.New("oauth: session not in canonical form")

// decodeWire reads b into w as json.Unmarshal(b, w) would, for input in
// the canonical form; otherwise it returns errNotCanonical and w must not
// be used.
func decodeWire(b []byte, w *wireSession) error {
	d := wireDecoder{b: b}
	err := d.object(func(k []byte) error {
		var err error
		switch string(k) {
		case "sub":
			w.Subject, err = d.str()
		case "usr":
			w.Username, err = d.str()
		case "exp":
			w.Expires = make(map[fosite.TokenType]int64, 3)
			err = d.object(func(k []byte) error {
				n, err := d.int()
				w.Expires[fosite.TokenType(k)] = n
				return err
			})
		case "idt":
			w.Claims = &wireClaims{}
			err = d.claims(w.Claims)
		case "hdr":
			w.Headers, err = d.anyMap()
		case "ext":
			w.Extra, err = d.anyMap()
		case "user":
			var raw []byte
			if raw, err = d.skip(); err == nil {
				w.User = append(json.RawMessage(nil), raw...)
			}
		case "tnt":
			w.Tenant = &Tenant{}
			err = d.tenant(w.Tenant)
		case "ip":
			w.ClientIP, err = d.str()
		case "sid":
			w.LoginSID, err = d.str()
		case "pt":
			w.Principal, err = d.str()
		case "akid":
			w.APIKeyID, err = d.str()
		default:
			return errNotCanonical
		}
		return err
	})
	if err != nil {
		return err
	}
	d.space()
	if d.i != len(d.b) {
		return errNotCanonical
	}
	return nil
}

// wireDecoder reads the canonical form of a session: JSON objects, strings
// without escapes, integers, string lists. Anything else is
// errNotCanonical.
type wireDecoder struct {
	b []byte
	i int
}

func (d *wireDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte, or 0 at the end.
func (d *wireDecoder) next() byte {
	d.space()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *wireDecoder) expect(c byte) error {
	if d.next() != c {
		return errNotCanonical
	}
	d.i++
	return nil
}

// object reads an object, calling member for each key with the decoder
// at the value, which member must read. A key seen twice is not canonical
// (encoding/json would keep the last value, or merge two objects).
func (d *wireDecoder) object(member func(key []byte) error) error {
	if err := d.expect('{'); err != nil {
		return err
	}
	if d.next() == '}' {
		d.i++
		return nil
	}
	var seenBuf [16][]byte
	seen := seenBuf[:0]
	for {
		k, err := d.rawStr()
		if err != nil {
			return err
		}
		for _, s := range seen {
			if bytes.Equal(s, k) {
				return errNotCanonical
			}
		}
		seen = append(seen, k)
		if err := d.expect(':'); err != nil {
			return err
		}
		if err := member(k); err != nil {
			return err
		}
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return errNotCanonical
		}
	}
}

// rawStr reads a string without escapes and returns its bytes (valid
// UTF-8, which encoding/json would return unchanged).
func (d *wireDecoder) rawStr() ([]byte, error) {
	if err := d.expect('"'); err != nil {
		return nil, err
	}
	start, ascii := d.i, true
	for ; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !ascii && !utf8.Valid(s) {
				return nil, errNotCanonical
			}
			return s, nil
		case c == '\\' || c < 0x20:
			return nil, errNotCanonical
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, errNotCanonical
}

func (d *wireDecoder) str() (string, error) {
	s, err := d.rawStr()
	return string(s), err
}

// int reads an integer as encoding/json reads one into an int64.
func (d *wireDecoder) int() (int64, error) {
	d.space()
	start := d.i
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	if d.i == digits || (d.b[digits] == '0' && d.i-digits > 1) {
		return 0, errNotCanonical
	}
	if d.i < len(d.b) {
		if c := d.b[d.i]; c == '.' || c == 'e' || c == 'E' {
			return 0, errNotCanonical
		}
	}
	n, err := strconv.ParseInt(string(d.b[start:d.i]), 10, 64)
	if err != nil {
		return 0, errNotCanonical
	}
	return n, nil
}

// strList reads an array of strings; [] is an empty, non-nil list, as
// encoding/json makes it.
func (d *wireDecoder) strList() ([]string, error) {
	if err := d.expect('['); err != nil {
		return nil, err
	}
	l := []string{}
	if d.next() == ']' {
		d.i++
		return l, nil
	}
	for {
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		l = append(l, s)
		switch d.next() {
		case ',':
			d.i++
		case ']':
			d.i++
			return l, nil
		default:
			return nil, errNotCanonical
		}
	}
}

// skip returns the raw bytes of the next value, which must be an object
// or an array (the free-form values); json.Valid checks it.
func (d *wireDecoder) skip() ([]byte, error) {
	c := d.next()
	if c != '{' && c != '[' {
		return nil, errNotCanonical
	}
	start, depth, inString := d.i, 0, false
	for ; d.i < len(d.b); d.i++ {
		c := d.b[d.i]
		if inString {
			switch c {
			case '\\':
				d.i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				d.i++
				raw := d.b[start:d.i]
				if !json.Valid(raw) {
					return nil, errNotCanonical
				}
				return raw, nil
			}
		}
	}
	return nil, errNotCanonical
}

// anyMap reads a free-form object with encoding/json.
func (d *wireDecoder) anyMap() (map[string]any, error) {
	if d.next() != '{' {
		return nil, errNotCanonical
	}
	raw, err := d.skip()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errNotCanonical
	}
	return m, nil
}

func (d *wireDecoder) tenant(t *Tenant) error {
	return d.object(func(k []byte) error {
		var dst *string
		switch string(k) {
		case "id":
			dst = &t.ID
		case "dom":
			dst = &t.DomainID
		case "short":
			dst = &t.ShortName
		case "name":
			dst = &t.Name
		default:
			return errNotCanonical
		}
		var err error
		*dst, err = d.str()
		return err
	})
}

func (d *wireDecoder) claims(c *wireClaims) error {
	return d.object(func(k []byte) error {
		var err error
		switch string(k) {
		case "jti":
			c.JTI, err = d.str()
		case "iss":
			c.Issuer, err = d.str()
		case "sub":
			c.Subject, err = d.str()
		case "aud":
			c.Audience, err = d.strList()
		case "nonce":
			c.Nonce, err = d.str()
		case "exp":
			c.ExpiresAt, err = d.int()
		case "iat":
			c.IssuedAt, err = d.int()
		case "rat":
			c.RequestedAt, err = d.int()
		case "auth_time":
			c.AuthTime, err = d.int()
		case "at_hash":
			c.AtHash, err = d.str()
		case "acr":
			c.ACR, err = d.str()
		case "amr":
			c.AMR, err = d.strList()
		case "c_hash":
			c.CHash, err = d.str()
		case "ext":
			c.Extra, err = d.anyMap()
		default:
			return errNotCanonical
		}
		return err
	})
}
