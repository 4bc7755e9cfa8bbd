package provider_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"

	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// The README's quickstart: a provider with its own user check. A host then
// serves p.Handler() (http.ListenAndServe("127.0.0.1:9000", p.Handler())).
func ExampleNew() {
	p, err := provider.New(provider.Config{
		Issuer: "http://127.0.0.1:9000",
		Store:  memory.New(),
		Authenticator: provider.UserAuthenticatorFunc(func(ctx context.Context, username, password string) (provider.User, error) {
			if username == "admin" && password == "change-me-now" { // your own user check here
				return provider.User{Subject: "admin", Username: "admin"}, nil
			}
			return provider.User{}, provider.ErrInvalidCredentials
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Discovery().TokenEndpoint)
	// Output: http://127.0.0.1:9000/oauth2/token
}

// A resource server in the same process: a client gets a token by client
// credentials and calls an API that needs the scope assets:read.
func ExampleProvider_RequireScopes() {
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	p, err := provider.New(provider.Config{
		Issuer: issuer,
		Store:  memory.New(),
		Authenticator: provider.UserAuthenticatorFunc(func(context.Context, string, string) (provider.User, error) {
			return provider.User{}, provider.ErrInvalidCredentials
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	client, secret, err := p.CreateClient(context.Background(), storage.Client{
		ID: "reporting-job", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"},
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/", p.Handler())
	mux.Handle("GET /api/assets", p.RequireScopes("assets:read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := provider.TokenFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", tok.ClientID)
	})))
	srv.Config.Handler = mux
	srv.Start()
	defer srv.Close()

	cc := clientcredentials.Config{ClientID: client.ID, ClientSecret: secret, TokenURL: issuer + "/oauth2/token", Scopes: []string{"assets:read"}}
	resp, err := cc.Client(context.Background()).Get(issuer + "/api/assets")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 hello reporting-job
}
