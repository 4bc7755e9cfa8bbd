package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
)

// ClaimRequest is what a [ClaimFunc] is given: the user and grant the
// claims are for.
type ClaimRequest struct {
	// User is the user as the host's lookup (or login) returned them.
	User User
	// Tenant is the tenant of the grant, or nil.
	Tenant *Tenant
	// ClientID is the client the claims are for.
	ClientID string
	// ClientIP is the address that started the grant.
	ClientIP string
	// Scopes are every scope granted.
	Scopes []string
}

// ClaimFunc returns custom claims for ID tokens and userinfo. It is called
// only when its scope was granted. Returning an error fails the request
// (the token endpoint answers 503, the authorization ends with
// temporarily_unavailable), so return an empty map for "nothing to add".
type ClaimFunc func(ctx context.Context, r ClaimRequest) (map[string]any, error)

// reservedClaims are never taken from a ClaimFunc: they are the token's
// own and a host must not be able to forge them by accident.
var reservedClaims = []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "nonce", "auth_time", "amr", "acr", "azp", "at_hash", "c_hash", "sid", "rat"}

// claims returns the claims of r for its granted scopes, built-in and
// custom:
//
//	profile      name, given_name, family_name, preferred_username, username, picture
//	email        email, email_verified
//	groups       groups (array)
//	groupstring  groupstring (the groups array as a JSON-encoded string)
//	customer     customer_id, domain_id, customer_shortname, customer_name
//	clientip     client_ip
func (p *Provider) claims(ctx context.Context, r ClaimRequest) (map[string]any, error) {
	u := r.User
	out := map[string]any{}
	for _, s := range r.Scopes {
		switch s {
		case "profile":
			setNonEmpty(out, "name", u.Name)
			setNonEmpty(out, "given_name", u.GivenName)
			setNonEmpty(out, "family_name", u.FamilyName)
			setNonEmpty(out, "preferred_username", u.Username)
			setNonEmpty(out, "username", u.Username)
			setNonEmpty(out, "picture", u.Picture)
		case "email":
			if u.Email != "" {
				out["email"] = u.Email
				out["email_verified"] = u.EmailVerified
			}
		case "groups":
			out["groups"] = groupsOf(u)
		case "groupstring":
			b, _ := json.Marshal(groupsOf(u))
			out["groupstring"] = string(b)
		case "customer":
			if t := r.Tenant; t != nil {
				out["customer_id"] = t.ID
				setNonEmpty(out, "domain_id", t.DomainID)
				setNonEmpty(out, "customer_shortname", t.ShortName)
				setNonEmpty(out, "customer_name", t.Name)
			}
		case "clientip":
			setNonEmpty(out, "client_ip", r.ClientIP)
		default:
			f, ok := p.cfg.Claims[s]
			if !ok {
				continue
			}
			extra, err := f(ctx, r)
			if err != nil {
				return nil, fmt.Errorf("%w: claims of scope %q: %w", oauth.ErrUnavailable, s, err)
			}
			for k, v := range extra {
				if slices.Contains(reservedClaims, k) {
					p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provider: custom claim dropped: reserved name", slog.String("scope", s), slog.String("claim", k))
					continue
				}
				out[k] = v
			}
		}
	}
	return out, nil
}

func groupsOf(u User) []string {
	if u.Groups == nil {
		return []string{}
	}
	return u.Groups
}

func setNonEmpty(m map[string]any, k, v string) {
	if v != "" {
		m[k] = v
	}
}
