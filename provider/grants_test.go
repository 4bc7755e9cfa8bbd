package provider_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/storage"
)

func TestPasswordGrantOnlyWhenAllowed(t *testing.T) {
	e := newEnv(t, allowLegacyGrants)
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "legacy-cli", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"openid", "offline_access", "assets:read"},
	})
	require.NoError(t, err)
	e.secrets[c.ID] = secret
	cfg := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: e.url("/oauth2/token"), AuthStyle: oauth2.AuthStyleInHeader}, Scopes: []string{"offline_access", "assets:read"}}
	tok, err := cfg.PasswordCredentialsToken(context.Background(), "alice", "alice-password")
	require.NoError(t, err)
	assert.NotEmpty(t, tok.RefreshToken)
	info := e.introspect(tok.AccessToken)
	assert.Equal(t, "sub-alice", info["sub"])

	_, err = cfg.PasswordCredentialsToken(context.Background(), "alice", "wrong")
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "invalid_grant", re.ErrorCode)

	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-password"}}, e.svc.ID, e.svcSecret)
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "unauthorized_client", body["error"], "a client not allowed the password grant")
}

func TestImplicitOnlyWhenAllowed(t *testing.T) {
	e := newEnv(t, allowLegacyGrants)
	c, _, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "legacy-spa", GrantTypes: []string{"implicit"}, RedirectURIs: []string{"https://app.example.com/cb"}, Scopes: []string{"openid", "profile"},
	})
	require.NoError(t, err)
	browser := flowtest.NewBrowser(t)
	q := url.Values{"response_type": {"id_token"}, "client_id": {c.ID}, "redirect_uri": {"https://app.example.com/cb"}, "scope": {"openid profile"}, "state": {"state-123456789"}, "nonce": {"nonce-123456789"}}
	back := e.authorize(browser, e.url("/oauth2/authorize?")+q.Encode(), "alice")
	frag, err := url.ParseQuery(back.Fragment)
	require.NoError(t, err)
	require.NotEmpty(t, frag.Get("id_token"), "implicit answers in the fragment: %s", back)
	assert.Empty(t, back.Query().Get("id_token"), "never in the query")
	claims, _ := e.verifyIDToken(frag.Get("id_token"))
	assert.Equal(t, "nonce-123456789", claims.Nonce)

	// The web client is not allowed implicit.
	q.Set("client_id", e.web.ID)
	q.Set("redirect_uri", webRedirect)
	loc := flowtest.Get(t, browser, e.url("/oauth2/authorize?")+q.Encode()).Location(t)
	assert.Equal(t, "unsupported_response_type", loc.Query().Get("error"))
}

// assertion builds a private_key_jwt client assertion.
func assertion(t *testing.T, key any, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	require.NoError(t, err)
	raw, err := josejwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return raw
}

func TestPrivateKeyJWT(t *testing.T) {
	e := newEnv(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	require.NoError(t, err)
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "signer", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"},
		TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256", JWKS: jwks,
	})
	require.NoError(t, err)
	assert.Empty(t, secret, "private_key_jwt clients get no secret")

	claimsWith := func(mut func(map[string]any)) map[string]any {
		m := map[string]any{
			"iss": c.ID, "sub": c.ID, "aud": e.url("/oauth2/token"),
			"jti": oauth2.GenerateVerifier()[:20], "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(),
		}
		if mut != nil {
			mut(m)
		}
		return m
	}
	request := func(a string) (int, map[string]any) {
		status, body, _ := e.postForm("/oauth2/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {c.ID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a},
		}, "", "")
		return status, body
	}

	good := assertion(t, key, jose.ES256, claimsWith(nil))
	status, body := request(good)
	require.Equal(t, http.StatusOK, status, "%v", body)

	// Replay of the same assertion (same jti).
	status, body = request(good)
	assert.NotEqual(t, http.StatusOK, status)
	assert.Contains(t, []any{"invalid_client", "jti_known"}, body["error"], "%v", body)

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, a := range map[string]string{
		"wrong key":     assertion(t, other, jose.ES256, claimsWith(nil)),
		"wrong aud":     assertion(t, key, jose.ES256, claimsWith(func(m map[string]any) { m["aud"] = "https://elsewhere.example/token" })),
		"expired":       assertion(t, key, jose.ES256, claimsWith(func(m map[string]any) { m["exp"] = time.Now().Add(-time.Minute).Unix() })),
		"iss mismatch":  assertion(t, key, jose.ES256, claimsWith(func(m map[string]any) { m["iss"] = "someone-else" })),
		"alg none":      unsignedJWT(claimsWith(nil)),
		"not a jwt":     "garbage",
		"HS256 confuse": assertion(t, []byte(strings.Repeat("k", 32)), jose.HS256, claimsWith(nil)),
	} {
		t.Run(name, func(t *testing.T) {
			status, body := request(a)
			assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
			assert.Equal(t, "invalid_client", body["error"])
		})
	}
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func unsignedJWT(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	b, _ := json.Marshal(claims)
	enc := func(x []byte) string { return strings.TrimRight(base64URL(x), "=") }
	return enc(h) + "." + enc(b) + "."
}

func TestPromptLoginAndMaxAge(t *testing.T) {
	e := newEnv(t)
	browser := flowtest.NewBrowser(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	v := oauth2.GenerateVerifier()
	e.authorize(browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice")

	// prompt=login asks again although the session is valid.
	page := flowtest.Follow(t, browser, flowtest.Get(t, browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "login"))))
	assert.Contains(t, page.Body, `name="password"`)

	// max_age older than the login asks again too.
	e.clock.Advance(10 * time.Minute)
	page = flowtest.Follow(t, browser, flowtest.Get(t, browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("max_age", "60"))))
	assert.Contains(t, page.Body, `name="password"`)
}

func TestPerClientLifetimes(t *testing.T) {
	e := newEnv(t)
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "short", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}, AccessTokenLifetime: 2 * time.Minute,
	})
	require.NoError(t, err)
	e.secrets[c.ID] = secret
	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
	require.Equal(t, http.StatusOK, status)
	assert.InDelta(t, 120, body["expires_in"], 2)
	tok := body["access_token"].(string)
	assert.Equal(t, true, e.introspect(tok)["active"])
	e.clock.Advance(3 * time.Minute)
	assert.Equal(t, false, e.introspect(tok)["active"])
}

// A password grant with openid can be refreshed: the refresh issues an ID
// token whose subject is the user (it was a 500 when the grant's session
// had no ID-token subject).
func TestPasswordGrantWithOpenIDRefreshes(t *testing.T) {
	e := newEnv(t, allowLegacyGrants)
	c, secret, err := e.p.CreateClient(context.Background(), storage.Client{
		ID: "legacy-cli", GrantTypes: []string{"password", "refresh_token"}, Scopes: []string{"openid", "offline_access", "assets:read"},
	})
	require.NoError(t, err)
	cfg := &oauth2.Config{ClientID: c.ID, ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: e.url("/oauth2/token"), AuthStyle: oauth2.AuthStyleInHeader}, Scopes: []string{"openid", "offline_access", "assets:read"}}
	tok, err := cfg.PasswordCredentialsToken(context.Background(), "alice", "alice-password")
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)

	status, body, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, c.ID, secret)
	require.Equal(t, http.StatusOK, status, "refresh of a password grant with openid: %v", body)
	idToken, _ := body["id_token"].(string)
	require.NotEmpty(t, idToken)
	claims := jwtPayload(t, idToken)
	assert.Equal(t, "sub-alice", claims["sub"])
	assert.Contains(t, claims["aud"], c.ID)
}
