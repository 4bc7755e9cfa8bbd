package provider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/storage"
)

// credentialStyle is how a request carries a client's credentials.
type credentialStyle int

const (
	viaBasic credentialStyle = iota // HTTP Basic, both parts form-url-encoded
	viaBody                         // client_id and client_secret in the body
)

func (s credentialStyle) String() string { return [...]string{"Basic", "body"}[s] }

// post sends vals to path with the client's credentials in style.
func (e *env) postAs(path string, vals url.Values, style credentialStyle, id, secret string) (int, map[string]any, http.Header) {
	e.t.Helper()
	v := url.Values{}
	for k, vs := range vals {
		v[k] = vs
	}
	if style == viaBody {
		v.Set("client_id", id)
		v.Set("client_secret", secret)
		return e.postForm(path, v, "", "")
	}
	return e.postForm(path, v, id, secret)
}

// TestSecretMethodsInterchangeable: for a client that authenticates with a
// secret, client_secret_basic and client_secret_post are the same method
// (RFC 6749 §2.3.1), whichever is registered, at the token, introspection
// and revocation endpoints; the registered method is unchanged.
func TestSecretMethodsInterchangeable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	postClient, postSecret, err := e.p.CreateClient(ctx, storage.Client{
		ID: "poster", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"},
		TokenEndpointAuthMethod: "client_secret_post",
	})
	require.NoError(t, err)
	for _, c := range []struct {
		id, secret, registered string
	}{{e.svc.ID, e.svcSecret, "client_secret_basic"}, {postClient.ID, postSecret, "client_secret_post"}} {
		got, err := e.p.GetClient(ctx, c.id)
		require.NoError(t, err)
		assert.Equal(t, c.registered, got.TokenEndpointAuthMethod, "the registered method is kept")
		for _, style := range []credentialStyle{viaBasic, viaBody} {
			t.Run(c.id+" by "+style.String(), func(t *testing.T) {
				status, body, _ := e.postAs("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, style, c.id, c.secret)
				require.Equal(t, http.StatusOK, status, "%v", body)
				tok := body["access_token"].(string)

				status, body, _ = e.postAs("/oauth2/introspect", url.Values{"token": {tok}}, style, c.id, c.secret)
				require.Equal(t, http.StatusOK, status, "%v", body)
				assert.Equal(t, true, body["active"])
				assert.Equal(t, c.id, body["client_id"])

				status, body, _ = e.postAs("/oauth2/revoke", url.Values{"token": {tok}}, style, c.id, c.secret)
				require.Equal(t, http.StatusOK, status, "%v", body)
				assert.Equal(t, false, e.introspectAs(c.id, c.secret, tok)["active"], "the revocation took effect")

				// A wrong secret by the other method is still wrong.
				status, body, hdr := e.postAs("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, style, c.id, c.secret+"x")
				assert.Equal(t, http.StatusUnauthorized, status)
				assert.Equal(t, "invalid_client", body["error"])
				assert.Contains(t, hdr.Get("WWW-Authenticate"), "Basic")
			})
		}
	}

	// golang.org/x/oauth2 sends the secret in the body with
	// AuthStyleInParams, to a client registered for Basic.
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader, oauth2.AuthStyleAutoDetect} {
		cc := clientcredentials.Config{ClientID: e.svc.ID, ClientSecret: e.svcSecret, TokenURL: e.url("/oauth2/token"), Scopes: []string{"assets:read"}, AuthStyle: style}
		tok, err := cc.Token(ctx)
		require.NoError(t, err, "auth style %d", style)
		assert.NotEmpty(t, tok.AccessToken)
	}
}

// TestExclusiveAuthMethods: private_key_jwt and none are not secret methods,
// so a secret never authenticates such a client, by either way of sending
// it.
func TestExclusiveAuthMethods(t *testing.T) {
	e := newEnv(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	require.NoError(t, err)
	signer, _, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "signer", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"},
		TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256", JWKS: jwks,
	})
	require.NoError(t, err)
	for _, style := range []credentialStyle{viaBasic, viaBody} {
		status, body, _ := e.postAs("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, style, signer.ID, "guessed")
		assert.Equal(t, http.StatusUnauthorized, status, "private_key_jwt by %s", style)
		assert.Equal(t, "invalid_client", body["error"])
		assert.Contains(t, body["error_description"], "private_key_jwt")

		status, body, _ = e.postAs("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, style, e.spa.ID, "guessed")
		assert.Equal(t, http.StatusUnauthorized, status, "public client with a secret by %s", style)
		assert.Equal(t, "invalid_client", body["error"])
	}
}

// TestTwoAuthMethodsRefused: a request that authenticates its client twice
// is malformed (RFC 6749 §2.3), at every endpoint that authenticates
// clients.
func TestTwoAuthMethodsRefused(t *testing.T) {
	e := newEnv(t)
	assertionForm := url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {"a.b.c"},
	}
	for path, base := range map[string]url.Values{
		"/oauth2/token":      {"grant_type": {"client_credentials"}},
		"/oauth2/introspect": {"token": {"x"}},
		"/oauth2/revoke":     {"token": {"x"}},
	} {
		with := func(extra url.Values) url.Values {
			v := url.Values{}
			for k, vs := range base {
				v[k] = vs
			}
			for k, vs := range extra {
				v[k] = vs
			}
			return v
		}
		for name, tc := range map[string]struct {
			form  url.Values
			basic bool
			want  string
		}{
			"Basic and a body secret":          {with(url.Values{"client_id": {e.svc.ID}, "client_secret": {e.svcSecret}}), true, "HTTP Basic and with client_secret"},
			"Basic and a client assertion":     {with(assertionForm), true, "HTTP Basic and with a client assertion"},
			"a body secret and an assertion":   {with(url.Values{"client_id": {e.svc.ID}, "client_secret": {e.svcSecret}, "client_assertion_type": assertionForm["client_assertion_type"], "client_assertion": assertionForm["client_assertion"]}), false, "client_secret and with a client assertion"},
			"Basic and another body client_id": {with(url.Values{"client_id": {e.web.ID}}), true, "not the client of the HTTP Basic credentials"},
		} {
			t.Run(path+" "+name, func(t *testing.T) {
				user, pass := "", ""
				if tc.basic {
					user, pass = e.svc.ID, e.svcSecret
				}
				status, body, _ := e.postForm(path, tc.form, user, pass)
				assert.Equal(t, http.StatusBadRequest, status, "%v", body)
				assert.Equal(t, "invalid_request", body["error"])
				assert.Contains(t, body["error_description"], tc.want)
			})
		}
		t.Run(path+" Basic and the same body client_id", func(t *testing.T) {
			status, body, _ := e.postForm(path, with(url.Values{"client_id": {e.svc.ID}}), e.svc.ID, e.svcSecret)
			assert.Equal(t, http.StatusOK, status, "%v", body)
		})
	}
}

// TestClientAuthErrorCodes: a request without client authentication, or
// with Basic credentials that cannot be form-decoded, is malformed (400
// invalid_request, saying what is wrong); failed client authentication is
// 401 invalid_client with WWW-Authenticate: Basic (RFC 6749 §5.2), at the
// token, introspection and revocation endpoints alike.
func TestClientAuthErrorCodes(t *testing.T) {
	e := newEnv(t)
	rawBasic := func(path string, vals url.Values, user, pass string) (int, map[string]any, http.Header) {
		req, err := http.NewRequest(http.MethodPost, e.url(path), strings.NewReader(vals.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(user, pass) // not form-url-encoded: the caller's bytes as they are
		return e.do(req)
	}
	forms := map[string]url.Values{
		"/oauth2/token":      {"grant_type": {"client_credentials"}},
		"/oauth2/introspect": {"token": {"x"}},
		"/oauth2/revoke":     {"token": {"x"}},
	}
	for path, form := range forms {
		t.Run(path, func(t *testing.T) {
			status, body, hdr := rawBasic(path, form, e.svc.ID, e.svcSecret+"%")
			assert.Equal(t, http.StatusBadRequest, status, "a secret ending in %%: %v", body)
			assert.Equal(t, "invalid_request", body["error"])
			assert.Contains(t, body["error_description"], "could not be decoded")
			assert.Empty(t, hdr.Get("WWW-Authenticate"))

			status, body, _ = rawBasic(path, form, "svc%zz", e.svcSecret)
			assert.Equal(t, http.StatusBadRequest, status, "a client ID that cannot be decoded: %v", body)
			assert.Equal(t, "invalid_request", body["error"])

			for name, cred := range map[string][2]string{
				"wrong secret":   {e.svc.ID, "wrong"},
				"unknown client": {"nobody", "secret"},
			} {
				for _, style := range []credentialStyle{viaBasic, viaBody} {
					status, body, hdr := e.postAs(path, form, style, cred[0], cred[1])
					assert.Equal(t, http.StatusUnauthorized, status, "%s by %s: %v", name, style, body)
					assert.Equal(t, "invalid_client", body["error"], "%s by %s", name, style)
					assert.Equal(t, `Basic realm="`+e.issuer+`"`, hdr.Get("WWW-Authenticate"), "%s by %s", name, style)
				}
			}

			status, body, hdr = e.postForm(path, url.Values{
				"grant_type": form["grant_type"], "token": form["token"], "client_id": {"signer-less"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"},
			}, "", "")
			assert.Equal(t, http.StatusUnauthorized, status, "an assertion that does not verify: %v", body)
			assert.Equal(t, "invalid_client", body["error"])
			assert.NotEmpty(t, hdr.Get("WWW-Authenticate"))
		})
	}

	// No client authentication at all.
	for _, path := range []string{"/oauth2/token", "/oauth2/revoke"} {
		status, body, _ := e.postForm(path, forms[path], "", "")
		assert.Equal(t, http.StatusBadRequest, status, "%s without client authentication: %v", path, body)
		assert.Equal(t, "invalid_request", body["error"])
		assert.Contains(t, body["error_description"], "Client credentials missing", path)
		assert.NotContains(t, body["error_description"], "redirect_uri", path)
	}
	// Introspection requires a client that may see tokens (RFC 7662 §2.1):
	// none at all is 401, as its own description says.
	status, body, hdr := e.postForm("/oauth2/introspect", forms["/oauth2/introspect"], "", "")
	assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
	assert.Equal(t, "invalid_client", body["error"])
	assert.NotEmpty(t, hdr.Get("WWW-Authenticate"))
}

// TestPublicClientRevokesItsOwnToken: a public client authenticates to the
// revocation endpoint with its client_id alone (RFC 7009 §2.1); it revokes
// its own tokens and nobody else's.
func TestPublicClientRevokesItsOwnToken(t *testing.T) {
	e := newEnv(t)
	spaTok := e.codeFlow(e.spa, "", spaRedirect, "alice", "openid", "offline_access", "assets:read")
	webTok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")

	status, body, _ := e.postForm("/oauth2/revoke", url.Values{"token": {webTok.RefreshToken}, "client_id": {e.spa.ID}}, "", "")
	assert.Equal(t, http.StatusOK, status, "another client's token: 200, nothing said (RFC 7009 §2.2): %v", body)
	assert.Equal(t, true, e.introspect(webTok.AccessToken)["active"], "another client's grant is untouched")

	status, body, _ = e.postForm("/oauth2/revoke", url.Values{"token": {spaTok.RefreshToken}, "client_id": {e.spa.ID}}, "", "")
	assert.Equal(t, http.StatusOK, status, "%v", body)
	info, err := e.p.Introspect(context.Background(), spaTok.AccessToken)
	assert.Error(t, err, "revoking the refresh token ended the grant: %+v", info)
	status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {spaTok.RefreshToken}, "client_id": {e.spa.ID}}, "", "")
	assert.Equal(t, http.StatusBadRequest, status, "%v", body)
	assert.Equal(t, "invalid_grant", body["error"])
}

// TestIntrospectionAudience: a token granted an audience is introspected
// with it (RFC 7662 §2.2 aud), in both formats; one granted none has no aud.
func TestIntrospectionAudience(t *testing.T) {
	e := newEnv(t)
	for _, format := range []string{"opaque", "jwt"} {
		c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
			ID: "aud-" + format, GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"},
			Audience: []string{"https://api.example/assets"}, AccessTokenFormat: format,
		})
		require.NoError(t, err)
		status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}, "audience": {"https://api.example/assets"}}, c.ID, secret)
		require.Equal(t, http.StatusOK, status, "%v", body)
		info := e.introspectAs(c.ID, secret, body["access_token"].(string))
		assert.Equal(t, []any{"https://api.example/assets"}, info["aud"], format)

		status, body, _ = e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}, c.ID, secret)
		require.Equal(t, http.StatusOK, status, "%v", body)
		info = e.introspectAs(c.ID, secret, body["access_token"].(string))
		assert.NotContains(t, info, "aud", "%s: no audience was granted", format)
	}
}
