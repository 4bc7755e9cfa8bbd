package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/ipfilter"
	"github.com/gatehouse/gatehouse/provider/internal/apikey"
	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/scope"
	"github.com/gatehouse/gatehouse/storage"
)

// APIKeyHeader is the request header a script presents its API key in.
const APIKeyHeader = "X-API-Key"

// errWrongKeyCode refuses a wrong or used one-time code presented with a
// key that requires its owner's second factor.
var errWrongKeyCode = oauth.InvalidClient.Hint("The one-time code is wrong or was used already.")

// APIKeyCodeHeader is the request header that carries the owner's current
// one-time code with a key that requires it (storage.APIKey.RequireMFA).
const APIKeyCodeHeader = "X-API-Key-OTP"

// principal is who a request acts as when it is not a user signed in
// through a browser: the owner of an API key, or an application user.
type principal struct {
	typ    storage.PrincipalType
	user   User        // the user; an application user as appUserAsUser makes it
	member *Membership // the tenant the grant is for, or nil
	// key is the API key the request presented, or nil.
	key *storage.APIKey
	// lifetime is the application user's own access token lifetime, or 0.
	lifetime time.Duration
	// sid is the grant's storage.Request.LoginSID: what revokes it.
	sid string
}

// permissions is what p holds: its permissions in its tenant, within the
// key's permission scope.
func (p *Provider) permissions(pr *principal) scope.Set {
	set := p.userPermissions(pr.user, pr.member)
	if pr.key != nil && len(pr.key.PermissionScope) > 0 {
		set = set.Intersect(p.cfg.Catalog.Expand(pr.key.PermissionScope...))
	}
	return set
}

// errKeyRefused is the answer to a key that is not one, or whose secret
// is wrong: it says nothing of which, nor whether the ID exists.
var errKeyRefused = oauth.InvalidClient.Hint("The API key is unknown, expired or revoked.")

// apiKeyLockedError is the cause of the invalid_client answer to a wrong
// secret for a key ID locked by Config.APIKeyLockout.
type apiKeyLockedError struct{ until time.Time }

func (e *apiKeyLockedError) Error() string {
	return "provider: too many wrong secrets for this API key"
}

// checkAPIKey checks the API key raw, presented in r for client c, and
// returns who it acts as. Its refusals are invalid_client: a key that is
// malformed, unknown or of a wrong secret gets errKeyRefused; one that
// proves its secret is told what stands in its way (expiry, address,
// owner). Wrong secrets are counted per key ID (Config.APIKeyLockout). A
// refusal is audited (apikey.refused), with the reason. An accepted key's
// last use is recorded (touchKey).
func (p *Provider) checkAPIKey(ctx context.Context, r *http.Request, raw string, c *storage.Client) (*principal, error) {
	refuse := func(k *storage.APIKey, keyID, reason string, err error) error {
		owner, ownerType := "", ""
		if k != nil {
			owner, ownerType = k.Owner, string(k.OwnerType)
		}
		p.keyEvent(ctx, r, AuditAPIKeyRefused, keyID, owner, map[string]string{"reason": reason, "client_id": c.ID, "owner_type": ownerType})
		return err
	}
	if p.keyStore == nil {
		return nil, refuse(nil, "", "the store keeps no API keys", errKeyRefused)
	}
	id, sec, err := apikey.Parse(raw)
	if err != nil {
		return nil, refuse(nil, "", "malformed key", errKeyRefused)
	}
	k, err := p.keyStore.GetAPIKey(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, refuse(nil, id, "unknown key ID", errKeyRefused)
	case err != nil:
		return nil, fmt.Errorf("%w: get API key: %w", oauth.ErrUnavailable, err)
	}
	now := p.cfg.Now()
	if !p.keyHasher.Verify(k.Hash, id, sec) {
		return nil, p.keyFailure(ctx, r, &k, c, now)
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return nil, refuse(&k, id, "expired", oauth.InvalidClient.Hintf("The API key expired at %s; rotate it for a new one.", k.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	if reason, err := p.checkKeyAddress(r, &k); err != nil {
		return nil, refuse(&k, id, reason, err)
	}
	pr, err := p.keyPrincipal(ctx, &k, c)
	if err != nil {
		if oauth.InvalidClient.In(err) {
			return nil, refuse(&k, id, "owner: "+oauth.HintOf(err), err)
		}
		return nil, err
	}
	if k.RequireMFA {
		if reason, err := p.checkKeyFactor(ctx, r, &k, c); err != nil {
			if reason == "" {
				return nil, err
			}
			return nil, refuse(&k, id, reason, err)
		}
	}
	p.touchKey(ctx, &k, now)
	return pr, nil
}

// checkKeyFactor checks the owner's one-time code that a key requiring
// the owner's second factor comes with (APIKeyCodeHeader): a code of the
// owner's first enrolled factor, checked by it as at sign-in (single use,
// its lockout, the MFA metrics and audit events). An owner without a
// second factor cannot use such a key. A refusal returns the reason for
// apikey.refused and an invalid_client error; a backend failure returns
// no reason.
func (p *Provider) checkKeyFactor(ctx context.Context, r *http.Request, k *storage.APIKey, c *storage.Client) (string, error) {
	fs, err := p.enrolledFactors(ctx, k.Owner)
	if err != nil {
		return "", err
	}
	if len(fs) == 0 {
		return "mfa: the owner has no second factor", oauth.InvalidClient.Hint("The API key requires its owner's second factor, and its owner has none set up; set one up on the account page, or use a key that does not require it.")
	}
	codes := r.Header.Values(APIKeyCodeHeader)
	switch {
	case len(codes) == 0:
		return "mfa: no code", oauth.InvalidClient.Hint("The API key requires its owner's current one-time code in the " + APIKeyCodeHeader + " header.")
	case len(codes) > 1:
		return "mfa: several codes", oauth.InvalidClient.Hint("Send exactly one " + APIKeyCodeHeader + " header.")
	case len(codes[0]) > maxCodeLen:
		return "mfa: wrong code", errWrongKeyCode
	}
	f := fs[0]
	m, err := p.codeAnswer(ctx, f.Verify(ctx, k.Owner, codes[0]), f.Name(), k.Owner, c.ID)
	switch {
	case err != nil:
		return "", err
	case m.id == msgMFALocked:
		return "mfa: locked", oauth.InvalidClient.Hint("Too many wrong one-time codes for the key's owner; retry later.")
	case !m.none():
		return "mfa: wrong code", errWrongKeyCode
	}
	return "", nil
}

// apiKeyThrottleKey is the throttle key of a key ID: its digest.
func apiKeyThrottleKey(id string) string { return "apikey:" + digest(id) }

// keyFailure counts a wrong secret for k's ID and returns the refusal:
// errKeyRefused, or, while the ID is locked, invalid_client with
// Retry-After. Only the failure that starts a lock is audited while it
// holds, so that a flood of wrong secrets makes one event per lock.
func (p *Provider) keyFailure(ctx context.Context, r *http.Request, k *storage.APIKey, c *storage.Client, now time.Time) error {
	event := func(reason string) {
		p.keyEvent(ctx, r, AuditAPIKeyRefused, k.ID, k.Owner, map[string]string{"reason": reason, "client_id": c.ID, "owner_type": string(k.OwnerType)})
	}
	if p.cfg.APIKeyLockout.MaxFailures < 0 {
		event("wrong secret")
		return errKeyRefused
	}
	rec, err := count{key: apiKeyThrottleKey(k.ID), policy: p.cfg.APIKeyLockout}.charge(ctx, p.store, now.UTC())
	switch {
	case errors.Is(err, errLocked):
		return errAPIKeyLocked(rec.LockedUntil)
	case err != nil:
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "API key throttle", slog.String("key_id", k.ID), slog.String("error", err.Error()))
	case now.Before(rec.LockedUntil):
		event(fmt.Sprintf("wrong secret; key ID locked until %s after %d failures", rec.LockedUntil.UTC().Format(time.RFC3339), rec.Failures))
		return errAPIKeyLocked(rec.LockedUntil)
	}
	event("wrong secret")
	return errKeyRefused
}

// errAPIKeyLocked is the answer to a wrong secret for a locked key ID.
func errAPIKeyLocked(until time.Time) error {
	return oauth.InvalidClient.Wrap("Too many wrong secrets for this API key; retry after the number of seconds in the Retry-After header.",
		&apiKeyLockedError{until: until})
}

// checkKeyAddress checks r against k's address rules: IPRanges hold the
// caller's address as the provider resolves it (the TCP peer, or behind
// Config.TrustedProxies the address they forwarded); ForwardedForRanges
// need the request to come from a trusted proxy with exactly one
// X-Forwarded-For value, in them (an X-Forwarded-For from anyone else is
// not believed, and a missing or repeated one is refused). It returns the
// reason for the audit event and the refusal.
func (p *Provider) checkKeyAddress(r *http.Request, k *storage.APIKey) (string, error) {
	addr, err := p.clientAddr(r)
	if err != nil {
		return "client address cannot be determined", err
	}
	if len(k.IPRanges) > 0 {
		l, err := ipfilter.Parse(k.IPRanges)
		if err != nil || !l.Contains(addr) { // invalid ranges fail closed
			return "address " + addr.String() + " outside ip_ranges", oauth.InvalidClient.Hint("This API key may not be used from this network address.")
		}
	}
	if len(k.ForwardedForRanges) == 0 {
		return "", nil
	}
	peer, err := ipfilter.ParseAddr(r.RemoteAddr)
	if err != nil || !p.resolver.TrustedProxies.Contains(peer) {
		return "X-Forwarded-For rules, and the request did not come from a trusted proxy",
			oauth.InvalidClient.Hint("This API key is accepted only through the load balancer: its X-Forwarded-For rules need the request to come from a trusted proxy.")
	}
	var values []string
	for name, vs := range r.Header {
		if strings.EqualFold(name, "X-Forwarded-For") {
			values = append(values, vs...)
		}
	}
	switch {
	case len(values) == 0:
		return "X-Forwarded-For missing", oauth.InvalidClient.Hint("This API key needs an X-Forwarded-For header with the originating address.")
	case len(values) > 1 || strings.Contains(values[0], ","):
		return "X-Forwarded-For repeated", oauth.InvalidClient.Hint("This API key allows exactly one X-Forwarded-For value, and the request has several.")
	}
	origin, err := ipfilter.ParseAddr(strings.TrimSpace(values[0]))
	if err != nil {
		return "X-Forwarded-For malformed", oauth.InvalidClient.Hint("The X-Forwarded-For value is not an IP address.")
	}
	l, err := ipfilter.Parse(k.ForwardedForRanges)
	if err != nil || !l.Contains(origin) {
		return "X-Forwarded-For " + origin.String() + " outside forwarded_for_ranges", oauth.InvalidClient.Hint("This API key may not be used for this originating address.")
	}
	return "", nil
}

// keyPrincipal returns who key k acts as for client c, as they are now:
// the user (through the host's UserLookup) in the key's tenant, or the
// application user. An owner that no longer exists, or that may no longer
// use c (its required role, its customer binding, the key's tenant), is
// refused with invalid_client saying so.
func (p *Provider) keyPrincipal(ctx context.Context, k *storage.APIKey, c *storage.Client) (*principal, error) {
	switch k.OwnerType {
	case storage.PrincipalUser:
		if p.lookup == nil {
			return nil, oauth.InvalidClient.Wrap("The API key's owner cannot be checked.", errors.New("a user's API key needs Config.UserLookup"))
		}
		u, err := p.lookup.LookupUser(ctx, k.Owner)
		switch {
		case errors.Is(err, ErrUserNotFound):
			return nil, oauth.InvalidClient.Hint("The API key's owner no longer exists.")
		case err != nil:
			return nil, fmt.Errorf("%w: lookup user: %w", oauth.ErrUnavailable, err)
		}
		u.Subject = k.Owner
		m, err := keyTenant(c, u, k.Tenant)
		if err != nil {
			return nil, err
		}
		return &principal{typ: storage.PrincipalUser, user: u, member: m, key: k, sid: keyGrantSID(k)}, nil
	case storage.PrincipalApplication:
		if p.appStore == nil {
			return nil, oauth.InvalidClient.Hint("The API key's owner no longer exists.")
		}
		app, err := p.appStore.GetApplicationUser(ctx, k.Owner)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return nil, oauth.InvalidClient.Hint("The API key's owner no longer exists.")
		case err != nil:
			return nil, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
		}
		pr, err := appPrincipal(c, app)
		if err != nil {
			return nil, err
		}
		pr.key, pr.sid = k, keyGrantSID(k)
		return pr, nil
	}
	return nil, oauth.InvalidClient.Debug("an API key of unknown owner type " + string(k.OwnerType))
}

// keyTenant picks the tenant a user's key acts in for client c: the
// key's, which the user must still be an eligible member of, or, for a key
// without one, the user's only eligible tenant (none for a user without
// tenants).
func keyTenant(c *storage.Client, u User, tenant string) (*Membership, error) {
	ms, err := eligibleTenants(c, u)
	if err != nil {
		return nil, oauth.InvalidClient.Hint("The API key's owner may no longer use this client: " + oauth.HintOf(err))
	}
	switch {
	case tenant != "":
		m := findMembership(ms, tenant)
		if m == nil {
			return nil, oauth.InvalidClient.Hintf("The API key's owner is no longer a member of the key's tenant '%s', or may not use this client there.", tenant)
		}
		return m, nil
	case len(ms) == 1:
		return &ms[0], nil
	case len(ms) > 1:
		return nil, oauth.InvalidClient.Hint("The API key names no tenant, and its owner may use this client in several; make a key for one tenant.")
	}
	return nil, nil
}

// appPrincipal returns the application user app as the principal of a
// grant of client c, or invalid_client if it may not use c (the client's
// required role or customer binding).
func appPrincipal(c *storage.Client, app storage.ApplicationUser) (*principal, error) {
	u := appUserAsUser(app)
	ms, err := eligibleTenants(c, u)
	if err != nil {
		return nil, oauth.InvalidClient.Hint("The application user may not use this client: " + oauth.HintOf(err))
	}
	var m *Membership
	if app.Tenant != "" {
		m = findMembership(ms, app.Tenant)
	}
	return &principal{typ: storage.PrincipalApplication, user: u, member: m, lifetime: app.AccessTokenLifetime, sid: appUserGrantSID(&app)}, nil
}

// lastUsedResolution is how stale a key's LastUsedAt may be: a use writes
// it only when it is older than this, and each process writes it at most
// once per this per key, so a busy key costs one store write a minute per
// replica, not one per request.
const lastUsedResolution = time.Minute

// keyUses remembers when this process last wrote each key's last use.
type keyUses struct {
	mu      sync.Mutex
	written map[string]time.Time
}

// maxKeyUses bounds keyUses: past it, entries older than
// lastUsedResolution (which no longer hold a write back) are dropped.
const maxKeyUses = 10000

// due reports whether this process should write a use of key id at now,
// and if so records that it does.
func (u *keyUses) due(id string, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.written[id]; ok && now.Sub(t) < lastUsedResolution && !now.Before(t) {
		return false
	}
	if u.written == nil {
		u.written = map[string]time.Time{}
	}
	if len(u.written) >= maxKeyUses {
		for k, t := range u.written {
			if now.Sub(t) >= lastUsedResolution {
				delete(u.written, k)
			}
		}
	}
	u.written[id] = now
	return true
}

// touchKey records a use of k at now in the store, cheaply: only when the
// stored LastUsedAt is older than lastUsedResolution, and only once per
// lastUsedResolution per process. A failure is logged; the use goes on.
func (p *Provider) touchKey(ctx context.Context, k *storage.APIKey, now time.Time) {
	if d := now.Sub(k.LastUsedAt); d >= 0 && d < lastUsedResolution {
		return
	}
	if !p.keyUses.due(k.ID, now) {
		return
	}
	if err := p.keyStore.TouchAPIKey(ctx, k.ID, now.UTC().Truncate(time.Microsecond)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "record the use of an API key", slog.String("key_id", k.ID), slog.String("error", err.Error()))
	}
}

// apiKeyClientKey is the context key of the client a token request
// authenticated with an API key (apiKeyTokenRequest): the engine's client
// authentication returns it.
type apiKeyClientKey struct{}

// apiKeyTokenRequest handles the API key of a token request: for a client
// that accepts API keys and the client_credentials grant, the X-API-Key
// header must hold exactly one valid key, and nothing else may
// authenticate the client; the key's principal is kept in tr and the
// returned context makes the engine's client authentication accept the
// client. A key presented to any other client is refused. Any other
// request is left to the engine as it is.
func (p *Provider) apiKeyTokenRequest(ctx context.Context, tr *tokenRequest) (context.Context, error) {
	r := tr.r
	keys := r.Header.Values(APIKeyHeader)
	id, _, basic, ok := oauth.ClientCredentials(ctx, r, r.PostForm)
	if !ok {
		if len(keys) > 0 {
			return ctx, oauth.InvalidClient.Hint("Send the client_id of a client that accepts API keys with the X-API-Key header.")
		}
		return ctx, nil // the engine says what is missing
	}
	c, err := p.engine.Client(ctx, id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return ctx, nil // the engine answers an unknown client
	case err != nil:
		return ctx, err
	case !c.AcceptsAPIKeys:
		if len(keys) > 0 {
			return ctx, oauth.InvalidClient.Hint("This client does not accept API keys; use a client with accepts_api_keys, or authenticate this one as registered.")
		}
		return ctx, nil
	case tr.grant != "client_credentials":
		return ctx, nil // the engine refuses the grant
	case basic || r.PostForm.Get("client_secret") != "" || r.PostForm.Get("client_assertion") != "" || r.PostForm.Get("client_assertion_type") != "":
		return ctx, oauth.InvalidClient.Hint("This client authenticates with an API key alone: send client_id in the body and the key in the X-API-Key header, and no client secret or assertion.")
	case len(keys) == 0:
		return ctx, oauth.InvalidClient.Hint("This client accepts only API keys: send one in the X-API-Key header.")
	case len(keys) > 1:
		return ctx, oauth.InvalidClient.Hint("Send exactly one X-API-Key header.")
	}
	pr, err := p.checkAPIKey(ctx, r, keys[0], &c.Client)
	if err != nil {
		return ctx, err
	}
	tr.principal = pr
	confidential := *c // the engine's client credentials handler refuses public clients
	confidential.Public = false
	return context.WithValue(ctx, apiKeyClientKey{}, &confidential), nil
}

// linkedPrincipal returns the application user a client is linked to
// (storage.Client.ApplicationUser) as the principal of its grant.
func (p *Provider) linkedPrincipal(ctx context.Context, c *storage.Client) (*principal, error) {
	if p.appStore == nil {
		return nil, oauth.InvalidClient.Hint("The application user this client acts as does not exist.")
	}
	app, err := p.appStore.GetApplicationUser(ctx, c.ApplicationUser)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, oauth.InvalidClient.Hint("The application user this client acts as does not exist (any more); link the client to another.")
	case err != nil:
		return nil, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	return appPrincipal(c, app)
}

// principalGrant makes tr's client credentials grant a session of pr: its
// subject, tenant and principal type, requested ∩ the client's permission
// scope ∩ pr's permissions (∩ the key's bound), the caller's address, and
// the application user's own access token lifetime where it has one.
func (p *Provider) principalGrant(tr *tokenRequest, pr *principal) {
	sess := tr.sess
	sess.Subject = pr.user.Subject
	sess.Username = pr.user.Username
	sess.Tenant = sessionTenant(pr.member)
	sess.LoginSID = pr.sid
	if pr.typ == storage.PrincipalApplication {
		sess.Principal = string(storage.PrincipalApplication)
	}
	if pr.key != nil {
		sess.APIKeyID = pr.key.ID
	}
	if b, err := json.Marshal(pr.user); err == nil {
		sess.User = b
	}
	p.grantScopes(tr, p.decideWithin(tr.ar.RequestedScopes(), &tr.client.Client, p.permissions(pr)))
	if pr.lifetime > 0 {
		sess.SetExpiry(oauth.AccessToken, p.cfg.Now().UTC().Add(pr.lifetime))
	}
}

// apiKeyInfo checks the API key a resource-server request presents
// directly (Requirement.APIKeyClient) with the rules of the client
// clientID, for the required scopes, and describes it as introspection
// describes a token: Type "api_key", the owner as Subject, and the
// required scopes the key grants. Its refusals are invalid_client errors
// (or ErrUnavailable).
func (p *Provider) apiKeyInfo(r *http.Request, clientID string, raw string, required []string) (TokenInfo, error) {
	ctx := r.Context()
	c, err := p.engine.Client(ctx, clientID)
	switch {
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		return TokenInfo{}, err
	case err != nil || !c.AcceptsAPIKeys:
		p.cfg.Logger.LogAttrs(ctx, slog.LevelError, "Requirement.APIKeyClient names no client that accepts API keys", slog.String("client_id", clientID))
		return TokenInfo{}, errKeyRefused
	}
	addr, err := p.clientAddr(r)
	if err != nil {
		return TokenInfo{}, err
	}
	if !c.AllowedFrom(addr) {
		return TokenInfo{}, errIPRefused(oauth.InvalidClient)
	}
	pr, err := p.checkAPIKey(ctx, r, raw, &c.Client)
	if err != nil {
		return TokenInfo{}, err
	}
	g := p.decideWithin(required, &c.Client, p.permissions(pr))
	info := TokenInfo{
		Type:          TokenTypeAPIKey,
		Subject:       pr.user.Subject,
		Username:      pr.user.Username,
		ClientID:      c.ID,
		Scopes:        g.Scopes,
		ExpiresAt:     pr.key.ExpiresAt,
		ClientIP:      addr.String(),
		Issuer:        p.cfg.Issuer,
		PrincipalType: string(pr.typ),
		APIKeyID:      pr.key.ID,
	}
	if pr.member != nil {
		t := pr.member.Tenant
		info.Tenant = &t
	}
	return info, nil
}
