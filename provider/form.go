package provider

import (
	"io"
	"net/http"
	"net/url"
	"sync"
)

// formBuffers holds the buffers readForm reads request bodies into, so
// that a request's body is not read into a buffer grown from nothing.
var formBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledForm is the largest buffer put back into formBuffers: one
// large body does not keep its buffer for the small ones.
const maxPooledForm = 64 << 10

// readForm parses r's form as r.ParseForm does, with the same result in
// r.PostForm and r.Form and the same error, doing less for the request
// the endpoints get nearly always: a POST whose only parameters are an
// application/x-www-form-urlencoded body. For it, the body is read into a
// pooled buffer, and r.PostForm and r.Form are one map (without a query
// string they hold the same parameters; parseForm's callers change
// neither). Any other request is parsed by r.ParseForm.
// TestReadFormAsParseForm and FuzzReadForm hold it to r.ParseForm.
func readForm(r *http.Request) error {
	if r.Method != http.MethodPost || r.Body == nil || r.URL == nil || r.URL.RawQuery != "" || r.PostForm != nil || r.Form != nil {
		return r.ParseForm()
	}
	if ct := r.Header["Content-Type"]; len(ct) != 1 || ct[0] != "application/x-www-form-urlencoded" {
		return r.ParseForm()
	}
	bp := formBuffers.Get().(*[]byte)
	b, err := appendBody((*bp)[:0], r.Body)
	var v url.Values
	if err == nil {
		v, err = url.ParseQuery(string(b))
	}
	if cap(b) <= maxPooledForm {
		*bp = b[:0]
		formBuffers.Put(bp)
	}
	if v == nil {
		v = make(url.Values)
	}
	r.PostForm, r.Form = v, v
	return err
}

// appendBody appends what body holds to b, as io.ReadAll reads it.
func appendBody(b []byte, body io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}
