package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/provider/internal/secret"
	"github.com/gatehouse/gatehouse/storage"
)

// failureMemory is how long failures (of passwords, of client
// authentication) are remembered after the last one.
const failureMemory = 12 * time.Hour

// errPasswordLocked marks a password check refused by the lockout; the
// token endpoint answers it with invalid_grant, saying so.
var errPasswordLocked = oauth.ErrPasswordLocked

// digest is a base64url SHA-256 of s, so the store holds no usernames.
func digest(s string) string { return secret.Digest(s) }

// sourceKey names the source of a request in a throttle key: the address
// for IPv4 (IPv4-mapped IPv6 included), and the /64 for IPv6, the block one
// host usually has whole, so that a host cannot count afresh from each of
// its addresses.
func sourceKey(addr netip.Addr) string {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// passwordKey is the throttle key of a username at the login page for the
// browsers without a device cookie for it: one count for all of them.
func passwordKey(username string) string {
	return "password:" + digest(normalUsername(username))
}

// deviceKey is the throttle key of the browser whose device cookie has
// this nonce.
func deviceKey(nonce []byte) string {
	return "password-device:" + digest(string(nonce))
}

// grantAddrKey is the throttle key of a username at the password grant
// from one client address (see sourceKey).
func grantAddrKey(username string, addr netip.Addr) string {
	return "password-grant:" + digest(normalUsername(username)+"\x00"+sourceKey(addr))
}

// grantCeilingKey is the throttle key of a username at the password grant
// from all addresses together.
func grantCeilingKey(username string) string {
	return "password-grant-all:" + digest(normalUsername(username))
}

// count is one failure count that password attempts are charged to.
type count struct {
	key    string
	policy Lockout
	// ceiling marks a count over all sources of a username (the password
	// grant's): a success does not clear it, and it drops by one for each
	// policy.MaxDelay without a failure. One source, which its own count
	// admits at most once per MaxDelay once it is locked, thus never
	// fills the ceiling alone, while many sources together do.
	ceiling bool
}

// loginCounts are the counts of a sign-in at the login page: the device
// cookie's own count when the browser presents a valid one for username,
// else the username's count of all other browsers.
func (p *Provider) loginCounts(r *http.Request, username string) []count {
	if nonce, ok := p.deviceCookie(r, username); ok {
		return []count{{key: deviceKey(nonce), policy: p.cfg.PasswordLockout}}
	}
	return []count{{key: passwordKey(username), policy: p.cfg.PasswordLockout}}
}

// grantCounts are the counts of the password grant from addr: the pair's
// under PasswordLockout, and the username's over all addresses under
// PasswordGrantCeiling with the same delays.
func (p *Provider) grantCounts(username string, addr netip.Addr) []count {
	ceiling := p.cfg.PasswordLockout
	ceiling.MaxFailures = p.cfg.PasswordGrantCeiling
	return []count{
		{key: grantAddrKey(username, addr), policy: p.cfg.PasswordLockout},
		{key: grantCeilingKey(username), policy: ceiling, ceiling: true},
	}
}

// errLocked is what charge returns for a count that is locked.
var errLocked = errors.New("provider: too many failed attempts")

// charge counts an attempt on c and returns the record as written, or
// refuses it with errLocked and the record as it is (its LockedUntil says
// when the lock ends). The check and the count are one atomic update.
func (c count) charge(ctx context.Context, s storage.ThrottleStore, now time.Time) (storage.Throttle, error) {
	var rec storage.Throttle
	err := s.UpdateThrottle(ctx, c.key, func(t storage.Throttle) (storage.Throttle, error) {
		if !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) {
			t = storage.Throttle{Key: t.Key} // forgotten
		}
		if now.Before(t.LockedUntil) {
			rec = t
			return t, errLocked
		}
		if c.ceiling && t.Failures > 0 && c.policy.MaxDelay > 0 {
			// The last failure was failureMemory before ExpiresAt.
			if quiet := now.Sub(t.ExpiresAt.Add(-failureMemory)); quiet > 0 {
				t.Failures = max(t.Failures-int(quiet/c.policy.MaxDelay), 0)
			}
		}
		t.Failures++
		if d := c.policy.delay(t.Failures); d > 0 {
			t.LockedUntil = now.Add(d)
		}
		t.ExpiresAt = now.Add(failureMemory)
		if t.ExpiresAt.Before(t.LockedUntil) {
			t.ExpiresAt = t.LockedUntil
		}
		rec = t
		return t, nil
	})
	return rec, err
}

// takeBack undoes a charge for an attempt that was not the user's failure
// (best effort). It also lifts the lock: one in force was set either by
// this charge (no other is charged while it holds, and the lock before it
// had ended, or this attempt would have been refused) or by a concurrent
// one that, without this attempt, would not have reached the limit.
func (c count) takeBack(ctx context.Context, s storage.ThrottleStore) {
	_ = s.UpdateThrottle(ctx, c.key, func(t storage.Throttle) (storage.Throttle, error) {
		t.Failures = max(t.Failures-1, 0)
		t.LockedUntil = time.Time{}
		return t, nil
	})
}

// Where a password is checked: the gatehouse.signin.method of the sign-in
// metrics.
const (
	signInLoginPage     = "login_page"
	signInPasswordGrant = "password_grant"
)

// checkPassword runs the host's authenticator behind the lockout
// (Config.PasswordLockout), charging the attempt to each of counts, in
// order. Each is charged before the password is checked, in one atomic
// update that also refuses a locked count, so that concurrent guesses
// cannot slip past the limit. A success clears the counts, except that it
// is only taken back from a ceiling (failures from elsewhere stay). A
// refused attempt gets errPasswordLocked and the time the lock ends, is
// taken back from the counts charged before, and the authenticator is not
// asked. method (signInLoginPage, signInPasswordGrant) names where the
// password was given, for the metrics. A wrong password
// (ErrInvalidCredentials) that locked a count returns the time that lock
// ends, else the zero time.
func (p *Provider) checkPassword(ctx context.Context, method, username, password string, counts ...count) (User, time.Time, error) {
	if p.cfg.PasswordLockout.MaxFailures < 0 {
		u, t, err := p.authenticate(ctx, username, password)
		if errors.Is(err, ErrInvalidCredentials) {
			p.tel.signInFailed(ctx, method, "invalid_credentials")
		}
		return u, t, err
	}
	now := p.cfg.Now().UTC()
	takeBack := func(charged []count) {
		for _, c := range charged {
			c.takeBack(ctx, p.store)
		}
	}
	var locks time.Time // the latest lock these charges set
	for i, c := range counts {
		rec, err := c.charge(ctx, p.store, now)
		if err != nil {
			takeBack(counts[:i])
		}
		if errors.Is(err, errLocked) {
			p.tel.signInFailed(ctx, method, "locked")
			return User{}, rec.LockedUntil, errPasswordLocked
		}
		if err != nil {
			return User{}, time.Time{}, fmt.Errorf("%w: password lockout: %w", oauth.ErrUnavailable, err)
		}
		if now.Before(rec.LockedUntil) && rec.LockedUntil.After(locks) {
			locks = rec.LockedUntil
		}
	}
	u, _, err := p.authenticate(ctx, username, password)
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		p.tel.signInFailed(ctx, method, "invalid_credentials")
		if !locks.IsZero() {
			p.tel.lockedOut(ctx, method)
		}
		return User{}, locks, err // counted above
	case err != nil:
		takeBack(counts) // not the user's failure
		return User{}, time.Time{}, err
	}
	for _, c := range counts {
		if c.ceiling {
			c.takeBack(ctx, p.store) // a success is no failure, but clears no one else's
			continue
		}
		if err := p.store.UpdateThrottle(ctx, c.key, func(t storage.Throttle) (storage.Throttle, error) {
			return storage.Throttle{Key: t.Key}, nil // removes the record
		}); err != nil {
			return User{}, time.Time{}, fmt.Errorf("%w: password lockout: %w", oauth.ErrUnavailable, err)
		}
	}
	return u, time.Time{}, nil
}

// authenticate asks the host's authenticator; any error but
// ErrInvalidCredentials is a backend failure.
func (p *Provider) authenticate(ctx context.Context, username, password string) (User, time.Time, error) {
	u, err := p.cfg.Authenticator.Authenticate(ctx, username, password)
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return User{}, time.Time{}, err
	case err != nil:
		return User{}, time.Time{}, fmt.Errorf("%w: authenticate: %w", oauth.ErrUnavailable, err)
	}
	return u, time.Time{}, nil
}

// lockMessage tells the user how long to wait.
func (p *Provider) lockMessage(until time.Time) message {
	return msg(msgLoginLocked, wait(until.Sub(p.cfg.Now())))
}
