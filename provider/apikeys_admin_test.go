package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// TestAPIKeyAdminRoutes: the admin API makes, lists, shows, rotates and
// deletes keys; the key is in the answers that make it and nowhere else;
// reads and changes are audit events naming the actor, never the key.
func TestAPIKeyAdminRoutes(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		k := newKeyEnv(t, store)
		ad := newAdminAPI(t, k.p)

		a := ad.call(http.MethodPost, "/users/sub-alice/api-keys", map[string]any{
			"name": "nightly export", "tenant": "acme", "permission_scope": []string{"assets:*"},
			"ip_ranges": []string{"127.0.0.1/32"}, "forwarded_for_ranges": []string{},
		}).requireStatus(t, http.StatusCreated)
		key, _ := a.body["api_key"].(string)
		require.Regexp(t, keyRe, key, "the key, this once")
		id := a.body["id"].(string)
		assert.Equal(t, "/api-keys/"+id, a.header.Get("Location"))
		assert.Equal(t, "user", a.body["owner_type"])
		assert.Equal(t, "sub-alice", a.body["owner"])
		assert.Equal(t, "acme", a.body["tenant"])
		assert.Equal(t, []any{"assets:*"}, a.body["permission_scope"])
		assert.Equal(t, []any{}, a.body["forwarded_for_ranges"])
		assert.InDelta(t, time.Now().Add(365*24*time.Hour).Unix(), a.body["expires_at"], 60, "Config.APIKeyLifetime: 365 days")
		assert.EqualValues(t, 0, a.body["last_used_at"])
		assert.Contains(t, key, id, "the key holds its ID")

		status, tok, _ := k.scriptToken(key, "assets:read registry:read")
		require.Equal(t, http.StatusOK, status, "%v", tok)
		assert.Equal(t, "assets:read", tok["scope"])

		got := ad.call(http.MethodGet, "/api-keys/"+id, nil).requireStatus(t, http.StatusOK)
		assert.NotContains(t, got.body, "api_key", "a read never shows the key")
		assert.NotContains(t, string(got.raw), key[len(key)-52:])
		assert.Positive(t, got.body["last_used_at"], "last used")

		// Keys of a user that never expire, and a second page.
		never := ad.call(http.MethodPost, "/users/sub-alice/api-keys", map[string]any{"tenant": "globex", "expires_at": 0}).requireStatus(t, http.StatusCreated)
		assert.EqualValues(t, 0, never.body["expires_at"], "0: never")
		later := time.Now().Add(48 * time.Hour).Unix()
		dated := ad.call(http.MethodPost, "/users/sub-bob/api-keys", map[string]any{"expires_at": later}).requireStatus(t, http.StatusCreated)
		assert.EqualValues(t, later, dated.body["expires_at"])
		page := ad.call(http.MethodGet, "/api-keys?owner=sub-alice&limit=1", nil).requireStatus(t, http.StatusOK)
		items := page.body["items"].([]any)
		require.Len(t, items, 1)
		cursor := page.body["next_cursor"].(string)
		require.NotEmpty(t, cursor)
		page2 := ad.call(http.MethodGet, "/api-keys?owner=sub-alice&limit=1&cursor="+url.QueryEscape(cursor), nil).requireStatus(t, http.StatusOK)
		require.Len(t, page2.body["items"].([]any), 1)
		assert.Empty(t, page2.body["next_cursor"])
		ids := []string{items[0].(map[string]any)["id"].(string), page2.body["items"].([]any)[0].(map[string]any)["id"].(string)}
		assert.ElementsMatch(t, []string{id, never.body["id"].(string)}, ids, "alice's two keys, not bob's")
		all := ad.call(http.MethodGet, "/api-keys?owner_type=user", nil).requireStatus(t, http.StatusOK)
		assert.Len(t, all.body["items"].([]any), 3)
		assert.NotContains(t, string(all.raw), `"api_key"`)

		// Invalid members, all named at once.
		bad := ad.call(http.MethodPost, "/users/sub-alice/api-keys", map[string]any{
			"tenant": "initech", "ip_ranges": []string{"10.0.0.1/8"}, "permission_scope": []string{"bad perm"},
			"owner": "sub-bob", "colour": "red", "expires_at": "soon",
		}).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, "invalid_api_key_metadata", bad.body["error"])
		assert.Equal(t, []string{"colour", "expires_at", "ip_ranges", "owner", "permission_scope", "tenant"}, bad.fields())
		assert.Contains(t, bad.field("owner"), "is given by the route")
		assert.Contains(t, bad.field("tenant"), `"initech" is not a tenant of the user`)
		bad = ad.call(http.MethodPost, "/users/sub-alice/api-keys", map[string]any{}).requireStatus(t, http.StatusBadRequest)
		assert.Contains(t, bad.field("tenant"), "belongs to several tenants")
		ad.call(http.MethodPost, "/users/sub-alice/api-keys", map[string]any{"tenant": "acme", "expires_at": time.Now().Add(-time.Hour).Unix()}).requireStatus(t, http.StatusBadRequest)
		nf := ad.call(http.MethodPost, "/users/nobody/api-keys", map[string]any{}).requireStatus(t, http.StatusNotFound)
		assert.Contains(t, nf.body["error_description"], `There is no user "nobody"`)
		ad.call(http.MethodPost, "/application-users/nobody/api-keys", nil).requireStatus(t, http.StatusNotFound)
		ad.call(http.MethodGet, "/api-keys?owner_type=robot", nil).requireStatus(t, http.StatusBadRequest)
		ad.call(http.MethodGet, "/api-keys/"+strings.Repeat("x", 16), nil).requireStatus(t, http.StatusNotFound)

		// Rotate: a new key, the old one dead at once.
		rot := ad.call(http.MethodPost, "/api-keys/"+id+"/rotate", map[string]any{"expires_at": later}).requireStatus(t, http.StatusOK)
		newKey := rot.body["api_key"].(string)
		assert.NotEqual(t, key, newKey)
		assert.Contains(t, newKey, id, "the same ID")
		assert.EqualValues(t, later, rot.body["expires_at"])
		assert.Positive(t, rot.body["rotated_at"])
		status, _, _ = k.scriptToken(key, "assets:read")
		assert.Equal(t, http.StatusUnauthorized, status, "the old key")
		status, _, _ = k.scriptToken(newKey, "assets:read")
		assert.Equal(t, http.StatusOK, status, "the new key")
		ad.call(http.MethodPost, "/api-keys/"+id+"/rotate", map[string]any{"grace_period": 60}).requireStatus(t, http.StatusBadRequest)
		ad.call(http.MethodPost, "/api-keys/nope/rotate", nil).requireStatus(t, http.StatusNotFound)

		// Delete.
		del := ad.call(http.MethodDelete, "/api-keys/"+id, nil)
		assert.Equal(t, http.StatusNoContent, del.status)
		ad.call(http.MethodGet, "/api-keys/"+id, nil).requireStatus(t, http.StatusNotFound)
		ad.call(http.MethodDelete, "/api-keys/"+id, nil).requireStatus(t, http.StatusNotFound)
		status, _, _ = k.scriptToken(newKey, "assets:read")
		assert.Equal(t, http.StatusUnauthorized, status)

		// Methods and routes.
		m := ad.call(http.MethodPut, "/api-keys/"+id, nil).requireStatus(t, http.StatusMethodNotAllowed)
		assert.Equal(t, "GET, DELETE", m.header.Get("Allow"))
		ad.call(http.MethodGet, "/users/sub-alice/api-keys", nil).requireStatus(t, http.StatusMethodNotAllowed)
		ad.call(http.MethodGet, "/api-keys", nil, "Authorization", "").requireStatus(t, http.StatusUnauthorized)

		for _, ev := range []string{provider.AuditAPIKeyCreated, provider.AuditAPIKeyRead, provider.AuditAPIKeyRotated, provider.AuditAPIKeyDeleted} {
			assert.Contains(t, k.auditText(ev), ev+" actor=admin:ops", "%s is audited with the actor", ev)
		}
		k.assertNoKeysLogged(key, newKey, never.body["api_key"].(string), dated.body["api_key"].(string))
	})
}

// TestApplicationUserAdminRoutes: the admin API creates, lists, shows,
// patches and deletes application users and makes their keys; deleting
// one deletes its keys and ends its tokens.
func TestApplicationUserAdminRoutes(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		k := newKeyEnv(t, store)
		ad := newAdminAPI(t, k.p)

		a := ad.call(http.MethodPost, "/application-users", map[string]any{
			"id": "reporting-bot", "name": "Reporting bot", "description": "weekly report\nowner: ops",
			"tenant": "acme", "permissions": []string{"assets:read"}, "access_token_lifetime": 300,
		}).requireStatus(t, http.StatusCreated)
		assert.Equal(t, "/application-users/reporting-bot", a.header.Get("Location"))
		assert.Equal(t, []any{"assets:read"}, a.body["permissions"])
		assert.Equal(t, []any{}, a.body["roles"])
		assert.EqualValues(t, 300, a.body["access_token_lifetime"])
		dup := ad.call(http.MethodPost, "/application-users", map[string]any{"id": "reporting-bot"}).requireStatus(t, http.StatusConflict)
		assert.Equal(t, "already_exists", dup.body["error"])
		bad := ad.call(http.MethodPost, "/application-users", map[string]any{"id": "sub-alice", "permissions": "assets:read", "created_at": 1}).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, "invalid_application_user_metadata", bad.body["error"])
		assert.Equal(t, []string{"created_at", "id", "permissions"}, bad.fields(), "every invalid member at once")
		bad = ad.call(http.MethodPost, "/application-users", map[string]any{"id": "sub-alice", "access_token_lifetime": 100000}).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, []string{"access_token_lifetime", "id"}, bad.fields())
		assert.Contains(t, bad.field("id"), "is the subject of a user")

		list := ad.call(http.MethodGet, "/application-users", nil).requireStatus(t, http.StatusOK)
		require.Len(t, list.body["items"].([]any), 1)
		got := ad.call(http.MethodGet, "/application-users/reporting-bot", nil).requireStatus(t, http.StatusOK)
		assert.Equal(t, "weekly report\nowner: ops", got.body["description"])
		ad.call(http.MethodGet, "/application-users/nobody", nil).requireStatus(t, http.StatusNotFound)

		// A merge patch; the ID cannot change.
		p := ad.call(http.MethodPatch, "/application-users/reporting-bot", `{"roles": ["reporter"], "description": null}`, "Content-Type", "application/merge-patch+json").requireStatus(t, http.StatusOK)
		assert.Equal(t, []any{"reporter"}, p.body["roles"])
		assert.Equal(t, "", p.body["description"])
		assert.Equal(t, []any{"assets:read"}, p.body["permissions"], "untouched")
		p = ad.call(http.MethodPatch, "/application-users/reporting-bot", map[string]any{"id": "other", "permissions": []string{"bad perm"}}).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, []string{"id"}, p.fields())
		p = ad.call(http.MethodPatch, "/application-users/reporting-bot", map[string]any{"permissions": []string{"bad perm"}}).requireStatus(t, http.StatusBadRequest)
		assert.Equal(t, []string{"permissions"}, p.fields())

		// Its key, and a linked client.
		kk := ad.call(http.MethodPost, "/application-users/reporting-bot/api-keys", map[string]any{"name": "bot key"}).requireStatus(t, http.StatusCreated)
		assert.Equal(t, "application", kk.body["owner_type"])
		assert.Equal(t, "acme", kk.body["tenant"], "the application user's tenant")
		botKey := kk.body["api_key"].(string)
		ad.call(http.MethodPost, "/application-users/reporting-bot/api-keys", map[string]any{"tenant": "globex"}).requireStatus(t, http.StatusBadRequest)
		c := ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "reporting-bot-client", "grant_types": []string{"client_credentials"},
			"scope": "assets:read", "application_user": "reporting-bot"}).requireStatus(t, http.StatusCreated)
		secret := c.body["client_secret"].(string)
		assert.Equal(t, "reporting-bot", c.body["application_user"])
		ghost := ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "ghost-client", "grant_types": []string{"client_credentials"},
			"application_user": "ghost"}).requireStatus(t, http.StatusBadRequest)
		assert.Contains(t, ghost.field("application_user"), `there is no application user "ghost"`)

		status, body := k.ccToken("reporting-bot-client", secret, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.InDelta(t, 300, body["expires_in"], 5)
		linked := body["access_token"].(string)
		status, body, _ = k.scriptToken(botKey, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		viaKey := body["access_token"].(string)

		assert.Equal(t, http.StatusNoContent, ad.call(http.MethodDelete, "/application-users/reporting-bot", nil).status)
		assert.Equal(t, http.StatusUnauthorized, k.apiStatus(linked))
		assert.Equal(t, http.StatusUnauthorized, k.apiStatus(viaKey))
		ad.call(http.MethodGet, "/api-keys/"+kk.body["id"].(string), nil).requireStatus(t, http.StatusNotFound)
		ad.call(http.MethodDelete, "/application-users/reporting-bot", nil).requireStatus(t, http.StatusNotFound)

		for _, ev := range []string{provider.AuditAppUserCreated, provider.AuditAppUserUpdated, provider.AuditAppUserDeleted} {
			assert.Contains(t, k.auditText(ev), ev+" actor=admin:ops subject=reporting-bot", "%s is audited with the actor", ev)
		}
		assert.Contains(t, k.auditText(provider.AuditAPIKeyDeleted), "reason:application user deleted", "its key's deletion is audited")
		k.assertNoKeysLogged(botKey)
	})
}

// TestAdminKeyRoutesNeedAUserLookup: a user's key needs the host's
// UserLookup, which knows the user's permissions.
func TestAdminKeyRoutesNeedAUserLookup(t *testing.T) {
	e := newEnvOn(t, memory.New(), func(c *provider.Config) {
		c.Authenticator = provider.UserAuthenticatorFunc(userDB{}.Authenticate) // no UserLookup
	})
	ad := newAdminAPI(t, e.p)
	a := ad.call(http.MethodPost, "/users/sub-alice/api-keys", map[string]any{}).requireStatus(t, http.StatusBadRequest)
	assert.Contains(t, a.field("owner"), "needs Config.UserLookup")
}

func regexpQuote(s string) string { return strings.ReplaceAll(s, ".", `\.`) }
