// Package provider is an embeddable OAuth 2.0 and OpenID Connect provider.
//
// A host creates one [Provider] with [New], giving at least an issuer URL, a
// [github.com/gatehouse/gatehouse/storage.Store] and a [UserAuthenticator], and serves [Provider.Handler]
// (or each endpoint's handler on its own router):
//
//	p, err := provider.New(provider.Config{
//		Issuer:        "https://auth.example.com",
//		Store:         memory.New(),
//		Authenticator: users, // checks username and password
//		GlobalSecret:  secret32, // same on every replica
//	})
//	...
//	http.Handle("/", p.Handler())
//
// It serves discovery, a JWKS with key rotation, the authorization endpoint
// with built-in login, MFA, tenant and consent pages (in English and
// German, with a host's own text, templates and sources: [BuiltinTemplates],
// [PageData], [Messages], [PageSources]), the token
// endpoint (authorization code with PKCE, refresh with rotation and reuse
// detection, client credentials, and, with Config.AllowLegacyGrants, for
// clients that list them, the password grant and implicit/hybrid flows),
// introspection (RFC 7662), revocation (RFC 7009), userinfo and
// RP-initiated logout. The token, revocation and userinfo endpoints answer
// single-page apps at their clients' origins (CORS; Config.CORSOrigins).
//
// Clients are registered with [Provider.CreateClient], which generates a
// 256-bit secret and stores only its hash, and administered with
// [Provider.GetClient], [Provider.ListClients], [Provider.UpdateClient]
// (checked as a registration is), [Provider.RotateClientSecret] and
// [Provider.DeleteClient]. A resource server in the same process protects
// its handlers with [Provider.RequireScopes] and reads the token with
// [TokenFromContext].
//
// A logout ends the grants made in the browser sign-in it ends; the host
// signs a user out everywhere with [Provider.EndUserSessions]
// (docs/grant-lifecycle.md).
//
// Operators get OpenTelemetry spans and metrics (Config.TracerProvider,
// Config.MeterProvider; the Metric* constants; [Provider.Instrument] for a
// host's own routes), probes ([Provider.HealthzHandler],
// [Provider.ReadyzHandler], [Provider.Ready]) and housekeeping that
// replicas may all run ([Provider.RunHousekeeping]: expired records and
// signing-key rotation); see docs/operations.md.
//
// The protocol engine is github.com/ory/fosite v0.49.0, kept behind one
// internal package (provider/internal/oauth, the only code that imports
// fosite or go-jose v3): the public API and the handlers speak Gatehouse's
// own types. See
// docs/architecture.md, docs/tokens-and-hashing.md, docs/security.md and
// docs/pages.md in the repository.
package provider
