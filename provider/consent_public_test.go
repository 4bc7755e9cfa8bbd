package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/storage"
)

// TestRememberedConsentByRedirectURI: a remembered consent is applied
// silently only when the identity of the client is assured by the request:
// a confidential client, or a public client whose request uses an https
// redirect URI. A public client's request with a loopback redirect URI
// (127.0.0.1 on any port, [::1], localhost) gets the consent page every
// time and prompt=none answers consent_required to the redirect URI, even
// when the same client's https URI has consent remembered (RFC 8252 §8.6).
func TestRememberedConsentByRedirectURI(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e := newEnvOn(t, store)
		ctx := context.Background()
		// A native app with a web front end: https and loopback URIs.
		native, _, err := e.p.CreateClient(ctx, storage.Client{
			ID: "native", Name: "Native App", Public: true,
			GrantTypes:   []string{"authorization_code"},
			RedirectURIs: []string{"https://native.example/cb", "http://127.0.0.1/cb", "http://[::1]:8765/cb", "http://localhost:8765/cb"},
			Scopes:       []string{"openid", "profile"},
		})
		require.NoError(t, err)
		webApp, _, err := e.p.CreateClient(ctx, storage.Client{
			ID: "web-app", Name: "Web App", Public: true,
			GrantTypes:   []string{"authorization_code"},
			RedirectURIs: []string{"https://app.example/cb"},
			Scopes:       []string{"openid", "profile"},
		})
		require.NoError(t, err)

		browser := flowtest.NewBrowser(t)
		cases := []struct {
			name       string
			client     storage.Client
			secret     string
			redirect   string
			remembered bool
		}{
			{"confidential client, loopback", e.web, e.webSecret, webRedirect, true},
			{"public client, https", webApp, "", "https://app.example/cb", true},
			{"public client, loopback only", e.spa, "", spaRedirect, false},
			// native's https URI first: its consent is then remembered,
			// and must still not be applied to its loopback URIs.
			{"public client, its https URI", native, "", "https://native.example/cb", true},
			{"public client, 127.0.0.1 on another port", native, "", "http://127.0.0.1:50123/cb", false},
			{"public client, [::1]", native, "", "http://[::1]:8765/cb", false},
			{"public client, localhost", native, "", "http://localhost:8765/cb", false},
		}
		// The cases run in order, in one browser: the first signs in, and
		// native's https URI leaves a remembered consent before its
		// loopback URIs are tried.
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				cfg := e.oauth2Config(tc.client, tc.secret, tc.redirect, "openid", "profile")
				verifier := oauth2.GenerateVerifier()
				authURL := func(state string, opts ...oauth2.AuthCodeOption) string {
					return cfg.AuthCodeURL(state, append(opts, oauth2.S256ChallengeOption(verifier))...)
				}
				exchange := func(back *url.URL, state string) {
					t.Helper()
					require.True(t, strings.HasPrefix(back.String(), tc.redirect+"?"), "back to %s: %s", tc.redirect, back)
					assert.Equal(t, state, back.Query().Get("state"))
					assert.Equal(t, e.issuer, back.Query().Get("iss"))
					require.Empty(t, back.Query().Get("error"), "%s", back)
					tok, err := cfg.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
					require.NoError(t, err)
					assert.NotEmpty(t, tok.AccessToken)
					assert.Equal(t, "openid profile", tok.Extra("scope"))
				}

				// The first authorization: login (in the first case only),
				// and the consent page where it is needed.
				exchange(e.authorize(browser, authURL("state-first-0"), "alice"), "state-first-0")
				c, err := store.GetConsent(ctx, "sub-alice", tc.client.ID)
				require.NoError(t, err, "the consent is remembered whatever the redirect URI")
				assert.Equal(t, []string{"openid", "profile"}, c.Scopes)

				// prompt=none: a code, or consent_required to the client.
				page := flowtest.Get(t, browser, authURL("state-prompt-none", oauth2.SetAuthURLParam("prompt", "none")))
				if tc.remembered {
					exchange(page.Location(t), "state-prompt-none")
				} else {
					loc := page.Location(t)
					require.True(t, strings.HasPrefix(loc.String(), tc.redirect+"?"), "redirected to the client: %s", loc)
					assert.Equal(t, "consent_required", loc.Query().Get("error"), "%s", loc)
					assert.Contains(t, loc.Query().Get("error_description"), "redirect URI that is not https")
					assert.Equal(t, "state-prompt-none", loc.Query().Get("state"))
					assert.Empty(t, loc.Query().Get("code"))
				}

				// The second one: straight back, or the consent page again.
				page = flowtest.Get(t, browser, authURL("state-second"))
				if tc.remembered {
					exchange(page.Location(t), "state-second")
				} else {
					loc := page.Location(t)
					require.True(t, strings.HasPrefix(loc.String(), e.issuer+"/oauth2/interaction?"), "the consent page, not the client: %s", loc)
					page = flowtest.Get(t, browser, loc.String())
					require.Equal(t, http.StatusOK, page.Status)
					assert.Contains(t, page.Body, `name="decision"`, "the consent page")
					assert.NotContains(t, page.Body, `name="password"`, "no login: the session holds")
					name := tc.client.Name
					if name == "" {
						name = tc.client.ID
					}
					assert.Contains(t, page.Body, name)
					assert.Contains(t, page.Body, `<li data-scope="profile">`)
					exchange(flowtest.Submit(t, browser, page, url.Values{"decision": {"allow"}}).Location(t), "state-second")
				}
			})
		}

		// Without redirect_uri (plain OAuth: OpenID Connect requires it), the
		// one registered is the one in use.
		page := flowtest.Get(t, browser, e.url("/oauth2/authorize?")+url.Values{
			"response_type": {"code"}, "client_id": {e.spa.ID}, "scope": {"profile"}, "state": {"state-no-redirect"}, "prompt": {"none"},
			"code_challenge": {s256(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
		}.Encode())
		loc := page.Location(t)
		require.True(t, strings.HasPrefix(loc.String(), spaRedirect+"?"), "redirected to the client: %s", loc)
		assert.Equal(t, "consent_required", loc.Query().Get("error"), "%s", loc)
		assert.Equal(t, "state-no-redirect", loc.Query().Get("state"))
		assert.Empty(t, loc.Query().Get("code"))
	})
}

// TestPromptConsentStillAsksRememberedClients: prompt=consent shows the page
// to a client whose consent is remembered (unchanged by the rule above).
func TestPromptConsentStillAsksRememberedClients(t *testing.T) {
	e := newEnv(t)
	browser := flowtest.NewBrowser(t)
	cfg := e.oauth2Config(e.web, e.webSecret, webRedirect, "openid")
	v := oauth2.GenerateVerifier()
	require.NotEmpty(t, e.authorize(browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v)), "alice").Query().Get("code"))
	page := flowtest.Follow(t, browser, flowtest.Get(t, browser, cfg.AuthCodeURL("state-123456789", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "consent"))))
	assert.Contains(t, page.Body, `name="decision"`)
}
