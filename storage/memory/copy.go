package memory

import (
	"maps"
	"slices"

	"github.com/gatehouse/gatehouse/storage"
)

// The copy functions give the store and its callers separate memory: a
// caller mutating a slice or map it passed in or got back cannot change
// what the store holds.

func copyForm(f map[string][]string) map[string][]string {
	if f == nil {
		return nil
	}
	out := make(map[string][]string, len(f))
	for k, v := range f {
		out[k] = slices.Clone(v)
	}
	return out
}

func copyRequest(r storage.Request) storage.Request {
	r.RequestedScopes = slices.Clone(r.RequestedScopes)
	r.GrantedScopes = slices.Clone(r.GrantedScopes)
	r.RequestedAudience = slices.Clone(r.RequestedAudience)
	r.GrantedAudience = slices.Clone(r.GrantedAudience)
	r.Form = copyForm(r.Form)
	r.Session = slices.Clone(r.Session)
	return r
}

func copyToken(t storage.Token) storage.Token {
	t.Request = copyRequest(t.Request)
	return t
}

func copyClient(c storage.Client) storage.Client {
	c.Secrets = slices.Clone(c.Secrets)
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.ResponseTypes = slices.Clone(c.ResponseTypes)
	c.Scopes = slices.Clone(c.Scopes)
	c.Audience = slices.Clone(c.Audience)
	c.JWKS = slices.Clone(c.JWKS)
	return c
}

func copyConsent(c storage.Consent) storage.Consent {
	c.Scopes = slices.Clone(c.Scopes)
	return c
}

func copyLogin(l storage.LoginSession) storage.LoginSession {
	l.AMR = slices.Clone(l.AMR)
	l.Claims = slices.Clone(l.Claims)
	return l
}

func copyFlow(f storage.AuthFlow) storage.AuthFlow {
	f.AMR = slices.Clone(f.AMR)
	f.Done = slices.Clone(f.Done)
	f.Data = maps.Clone(f.Data)
	return f
}

func copyKey(k storage.SigningKey) storage.SigningKey {
	k.PrivateKey = slices.Clone(k.PrivateKey)
	return k
}
