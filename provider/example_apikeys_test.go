package provider_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// A script acts as a user with the user's API key: it presents the key in
// X-API-Key at the token endpoint, as the client that accepts keys, and
// gets a token of the user with requested ∩ the client's permission scope
// ∩ the user's permissions.
func ExampleProvider_CreateAPIKey() {
	alice := provider.User{Subject: "alice", Permissions: []string{"assets:read", "assets:write"}}
	users := provider.UserLookupFunc(func(_ context.Context, subject string) (provider.User, error) {
		if subject == alice.Subject {
			return alice, nil
		}
		return provider.User{}, provider.ErrUserNotFound
	})
	srv := httptest.NewUnstartedServer(nil)
	p, err := provider.New(provider.Config{
		Issuer: "http://" + srv.Listener.Addr().String(),
		Store:  memory.New(),
		Authenticator: provider.UserAuthenticatorFunc(func(context.Context, string, string) (provider.User, error) {
			return provider.User{}, provider.ErrInvalidCredentials
		}),
		UserLookup: users,
	})
	if err != nil {
		log.Fatal(err)
	}
	srv.Config.Handler = p.Handler()
	srv.Start()
	defer srv.Close()
	ctx := context.Background()
	if _, _, err := p.CreateClient(ctx, storage.Client{
		ID: "scripts", Public: true, AcceptsAPIKeys: true,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read", "assets:write"},
		PermissionScope: []string{"assets:read"},
	}); err != nil {
		log.Fatal(err)
	}
	_, key, err := p.CreateAPIKey(ctx, storage.APIKey{Name: "nightly", OwnerType: storage.PrincipalUser, Owner: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(strings.HasPrefix(key, "gatehouse_ak_"), len(key))

	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"scripts"}, "scope": {"assets:read assets:write"}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(provider.APIKeyHeader, key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken  string `json:"access_token"`
		Scope        string `json:"scope"`
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	info, err := p.Introspect(ctx, tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, tok.Scope, tok.RefreshToken == "")
	fmt.Println(info.Subject, info.PrincipalType, info.APIKeyID != "")
	// Output:
	// true 82
	// 200 assets:read true
	// alice user true
}
