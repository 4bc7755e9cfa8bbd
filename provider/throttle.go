package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/fositeadapter"
	"github.com/gatehouse/gatehouse/storage"
)

// passwordForget is how long failures of a username are remembered.
const passwordForget = 12 * time.Hour

// errPasswordLocked marks a password check refused by the lockout.
var errPasswordLocked = errors.New("provider: too many failed sign-ins for this username")

// passwordKey is the throttle key of a username: a digest, so the store
// holds no usernames, of the trimmed, lower-cased name, so that case
// variants share one count.
func passwordKey(username string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(username))))
	return "password:" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkPassword runs the host's authenticator behind the lockout
// (Config.PasswordLockout). Each attempt is counted before the password is
// checked, in one atomic update that also refuses a locked username, so
// that concurrent guesses cannot slip past the limit; a success clears the
// count. A locked username gets errPasswordLocked and the time the lock
// ends, and the authenticator is not asked.
func (p *Provider) checkPassword(ctx context.Context, username, password string) (User, time.Time, error) {
	l := p.cfg.PasswordLockout
	if l.MaxFailures < 0 {
		return p.authenticate(ctx, username, password)
	}
	key, now := passwordKey(username), p.cfg.Now().UTC()
	var until time.Time
	err := p.store.UpdateThrottle(ctx, key, func(t storage.Throttle) (storage.Throttle, error) {
		if now.Before(t.LockedUntil) {
			until = t.LockedUntil
			return t, errPasswordLocked
		}
		t.Failures++
		if d := l.delay(t.Failures); d > 0 {
			t.LockedUntil = now.Add(d)
		}
		t.ExpiresAt = now.Add(passwordForget)
		return t, nil
	})
	if errors.Is(err, errPasswordLocked) {
		return User{}, until, err
	}
	if err != nil {
		return User{}, time.Time{}, fmt.Errorf("%w: password lockout: %w", fositeadapter.ErrUnavailable, err)
	}
	u, _, err := p.authenticate(ctx, username, password)
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		return User{}, time.Time{}, err // counted above
	case err != nil:
		// Not the user's failure: take the attempt back (best effort).
		_ = p.store.UpdateThrottle(ctx, key, func(t storage.Throttle) (storage.Throttle, error) {
			t.Failures = max(t.Failures-1, 0)
			if t.Failures == 0 {
				t.LockedUntil = time.Time{}
			}
			return t, nil
		})
		return User{}, time.Time{}, err
	}
	if err := p.store.UpdateThrottle(ctx, key, func(t storage.Throttle) (storage.Throttle, error) {
		return storage.Throttle{Key: t.Key}, nil // removes the record
	}); err != nil {
		return User{}, time.Time{}, fmt.Errorf("%w: password lockout: %w", fositeadapter.ErrUnavailable, err)
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
		return User{}, time.Time{}, fmt.Errorf("%w: authenticate: %w", fositeadapter.ErrUnavailable, err)
	}
	return u, time.Time{}, nil
}

// lockMessage tells the user how long to wait.
func (p *Provider) lockMessage(until time.Time) string {
	wait := max(until.Sub(p.cfg.Now()).Round(time.Second), time.Second)
	return fmt.Sprintf("Too many failed sign-ins for this username. Try again in %v.", wait)
}
