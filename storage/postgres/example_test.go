package postgres_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage/postgres"
)

// A provider on PostgreSQL. Every replica runs the same code: Open with
// WithMigrate brings the schema up to date (replicas starting at once take
// turns), and the store is the provider's Store. Expired records are
// removed by a periodic DeleteExpired.
func Example() {
	ctx := context.Background()
	store, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.WithMigrate())
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	p, err := provider.New(provider.Config{
		Issuer:       "https://auth.example.com",
		Store:        store,
		GlobalSecret: []byte(os.Getenv("GATEHOUSE_GLOBAL_SECRET")), // the same on every replica
		Authenticator: provider.UserAuthenticatorFunc(func(ctx context.Context, username, password string) (provider.User, error) {
			return provider.User{}, provider.ErrInvalidCredentials // your own user check here
		}),
	})
	if err != nil {
		log.Fatal(err)
	}

	go func() {
		for range time.Tick(5 * time.Minute) {
			if _, err := store.DeleteExpired(ctx, time.Now()); err != nil {
				log.Printf("delete expired: %v", err)
			}
		}
	}()
	log.Fatal(http.ListenAndServe(":9000", p.Handler()))
}
