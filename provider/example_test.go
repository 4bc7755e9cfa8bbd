package provider_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

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

// A host that starts up under its own deadline, or inside a trace, passes
// its context: NewContext reads (and, the first time, creates) the signing
// key in the store within it. New does the same with a 30-second timeout.
func ExampleNewContext() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := provider.NewContext(ctx, provider.Config{
		Issuer: "http://127.0.0.1:9000",
		Store:  memory.New(),
		Authenticator: provider.UserAuthenticatorFunc(func(context.Context, string, string) (provider.User, error) {
			return provider.User{}, provider.ErrInvalidCredentials
		}),
	})
	if err != nil {
		log.Fatal(err) // for example context.DeadlineExceeded, when the database did not answer in time
	}
	fmt.Println(p.Discovery().Issuer)
	// Output: http://127.0.0.1:9000
}

// An admin API changes a client with UpdateClient: the change is applied to
// the current version and checked as a registration is. A change that
// breaks a rule is refused field by field, and nothing is written.
func ExampleProvider_UpdateClient() {
	ctx := context.Background()
	p, err := provider.New(provider.Config{
		Issuer: "http://127.0.0.1:9000",
		Store:  memory.New(),
		Authenticator: provider.UserAuthenticatorFunc(func(context.Context, string, string) (provider.User, error) {
			return provider.User{}, provider.ErrInvalidCredentials
		}),
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, _, err := p.CreateClient(ctx, storage.Client{ID: "reporting-job", GrantTypes: []string{"client_credentials"}, Scopes: []string{"assets:read"}}); err != nil {
		log.Fatal(err)
	}

	c, err := p.UpdateClient(ctx, "reporting-job", func(c storage.Client) (storage.Client, error) {
		c.Name = "Nightly report"
		c.Scopes = append(c.Scopes, "registry:read")
		return c, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name, c.Scopes, len(c.Secrets), c.Secrets[0].Hash == "")

	// A public client cannot use client_credentials.
	_, err = p.UpdateClient(ctx, "reporting-job", func(c storage.Client) (storage.Client, error) {
		c.Public, c.TokenEndpointAuthMethod = true, "none"
		return c, nil
	})
	var ce *provider.ClientError
	if errors.As(err, &ce) {
		fmt.Println(errors.Is(err, provider.ErrInvalidClient), ce.Field)
	}
	// Output:
	// Nightly report [assets:read registry:read] 1 true
	// true GrantTypes
}
