package provider_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/flowtest"
)

// FuzzTokenEndpoint sends arbitrary bodies and credentials to the token
// endpoint: it must never panic or answer 500, and every refusal is an RFC
// 6749 JSON error.
func FuzzTokenEndpoint(f *testing.F) {
	for _, seed := range []string{
		"grant_type=client_credentials",
		"grant_type=client_credentials&scope=assets:read",
		"grant_type=authorization_code&code=abc.def&redirect_uri=http%3A%2F%2F127.0.0.1%3A8081%2Fcallback&code_verifier=x",
		"grant_type=refresh_token&refresh_token=ory_rt_x.y",
		"grant_type=password&username=alice&password=alice-password",
		"grant_type=%zz",
		"grant_type=client_credentials&grant_type=client_credentials",
		"client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c&grant_type=client_credentials&client_id=svc",
		"",
	} {
		f.Add(seed, "svc", "secret")
		f.Add(seed, "", "")
	}
	e := newEnv(f)
	handler := e.p.Handler()
	f.Fuzz(func(t *testing.T, body, user, pass string) {
		req := httptest.NewRequest(http.MethodPost, e.issuer+"/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for body %q: %s", rec.Code, body, rec.Body)
		}
		if rec.Code != http.StatusOK && !isOAuthErrorBody(rec.Body.Bytes()) {
			t.Fatalf("status %d without a JSON error: %q", rec.Code, rec.Body)
		}
	})
}

// isOAuthErrorBody reports whether b is a JSON object with a non-empty
// string "error" (RFC 6749 §5.2). A missing key decodes to nil, not "".
func isOAuthErrorBody(b []byte) bool {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return false
	}
	code, ok := m["error"].(string)
	return ok && code != ""
}

// The fuzz property must fire on a body without the error key, or with an
// empty or non-string one.
func TestIsOAuthErrorBody(t *testing.T) {
	for body, want := range map[string]bool{
		`{"error":"invalid_request","error_description":"x"}`: true,
		`{}`:                        false,
		`{"error_description":"x"}`: false,
		`{"error":""}`:              false,
		`{"error":1}`:               false,
		`{"error":null}`:            false,
		`not json`:                  false,
		`["error"]`:                 false,
	} {
		if got := isOAuthErrorBody([]byte(body)); got != want {
			t.Errorf("isOAuthErrorBody(%s) = %v, want %v", body, got, want)
		}
	}
}

// FuzzAuthorize sends arbitrary queries to the authorization endpoint: no
// panic, no 500, and a redirect only ever to a registered redirect URI or to
// the provider's own pages.
func FuzzAuthorize(f *testing.F) {
	for _, seed := range []string{
		"response_type=code&client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A8081%2Fcallback&scope=openid&state=state-123456789&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
		"response_type=token&client_id=web&redirect_uri=https%3A%2F%2Fevil.example%2F&state=x",
		"response_type=code&client_id=spa&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fspa&scope=openid",
		"client_id=nobody",
		"response_type=code%20id_token&client_id=web&prompt=none&max_age=-1&nonce=n",
		"",
	} {
		f.Add(seed)
	}
	e := newEnv(f)
	handler := e.p.Handler()
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, e.issuer+"/oauth2/authorize", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, query, rec.Body)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("bad Location %q", loc)
			}
			// Registered URIs, with RFC 8252 port flexibility on loopback,
			// or the provider's own interaction page.
			ok := u.Host == "" && u.Path == "/oauth2/interaction" ||
				u.Scheme == "http" && u.Hostname() == "127.0.0.1" && (u.Path == "/callback" || u.Path == "/spa")
			if !ok {
				t.Fatalf("redirect to %q for query %q", loc, query)
			}
		}
	})
}

// FuzzInteraction posts arbitrary forms to a flow waiting at its MFA step
// (with the flow's CSRF token and cookies, so they get past the gate): no
// panic, no 5xx, and never a redirect anywhere but the provider's pages or
// the client's registered redirect URI.
func FuzzInteraction(f *testing.F) {
	for _, seed := range []string{
		"step=mfa&otp=123456",
		"step=mfa&otp=",
		"step=mfa&otp=%00%ff&factor=totp",
		"step=mfa&factor=sms&otp=123456",
		"step=tenant&tenant=acme",
		"step=consent&decision=allow",
		"step=login&username=alice&password=alice-password",
		"step=mfa&otp=1234-5678-9abc",
		"step=mfa&otp=" + strings.Repeat("9", 5000),
		"step=mfa&step=consent",
		"",
	} {
		f.Add(seed)
	}
	a := newACEnv(f)
	b := flowtest.NewBrowser(f)
	page := a.toMFA(b)
	form := page.Form(f)
	action := page.URL.ResolveReference(mustParseURL(f, form.Action)).String()
	cookies := b.Jar.Cookies(page.URL)
	handler := a.p.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, action, strings.NewReader("csrf_token="+url.QueryEscape(form.Fields.Get("csrf_token"))+"&"+body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if loc := rec.Header().Get("Location"); loc != "" {
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatalf("bad Location %q", loc)
			}
			if u.IsAbs() && !strings.HasPrefix(loc, webRedirect+"?") {
				t.Fatalf("redirect to %q for %q", loc, body)
			}
			if u.Query().Get("code") != "" {
				t.Fatalf("a code without the second factor for %q", body)
			}
		}
	})
}

func mustParseURL(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
