package provider

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
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
	if err := oneAuthMethod(ctx, r, form); err != nil {
		return nil, err
	}
	authenticate := p.engine.AuthenticateClientDirectly
	if p.cfg.ClientAuthLockout.MaxFailures < 0 || form.Get("client_assertion_type") != "" {
		return authenticate(ctx, r, form)
	}
	id, plain, _, ok := oauth.ClientCredentials(ctx, r, form)
	if !ok {
		return authenticate(ctx, r, form) // the engine describes what is missing or malformed
	}
	c, lookupErr := p.engine.Client(ctx, id)
	known := lookupErr == nil
	switch {
	case known && c.Public:
		return authenticate(ctx, r, form)
	case known && p.matchesCheaply(c, plain):
		if m := c.GetTokenEndpointAuthMethod(); m == "client_secret_basic" || m == "client_secret_post" {
			// The engine would find what was just found: the client,
			// registered for a secret (either secret method is accepted,
			// see oauth.Engine.AuthenticateClientDirectly), not public,
			// and the secret one of its current secrets, by the same
			// constant-time comparison with the same hashes. The secret
			// is checked once, not twice.
			return c, nil
		}
		return authenticate(ctx, r, form)
	case !known && !errors.Is(lookupErr, storage.ErrNotFound):
		return nil, lookupErr // a backend failure: 503
	}
	addr, err := p.clientAddr(r)
	if err != nil {
		return nil, err
	}
	key := clientAuthKey(id, addr)
	// Concurrent requests of one pair with one secret share a single
	// counted check: the first runs it, the others wait for its outcome.
	// Otherwise a burst of correct first requests (a deployment's replicas
	// starting, a load test) would each count a failure before any of them
	// verified, and lock out the secret they all hold. The others, after a
	// success, find the secret cached and pass the engine's check cheaply;
	// after a failure they get the same answer (an identical guess tells
	// nothing more).
	for {
		var c *oauth.Client
		leader, err := p.clientAuthFlights.do(ctx, key, plain, func() error {
			if err := p.countClientAuth(ctx, key, id, addr); err != nil {
				return err
			}
			if !known {
				// What the engine answers for an unknown client, without
				// loading it again.
				return oauth.InvalidClient.Wrap("", lookupErr)
			}
			var err error
			if c, err = authenticate(ctx, r, form); err != nil {
				return err // counted above
			}
			p.clearClientAuth(ctx, key, id)
			return nil
		})
		switch {
		case leader && err != nil:
			return nil, err
		case leader:
			return c, nil
		case err == nil:
			return authenticate(ctx, r, form) // the secret is cached now
		case ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
			continue // the first request went away: check again
		default:
			return nil, err
		}
	}
}

// clearClientAuth removes the failure count of a pair whose client has
// just authenticated.
func (p *Provider) clearClientAuth(ctx context.Context, key, id string) {
	if err := p.store.UpdateThrottle(ctx, key, func(t storage.Throttle) (storage.Throttle, error) {
		return storage.Throttle{Key: t.Key}, nil // removes the record
	}); err != nil {
		// The client is authenticated and its secret is now cached, so the
		// count no longer matters to it; leave the record to expire.
		p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "client authentication: clear failure count",
			slog.String("client_id", id), slog.String("error", err.Error()))
	}
}

// authFlights coalesces concurrent client authentications of one (client,
// address) pair with one secret (see authenticateClient). Its zero value
// is ready.
type authFlights struct {
	mu sync.Mutex
	m  map[string]*authFlight
}

// authFlight is one check under way; err is its outcome once done is
// closed.
type authFlight struct {
	done chan struct{}
	err  error
}

// do runs check unless a check of key with the same secret is under way,
// in which case it waits for that one (or for ctx) and returns its error;
// leader says which happened. The secret is kept only as a SHA-256 digest
// in the map key, for as long as the check runs.
func (f *authFlights) do(ctx context.Context, key, secret string, check func() error) (leader bool, err error) {
	sum := sha256.Sum256([]byte(secret))
	k := key + "\x00" + string(sum[:])
	f.mu.Lock()
	if fl, ok := f.m[k]; ok {
		f.mu.Unlock()
		select {
		case <-fl.done:
			return false, fl.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	if f.m == nil {
		f.m = map[string]*authFlight{}
	}
	fl := &authFlight{done: make(chan struct{})}
	f.m[k] = fl
	f.mu.Unlock()
	defer func() {
		fl.err = err
		f.mu.Lock()
		delete(f.m, k)
		f.mu.Unlock()
		close(fl.done)
	}()
	return true, check()
}

// oneAuthMethod refuses a request that authenticates its client by more than
// one method at once (RFC 6749 §2.3: "MUST NOT use more than one"): HTTP
// Basic together with a client_secret or a client assertion in the body, or
// a secret together with an assertion. A body client_id beside Basic
// credentials is allowed (some clients send both) but must name the same
// client. Any of these is a malformed request: 400 invalid_request.
func oneAuthMethod(ctx context.Context, r *http.Request, form url.Values) error {
	user, _, basic := oauth.BasicAuth(ctx, r)
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
