package provider

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// formCase is a request for readForm and r.ParseForm alike.
type formCase struct {
	method, contentType, query, body string
	limit                            int64
}

// compareForms parses twin requests of c with readForm and r.ParseForm,
// both bodies capped as parseForm caps them, and reports where they
// differ.
func compareForms(t *testing.T, c formCase) {
	t.Helper()
	twin := func() *http.Request {
		target := "http://127.0.0.1:9/oauth2/token"
		if c.query != "" {
			target += "?" + c.query
		}
		r, err := http.NewRequest(c.method, target, strings.NewReader(c.body))
		require.NoError(t, err)
		if c.contentType != "" {
			r.Header.Set("Content-Type", c.contentType)
		}
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, c.limit)
		return r
	}
	got, want := twin(), twin()
	gotErr, wantErr := readForm(got), want.ParseForm()
	if wantErr != nil {
		require.Error(t, gotErr, "%+v: ParseForm fails with %v", c, wantErr)
		assert.Equal(t, wantErr.Error(), gotErr.Error(), "%+v", c)
		var mbe *http.MaxBytesError
		assert.Equal(t, errors.As(wantErr, &mbe), errors.As(gotErr, &mbe), "%+v: a body too large is told apart", c)
	} else {
		require.NoError(t, gotErr, "%+v", c)
	}
	assert.Equal(t, want.PostForm, got.PostForm, "%+v: PostForm", c)
	assert.Equal(t, want.Form, got.Form, "%+v: Form", c)
}

// readForm parses what r.ParseForm parses, to the same values and the
// same errors, on its own path (a POST of a url-encoded body alone) and
// off it.
func TestReadFormAsParseForm(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	long := "token=" + strings.Repeat("a", 3000) // beyond the pooled buffer's first size
	for _, c := range []formCase{
		{"POST", form, "", "grant_type=client_credentials&scope=a+b%20c", 1 << 20},
		{"POST", form, "", "", 1 << 20},
		{"POST", form, "", "a=1&a=2&b=&c&&=x", 1 << 20},
		{"POST", form, "", "bad=%zz&good=1", 1 << 20},
		{"POST", form, "", "semi=1;x=2&ok=1", 1 << 20},
		{"POST", form, "", long, 1 << 20},
		{"POST", form, "", long, 100}, // too large
		{"POST", form, "", "token=abc", 9},
		{"POST", form, "", "token=abc", 8},
		{"POST", form, "q=1", "token=abc", 1 << 20},
		{"POST", form + "; charset=UTF-8", "", "token=abc", 1 << 20},
		{"POST", "application/json", "", `{"token":"abc"}`, 1 << 20},
		{"POST", "", "", "token=abc", 1 << 20},
		{"POST", "text/plain;;", "", "token=abc", 1 << 20},
		{"GET", form, "access_token=x", "", 1 << 20},
		{"PUT", form, "", "token=abc", 1 << 20},
	} {
		compareForms(t, c)
	}
	// A buffer from the pool holds nothing of an earlier body.
	compareForms(t, formCase{"POST", form, "", "short=1", 1 << 20})
}

// FuzzReadForm: for any body, content type, query and cap, readForm and
// r.ParseForm agree.
func FuzzReadForm(f *testing.F) {
	f.Add("POST", "application/x-www-form-urlencoded", "", "grant_type=client_credentials&scope=a+b", int64(1<<20))
	f.Add("POST", "application/x-www-form-urlencoded", "", "bad=%zz;x&&=", int64(1<<20))
	f.Add("POST", "application/x-www-form-urlencoded", "", "token=abcdef", int64(4))
	f.Add("POST", "application/x-www-form-urlencoded", "x=1", "token=a", int64(1<<20))
	f.Add("PATCH", "text/plain", "", "a=b", int64(1<<20))
	f.Fuzz(func(t *testing.T, method, contentType, query, body string, limit int64) {
		switch method {
		case "POST", "GET", "PUT", "PATCH":
		default:
			method = "POST"
		}
		if _, err := url.ParseRequestURI("/t?" + query); err != nil || strings.ContainsAny(query, " #") || strings.ContainsAny(contentType, "\r\n\x00") {
			return // not a request line or header a client can send
		}
		if limit < 0 {
			limit = -limit
		}
		compareForms(t, formCase{method, contentType, query, body, limit % (1 << 16)})
	})
}
