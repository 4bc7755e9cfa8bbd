package provider

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse/provider/internal/oauth"
	"github.com/gatehouse/gatehouse/storage"
)

// errTooManyFlows marks a flow refused by Config.FlowLimits.
var errTooManyFlows = errors.New("provider: too many sign-ins started; try again later")

// flowsAllKey is the throttle key counting the flows of all addresses.
const flowsAllKey = "flows:*"

// flowKey is the throttle key counting the flows started from addr (see
// sourceKey).
func flowKey(addr netip.Addr) string { return "flows:" + sourceKey(addr) }

// reserveFlow counts a flow about to be stored against Config.FlowLimits:
// per address first, then the total, each in one atomic store update, so
// that concurrent requests (on any replica) cannot get past a limit. A
// window starts with the first flow counted in it and lasts
// Config.FlowLifetime; a record whose window has ended counts as a new
// window even if DeleteExpired has not removed it yet. Over a limit it
// returns errTooManyFlows and counts nothing. The caller calls release if
// it does not store the flow after all.
func (p *Provider) reserveFlow(ctx context.Context, addr netip.Addr) (release func(), err error) {
	lim := p.cfg.FlowLimits
	var taken []flowCount
	release = func() {
		for _, c := range taken {
			p.releaseFlow(ctx, c)
		}
	}
	for _, c := range []struct {
		key   string
		limit int
	}{{flowKey(addr), lim.PerAddress}, {flowsAllKey, lim.Total}} {
		if c.limit < 0 {
			continue
		}
		fc, err := p.countFlow(ctx, c.key, c.limit)
		if err != nil {
			release()
			return nil, err
		}
		taken = append(taken, fc)
	}
	return release, nil
}

// flowCount identifies one counted flow: the key and the window it was
// counted in.
type flowCount struct {
	key    string
	window time.Time // when the window ends
}

// countFlow adds one to the count of key unless it has reached limit.
func (p *Provider) countFlow(ctx context.Context, key string, limit int) (flowCount, error) {
	now := p.cfg.Now().UTC()
	var window time.Time
	err := p.store.UpdateThrottle(ctx, key, func(t storage.Throttle) (storage.Throttle, error) {
		if !now.Before(t.ExpiresAt) {
			// No window, or an ended one not yet deleted: start anew.
			t.Failures, t.ExpiresAt = 0, ceilSecond(now.Add(p.cfg.FlowLifetime))
		}
		if t.Failures >= limit {
			return t, errTooManyFlows
		}
		t.Failures++
		window = t.ExpiresAt
		return t, nil
	})
	switch {
	case errors.Is(err, errTooManyFlows):
		return flowCount{}, err
	case err != nil:
		return flowCount{}, fmt.Errorf("%w: flow limit: %w", oauth.ErrUnavailable, err)
	}
	return flowCount{key: key, window: window}, nil
}

// releaseFlow takes back a flow counted but not stored, if its window is
// still the current one (best effort: a failure only leaves the count one
// too high until the window ends).
func (p *Provider) releaseFlow(ctx context.Context, c flowCount) {
	_ = p.store.UpdateThrottle(context.WithoutCancel(ctx), c.key, func(t storage.Throttle) (storage.Throttle, error) {
		if t.ExpiresAt.Equal(c.window) && t.Failures > 0 {
			t.Failures--
		}
		return t, nil
	})
}

// ceilSecond rounds t up to a whole second, so that a window's end read
// back from any store (whatever its precision) equals the one releaseFlow
// compares with.
func ceilSecond(t time.Time) time.Time {
	if s := t.Truncate(time.Second); s.Before(t) {
		return s.Add(time.Second)
	}
	return t
}
