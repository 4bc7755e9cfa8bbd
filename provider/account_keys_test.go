package provider_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
)

// accountApps fetches alice's apps page in browser b, signing in with her
// password and authenticator app if the page sends b to the login.
func (a *acEnv) accountApps(b *http.Client) flowtest.Page {
	t := a.t
	t.Helper()
	page := flowtest.Get(t, b, a.url("/account/apps"))
	for range 4 {
		if page.Status != http.StatusSeeOther {
			return page
		}
		page = flowtest.Get(t, b, page.Location(t).String())
		switch {
		case strings.Contains(page.Body, `name="password"`):
			page = flowtest.Submit(t, b, page, url.Values{"username": {"alice"}, "password": {"alice-password"}})
		case strings.Contains(page.Body, `name="otp"`):
			page = flowtest.Submit(t, b, page, url.Values{"otp": {a.code()}})
		}
	}
	t.Fatal("accountApps: too many redirects")
	return flowtest.Page{}
}

// TestAccountAPIKeys: next to the connected apps, alice's page lists her
// own API keys (name, tenant, permission bound, address rule, dates, and
// never the key or its hash) and none of bob's; its revoke button deletes
// the key, which is refused at once, and the token obtained with it
// dies; a key that is not hers (bob's, or none) is answered alike and
// left alone; the revocation is audited with alice as the actor. On
// memory and PostgreSQL.
func TestAccountAPIKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		k := newKeyEnv(t, store)
		ctx := context.Background()
		mine, key := k.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "acme", Name: "nightly export",
			PermissionScope: []string{"assets:read"}, IPRanges: []string{"127.0.0.0/8"}})
		spare, spareKey := k.newKey(storage.APIKey{Owner: "sub-alice", Tenant: "globex", Name: "spare"})
		bobs, bobKey := k.newKey(storage.APIKey{Owner: "sub-bob", Tenant: "acme", Name: "bob's cron"})
		status, tok, _ := k.scriptToken(key, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", tok)
		access := tok["access_token"].(string)
		require.Equal(t, http.StatusOK, k.apiStatus(access))

		b := flowtest.NewBrowser(t)
		page := k.accountApps(b)
		require.Equal(t, http.StatusOK, page.Status, page.Body)
		assertNotFramed(t, page, "apps page with keys")
		assert.Contains(t, page.Body, "API keys")
		assert.Contains(t, page.Body, `data-key="`+mine.ID+`"`)
		assert.Contains(t, page.Body, `data-key="`+spare.ID+`"`)
		assert.NotContains(t, page.Body, bobs.ID, "never another user's key")
		assert.NotContains(t, page.Body, "bob&#39;s cron")
		assert.Contains(t, page.Body, "nightly export")
		assert.Contains(t, page.Body, "for Acme Corp", "the key's tenant, by name")
		assert.Contains(t, page.Body, `<li data-scope="assets:read">`, "the key's permission bound")
		assert.Contains(t, page.Body, "All your permissions", "a key without a bound")
		assert.Contains(t, page.Body, "<code>127.0.0.0/8</code>")
		assert.Contains(t, page.Body, "expires "+mine.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"))
		assert.Contains(t, page.Body, "never used", "the spare key")
		for _, plain := range []string{key, spareKey, bobKey} {
			assert.NotContains(t, page.Body, plain[strings.LastIndexByte(plain, '_')+1:], "never a key's secret")
		}
		assert.NotContains(t, page.Body, "hmac-sha256", "never a hash")

		// Someone else's key, an unknown one and none are refused alike.
		for _, id := range []string{bobs.ID, "aaaaaaaaaaaaaaaa"} {
			got := flowtest.SubmitForm(t, b, page, page.FormWith(t, "key_id", mine.ID), url.Values{"key_id": {id}})
			require.Equal(t, http.StatusBadRequest, got.Status, got.Body)
			assert.Contains(t, got.Body, "Your account has no such API key.")
		}
		got := flowtest.SubmitForm(t, b, page, page.FormWith(t, "key_id", mine.ID), url.Values{"key_id": {""}})
		require.Equal(t, http.StatusBadRequest, got.Status, got.Body)
		assert.Contains(t, got.Body, "Choose an API key to revoke.")
		_, err := k.p.GetAPIKey(ctx, bobs.ID)
		require.NoError(t, err, "bob's key stays")
		status, _, _ = k.scriptToken(bobKey, "assets:read")
		assert.Equal(t, http.StatusOK, status, "and works")

		// Alice revokes her key: refused at once, its token dead.
		done := flowtest.SubmitForm(t, b, page, page.FormWith(t, "key_id", mine.ID), nil)
		require.Equal(t, http.StatusSeeOther, done.Status, done.Body)
		after := flowtest.Follow(t, b, done)
		require.Equal(t, http.StatusOK, after.Status)
		assert.Contains(t, after.Body, "The API key was revoked.")
		assert.NotContains(t, after.Body, `data-key="`+mine.ID+`"`)
		assert.Contains(t, after.Body, `data-key="`+spare.ID+`"`, "the other key stays")
		status, body, h := k.scriptToken(key, "assets:read")
		requireRefused(t, status, body, h, ".", "the revoked key")
		assert.Equal(t, http.StatusUnauthorized, k.apiStatus(access), "the token obtained with it died")
		status, _, _ = k.scriptToken(spareKey, "assets:read")
		assert.Equal(t, http.StatusOK, status, "the spare key is still accepted")

		// A second press of the same button (the page still shows it).
		again := flowtest.SubmitForm(t, b, page, page.FormWith(t, "key_id", mine.ID), nil)
		assert.Equal(t, http.StatusBadRequest, again.Status, "already gone")

		events := k.auditText(provider.AuditAPIKeyDeleted)
		assert.Contains(t, events, "apikey.deleted actor=user:sub-alice subject=sub-alice target=apikey:"+mine.ID)
		assert.Contains(t, events, "revoked_by:owner")
		assert.Equal(t, 1, strings.Count(events, "apikey.deleted"), "only the one deletion:\n%s", events)
		k.assertNoKeysLogged(key, spareKey, bobKey)
	})
}

// keyDeleteHook is a store that runs before once, before it deletes an
// API key: a rotation that comes between a deletion's read of the key
// and its write.
type keyDeleteHook struct {
	storage.Store
	storage.ApplicationUserStore
	before func(id string)
}

func (s *keyDeleteHook) DeleteAPIKey(ctx context.Context, id string) error {
	if f := s.before; f != nil {
		s.before = nil
		f(id)
	}
	return s.ApplicationUserStore.DeleteAPIKey(ctx, id)
}

// TestAPIKeyDeleteRacesRotation: a rotation that comes while the key is
// being deleted finds no key (it is retired before it is deleted), so no
// new secret is minted whose tokens would outlive the key; the tokens of
// the key's last secret die with it.
func TestAPIKeyDeleteRacesRotation(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		hook := &keyDeleteHook{Store: store, ApplicationUserStore: store.(storage.ApplicationUserStore)}
		k := newKeyEnv(t, hook)
		ctx := context.Background()
		made, key := k.aliceKey("acme")
		status, tok, _ := k.scriptToken(key, "assets:read")
		require.Equal(t, http.StatusOK, status)
		before := tok["access_token"].(string)

		var rotErr error
		var rotatedToken string
		hook.before = func(id string) {
			var rotated string
			_, rotated, rotErr = k.p.RotateAPIKey(ctx, id)
			if rotErr == nil {
				if status, tok, _ := k.scriptToken(rotated, "assets:read"); status == http.StatusOK {
					rotatedToken = tok["access_token"].(string)
				}
			}
		}
		require.NoError(t, k.p.DeleteAPIKey(ctx, made.ID))
		assert.ErrorIs(t, rotErr, storage.ErrNotFound, "a rotation of a key being deleted finds none")
		if rotatedToken != "" {
			assert.Equal(t, http.StatusUnauthorized, k.apiStatus(rotatedToken), "a token of a secret minted during the deletion dies with the key")
		}
		assert.Equal(t, http.StatusUnauthorized, k.apiStatus(before), "the last secret's token dies")
		status, _, _ = k.scriptToken(key, "assets:read")
		assert.Equal(t, http.StatusUnauthorized, status)
	})
}

// TestApplicationUserDeleteRacesRotation: the same for the keys of an
// application user that is deleted.
func TestApplicationUserDeleteRacesRotation(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		hook := &appUserDeleteHook{Store: store, ApplicationUserStore: store.(storage.ApplicationUserStore)}
		k := newKeyEnv(t, hook)
		ctx := context.Background()
		_, err := k.p.CreateApplicationUser(ctx, storage.ApplicationUser{ID: "bot", Name: "Bot", Tenant: "acme", Permissions: []string{"assets:read"}})
		require.NoError(t, err)
		made, key := k.newKey(storage.APIKey{OwnerType: storage.PrincipalApplication, Owner: "bot"})
		status, tok, _ := k.scriptToken(key, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", tok)
		before := tok["access_token"].(string)

		var rotErr error
		var rotatedToken string
		hook.before = func() {
			var rotated string
			_, rotated, rotErr = k.p.RotateAPIKey(ctx, made.ID)
			if rotErr == nil {
				if status, tok, _ := k.scriptToken(rotated, "assets:read"); status == http.StatusOK {
					rotatedToken = tok["access_token"].(string)
				}
			}
		}
		require.NoError(t, k.p.DeleteApplicationUser(ctx, "bot"))
		assert.ErrorIs(t, rotErr, storage.ErrNotFound, "a rotation of a key being deleted finds none")
		if rotatedToken != "" {
			assert.Equal(t, http.StatusUnauthorized, k.apiStatus(rotatedToken), "a token of a secret minted during the deletion dies")
		}
		assert.Equal(t, http.StatusUnauthorized, k.apiStatus(before))
	})
}

// appUserDeleteHook runs before once, before it deletes an application
// user.
type appUserDeleteHook struct {
	storage.Store
	storage.ApplicationUserStore
	before func()
}

func (s *appUserDeleteHook) DeleteApplicationUser(ctx context.Context, id string) error {
	if f := s.before; f != nil {
		s.before = nil
		f()
	}
	return s.ApplicationUserStore.DeleteApplicationUser(ctx, id)
}
