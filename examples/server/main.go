// Command server runs a demo Gatehouse provider on the in-memory store, with
// fixed demo clients and users, an application user, and a small protected
// API that takes access tokens and API keys. It prints a fresh API key of
// alice in acme at start ("API key of alice in acme: ...").
//
//	go run ./examples/server [-addr 127.0.0.1:8080] [-issuer http://127.0.0.1:8080] [-jwt-access-tokens]
//	    [-stateless-access-tokens]
//	    [-trusted-proxies 10.0.0.1,10.0.0.2] [-dsn postgres://...] [-global-secret ...]
//	    [-admin-addr 127.0.0.1:8082] [-admin-token ...]
//	    [-read-timeout 10s] [-write-timeout 30s] [-idle-timeout 2m]
//	    [-otlp-endpoint http://127.0.0.1:4318] [-trace-sample 0.1]
//	    [-cleanup-every 1m] [-shutdown-delay 0s] [-shutdown-timeout 20s]
//
// The client administration API (provider.AdminHandler) is served on its
// own listener, -admin-addr, behind the bearer token -admin-token (by
// default one generated at start and printed as "admin token: <t>"). The
// admin listener also serves /metrics (Prometheus), /healthz and /readyz,
// without the token; nothing else. The OAuth listener serves /healthz and
// /readyz too, and never the admin API or /metrics.
//
// With -otlp-endpoint the provider's traces go to that OTLP/HTTP receiver
// (an OpenTelemetry Collector, Jaeger, Tempo), -trace-sample of them.
//
// On SIGINT or SIGTERM it answers /readyz with 503 for -shutdown-delay,
// stops accepting connections, finishes the requests under way (for at most
// -shutdown-timeout), stops its housekeeping, sends the buffered spans and
// closes the store.
//
// Without -dsn everything is lost when it stops. With -dsn it keeps its
// state in PostgreSQL (migrating the schema and seeding the demo data only
// where absent), so tokens survive a restart. See README.md for a
// walkthrough.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/mfa"
	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
	"github.com/gatehouse/gatehouse/storage/postgres"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// run starts the demo server and serves until ctx is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	issuer := fs.String("issuer", "", "issuer URL (default http:// + the listen address)")
	jwtTokens := fs.Bool("jwt-access-tokens", false, "issue RFC 9068 JWT access tokens instead of opaque ones")
	statelessTokens := fs.Bool("stateless-access-tokens", false, "issue JWT access tokens that are not stored, revoked through a deny list (implies -jwt-access-tokens; docs/stateless-tokens.md)")
	audit := fs.Bool("audit", true, "record the audit trail (docs/audit.md); -audit=false turns it off, to measure what it costs (bench/compare.sh audit)")
	verbose := fs.Bool("v", false, "log every request at debug level")
	trusted := fs.String("trusted-proxies", "", "comma-separated reverse proxies (addresses, CIDR, a-b ranges) whose X-Forwarded-For is believed; default none")
	dsn := fs.String("dsn", "", "PostgreSQL connection string (postgres://...); default: the in-memory store")
	prefix := fs.String("table-prefix", "gatehouse_", "with -dsn: the prefix of the store's table names")
	globalSecret := fs.String("global-secret", os.Getenv("GATEHOUSE_GLOBAL_SECRET"), "HMAC key of opaque tokens, 32+ bytes, the same on every replica (default $GATEHOUSE_GLOBAL_SECRET; with -dsn and neither, a fixed demo key)")
	cleanupEvery := fs.Duration("cleanup-every", time.Minute, "how often housekeeping runs: expired tokens, sessions and flows are deleted, the signing key rotated when due (0: never)")
	otlpEndpoint := fs.String("otlp-endpoint", "", "send traces over OTLP/HTTP to this URL (for example http://127.0.0.1:4318); default: no traces")
	traceSample := fs.Float64("trace-sample", 1, "with -otlp-endpoint: the share of traces kept (0-1) when a request carries no sampled parent")
	shutdownDelay := fs.Duration("shutdown-delay", 0, "on SIGTERM, how long /readyz answers 503 before the listeners close (a load balancer's time to stop sending)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 20*time.Second, "on SIGTERM, how long requests under way may take to finish")
	accessLifetime := fs.Duration("access-token-lifetime", time.Hour, "how long access tokens live, unless a client sets its own (the memory store keeps each one that long)")
	adminAddr := fs.String("admin-addr", "127.0.0.1:8082", "listen address of the client administration API and /metrics (its own listener; empty: neither, and no metrics are collected)")
	adminToken := fs.String("admin-token", os.Getenv("GATEHOUSE_ADMIN_TOKEN"), "bearer token of the admin API, 16+ characters of A-Z a-z 0-9 - . _ ~ + / (default $GATEHOUSE_ADMIN_TOKEN, else one generated at start and printed)")
	var limits serverLimits
	fs.DurationVar(&limits.read, "read-timeout", defaultLimits.read, "longest time to read a whole request, body included (slow clients are cut)")
	fs.DurationVar(&limits.write, "write-timeout", defaultLimits.write, "longest time from the end of a request's headers to the end of its response")
	fs.DurationVar(&limits.idle, "idle-timeout", defaultLimits.idle, "how long an idle keep-alive connection is kept")
	if err := fs.Parse(args); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if *issuer == "" {
		*issuer = "http://" + ln.Addr().String()
	}
	var adminLn net.Listener
	if *adminAddr != "" {
		if adminLn, err = net.Listen("tcp", *adminAddr); err != nil {
			return fmt.Errorf("admin listener: %w", err)
		}
		defer adminLn.Close()
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: level}))
	var proxies []string
	if *trusted != "" {
		proxies = strings.Split(*trusted, ",")
	}
	users := newDemoUsers()
	var store storage.Store = memory.New()
	var secret []byte
	if *globalSecret != "" {
		secret = []byte(*globalSecret)
	}
	if *dsn != "" {
		pg, err := postgres.Open(ctx, *dsn, postgres.WithMigrate(), postgres.WithTablePrefix(*prefix))
		if err != nil {
			return fmt.Errorf("open PostgreSQL: %w", err)
		}
		// Closed last: after the servers, the background jobs and the
		// telemetry have stopped (the defers below run first).
		defer pg.Close()
		store = pg
		if secret == nil {
			logger.Warn("using the fixed demo -global-secret: fine for a demo, never for production")
			secret = []byte(demoGlobalSecret)
		}
	}
	// TOTP secrets are sealed at rest with a key derived from the global
	// secret (a real host keeps a separate key in its vault).
	totpKey := make([]byte, 32)
	if secret != nil {
		sum := sha256.Sum256(append([]byte("gatehouse demo TOTP key\x00"), secret...))
		totpKey = sum[:]
	} else if _, err := rand.Read(totpKey); err != nil {
		return err
	}
	totp, err := mfa.NewTOTP(store, mfa.TOTPOptions{Issuer: "Gatehouse demo", Key: totpKey})
	if err != nil {
		return err
	}
	tel, err := newTelemetry(ctx, adminLn != nil, *otlpEndpoint, *traceSample)
	if err != nil {
		return err
	}
	defer func() {
		// Send the spans still buffered; a receiver that is gone costs
		// at most a few seconds.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.shutdown(sctx); err != nil {
			logger.Warn("telemetry shutdown", "error", err)
		}
	}()
	cfg := provider.Config{
		Issuer:                *issuer,
		Store:                 store,
		Authenticator:         users,
		UserLookup:            users,
		Factors:               []mfa.Factor{totp},
		GlobalSecret:          secret,
		TrustedProxies:        proxies,
		JWTAccessTokens:       *jwtTokens || *statelessTokens,
		StatelessAccessTokens: *statelessTokens,
		Logger:                logger,
		AuditDisabled:         !*audit,

		AccessTokenLifetime: *accessLifetime,
	}
	tel.configure(&cfg)
	p, err := provider.New(cfg)
	if err != nil {
		return err
	}
	if err := seed(ctx, p); err != nil {
		return err
	}
	aliceKey, err := demoAPIKey(ctx, p)
	if err != nil {
		return err
	}
	// alice's authenticator app holds the fixed demo secret.
	if _, err := totp.EnrollSecret(ctx, "alice", "alice", demoTOTPSecret); err != nil {
		return err
	}

	// Background jobs stop when ctx is done (a signal) or run returns;
	// the store is closed only once they have returned.
	jobsCtx, stopJobs := context.WithCancel(ctx)
	var jobs sync.WaitGroup
	defer func() {
		stopJobs()
		jobs.Wait()
	}()
	if *cleanupEvery > 0 {
		jobs.Go(func() {
			if err := p.RunHousekeeping(jobsCtx, provider.Housekeeping{Every: *cleanupEvery}); err != nil {
				logger.Error("housekeeping", "error", err)
			}
		})
	}

	var draining atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/", p.Handler())
	probes(mux, p, &draining)
	// The API takes access tokens, and scripts' API keys directly under
	// demo-script's rules.
	mux.Handle("GET /api/v1/widgets/top-vulnerable-clusters",
		p.Require(provider.Requirement{Scopes: []string{"assets:read"}, APIKeyClient: "demo-script"})(widget(topClusters)))
	mux.Handle("GET /api/v1/widgets/registry-insights",
		p.Require(provider.Requirement{Scopes: []string{"registry:read"}, APIKeyClient: "demo-script"})(widget(registryInsights)))

	servers := []*http.Server{newHTTPServer(mux, limits)}
	listeners := []net.Listener{ln}
	if adminLn != nil {
		admin, generated, err := adminHandler(p, *adminToken)
		if err != nil {
			return err
		}
		adminMux := http.NewServeMux()
		adminMux.Handle("/", admin)
		adminMux.Handle("GET /metrics", tel.metrics)
		probes(adminMux, p, &draining)
		servers = append(servers, newHTTPServer(adminMux, limits))
		listeners = append(listeners, adminLn)
		fmt.Fprintf(stdout, "admin: http://%s\n", adminLn.Addr())
		if generated != "" {
			fmt.Fprintf(stdout, "admin token: %s\n", generated)
		}
	}

	fmt.Fprintf(stdout, "API key of alice in acme: %s\n", aliceKey)
	fmt.Fprintf(stdout, "issuer: %s\n", *issuer)
	fmt.Fprintf(stdout, "discovery: %s/.well-known/openid-configuration\n", *issuer)
	fmt.Fprint(stdout, demoDataText)

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	return shutdown(p, servers, &draining, *shutdownDelay, *shutdownTimeout, logger, serveErr)
}

// shutdown stops the servers gracefully: /readyz answers 503 for delay,
// then the listeners close and the requests under way finish, for at most
// timeout, and the audit events the requests left queued are written.
// (run's defers then stop the background jobs, send the buffered
// spans and close the store, in that order.)
func shutdown(p *provider.Provider, servers []*http.Server, draining *atomic.Bool, delay, timeout time.Duration, logger *slog.Logger, serveErr error) error {
	draining.Store(true)
	if delay > 0 {
		logger.Info("shutting down: draining", "delay", delay)
		time.Sleep(delay)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, srv := range servers {
		wg.Go(func() { errs[i] = srv.Shutdown(ctx) })
	}
	wg.Wait()
	if serveErr == nil {
		serveErr = errors.Join(errs...)
	}
	// The requests are done: write the audit events they left queued.
	if err := p.Shutdown(ctx); err != nil && serveErr == nil {
		serveErr = err
	}
	logger.Info("shut down: every request answered")
	return serveErr
}

// adminHandler returns the client administration API, for the admin
// listener alone, with its routes at the root (/clients, ...), behind
// token, or, if token is empty, behind a token it generates and returns.
func adminHandler(p *provider.Provider, token string) (http.Handler, string, error) {
	generated := ""
	if token == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, "", err
		}
		token = base64.RawURLEncoding.EncodeToString(b)
		generated = token
	}
	auth, err := provider.BearerAuthorizer(map[string]string{"admin": token})
	if err != nil {
		return nil, "", fmt.Errorf("-admin-token: %w", err)
	}
	return p.AdminHandler(auth), generated, nil
}

// serverLimits are the timeouts of the demo's HTTP server.
type serverLimits struct{ read, write, idle time.Duration }

// defaultLimits are the flags' defaults.
var defaultLimits = serverLimits{read: 10 * time.Second, write: 30 * time.Second, idle: 2 * time.Minute}

// maxHeaderBytes caps request headers: an authorization request's 8 KiB
// query plus cookies fit with room to spare.
const maxHeaderBytes = 32 << 10

// newHTTPServer returns the demo's HTTP server. Every limit is set, so
// that a client that sends slowly, reads slowly or idles cannot hold a
// connection (and its goroutine and buffers) for long: the whole request
// must arrive within l.read, its headers within l.read or 10 s, whichever
// is shorter, the response must be written within l.write, and an idle
// keep-alive connection is closed after l.idle.
func newHTTPServer(h http.Handler, l serverLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(l.read, 10*time.Second),
		ReadTimeout:       l.read,
		WriteTimeout:      l.write,
		IdleTimeout:       l.idle,
		MaxHeaderBytes:    maxHeaderBytes,
	}
}

// demoGlobalSecret is the HMAC key of the demo on PostgreSQL when none is
// given, so that its tokens survive a restart.
const demoGlobalSecret = "gatehouse-demo-global-secret-not-for-production"

// demoTOTPSecret is alice's TOTP secret (base32); add it to an
// authenticator app, or compute codes with: oathtool --totp -b JBSWY3DPEHPK3PXP
const demoTOTPSecret = "JBSWY3DPEHPK3PXP"

const demoDataText = `demo data:
  tenant acme (Acme Corp), globex (Globex Inc)
  client demo-web      secret demo-web-secret      confidential, authorization_code + refresh_token, redirect http://127.0.0.1:8081/callback
                       role portal-user, permission scope assets:read registry:read, MFA required
  client demo-spa      public (PKCE)               authorization_code + refresh_token, redirect http://127.0.0.1:8081/spa
                       role portal-user, bound to customer acme
  client demo-service  secret demo-service-secret  client_credentials, scope assets:read, only from 127.0.0.1/32
  client demo-script   API keys (X-API-Key)        public, client_credentials only, permission scope assets:read registry:read
  client reporting-bot-client  secret reporting-bot-secret  client_credentials as the application user reporting-bot
  application user reporting-bot  acme, assets:read, access tokens of 15 minutes
  user   alice / alice-password   TOTP secret JBSWY3DPEHPK3PXP; acme: portal-user, assets:read assets:write registry:read; globex: portal-user, assets:read
  user   bob   / bob-password     no MFA; acme: portal-user, assets:read
  user   carol / carol-password   acme, no roles
  API    GET /api/v1/widgets/top-vulnerable-clusters (assets:read), GET /api/v1/widgets/registry-insights (registry:read);
         an access token (Authorization: Bearer), or an API key (X-API-Key) under demo-script's rules
`

// seed registers the fixed demo clients that do not exist yet.
func seed(ctx context.Context, p *provider.Provider) error {
	web := storage.Client{
		ID:           "demo-web",
		Name:         "Demo Web Portal",
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"http://127.0.0.1:8081/callback"},
		Scopes: []string{"openid", "offline_access", "profile", "email", "groups", "groupstring", "customer", "clientip",
			"assets:read", "assets:write", "registry:read"},
		RequiredRole:    "portal-user",
		PermissionScope: []string{"assets:read", "registry:read"},
		RequireMFA:      true,
	}
	if _, err := p.CreateClientWithSecret(ctx, web, "demo-web-secret"); absent(err) != nil {
		return err
	}
	spa := storage.Client{
		ID:           "demo-spa",
		Name:         "Demo Single-Page App",
		Public:       true,
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		RedirectURIs: []string{"http://127.0.0.1:8081/spa"},
		Scopes:       []string{"openid", "offline_access", "profile", "email", "customer", "assets:read"},
		RequiredRole: "portal-user",
		Customer:     "acme",
	}
	if _, _, err := p.CreateClient(ctx, spa); absent(err) != nil {
		return err
	}
	svc := storage.Client{
		ID:         "demo-service",
		Name:       "Demo Service",
		GrantTypes: []string{"client_credentials"},
		Scopes:     []string{"assets:read"},
		IPRanges:   []string{"127.0.0.1/32"},
	}
	if _, err := p.CreateClientWithSecret(ctx, svc, "demo-service-secret"); absent(err) != nil {
		return err
	}
	// Scripts present API keys through demo-script; reporting-bot is a
	// service principal with a client of its own.
	script := storage.Client{
		ID:              "demo-script",
		Name:            "Scripts (API keys)",
		Public:          true,
		AcceptsAPIKeys:  true,
		GrantTypes:      []string{"client_credentials"},
		Scopes:          []string{"assets:read", "assets:write", "registry:read"},
		PermissionScope: []string{"assets:read", "registry:read"},
	}
	if _, _, err := p.CreateClient(ctx, script); absent(err) != nil {
		return err
	}
	bot := storage.ApplicationUser{
		ID:                  "reporting-bot",
		Name:                "Reporting bot",
		Description:         "Builds the weekly asset report",
		Tenant:              "acme",
		Permissions:         []string{"assets:read"},
		AccessTokenLifetime: 15 * time.Minute,
	}
	if _, err := p.CreateApplicationUser(ctx, bot); absent(err) != nil {
		return err
	}
	botClient := storage.Client{
		ID:              "reporting-bot-client",
		Name:            "Reporting bot",
		GrantTypes:      []string{"client_credentials"},
		Scopes:          []string{"openid", "assets:read", "registry:read"},
		ApplicationUser: "reporting-bot",
	}
	_, err := p.CreateClientWithSecret(ctx, botClient, "reporting-bot-secret")
	return absent(err)
}

// demoKeyName names the API key the demo makes for alice.
const demoKeyName = "demo key (README walkthrough)"

// demoAPIKey returns a fresh API key of alice in acme for the walkthrough:
// a new key, or, on PostgreSQL after a restart, the one made before with
// a new secret (only its hash is stored, so it cannot be shown again).
func demoAPIKey(ctx context.Context, p *provider.Provider) (string, error) {
	keys, err := p.APIKeysOf(ctx, "alice")
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		if k.Name == demoKeyName {
			_, key, err := p.RotateAPIKey(ctx, k.ID)
			return key, err
		}
	}
	_, key, err := p.CreateAPIKey(ctx, storage.APIKey{
		Name: demoKeyName, OwnerType: storage.PrincipalUser, Owner: "alice", Tenant: "acme",
	})
	return key, err
}

// absent ignores the error of seeding a record that is already there (a
// restart on PostgreSQL).
func absent(err error) error {
	if errors.Is(err, storage.ErrAlreadyExists) {
		return nil
	}
	return err
}

// demoUser is a demo account; passwords are kept as SHA-256 digests and
// compared in constant time (a real host would use a password hash).
type demoUser struct {
	provider.User
	password [32]byte
}

type demoUsers map[string]demoUser

func newDemoUsers() demoUsers {
	mk := func(u provider.User, password string) demoUser {
		return demoUser{User: u, password: sha256.Sum256([]byte(password))}
	}
	acme := provider.Tenant{ID: "acme", DomainID: "acme.example", ShortName: "acme", Name: "Acme Corp"}
	globex := provider.Tenant{ID: "globex", DomainID: "globex.example", ShortName: "globex", Name: "Globex Inc"}
	return demoUsers{
		"alice": mk(provider.User{Subject: "alice", Username: "alice", Name: "Alice Example", Email: "alice@example.com", EmailVerified: true,
			Groups: []string{"admins", "developers"},
			Memberships: []provider.Membership{
				{Tenant: acme, Roles: []string{"portal-user"}, Permissions: []string{"assets:read", "assets:write", "registry:read"}},
				{Tenant: globex, Roles: []string{"portal-user"}, Permissions: []string{"assets:read"}},
			}}, "alice-password"),
		"bob": mk(provider.User{Subject: "bob", Username: "bob", Name: "Bob Example", Email: "bob@example.com", EmailVerified: true,
			Groups:      []string{"developers"},
			Memberships: []provider.Membership{{Tenant: acme, Roles: []string{"portal-user"}, Permissions: []string{"assets:read"}}},
		}, "bob-password"),
		"carol": mk(provider.User{Subject: "carol", Username: "carol", Name: "Carol Example", Email: "carol@example.com",
			Memberships: []provider.Membership{{Tenant: acme}},
		}, "carol-password"),
	}
}

// Authenticate implements provider.UserAuthenticator.
func (d demoUsers) Authenticate(_ context.Context, username, password string) (provider.User, error) {
	u, ok := d[username]
	sum := sha256.Sum256([]byte(password))
	if !ok || subtle.ConstantTimeCompare(sum[:], u.password[:]) != 1 {
		return provider.User{}, provider.ErrInvalidCredentials
	}
	return u.User, nil
}

// LookupUser implements provider.UserLookup.
func (d demoUsers) LookupUser(_ context.Context, subject string) (provider.User, error) {
	for _, u := range d {
		if u.Subject == subject {
			return u.User, nil
		}
	}
	return provider.User{}, provider.ErrUserNotFound
}

var topClusters = map[string]any{
	"widget": "top-vulnerable-clusters",
	"clusters": []map[string]any{
		{"name": "prod-eu-1", "critical": 12, "high": 40},
		{"name": "prod-us-2", "critical": 7, "high": 31},
		{"name": "staging", "critical": 3, "high": 18},
	},
}

var registryInsights = map[string]any{
	"widget":          "registry-insights",
	"images":          1824,
	"unsigned":        37,
	"stale_base_imgs": 112,
}

// widget serves demo JSON and says who asked.
func widget(data map[string]any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := provider.TokenFromContext(r.Context())
		out := map[string]any{"data": data, "client_id": tok.ClientID, "credential": tok.Type}
		if tok.Subject != "" {
			out["subject"] = tok.Subject
			out["principal_type"] = tok.PrincipalType
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}
