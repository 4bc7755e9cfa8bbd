package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// clientLockedError is the cause of the invalid_client answer to a
// (client ID, address) pair locked by Config.ClientAuthLockout.
type clientLockedError struct{ until time.Time }

func (e *clientLockedError) Error() string {
	return "provider: too many failed client authentications from this address"
}

// errClientLocked is the error for a locked pair: invalid_client, whose
// cause carries when the lock ends for the Retry-After header.
func errClientLocked(until time.Time) error {
	return oauth.InvalidClient.Wrap("Too many failed client authentications from this address; retry after the number of seconds in the Retry-After header.",
		&clientLockedError{until: until})
}

// clientAuthKey is the throttle key of a client ID used from addr (see
// sourceKey): a digest, so that an attacker-chosen ID of any length makes a
// short key. An address never contains NUL, so the split is unambiguous.
func clientAuthKey(clientID string, addr netip.Addr) string {
	return "client:" + digest(sourceKey(addr)+"\x00"+clientID)
}

// authenticateClient is the engine's client authentication (set in New),
// so the token, introspection and revocation endpoints all authenticate
// clients through it. It puts the protocol's own check
// (Engine.AuthenticateClientDirectly) behind Config.ClientAuthLockout, per
// (client ID, client address):
//
//   - A client assertion (private_key_jwt) is not a secret guess: the
//     engine checks it, and the store's jti check stops replays.
//   - A request whose secret verifies without bcrypt (a generated secret, or
//     a host-chosen one this process verified before) goes straight to
//     the check, never delayed and without a store round trip; so does a
//     public client, which has no secret.
//   - Any other request, an unknown client ID included, is counted before
//     the secret is checked, in one atomic store update that also refuses
//     a locked pair, so that concurrent guesses cannot slip past the limit.
//     A locked pair gets errClientLocked and the secret is not checked; a
//     success clears the count.
//
// Credentials are read as the engine reads them: HTTP Basic, both parts
// form-url-decoded, else client_id and client_secret in the body.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (*oauth.Client, error) {
	if c, ok := ctx.Value(apiKeyClientKey{}).(*oauth.Client); ok {
		return c, nil // a token request whose API key checked out (apiKeyTokenRequest)
	}
	if err := oneAuthMethod(r, form); err != nil {
		return nil, err
	}
	authenticate := p.engine.AuthenticateClientDirectly
	if p.cfg.ClientAuthLockout.MaxFailures < 0 || form.Get("client_assertion_type") != "" {
		return authenticate(ctx, r, form)
	}
	id, plain, _, ok := oauth.ClientCredentials(r, form)
	if !ok {
		return authenticate(ctx, r, form) // the engine describes what is missing or malformed
	}
	c, lookupErr := p.engine.Client(ctx, id)
	known := lookupErr == nil
	switch {
	case known && (c.Public || p.matchesCheaply(c, plain)):
		return authenticate(ctx, r, form)
	case !known && !errors.Is(lookupErr, storage.ErrNotFound):
		return nil, lookupErr // a backend failure: 503
	}
	addr, err := p.clientAddr(r)
	if err != nil {
		return nil, err
	}
	key := clientAuthKey(id, addr)
	if err := p.countClientAuth(ctx, key, id, addr); err != nil {
		return nil, err
	}
	if !known {
		// What the engine answers for an unknown client, without loading
		// it again.
		return nil, oauth.InvalidClient.Wrap("", lookupErr)
	}
	c, err = authenticate(ctx, r, form)
	if err != nil {
		return nil, err // counted above
	}
	if err := p.store.UpdateThrottle(ctx, key, func(t storage.Throttle) (storage.Throttle, error) {
		return storage.Throttle{Key: t.Key}, nil // removes the record
	}); err != nil {
		// The client is authenticated and its secret is now cached, so the
		// count no longer matters to it; leave the record to expire.
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "client authentication: clear failure count",
			slog.String("client_id", id), slog.String("error", err.Error()))
	}
	return c, nil
}

// oneAuthMethod refuses a request that authenticates its client by more than
// one method at once (RFC 6749 §2.3: "MUST NOT use more than one"): HTTP
// Basic together with a client_secret or a client assertion in the body, or
// a secret together with an assertion. A body client_id beside Basic
// credentials is allowed (some clients send both) but must name the same
// client. Any of these is a malformed request: 400 invalid_request.
func oneAuthMethod(r *http.Request, form url.Values) error {
	user, _, basic := r.BasicAuth()
	secret := form.Get("client_secret") != ""
	assertion := form.Get("client_assertion") != "" || form.Get("client_assertion_type") != ""
	switch {
	case basic && secret:
		return oauth.InvalidRequest.Hint("The client authenticated twice, with HTTP Basic and with client_secret in the body; use exactly one method.")
	case basic && assertion:
		return oauth.InvalidRequest.Hint("The client authenticated twice, with HTTP Basic and with a client assertion; use exactly one method.")
	case secret && assertion:
		return oauth.InvalidRequest.Hint("The client authenticated twice, with client_secret and with a client assertion; use exactly one method.")
	case basic && form.Get("client_id") != "":
		if id, err := url.QueryUnescape(user); err == nil && id != form.Get("client_id") {
			return oauth.InvalidRequest.Hint("The client_id in the body is not the client of the HTTP Basic credentials.")
		}
	}
	return nil
}

// matchesCheaply reports whether secret is one of c's secrets by a check
// that runs no bcrypt (see secret.Hasher.MatchesCheaply).
func (p *Provider) matchesCheaply(c *oauth.Client, secret string) bool {
	hashes := append([][]byte{c.GetHashedSecret()}, c.GetRotatedHashes()...)
	return p.hasher.MatchesCheaply([]byte(secret), hashes...)
}

// countClientAuth counts one client authentication of id from addr that
// will run the expensive check, or refuses it with errClientLocked if the
// key is locked. The refusal and the count are one atomic update. The
// failure that locks the pair is logged (once per lock, however many
// requests the lock then refuses).
func (p *Provider) countClientAuth(ctx context.Context, key, id string, addr netip.Addr) error {
	now := p.cfg.Now().UTC()
	rec, err := count{key: key, policy: p.cfg.ClientAuthLockout}.charge(ctx, p.store, now)
	switch {
	case errors.Is(err, errLocked):
		return errClientLocked(rec.LockedUntil)
	case err != nil:
		return fmt.Errorf("%w: client authentication throttle: %w", oauth.ErrUnavailable, err)
	}
	if now.Before(rec.LockedUntil) { // this failure locks the pair
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "client authentication locked after repeated failures",
			slog.String("client_id", id), slog.String("client_ip", addr.String()),
			slog.Int("failures", rec.Failures), slog.Time("locked_until", rec.LockedUntil))
	}
	return nil
}

// setRetryAfter sets the Retry-After header (RFC 9110 §10.2.3: whole
// seconds, rounded up) when err is the refusal of a locked client.
func (p *Provider) setRetryAfter(w http.ResponseWriter, err error) {
	var locked *clientLockedError
	var keyLocked *apiKeyLockedError
	var until time.Time
	switch {
	case errors.As(err, &locked):
		until = locked.until
	case errors.As(err, &keyLocked):
		until = keyLocked.until
	default:
		return
	}
	wait := until.Sub(p.cfg.Now())
	secs := max((wait+time.Second-1)/time.Second, 1)
	w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
}
