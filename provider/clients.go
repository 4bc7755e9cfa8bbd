package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/storage"
)

// ErrInvalidClient is wrapped by every error that [Provider.CreateClient]
// and [Provider.CreateClientWithSecret] return for an invalid registration.
var ErrInvalidClient = errors.New("provider: invalid client")

var knownGrants = []string{"authorization_code", "refresh_token", "client_credentials", "implicit", "password"}

// CreateClient registers c and returns it as stored, with its secret. If
// c.ID is empty an ID is generated. A confidential client using a secret
// gets a new 256-bit secret from crypto/rand, returned here once and stored
// only as a hash; c.Secrets is ignored. Public and private_key_jwt clients
// get no secret ("").
//
// Defaults: GrantTypes ["authorization_code"]; ResponseTypes derived from
// the grants; TokenEndpointAuthMethod client_secret_basic (none for public
// clients). The implicit and password grants are granted only when listed
// explicitly, and never to public clients.
func (p *Provider) CreateClient(ctx context.Context, c storage.Client) (storage.Client, string, error) {
	c, err := p.prepareClient(c)
	if err != nil {
		return storage.Client{}, "", err
	}
	var plain string
	if usesSecret(c) {
		var hash string
		plain, hash = secret.Generate()
		c.Secrets = []storage.SecretHash{{Hash: hash, CreatedAt: c.CreatedAt}}
	}
	if err := p.store.CreateClient(ctx, c); err != nil {
		return storage.Client{}, "", fmt.Errorf("provider: create client %q: %w", c.ID, err)
	}
	return c, plain, nil
}

// CreateClientWithSecret registers a confidential client with a secret the
// host chose (for example a fixed demo secret). The secret is hashed with
// bcrypt, because its entropy is unknown; it must be 12 to 72 bytes.
// Prefer [Provider.CreateClient], whose generated secrets are both stronger
// and cheaper to verify.
func (p *Provider) CreateClientWithSecret(ctx context.Context, c storage.Client, plain string) (storage.Client, error) {
	c, err := p.prepareClient(c)
	if err != nil {
		return storage.Client{}, err
	}
	if !usesSecret(c) {
		return storage.Client{}, fmt.Errorf("%w: client %q does not authenticate with a secret", ErrInvalidClient, c.ID)
	}
	hash, err := secret.HashSupplied(plain)
	if err != nil {
		return storage.Client{}, fmt.Errorf("%w: %w", ErrInvalidClient, err)
	}
	c.Secrets = []storage.SecretHash{{Hash: hash, CreatedAt: c.CreatedAt}}
	if err := p.store.CreateClient(ctx, c); err != nil {
		return storage.Client{}, fmt.Errorf("provider: create client %q: %w", c.ID, err)
	}
	return c, nil
}

// RotateClientSecret gives a confidential client a new generated secret and
// returns it. The previous secrets stay valid for grace (expiring at
// now+grace), so deployed clients can switch over; a zero grace ends them at
// once.
func (p *Provider) RotateClientSecret(ctx context.Context, clientID string, grace time.Duration) (string, error) {
	if grace < 0 {
		return "", fmt.Errorf("provider: rotate secret of %q: negative grace period", clientID)
	}
	plain, hash := secret.Generate()
	now := p.cfg.Now().UTC()
	err := p.store.UpdateClient(ctx, clientID, func(c storage.Client) (storage.Client, error) {
		if !usesSecret(c) {
			return c, fmt.Errorf("%w: client %q does not authenticate with a secret", ErrInvalidClient, clientID)
		}
		kept := []storage.SecretHash{{Hash: hash, CreatedAt: now}}
		if grace > 0 {
			for _, s := range c.Secrets {
				if !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
					continue
				}
				if s.ExpiresAt.IsZero() || s.ExpiresAt.After(now.Add(grace)) {
					s.ExpiresAt = now.Add(grace)
				}
				kept = append(kept, s)
			}
		}
		c.Secrets = kept
		c.UpdatedAt = now
		return c, nil
	})
	if err != nil {
		return "", fmt.Errorf("provider: rotate secret of %q: %w", clientID, err)
	}
	return plain, nil
}

// DeleteClient removes a client. Its tokens stop working at once, since
// every token check loads the client.
func (p *Provider) DeleteClient(ctx context.Context, clientID string) error {
	return p.store.DeleteClient(ctx, clientID)
}

// AuthorizedClients returns the clients the user may sign in to, ordered by
// ID, for a host's "apps" page: clients with a user-facing grant
// (authorization_code, implicit or password) whose required role and
// customer binding the user meets in some tenant. Secrets are left out.
// It needs Config.UserLookup (or an Authenticator that implements
// [UserLookup]) to know the user's memberships.
func (p *Provider) AuthorizedClients(ctx context.Context, subject string) ([]storage.Client, error) {
	if p.lookup == nil {
		return nil, errors.New("provider: AuthorizedClients needs Config.UserLookup to read the user's roles and tenants")
	}
	u, err := p.lookup.LookupUser(ctx, subject)
	if err != nil {
		return nil, fmt.Errorf("provider: authorized clients of %q: %w", subject, err)
	}
	all, err := p.store.ListClients(ctx)
	if err != nil {
		return nil, fmt.Errorf("provider: authorized clients of %q: %w", subject, err)
	}
	var out []storage.Client
	for _, c := range all {
		userFacing := slices.ContainsFunc(c.GrantTypes, func(g string) bool {
			return g == "authorization_code" || g == "implicit" || g == "password"
		})
		if !userFacing {
			continue
		}
		if _, err := eligibleTenants(&c, u); err != nil {
			continue
		}
		c.Secrets = nil
		out = append(out, c)
	}
	return out, nil
}

func usesSecret(c storage.Client) bool {
	return !c.Public && c.TokenEndpointAuthMethod != "private_key_jwt"
}

// prepareClient fills defaults and validates a registration.
func (p *Provider) prepareClient(c storage.Client) (storage.Client, error) {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	if c.ID == "" {
		c.ID = secret.Token()[:24]
	} else if len(c.ID) > 128 || strings.ContainsFunc(c.ID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
	}) {
		bad("ID must be 1-128 characters of A-Z a-z 0-9 - . _ ~, got %q", c.ID)
	}
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{"authorization_code"}
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			bad("unknown grant type %q (want one of %s)", g, strings.Join(knownGrants, ", "))
		}
	}
	has := func(g string) bool { return slices.Contains(c.GrantTypes, g) }

	switch c.TokenEndpointAuthMethod {
	case "":
		if c.Public {
			c.TokenEndpointAuthMethod = "none"
		} else {
			c.TokenEndpointAuthMethod = "client_secret_basic"
		}
	case "none":
		if !c.Public {
			bad(`TokenEndpointAuthMethod "none" is only for public clients; set Public`)
		}
	case "client_secret_basic", "client_secret_post", "private_key_jwt":
		if c.Public {
			bad("a public client cannot use %s; use none", c.TokenEndpointAuthMethod)
		}
	default:
		bad("TokenEndpointAuthMethod must be client_secret_basic, client_secret_post, private_key_jwt or none, got %q", c.TokenEndpointAuthMethod)
	}
	if c.Public && (has("client_credentials") || has("password")) {
		bad("a public client cannot use the client_credentials or password grant")
	}
	if c.TokenEndpointAuthMethod == "private_key_jwt" {
		if c.TokenEndpointAuthSigningAlg != "RS256" && c.TokenEndpointAuthSigningAlg != "ES256" {
			bad(`private_key_jwt needs TokenEndpointAuthSigningAlg "RS256" or "ES256"`)
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(c.JWKS, &set); err != nil || len(set.Keys) == 0 {
			bad("private_key_jwt needs JWKS, a JSON Web Key Set with at least one key")
		} else {
			for _, k := range set.Keys {
				if !k.IsPublic() {
					bad("JWKS must hold public keys only (key %q is private)", k.KeyID)
				}
			}
		}
	}

	if len(c.ResponseTypes) == 0 {
		if has("authorization_code") {
			c.ResponseTypes = append(c.ResponseTypes, "code")
		}
		if has("implicit") {
			c.ResponseTypes = append(c.ResponseTypes, "id_token", "token id_token", "token")
			if has("authorization_code") {
				c.ResponseTypes = append(c.ResponseTypes, "code id_token", "code token", "code token id_token")
			}
		}
	}
	for _, rt := range c.ResponseTypes {
		parts := strings.Fields(rt)
		for _, part := range parts {
			switch part {
			case "code":
				if !has("authorization_code") {
					bad("response type %q needs the authorization_code grant", rt)
				}
			case "token", "id_token":
				if !has("implicit") {
					bad("response type %q needs the implicit grant, which must be allowed explicitly", rt)
				}
			default:
				bad("unknown response type %q", rt)
			}
		}
	}
	if (has("authorization_code") || has("implicit")) && len(c.RedirectURIs) == 0 {
		bad("RedirectURIs is required for the authorization_code and implicit grants")
	}
	for _, u := range append(slices.Clone(c.RedirectURIs), c.PostLogoutRedirectURIs...) {
		if err := checkRedirectURI(u); err != nil {
			bad("%v", err)
		}
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\n\"\\") {
			bad("invalid scope %q", s)
		}
	}
	for _, e := range c.PermissionScope {
		if err := scope.Check(e); err != nil {
			bad("PermissionScope: %v", err)
		}
	}
	if _, err := ipfilter.Parse(c.IPRanges); err != nil {
		bad("IPRanges: %v", err)
	}
	if c.Public && len(c.IntrospectAudiences) > 0 {
		bad("IntrospectAudiences needs a confidential client: a public client cannot introspect")
	}
	if len(c.IntrospectAudiences) > 64 {
		bad("IntrospectAudiences has %d values, at most 64 allowed", len(c.IntrospectAudiences))
	}
	for _, a := range c.IntrospectAudiences {
		if a == "" || len(a) > 1024 || !utf8.ValidString(a) || strings.ContainsFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			bad("IntrospectAudiences: %q must be one audience value of 1-1024 bytes without spaces or control characters", a)
		}
	}
	if strings.ContainsAny(c.RequiredRole, " \t\n") {
		bad("RequiredRole must be one role name, got %q", c.RequiredRole)
	}
	switch c.AccessTokenFormat {
	case "", "jwt", "opaque":
	default:
		bad(`AccessTokenFormat must be "", "jwt" or "opaque", got %q`, c.AccessTokenFormat)
	}
	for name, d := range map[string]time.Duration{
		"AccessTokenLifetime": c.AccessTokenLifetime, "RefreshTokenLifetime": c.RefreshTokenLifetime,
		"AuthCodeLifetime": c.AuthCodeLifetime, "IDTokenLifetime": c.IDTokenLifetime,
	} {
		if d < 0 {
			bad("%s must not be negative", name)
		}
	}
	if c.AuthCodeLifetime > 10*time.Minute {
		bad("AuthCodeLifetime must be at most 10 minutes")
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return c, fmt.Errorf("%w %q: %s", ErrInvalidClient, c.ID, strings.Join(errs, "; "))
	}
	now := p.cfg.Now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	c.Secrets = nil
	return c, nil
}

// checkRedirectURI accepts absolute https URLs, and http only on a loopback
// host (RFC 8252 §7.3), without fragments (RFC 6749 §3.1.2).
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("redirect URI %q must be an absolute URL", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q must not have a fragment", raw)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname())) {
		return fmt.Errorf("redirect URI %q must use https (http only on a loopback host)", raw)
	}
	return nil
}
