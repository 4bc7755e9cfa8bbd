package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// Housekeeping configures [Provider.RunHousekeeping] and
// [Provider.Housekeep]. Its zero value is the default.
type Housekeeping struct {
	// Every is how often the tasks run; 0 means 1 minute. It is also how
	// long one replica's lease on a run lasts (see RunHousekeeping).
	Every time.Duration

	// KeyRotation is the age at which the signing key is replaced: when
	// the key signing now has signed for KeyRotation less
	// KeyPublishAhead, a new key is created that signs from
	// KeyPublishAhead later on. 0 means 90 days; negative turns rotation
	// off (the host may still call [Provider.RotateSigningKey]).
	KeyRotation time.Duration

	// KeyPublishAhead is how long a new key is published in the JWKS
	// before it signs, so that relying parties have fetched it by then;
	// 0 means 24 hours. It must be shorter than KeyRotation. The key it
	// replaces stops signing then and stays published until every token
	// it signed has expired: the longest access or ID token lifetime a
	// client may have (24 hours, or the provider's default if longer).
	KeyPublishAhead time.Duration
}

func (h Housekeeping) withDefaults() (Housekeeping, error) {
	if h.Every == 0 {
		h.Every = time.Minute
	}
	if h.KeyRotation == 0 {
		h.KeyRotation = 90 * 24 * time.Hour
	}
	if h.KeyPublishAhead == 0 {
		h.KeyPublishAhead = 24 * time.Hour
	}
	switch {
	case h.Every < 0:
		return h, fmt.Errorf("provider: Housekeeping.Every must not be negative, got %v", h.Every)
	case h.KeyPublishAhead < 0:
		return h, fmt.Errorf("provider: Housekeeping.KeyPublishAhead must not be negative, got %v", h.KeyPublishAhead)
	case h.KeyRotation > 0 && h.KeyRotation <= h.KeyPublishAhead:
		return h, fmt.Errorf("provider: Housekeeping.KeyRotation (%v) must be longer than KeyPublishAhead (%v)", h.KeyRotation, h.KeyPublishAhead)
	}
	return h, nil
}

// HousekeepingReport says what one run of [Provider.Housekeep] did.
type HousekeepingReport struct {
	// Ran is false when another replica held the lease: nothing was done.
	Ran bool
	// Deleted is how many expired records DeleteExpired removed.
	Deleted int64
	// AuditDeleted is how many audit events past Config.AuditRetention
	// SweepAudit removed.
	AuditDeleted int64
	// NewKey is the ID of the signing key created, or "".
	NewKey string
}

// housekeepingLeaseKey is the throttle key of the housekeeping lease.
const housekeepingLeaseKey = "gatehouse-housekeeping-lease"

// Housekeeping task names, for gatehouse.housekeeping.task.
const (
	taskDeleteExpired = "delete_expired"
	taskAuditSweep    = "audit_sweep"
	taskKeyRotation   = "key_rotation"
)

// errLeaseHeld is what the lease's update returns when another replica
// holds it.
var errLeaseHeld = errors.New("provider: the housekeeping lease is held by another replica")

// RunHousekeeping runs the housekeeping tasks at once and then every
// h.Every until ctx is done, and returns nil then (or the error of an
// invalid h). The tasks:
//
//   - DeleteExpired: the store's expired tokens, sessions, flows,
//     consents, throttles and retired signing keys are removed.
//   - SweepAudit: stored audit events past Config.AuditRetention are
//     removed.
//   - Key rotation: see [Housekeeping.KeyRotation].
//
// Several replicas sharing a store may each run it: a run first takes a
// lease in the store (a throttle record, updated atomically like every
// throttle), which lasts h.Every; a replica that finds it held skips that
// run. The run itself is cancelled when its lease ends, so two replicas'
// runs never overlap (given clocks that agree to well within h.Every).
// Failures are logged at Warn and counted, and the next run tries again.
// Each run is measured: gatehouse.housekeeping.runs by task and outcome
// (done, skipped, failed), gatehouse.housekeeping.deleted and
// gatehouse.signing_key.rotations.
//
// A host runs it in a goroutine and, when shutting down, cancels ctx and
// waits for it to return before closing the store.
func (p *Provider) RunHousekeeping(ctx context.Context, h Housekeeping) error {
	h, err := h.withDefaults()
	if err != nil {
		return err
	}
	t := time.NewTicker(h.Every)
	defer t.Stop()
	for {
		if _, err := p.Housekeep(ctx, h); err != nil && ctx.Err() == nil {
			p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "housekeeping failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Housekeep runs the housekeeping tasks once, as one run of
// [Provider.RunHousekeeping] does, if it gets the lease, and reports what
// it did. Its error joins the failures of the tasks; each task runs even
// if the other fails.
func (p *Provider) Housekeep(ctx context.Context, h Housekeeping) (HousekeepingReport, error) {
	h, err := h.withDefaults()
	if err != nil {
		return HousekeepingReport{}, err
	}
	now := p.cfg.Now().UTC()
	won, err := p.takeLease(ctx, now, h.Every)
	if err != nil {
		p.tel.housekept(ctx, taskDeleteExpired, "failed")
		p.tel.housekept(ctx, taskAuditSweep, "failed")
		p.tel.housekept(ctx, taskKeyRotation, "failed")
		return HousekeepingReport{}, fmt.Errorf("provider: housekeeping lease: %w", err)
	}
	if !won {
		p.tel.housekept(ctx, taskDeleteExpired, "skipped")
		p.tel.housekept(ctx, taskAuditSweep, "skipped")
		p.tel.housekept(ctx, taskKeyRotation, "skipped")
		return HousekeepingReport{}, nil
	}
	// The run ends with the lease, so that it never overlaps another
	// replica's next one.
	ctx, cancel := context.WithTimeout(ctx, h.Every)
	defer cancel()
	rep := HousekeepingReport{Ran: true}
	var errs []error

	n, err := p.store.DeleteExpired(ctx, now)
	rep.Deleted = n
	if n > 0 {
		p.tel.hkDeleted.Add(ctx, n)
	}
	if err != nil {
		p.tel.housekept(ctx, taskDeleteExpired, "failed")
		errs = append(errs, fmt.Errorf("delete expired records: %w", err))
	} else {
		p.tel.housekept(ctx, taskDeleteExpired, "done")
		if n > 0 {
			p.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "housekeeping: expired records deleted", slog.Int64("deleted", n))
		}
	}

	rep.AuditDeleted, err = p.SweepAudit(ctx)
	if err != nil {
		p.tel.housekept(ctx, taskAuditSweep, "failed")
		errs = append(errs, err)
	} else {
		p.tel.housekept(ctx, taskAuditSweep, "done")
		if rep.AuditDeleted > 0 {
			p.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "housekeeping: old audit events deleted", slog.Int64("deleted", rep.AuditDeleted))
		}
	}

	rep.NewKey, err = p.rotateIfDue(ctx, now, h)
	if err != nil {
		p.tel.housekept(ctx, taskKeyRotation, "failed")
		errs = append(errs, fmt.Errorf("signing key rotation: %w", err))
	} else {
		p.tel.housekept(ctx, taskKeyRotation, "done")
	}
	return rep, errors.Join(errs...)
}

// takeLease takes the housekeeping lease until now+ttl, unless another
// replica holds it, in one atomic update of a throttle record.
func (p *Provider) takeLease(ctx context.Context, now time.Time, ttl time.Duration) (bool, error) {
	won := false
	err := p.store.UpdateThrottle(ctx, housekeepingLeaseKey, func(t storage.Throttle) (storage.Throttle, error) {
		won = false // the update may be retried
		if now.Before(t.LockedUntil) {
			return t, errLeaseHeld
		}
		t.Failures = 1
		t.LockedUntil = now.Add(ttl)
		t.ExpiresAt = t.LockedUntil
		won = true
		return t, nil
	})
	if errors.Is(err, errLeaseHeld) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return won, nil
}

// rotateIfDue creates the next signing key when the newest one (the key
// signing now, or one published to sign later) has signed, or will have
// signed by the time a new key published now would start, for
// h.KeyRotation. It returns the new key's ID, or "".
func (p *Provider) rotateIfDue(ctx context.Context, now time.Time, h Housekeeping) (string, error) {
	if h.KeyRotation < 0 {
		return "", nil
	}
	keys, err := p.store.ListSigningKeys(ctx)
	if err != nil {
		return "", err
	}
	var newest *storage.SigningKey
	for i, k := range keys {
		if !k.RetiredAt.IsZero() && !k.RetiredAt.After(now) {
			continue // retired already
		}
		if newest == nil || k.ActiveAt.After(newest.ActiveAt) {
			newest = &keys[i]
		}
	}
	if newest != nil && now.Before(newest.ActiveAt.Add(h.KeyRotation-h.KeyPublishAhead)) {
		return "", nil
	}
	id, err := p.keys.Rotate(ctx, h.KeyPublishAhead)
	if err != nil {
		return "", err
	}
	p.tel.rotations.Add(ctx, 1)
	p.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "housekeeping: new signing key published",
		slog.String("kid", id), slog.Time("signs_from", now.Add(h.KeyPublishAhead)))
	return id, nil
}
