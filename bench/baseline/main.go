// Command baseline is a bare fosite v0.49.0 token server: the yardstick that
// bench/compare.sh measures the Gatehouse demo server against. It does only what
// fosite does out of the box (memory store, one client, every requested scope
// granted), plus a plain net/http mode that answers a token-sized body without any
// OAuth work: the ceiling of the machine's HTTP stack, and a sink mode that receives
// OTLP/HTTP exports and drops them (bench/compare.sh traces sends the demo's spans there).
//
// It listens on loopback only.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"
	"golang.org/x/crypto/bcrypt"
)

// sha256Hasher is the cheapest sound fosite.Hasher for high-entropy client
// secrets: SHA-256 and a constant-time comparison (Gatehouse's own default).
type sha256Hasher struct{}

func (sha256Hasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	sum := sha256.Sum256(data)
	return sum[:], nil
}

func (sha256Hasher) Compare(_ context.Context, hash, data []byte) error {
	sum := sha256.Sum256(data)
	if subtle.ConstantTimeCompare(hash, sum[:]) != 1 {
		return errors.New("secret mismatch")
	}
	return nil
}

// bcryptHasher is fosite's default kind of hasher, at a chosen cost.
type bcryptHasher struct{ cost int }

func (b bcryptHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return bcrypt.GenerateFromPassword(data, b.cost)
}

func (b bcryptHasher) Compare(_ context.Context, hash, data []byte) error {
	return bcrypt.CompareHashAndPassword(hash, data)
}

// plainBody is about the size of a fosite client_credentials response.
var plainBody = []byte(`{"access_token":"ory_at_Q2hhbmdlTWVDaGFuZ2VNZUNoYW5nZU1lQ2hhbmdlTWU.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl","expires_in":3599,"scope":"","token_type":"bearer"}`)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address (loopback only)")
	mode := flag.String("mode", "fosite", "fosite: a bare fosite server | plain: net/http answering a token-sized body | sink: an OTLP/HTTP receiver that accepts and drops what it is sent")
	hasherName := flag.String("hasher", "sha256", "client secret hasher: sha256 | bcrypt12 (fosite's default) | bcrypt10 | bcrypt4")
	strategy := flag.String("strategy", "hmac", "access token format: hmac (opaque) | jwt (ES256)")
	flag.Parse()

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Fatalf("refusing to listen on %s: loopback addresses only", *addr)
	}

	if *mode == "plain" {
		mux := http.NewServeMux()
		mux.HandleFunc("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			w.Header().Set("Content-Type", "application/json;charset=UTF-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
			_, _ = w.Write(plainBody)
		})
		log.Printf("plain net/http listening on %s", *addr)
		log.Fatal(http.ListenAndServe(*addr, mux))
	}
	if *mode == "sink" {
		log.Printf("OTLP/HTTP sink listening on %s", *addr)
		log.Fatal(http.ListenAndServe(*addr, sink()))
	}
	h, err := newHandler("http://"+*addr, *hasherName, *strategy)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("bare fosite listening on %s (hasher %s, strategy %s)", *addr, *hasherName, *strategy)
	log.Fatal(http.ListenAndServe(*addr, h))
}

// sink returns an OTLP/HTTP receiver (POST /v1/traces, /v1/metrics,
// /v1/logs) that reads and drops each export and answers 200 with an
// empty protobuf body (a full success), and GET /count, the number of
// exports received.
func sink() http.Handler {
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/{signal}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /count", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, n.Load())
	})
	return mux
}

// newHandler returns the bare fosite server's handler: /oauth2/token and
// /oauth2/introspect for one client, perf-client:perf-secret.
func newHandler(issuer, hasherName, strategy string) (http.Handler, error) {
	var hasher fosite.Hasher
	switch hasherName {
	case "sha256":
		hasher = sha256Hasher{}
	case "bcrypt12":
		hasher = bcryptHasher{12}
	case "bcrypt10":
		hasher = bcryptHasher{10}
	case "bcrypt4":
		hasher = bcryptHasher{4}
	default:
		return nil, fmt.Errorf("unknown -hasher %q", hasherName)
	}

	config := &fosite.Config{
		AccessTokenLifespan: time.Hour,
		GlobalSecret:        []byte("baseline-global-secret-32-bytes!"),
		ClientSecretsHasher: hasher,
		AccessTokenIssuer:   issuer,
	}
	store := storage.NewMemoryStore()
	secretHash, err := hasher.Hash(context.Background(), []byte("perf-secret"))
	if err != nil {
		return nil, err
	}
	store.Clients["perf-client"] = &fosite.DefaultClient{
		ID:            "perf-client",
		Secret:        secretHash,
		GrantTypes:    []string{"client_credentials"},
		ResponseTypes: []string{"token"},
		Scopes:        []string{"read", "write"},
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	keyGetter := func(context.Context) (interface{}, error) { return key, nil }

	// compose appends its handlers to config: build exactly one provider per config.
	var provider fosite.OAuth2Provider
	newSession := func() fosite.Session { return &fosite.DefaultSession{} }
	switch strategy {
	case "hmac":
		provider = compose.ComposeAllEnabled(config, store, key)
	case "jwt":
		provider = compose.Compose(config, store,
			&compose.CommonStrategy{
				CoreStrategy:               compose.NewOAuth2JWTStrategy(keyGetter, compose.NewOAuth2HMACStrategy(config), config),
				OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, config),
				Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
			},
			compose.OAuth2ClientCredentialsGrantFactory,
			compose.OAuth2TokenIntrospectionFactory,
		)
		newSession = func() fosite.Session {
			return &oauth2.JWTSession{JWTClaims: &jwt.JWTClaims{}, JWTHeader: &jwt.Headers{}}
		}
	default:
		return nil, fmt.Errorf("unknown -strategy %q", strategy)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ar, err := provider.NewAccessRequest(ctx, r, newSession())
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		for _, s := range ar.GetRequestedScopes() {
			ar.GrantScope(s)
		}
		resp, err := provider.NewAccessResponse(ctx, ar)
		if err != nil {
			provider.WriteAccessError(ctx, w, ar, err)
			return
		}
		provider.WriteAccessResponse(ctx, w, ar, resp)
	})
	// RFC 7662 introspection, the caller authenticated with client_secret_basic.
	mux.HandleFunc("/oauth2/introspect", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ir, err := provider.NewIntrospectionRequest(ctx, r, newSession())
		if err != nil {
			provider.WriteIntrospectionError(ctx, w, err)
			return
		}
		provider.WriteIntrospectionResponse(ctx, w, ir)
	})
	return mux, nil
}
