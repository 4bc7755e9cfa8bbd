package provider

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// TestConsentStepByRedirectURI covers what the end-to-end test
// (TestRememberedConsentByRedirectURI) cannot reach yet: a private-use
// scheme redirect URI (RFC 8252 §7.1), which registration and fosite's
// redirect checker refuse today, and a request without a resolved redirect
// URI. With a consent remembered for the requested scope, the consent step
// is needed exactly when the client is public and the request's redirect
// URI is not https, and prompt=none then says why.
func TestConsentStepByRedirectURI(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	p, err := New(Config{
		Issuer: "https://id.example.com",
		Store:  store,
		Authenticator: UserAuthenticatorFunc(func(context.Context, string, string) (User, error) {
			return User{}, ErrInvalidCredentials
		}),
		GlobalSecret: []byte("0123456789abcdef0123456789abcdef"),
	})
	require.NoError(t, err)
	for _, id := range []string{"public", "confidential"} {
		require.NoError(t, store.SaveConsent(ctx, storage.Consent{Subject: "sub-alice", ClientID: id, Scopes: []string{"openid"}, GrantedAt: time.Now()}))
	}
	flowFor := func(public bool, redirect string) *flow {
		id := "confidential"
		if public {
			id = "public"
		}
		var u *url.URL
		if redirect != "" {
			var err error
			u, err = url.Parse(redirect)
			require.NoError(t, err)
		}
		client := oauth.NewClient(storage.Client{ID: id, Public: public, Scopes: []string{"openid"}}, time.Now())
		return &flow{
			AuthFlow: storage.AuthFlow{Subject: "sub-alice"},
			ar:       oauth.AuthorizeRequestForTest(client, []string{"openid"}, u),
			client:   client,
			user:     &User{Subject: "sub-alice", Permissions: []string{"*"}},
		}
	}
	for _, tc := range []struct {
		name     string
		public   bool
		redirect string
		asked    bool
	}{
		{"public, https", true, "https://app.example/cb", false},
		{"public, private-use scheme", true, "com.example.app:/cb", true},
		{"public, private-use scheme with authority", true, "com.example.app://cb", true},
		{"public, loopback", true, "http://127.0.0.1:50123/cb", true},
		{"public, no redirect URI resolved", true, "", true},
		{"confidential, private-use scheme", false, "com.example.app:/cb", false},
		{"confidential, loopback", false, "http://127.0.0.1:50123/cb", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl := flowFor(tc.public, tc.redirect)
			need, err := consentStep{}.needed(ctx, p, fl)
			require.NoError(t, err)
			assert.Equal(t, tc.asked, need, "consent page needed")
			a := oauth.Translate(consentStep{}.promptNoneError(fl))
			assert.Equal(t, "consent_required", a.Code)
			if tc.asked {
				assert.Contains(t, a.Description, "redirect URI that is not https")
			} else {
				assert.Contains(t, a.Description, "has not consented")
			}
		})
	}
}
