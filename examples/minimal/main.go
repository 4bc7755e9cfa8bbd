// Command minimal is the shortest complete host of a Gatehouse provider: one
// user check, the in-memory store, every endpoint on one mux.
package main

import (
	"context"
	"log"
	"net/http"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage/memory"
)

func main() {
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
	log.Fatal(http.ListenAndServe("127.0.0.1:9000", p.Handler()))
}
