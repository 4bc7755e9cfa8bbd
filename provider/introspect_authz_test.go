package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// Introspection shows a token only to whom it concerns (RFC 7662 §2.1,
// §4): its own client, and for access tokens a resource server whose
// IntrospectAudiences meet the token's granted audience. Everything else
// gets exactly what an unknown token gets.

const (
	apiAudience   = "https://api.example"
	otherAudience = "https://other.example"
)

// introspectRaw introspects token as client id and returns the status, the
// body byte for byte and the headers without Date.
func (e *env) introspectRaw(id, secret, token string, extra url.Values) (int, string, http.Header) {
	e.t.Helper()
	vals := url.Values{"token": {token}}
	for k, v := range extra {
		vals[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, e.url("/oauth2/introspect"), strings.NewReader(vals.Encode()))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	resp.Header.Del("Date")
	// Every answer has a request ID of its own (the audit trail's), a
	// random value that tells nothing of the token.
	require.Len(e.t, resp.Header.Values("X-Request-Id"), 1)
	resp.Header.Del("X-Request-Id")
	return resp.StatusCode, string(b), resp.Header
}

// assertHidden asserts that client id's introspection of token is
// indistinguishable from its introspection of a token that does not exist:
// same status, same headers, same bytes, and {"active":false}.
func (e *env) assertHidden(id, secret, token, msg string) {
	e.t.Helper()
	// A well-formed token of the same shape that the provider never issued.
	unknown := token[:len(token)-8] + "AAAAAAAA"
	if strings.HasSuffix(token, "AAAAAAAA") {
		unknown = token[:len(token)-8] + "BBBBBBBB"
	}
	wantStatus, wantBody, wantHdr := e.introspectRaw(id, secret, unknown, nil)
	require.Equal(e.t, http.StatusOK, wantStatus)
	require.JSONEq(e.t, `{"active":false}`, wantBody, "the unknown token is inactive")
	for _, hint := range []string{"", "access_token", "refresh_token"} {
		var extra url.Values
		if hint != "" {
			extra = url.Values{"token_type_hint": {hint}}
		}
		status, body, hdr := e.introspectRaw(id, secret, token, extra)
		assert.Equal(e.t, wantStatus, status, "%s (hint %q): the status of an unknown token", msg, hint)
		assert.Equal(e.t, wantBody, body, "%s (hint %q): the bytes of an unknown token", msg, hint)
		assert.Equal(e.t, wantHdr, hdr, "%s (hint %q): the headers of an unknown token", msg, hint)
	}
}

// audienceFlow runs the code flow for c as alice, asking for audience (if
// not empty), and returns the token.
func (e *env) audienceFlow(c storage.Client, secret, redirect, audience string, scopes ...string) *oauth2.Token {
	t := e.t
	t.Helper()
	cfg := e.oauth2Config(c, secret, redirect, scopes...)
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "nonce-0123456789")}
	if audience != "" {
		opts = append(opts, oauth2.SetAuthURLParam("audience", audience))
	}
	back := e.authorize(flowtest.NewBrowser(t), cfg.AuthCodeURL("state-0123456789", opts...), "alice")
	code := back.Query().Get("code")
	require.NotEmpty(t, code, "no code in %s", back)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	return tok
}

// eachFormat runs f with opaque and with JWT access tokens, each on every
// store.
func eachFormat(t *testing.T, f func(t *testing.T, e *env, jwt bool)) {
	for _, jwt := range []bool{false, true} {
		name := "opaque"
		if jwt {
			name = "jwt"
		}
		t.Run(name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, store storage.Store) {
				f(t, newEnvOn(t, store, func(c *provider.Config) { c.JWTAccessTokens = jwt }), jwt)
			})
		})
	}
}

func TestIntrospectionShowsATokenToItsClientOnly(t *testing.T) {
	eachFormat(t, func(t *testing.T, e *env, jwt bool) {
		tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid", "offline_access", "assets:read")
		require.Equal(t, jwt, strings.Count(tok.AccessToken, ".") == 2, "the access token's format")

		// web sees its own tokens.
		info := e.introspectAs(e.web.ID, e.webSecret, tok.AccessToken)
		assert.Equal(t, true, info["active"], "own access token")
		assert.Equal(t, "sub-alice", info["sub"])
		assert.Equal(t, "alice", info["username"])
		info = e.introspectAs(e.web.ID, e.webSecret, tok.RefreshToken)
		assert.Equal(t, true, info["active"], "own refresh token")
		assert.Equal(t, "refresh_token", info["token_type"])

		// svc, another confidential client, learns nothing of them.
		e.assertHidden(e.svc.ID, e.svcSecret, tok.AccessToken, "another client's access token")
		e.assertHidden(e.svc.ID, e.svcSecret, tok.RefreshToken, "another client's refresh token")

		// And the other way round.
		cc := clientcredentials.Config{ClientID: e.svc.ID, ClientSecret: e.svcSecret, TokenURL: e.url("/oauth2/token"), Scopes: []string{"assets:read"}}
		svcTok, err := cc.Token(context.Background())
		require.NoError(t, err)
		assert.Equal(t, true, e.introspectAs(e.svc.ID, e.svcSecret, svcTok.AccessToken)["active"], "svc's own token")
		e.assertHidden(e.web.ID, e.webSecret, svcTok.AccessToken, "svc's token to web")

		// Hiding a token changed nothing: it still works for its client.
		assert.Equal(t, true, e.introspectAs(e.web.ID, e.webSecret, tok.AccessToken)["active"])
	})
}

func TestIntrospectionByAudience(t *testing.T) {
	eachFormat(t, func(t *testing.T, e *env, jwt bool) {
		ctx := context.Background()
		// A resource server for apiAudience, one for otherAudience, and
		// clients allowed to ask for those audiences.
		rs, rsSecret, err := e.p.CreateClient(ctx, storage.Client{
			ID: "rs", GrantTypes: []string{"client_credentials"}, IntrospectAudiences: []string{apiAudience},
		})
		require.NoError(t, err)
		otherRS, otherSecret, err := e.p.CreateClient(ctx, storage.Client{
			ID: "other-rs", GrantTypes: []string{"client_credentials"}, IntrospectAudiences: []string{otherAudience, "urn:unused"},
		})
		require.NoError(t, err)
		app, appSecret, err := e.p.CreateClient(ctx, storage.Client{
			ID: "app", GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{webRedirect},
			Scopes: []string{"openid", "offline_access", "assets:read"}, Audience: []string{apiAudience, otherAudience},
		})
		require.NoError(t, err)
		spa, _, err := e.p.CreateClient(ctx, storage.Client{
			ID: "app-spa", Public: true, GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{spaRedirect},
			Scopes: []string{"openid", "offline_access", "assets:read"}, Audience: []string{apiAudience},
		})
		require.NoError(t, err)
		batch, batchSecret, err := e.p.CreateClient(ctx, storage.Client{
			ID: "batch", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}, Audience: []string{apiAudience},
		})
		require.NoError(t, err)

		// An access token granted apiAudience: rs sees it, other-rs not.
		forAPI := e.audienceFlow(app, appSecret, webRedirect, apiAudience, "openid", "offline_access", "assets:read")
		require.Equal(t, jwt, strings.Count(forAPI.AccessToken, ".") == 2, "the access token's format")
		info := e.introspectAs(rs.ID, rsSecret, forAPI.AccessToken)
		assert.Equal(t, true, info["active"], "rs sees an access token for its audience")
		assert.Equal(t, "app", info["client_id"])
		assert.Equal(t, "sub-alice", info["sub"])
		assert.Equal(t, []any{apiAudience}, info["aud"])
		e.assertHidden(otherRS.ID, otherSecret, forAPI.AccessToken, "an access token for another audience")
		// Never the refresh token, whose audience matches just as well.
		e.assertHidden(rs.ID, rsSecret, forAPI.RefreshToken, "a refresh token for rs's audience")
		// The client itself sees both.
		assert.Equal(t, true, e.introspectAs(app.ID, appSecret, forAPI.AccessToken)["active"])
		assert.Equal(t, true, e.introspectAs(app.ID, appSecret, forAPI.RefreshToken)["active"])

		// A refresh keeps the audience, and rs sees the new access token.
		next, err := e.oauth2Config(app, appSecret, webRedirect).TokenSource(ctx, &oauth2.Token{RefreshToken: forAPI.RefreshToken}).Token()
		require.NoError(t, err)
		assert.Equal(t, true, e.introspectAs(rs.ID, rsSecret, next.AccessToken)["active"], "a refreshed access token keeps its audience")
		e.assertHidden(rs.ID, rsSecret, next.RefreshToken, "the refreshed refresh token")

		// An access token granted otherAudience only, and one without audience.
		forOther := e.audienceFlow(app, appSecret, webRedirect, otherAudience, "openid", "offline_access")
		e.assertHidden(rs.ID, rsSecret, forOther.AccessToken, "an access token for another audience")
		assert.Equal(t, true, e.introspectAs(otherRS.ID, otherSecret, forOther.AccessToken)["active"])
		noAud := e.audienceFlow(app, appSecret, webRedirect, "", "openid", "offline_access")
		e.assertHidden(rs.ID, rsSecret, noAud.AccessToken, "an access token without audience")
		e.assertHidden(otherRS.ID, otherSecret, noAud.AccessToken, "an access token without audience")
		// A JWT access token without audience names its client in aud;
		// that is not a granted audience and shows it to no one else.
		byID, byIDSecret, err := e.p.CreateClient(ctx, storage.Client{
			ID: "by-client-id", GrantTypes: []string{"client_credentials"}, IntrospectAudiences: []string{app.ID},
		})
		require.NoError(t, err)
		if jwt {
			payload, err := base64.RawURLEncoding.DecodeString(strings.Split(noAud.AccessToken, ".")[1])
			require.NoError(t, err)
			var claims struct {
				Aud []string `json:"aud"`
			}
			require.NoError(t, json.Unmarshal(payload, &claims))
			require.Equal(t, []string{app.ID}, claims.Aud, "the JWT names its client in aud")
		}
		e.assertHidden(byID.ID, byIDSecret, noAud.AccessToken, "an access token without audience, to a client listing its client ID")

		// A public client's token for the API: the API can check it, and
		// only its access token.
		spaTok := e.audienceFlow(spa, "", spaRedirect, apiAudience, "openid", "offline_access", "assets:read")
		info = e.introspectAs(rs.ID, rsSecret, spaTok.AccessToken)
		assert.Equal(t, true, info["active"], "rs sees a public client's access token for its audience")
		assert.Equal(t, "app-spa", info["client_id"])
		e.assertHidden(rs.ID, rsSecret, spaTok.RefreshToken, "a public client's refresh token")
		e.assertHidden(e.svc.ID, e.svcSecret, spaTok.AccessToken, "a public client's access token to a client without the audience")

		// Client credentials with an audience.
		cc := clientcredentials.Config{ClientID: batch.ID, ClientSecret: batchSecret, TokenURL: e.url("/oauth2/token"),
			Scopes: []string{"assets:read"}, EndpointParams: url.Values{"audience": {apiAudience}}}
		batchTok, err := cc.Token(ctx)
		require.NoError(t, err)
		info = e.introspectAs(rs.ID, rsSecret, batchTok.AccessToken)
		assert.Equal(t, true, info["active"], "rs sees a client-credentials token for its audience")
		assert.Equal(t, "batch", info["client_id"])
		e.assertHidden(otherRS.ID, otherSecret, batchTok.AccessToken, "a client-credentials token for another audience")

		// A revoked token is inactive for the resource server too.
		status, _, _ := e.postForm("/oauth2/revoke", url.Values{"token": {batchTok.AccessToken}}, batch.ID, batchSecret)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, map[string]any{"active": false}, e.introspectAs(rs.ID, rsSecret, batchTok.AccessToken))
	})
}

func TestIntrospectAudiencesAreValidated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	many := make([]string, 65)
	for i := range many {
		many[i] = "urn:aud:" + strings.Repeat("x", i+1)
	}
	for name, c := range map[string]storage.Client{
		"empty":          {IntrospectAudiences: []string{""}},
		"space":          {IntrospectAudiences: []string{"https://api.example https://other.example"}},
		"tab":            {IntrospectAudiences: []string{"https://api.example\t"}},
		"newline":        {IntrospectAudiences: []string{"https://api.example\n"}},
		"NUL":            {IntrospectAudiences: []string{"https://api.example\x00"}},
		"no-break space": {IntrospectAudiences: []string{"https://api.example\u00a0"}},
		"invalid UTF-8":  {IntrospectAudiences: []string{"https://api.example/\xff"}},
		"too long":       {IntrospectAudiences: []string{"https://api.example/" + strings.Repeat("a", 1005)}},
		"too many":       {IntrospectAudiences: many},
		"public client":  {Public: true, GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{spaRedirect}, IntrospectAudiences: []string{apiAudience}},
	} {
		if c.GrantTypes == nil {
			c.GrantTypes = []string{"client_credentials"}
		}
		_, _, err := e.p.CreateClient(ctx, c)
		require.Error(t, err, name)
		assert.True(t, errors.Is(err, provider.ErrInvalidClient), "%s: %v", name, err)
		assert.Contains(t, err.Error(), "IntrospectAudiences", "%s: the error names the field", name)
	}

	ok := []string{apiAudience, "urn:example:rs", "https://api.example/" + strings.Repeat("a", 1004)}
	c, _, err := e.p.CreateClient(ctx, storage.Client{ID: "rs", GrantTypes: []string{"client_credentials"}, IntrospectAudiences: ok})
	require.NoError(t, err)
	assert.Equal(t, ok, c.IntrospectAudiences)
	stored, err := e.store.GetClient(ctx, "rs")
	require.NoError(t, err)
	assert.Equal(t, ok, stored.IntrospectAudiences, "stored as given")
	_, _, err = e.p.CreateClient(ctx, storage.Client{ID: "rs-64", GrantTypes: []string{"client_credentials"}, IntrospectAudiences: many[:64]})
	assert.NoError(t, err, "64 values are allowed")
}
