package memory

import (
	"maps"
	"slices"

	"github.com/gatehouse/gatehouse/storage"
)

// The copy functions give the store and its callers separate memory: every
// slice, map and byte slice of a record is cloned on the way in and on the
// way out, so a caller changing one cannot change what the store holds. The
// other fields are values and are copied with the struct. A field added to a
// record that is a slice or map needs a line here.

func copyClient(c storage.Client) storage.Client {
	c.Secrets = slices.Clone(c.Secrets) // SecretHash holds only values
	c.JWKS = slices.Clone(c.JWKS)
	// The string lists share one new array (a read is on every token
	// request: one allocation, not eight); each is capped at its own
	// length, so appending to one reallocates it rather than writing over
	// the next.
	lists := [...]*[]string{&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.ResponseTypes,
		&c.Scopes, &c.Audience, &c.PermissionScope, &c.IPRanges, &c.IntrospectAudiences}
	n := 0
	for _, l := range lists {
		n += len(*l)
	}
	all := make([]string, 0, n)
	for _, l := range lists {
		if *l != nil {
			start := len(all)
			all = append(all, *l...)
			*l = all[start:len(all):len(all)]
		}
	}
	return c
}

func copyConsent(c storage.Consent) storage.Consent {
	c.Scopes = slices.Clone(c.Scopes)
	return c
}

func copyLoginSession(ls storage.LoginSession) storage.LoginSession {
	ls.AMR = slices.Clone(ls.AMR)
	ls.Claims = slices.Clone(ls.Claims)
	return ls
}

func copyAuthFlow(f storage.AuthFlow) storage.AuthFlow {
	f.AMR = slices.Clone(f.AMR)
	f.Done = slices.Clone(f.Done)
	f.User = slices.Clone(f.User)
	f.Data = maps.Clone(f.Data)
	return f
}

func copySigningKey(k storage.SigningKey) storage.SigningKey {
	k.PrivateKey = slices.Clone(k.PrivateKey)
	return k
}

func copyMFA(r storage.MFARecord) storage.MFARecord {
	r.TOTPSecret = slices.Clone(r.TOTPSecret)
	r.TOTPPendingSecret = slices.Clone(r.TOTPPendingSecret)
	r.RecoveryCodes = slices.Clone(r.RecoveryCodes)
	return r
}

func copyAPIKey(k storage.APIKey) storage.APIKey {
	k.PermissionScope = slices.Clone(k.PermissionScope)
	k.IPRanges = slices.Clone(k.IPRanges)
	k.ForwardedForRanges = slices.Clone(k.ForwardedForRanges)
	return k
}

func copyApplicationUser(u storage.ApplicationUser) storage.ApplicationUser {
	u.Roles = slices.Clone(u.Roles)
	u.Permissions = slices.Clone(u.Permissions)
	return u
}
