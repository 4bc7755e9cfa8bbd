package provider_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/flowtest"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// botEnv is the key environment with the demo's application user:
// reporting-bot in acme with assets:read and a 5-minute token lifetime,
// and its confidential client reporting-bot-client.
type botEnv struct {
	*keyEnv
	bot       storage.ApplicationUser
	botClient storage.Client
	botSecret string
}

const botLifetime = 5 * time.Minute

func newBotEnv(t *testing.T, store storage.Store, mutate ...func(*provider.Config)) *botEnv {
	t.Helper()
	b := &botEnv{keyEnv: newKeyEnv(t, store, mutate...)}
	ctx := context.Background()
	var err error
	b.bot, err = b.p.CreateApplicationUser(ctx, storage.ApplicationUser{
		ID: "reporting-bot", Name: "Reporting bot", Tenant: "acme",
		Permissions: []string{"assets:read"}, AccessTokenLifetime: botLifetime,
	})
	require.NoError(t, err)
	b.botClient, b.botSecret, err = b.p.CreateClient(ctx, storage.Client{
		ID: "reporting-bot-client", ApplicationUser: "reporting-bot",
		GrantTypes: []string{"client_credentials"},
		Scopes:     []string{"openid", "assets:read", "registry:read"},
	})
	require.NoError(t, err)
	b.secrets[b.botClient.ID] = b.botSecret
	return b
}

// TestApplicationUserToken: a client linked to an application user gets
// tokens whose sub is the application user's ID, whose scopes are
// requested ∩ the client's scopes ∩ its permissions, and whose lifetime is
// its own; introspection and userinfo say principal_type application; the
// application user's API key gives the same principal.
func TestApplicationUserToken(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		b := newBotEnv(t, store)
		status, body := b.ccToken(b.botClient.ID, b.botSecret, "openid assets:read registry:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "openid assets:read", body["scope"], "registry:read: the client may ask for it, the application user does not hold it")
		assert.InDelta(t, botLifetime.Seconds(), body["expires_in"], 5, "its own lifetime, not the provider's hour")
		assert.NotContains(t, body, "refresh_token")
		access := body["access_token"].(string)
		assert.Equal(t, http.StatusOK, b.apiStatus(access))

		intro := b.introspect(access)
		assert.Equal(t, true, intro["active"])
		assert.Equal(t, "reporting-bot", intro["sub"])
		assert.Equal(t, "application", intro["principal_type"])
		assert.Equal(t, "acme", intro["customer_id"])
		assert.Equal(t, "127.0.0.1", intro["client_ip"])
		exp := time.Unix(int64(intro["exp"].(float64)), 0)
		assert.WithinDuration(t, time.Now().Add(botLifetime), exp, 10*time.Second, "the stored expiry is its own lifetime")

		info := b.userinfo(access)
		assert.Equal(t, "reporting-bot", info["sub"])
		assert.Equal(t, "application", info["principal_type"])

		// A user's token says principal_type user.
		_, aliceKey := b.aliceKey("acme")
		status, body, _ = b.scriptToken(aliceKey, "openid assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		info = b.userinfo(body["access_token"].(string))
		assert.Equal(t, "sub-alice", info["sub"])
		assert.Equal(t, "user", info["principal_type"])

		// Its API key, at the script client, acts as it too.
		_, botKey := b.newKey(storage.APIKey{OwnerType: storage.PrincipalApplication, Owner: "reporting-bot"})
		status, body, _ = b.scriptToken(botKey, "assets:read registry:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, "assets:read", body["scope"])
		assert.InDelta(t, botLifetime.Seconds(), body["expires_in"], 5, "the application user's own lifetime, over the client's")
		ti, err := b.p.Introspect(context.Background(), body["access_token"].(string))
		require.NoError(t, err)
		assert.Equal(t, "reporting-bot", ti.Subject)
		assert.Equal(t, "application", ti.PrincipalType)

		// Without a lifetime of its own, the client's.
		_, err = b.p.UpdateApplicationUser(context.Background(), "reporting-bot", func(u storage.ApplicationUser) (storage.ApplicationUser, error) {
			u.AccessTokenLifetime = 0
			return u, nil
		})
		require.NoError(t, err)
		status, body, _ = b.scriptToken(botKey, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.InDelta(t, scriptLifetime.Seconds(), body["expires_in"], 5)
	})
}

// TestApplicationUserAccessRules: the client's required role and customer
// binding hold for application users too.
func TestApplicationUserAccessRules(t *testing.T) {
	b := newBotEnv(t, memory.New())
	ctx := context.Background()
	_, err := b.p.UpdateClient(ctx, b.botClient.ID, func(c storage.Client) (storage.Client, error) {
		c.RequiredRole = "reporter"
		return c, nil
	})
	require.NoError(t, err)
	status, body := b.ccToken(b.botClient.ID, b.botSecret, "assets:read")
	assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
	assert.Equal(t, "invalid_client", body["error"])
	assert.Contains(t, body["error_description"], "may not use this client")
	_, err = b.p.UpdateApplicationUser(ctx, "reporting-bot", func(u storage.ApplicationUser) (storage.ApplicationUser, error) {
		u.Roles = []string{"reporter"}
		return u, nil
	})
	require.NoError(t, err)
	status, body = b.ccToken(b.botClient.ID, b.botSecret, "assets:read")
	require.Equal(t, http.StatusOK, status, "with the role: %v", body)

	_, err = b.p.UpdateClient(ctx, b.botClient.ID, func(c storage.Client) (storage.Client, error) {
		c.Customer = "globex"
		return c, nil
	})
	require.NoError(t, err)
	status, body = b.ccToken(b.botClient.ID, b.botSecret, "assets:read")
	assert.Equal(t, http.StatusUnauthorized, status, "bound to another customer: %v", body)
}

// TestApplicationUserDeleted: deleting an application user deletes its
// keys and revokes its tokens, those of its linked client and those of its
// keys; the linked client is then refused.
func TestApplicationUserDeleted(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		b := newBotEnv(t, store)
		ctx := context.Background()
		status, body := b.ccToken(b.botClient.ID, b.botSecret, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		linked := body["access_token"].(string)
		key, botKey := b.newKey(storage.APIKey{OwnerType: storage.PrincipalApplication, Owner: "reporting-bot"})
		status, body, _ = b.scriptToken(botKey, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		viaKey := body["access_token"].(string)
		// A user's token is not the application user's.
		_, aliceKey := b.aliceKey("acme")
		status, body, _ = b.scriptToken(aliceKey, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		alices := body["access_token"].(string)

		require.NoError(t, b.p.DeleteApplicationUser(ctx, "reporting-bot"))
		assert.Equal(t, http.StatusUnauthorized, b.apiStatus(linked), "the linked client's token is revoked")
		assert.Equal(t, http.StatusUnauthorized, b.apiStatus(viaKey), "the token of its key is revoked")
		assert.Equal(t, http.StatusOK, b.apiStatus(alices), "a user's token stays")
		_, err := b.p.GetAPIKey(ctx, key.ID)
		assert.ErrorIs(t, err, storage.ErrNotFound, "its key is gone")
		status, rbody, h := b.scriptToken(botKey, "assets:read")
		requireRefused(t, status, rbody, h, `unknown, expired or revoked`, "its key is refused")
		status, body = b.ccToken(b.botClient.ID, b.botSecret, "assets:read")
		assert.Equal(t, http.StatusUnauthorized, status, "%v", body)
		assert.Contains(t, body["error_description"], "application user this client acts as does not exist")

		// One made again under the same ID starts afresh: its tokens work.
		_, err = b.p.CreateApplicationUser(ctx, storage.ApplicationUser{ID: "reporting-bot", Tenant: "acme", Permissions: []string{"assets:read"}})
		require.NoError(t, err)
		status, body = b.ccToken(b.botClient.ID, b.botSecret, "assets:read")
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, http.StatusOK, b.apiStatus(body["access_token"].(string)))
		assert.ErrorIs(t, b.p.DeleteApplicationUser(ctx, "nobody"), storage.ErrNotFound)
	})
}

// TestApplicationUserRefusedAtLoginPage: an application user never passes
// the login page, the account pages' sign-in or the password grant, even
// when the host's directory authenticates a user with its ID.
func TestApplicationUserRefusedAtLoginPage(t *testing.T) {
	forEachStore(t, testApplicationUserRefusedAtLoginPage)
}

func testApplicationUserRefusedAtLoginPage(t *testing.T, store storage.Store) {
	b := newBotEnv(t, store)
	b.db.add("reporting-bot", "bot-password", provider.User{Subject: "reporting-bot", Username: "reporting-bot",
		Memberships: []provider.Membership{{Tenant: acme, Roles: []string{"portal-user"}, Permissions: []string{"assets:read"}}}})

	cfg := b.oauth2Config(b.spa, "", spaRedirect, "openid")
	browser := flowtest.NewBrowser(t)
	login := flowtest.Follow(t, browser, flowtest.Get(t, browser, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))))
	require.Contains(t, login.Body, `name="password"`)
	page := flowtest.Submit(t, browser, login, url.Values{"username": {"reporting-bot"}, "password": {"bot-password"}})
	assert.Equal(t, http.StatusUnauthorized, page.Status, "the login page refuses an application user")
	assert.Contains(t, page.Body, "application user: it cannot sign in here")
	assert.Contains(t, page.Body, `name="password"`, "the login page again, no redirect with a code")
	// Others still sign in.
	page = flowtest.Submit(t, browser, login, url.Values{"username": {"bob"}, "password": {"bob-password"}})
	assert.NotEqual(t, http.StatusUnauthorized, page.Status)

	// The account pages' sign-in refuses it too.
	ab := flowtest.NewBrowser(t)
	accountLogin := flowtest.Follow(t, ab, flowtest.Get(t, ab, b.url("/account/apps")))
	require.Equal(t, http.StatusOK, accountLogin.Status)
	refused := flowtest.Submit(t, ab, accountLogin, url.Values{"username": {"reporting-bot"}, "password": {"bot-password"}})
	assert.Equal(t, http.StatusUnauthorized, refused.Status, "the account login refuses an application user")
	assert.Contains(t, refused.Body, "application user: it cannot sign in here")

	status, body, _ := b.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"reporting-bot"}, "password": {"bot-password"}, "scope": {"assets:read"}}, b.legacy.ID, b.legacySecret)
	assert.Equal(t, http.StatusBadRequest, status, "%v", body)
	assert.Equal(t, "invalid_grant", body["error"])
	assert.Contains(t, body["error_description"], "application user")
}

// TestApplicationUserIDs: an application user's ID cannot be a user's
// subject or a client's ID (all are the sub of tokens); invalid fields
// are named at once.
func TestApplicationUserIDs(t *testing.T) {
	k := newKeyEnv(t, memory.New())
	ctx := context.Background()
	_, err := k.p.CreateApplicationUser(ctx, storage.ApplicationUser{ID: "sub-alice"})
	var ue *provider.ApplicationUserError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "ID", ue.Field)
	assert.Contains(t, ue.Reason, "is the subject of a user")

	_, err = k.p.CreateApplicationUser(ctx, storage.ApplicationUser{ID: k.svc.ID})
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, ue.Reason, "is a client's ID", "a client's own JWTs carry its ID as sub")

	_, err = k.p.CreateApplicationUser(ctx, storage.ApplicationUser{ID: "bad id", Permissions: []string{"bad perm"}, AccessTokenLifetime: 48 * time.Hour, Roles: []string{"a b"}})
	require.ErrorIs(t, err, provider.ErrInvalidApplicationUser)
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ue *provider.ApplicationUserError
		if errors.As(e, &ue) {
			fields = append(fields, ue.Field)
		}
	}
	assert.ElementsMatch(t, []string{"ID", "Permissions", "AccessTokenLifetime", "Roles"}, fields)

	u, err := k.p.CreateApplicationUser(ctx, storage.ApplicationUser{Name: "generated"})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(u.ID, "app-"), "an ID is generated: %q", u.ID)
}

// userinfo calls the userinfo endpoint with token and returns the claims.
func (e *env) userinfo(token string) map[string]any {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url("/userinfo"), nil)
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	status, body, _ := e.do(req)
	require.Equal(e.t, http.StatusOK, status, "userinfo: %v", body)
	return body
}
