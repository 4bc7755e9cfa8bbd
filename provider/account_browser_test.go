package provider_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// TestBrowserAccountPages shows the account pages in Chromium: alice signs
// in on the account login, sees the two apps she authorized (one with its
// logo, which the page's Content-Security-Policy lets load), and sets up
// an authenticator app from the QR code's key, confirming it with a code;
// the page then shows her recovery codes. Below the apps she finds her
// API key and revokes it. The screenshots of docs/account.md
// are taken on the way.
func TestBrowserAccountPages(t *testing.T) {
	ctx := newChromium(t)
	clientSite := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write([]byte(appLogo))
	}))
	t.Cleanup(clientSite.Close)
	a := newAccountEnv(t, memory.New())
	assets, secret, err := a.p.CreateClient(context.Background(), storage.Client{
		ID: "acme-assets", Name: "Acme Assets", LogoURI: clientSite.URL + "/logo.svg",
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{webRedirect},
		Scopes:       []string{"openid", "offline_access", "profile", "email"},
	})
	require.NoError(t, err)
	apiKey, _, err := a.p.CreateAPIKey(context.Background(), storage.APIKey{OwnerType: storage.PrincipalUser, Owner: "sub-alice",
		Name: "nightly asset export", PermissionScope: []string{"profile"}, IPRanges: []string{"192.0.2.0/24"}})
	require.NoError(t, err)
	b := flowtest.NewBrowser(t)
	a.signIn(b, assets, secret, nil)
	a.signIn(b, a.web, a.webSecret, nil)

	// The account login, then the apps.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(a.url("/account/apps"))))
	signIn(t, ctx, "alice", "alice-password")
	waitFor(t, ctx, `location.pathname === "/account/apps" && document.readyState === "complete" && document.querySelector("ul.apps img").complete`)
	screenshot(t, ctx, "account-apps.png")
	check := func(expr string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		require.NoError(t, err, expr)
		return v
	}
	assert.Equal(t, []any{"acme-assets", "web"}, check(`[...document.querySelectorAll("ul.apps > li")].map(li => li.dataset.client)`))
	assert.EqualValues(t, 48, check(`document.querySelector("ul.apps img").naturalWidth`), "the client's logo loads under the page's CSP")
	assert.Equal(t, []any{apiKey.ID}, check(`[...document.querySelectorAll("ul.keys > li")].map(li => li.dataset.key)`), "her API key, below the apps")

	// Revoking the key: the form posts under the page's CSP and comes back.
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`input[name="action"][value="revoke-key"] ~ button`)))
	waitFor(t, ctx, `document.readyState === "complete" && location.search === "?done=key-revoked"`)
	assert.EqualValues(t, 0, check(`document.querySelectorAll("ul.keys > li").length`))
	_, err = a.p.GetAPIKey(context.Background(), apiKey.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "the key is gone")

	// The security page: set up an authenticator app.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(`nav.account a[href$="/security"]`),
	))
	waitFor(t, ctx, `document.readyState === "complete" && document.querySelector('input[name="action"][value="totp-start"]') !== null`)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(`input[name="action"][value="totp-start"] ~ button`)))
	waitFor(t, ctx, `document.readyState === "complete" && document.querySelector("svg.qr") !== null`)
	assert.EqualValues(t, 200, check(`document.querySelector("svg.qr").getBoundingClientRect().width`), "the QR code is drawn")
	screenshot(t, ctx, "account-security.png")
	key, err := chromedp.Run(ctx, chromedp.Text(`#totp-secret`))
	require.NoError(t, err)
	decoded, err := mfa.DecodeSecret(strings.TrimSpace(key))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SendKeys(`#otp`, mfa.Code(decoded, a.mfaClock.Now())),
		chromedp.Click(`input[name="action"][value="totp-confirm"] ~ button`),
	))
	waitFor(t, ctx, `document.readyState === "complete" && document.getElementById("recovery-codes") !== null`)
	assert.EqualValues(t, 10, check(`document.querySelectorAll("#recovery-codes li").length`), "the recovery codes, shown once")
	st, err := a.totp.Status(context.Background(), "sub-alice")
	require.NoError(t, err)
	assert.True(t, st.Confirmed)
}

// waitFor waits until expr is true in the browser's page, across the
// redirects of a form's submission (chromedp's own waits, started while
// the browser is between documents, can miss the new one).
func waitFor(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	for ctx.Err() == nil {
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && done {
			return
		}
		time.Sleep(50 * time.Millisecond) // a poll, not a timing assumption
	}
	t.Fatalf("the browser's page never got to %s", expr)
}
