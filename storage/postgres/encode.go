package postgres

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// ts encodes a time for a timestamptz column: NULL for the zero time.
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromTS decodes a timestamptz column: the time in UTC, or the zero time
// for NULL.
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// encodeForm encodes a form as text, in the form of a URL query with keys
// in byte order: every key and value is query-escaped, so every byte (NUL,
// invalid UTF-8) survives and the text is plain ASCII. Each value is a
// "key=value" pair, in order; a key without values is the key alone. A nil
// or empty form is NULL (the two are not told apart).
func encodeForm(form map[string][]string) *string {
	if len(form) == 0 {
		return nil
	}
	var b strings.Builder
	first := true
	sep := func() {
		if !first {
			b.WriteByte('&')
		}
		first = false
	}
	for _, k := range slices.Sorted(maps.Keys(form)) {
		ek := url.QueryEscape(k)
		vals := form[k]
		if len(vals) == 0 {
			sep()
			b.WriteString(ek)
			continue
		}
		for _, v := range vals {
			sep()
			b.WriteString(ek)
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	s := b.String()
	return &s
}

// decodeForm decodes what encodeForm encoded.
func decodeForm(s *string) (map[string][]string, error) {
	if s == nil {
		return nil, nil
	}
	form := map[string][]string{}
	if *s == "" {
		// Only the form {"": []} (one empty key without values) encodes to
		// the empty text.
		form[""] = []string{}
		return form, nil
	}
	for part := range strings.SplitSeq(*s, "&") {
		ek, ev, hasValue := strings.Cut(part, "=")
		k, err := url.QueryUnescape(ek)
		if err != nil {
			return nil, fmt.Errorf("corrupt form key: %w", err)
		}
		if !hasValue {
			if _, ok := form[k]; !ok {
				form[k] = []string{}
			}
			continue
		}
		v, err := url.QueryUnescape(ev)
		if err != nil {
			return nil, fmt.Errorf("corrupt form value: %w", err)
		}
		form[k] = append(form[k], v)
	}
	return form, nil
}

// encodeData encodes an auth flow's Data as encodeForm does, one value per
// key. A nil or empty map is NULL.
func encodeData(data map[string]string) *string {
	if len(data) == 0 {
		return nil
	}
	form := make(map[string][]string, len(data))
	for k, v := range data {
		form[k] = []string{v}
	}
	return encodeForm(form)
}

// decodeData decodes what encodeData encoded.
func decodeData(s *string) (map[string]string, error) {
	form, err := decodeForm(s)
	if err != nil || form == nil {
		return nil, err
	}
	data := make(map[string]string, len(form))
	for k, vals := range form {
		if len(vals) != 1 {
			return nil, errors.New("corrupt flow data: a key without exactly one value")
		}
		data[k] = vals[0]
	}
	return data, nil
}
