package provider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// readyProbeKey is the throttle key Ready reads: no record ever has it, so
// the read is the store's cheapest round trip that proves it answers.
const readyProbeKey = "gatehouse-ready-probe"

// ReadyTimeout bounds the store read of [Provider.ReadyzHandler] (less if
// the request's context ends sooner): a store that does not answer within
// it is not ready. Set the readiness probe's timeout above it (Kubernetes:
// timeoutSeconds: 3).
const ReadyTimeout = 2 * time.Second

// Ready reports whether the provider can serve requests: the store answers
// (one read of a record that does not exist), and a signing key may sign
// now. It returns nil, or an error saying what is missing. A store that
// does not answer makes Ready wait until ctx ends.
func (p *Provider) Ready(ctx context.Context) error {
	if _, err := p.store.GetThrottle(ctx, readyProbeKey); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("provider: not ready: the store does not answer: %w", err)
	}
	if _, err := p.keys.Current(ctx); err != nil {
		return fmt.Errorf("provider: not ready: no signing key may sign: %w", err)
	}
	return nil
}

// HealthzHandler returns the liveness probe: 200 "ok" to GET and HEAD
// whenever the process can answer at all. It checks nothing else, so that
// an unreachable database makes the process unready (ReadyzHandler), never
// restarted. It needs no credentials and reveals nothing.
func (p *Provider) HealthzHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProbe(w, r, http.StatusOK, "ok\n")
	})
}

// ReadyzHandler returns the readiness probe: 200 "ok" to GET and HEAD when
// [Provider.Ready] reports nil within [ReadyTimeout], else 503 "not
// ready". The reason is logged (at Warn when the provider turns unready,
// at Info when it is ready again), never shown: the probe needs no
// credentials and reveals nothing.
func (p *Provider) ReadyzHandler() http.Handler {
	var unready atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeProbe(w, r, http.StatusMethodNotAllowed, "use GET\n")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		err := p.Ready(ctx)
		switch {
		case err != nil:
			if !unready.Swap(true) {
				p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "provider: not ready", slog.String("error", err.Error()))
			}
			w.Header().Set("Retry-After", "5")
			writeProbe(w, r, http.StatusServiceUnavailable, "not ready\n")
		default:
			if unready.Swap(false) {
				p.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "provider: ready again")
			}
			writeProbe(w, r, http.StatusOK, "ok\n")
		}
	})
}

// writeProbe writes a probe's plain-text answer, which no cache may keep.
func writeProbe(w http.ResponseWriter, r *http.Request, status int, body string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead && status == http.StatusOK {
		status, body = http.StatusMethodNotAllowed, "use GET\n"
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, HEAD")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte(body))
	}
}
