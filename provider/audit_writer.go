package provider

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

// auditWriter writes the events of [Provider.audit] in the background, so
// that recording an event costs a request one lock and an append: a
// bounded queue, drained in batches (one store append per batch: a single
// multi-row INSERT on PostgreSQL) by one goroutine that runs while there
// is something to write and ends when the queue is empty, so that a
// provider never left running leaks nothing. The goroutine lets events
// gather for auditBatchDelay before each batch (unless a backlog of a full
// batch waits, or flush asks), so that a busy token endpoint pays for one
// wake-up and one store append per batch rather than per event. An event
// that finds the queue full is dropped; every event not written (dropped,
// or refused by the store or the Auditor) is counted and logged, never
// lost silently.
type auditWriter struct {
	store   storage.AuditStore // nil: events go to the Auditor only
	auditor Auditor
	logger  *slog.Logger
	max     int // the queue's bound

	mu    sync.Mutex
	queue []storage.AuditEvent
	// spare is the array of the last batch written, cleared, for the
	// queue to fill next, so that a busy writer's queue does not grow a
	// new array (and copy every event into it a few times) per batch.
	spare    []storage.AuditEvent
	running  bool          // a drain goroutine runs
	seq      uint64        // events accepted into the queue, ever
	done     uint64        // of those, the events the writer has finished with
	progress chan struct{} // closed (and replaced) whenever done grows
	lastDrop time.Time     // when dropped events were last logged
	unlogged uint64        // dropped events not logged yet
	kick     chan struct{} // tells the drain goroutine not to wait (flush)

	written, unwritten, dropped atomic.Uint64
}

// The writer's batch size, and how long one batch may take to store.
const (
	auditBatch        = 500
	auditBatchDelay   = 100 * time.Millisecond
	auditWriteTimeout = 30 * time.Second
	// auditDropLogEvery is how often at most the writer logs the events it
	// dropped, so that a flood of them does not flood the log too.
	auditDropLogEvery = 10 * time.Second
)

func newAuditWriter(store storage.AuditStore, auditor Auditor, logger *slog.Logger, max int) *auditWriter {
	return &auditWriter{store: store, auditor: auditor, logger: logger, max: max, progress: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// enqueue queues e for writing, or drops it (counted, and logged at most
// every auditDropLogEvery) when the queue is full.
func (w *auditWriter) enqueue(e storage.AuditEvent) {
	w.mu.Lock()
	if len(w.queue) >= w.max {
		w.dropped.Add(1)
		w.unwritten.Add(1)
		w.unlogged++
		now := time.Now()
		var n uint64
		if now.Sub(w.lastDrop) >= auditDropLogEvery {
			n, w.unlogged, w.lastDrop = w.unlogged, 0, now
		}
		w.mu.Unlock()
		if n > 0 {
			w.logger.LogAttrs(context.Background(), slog.LevelError, "audit: the queue is full; events dropped (raise Config.AuditQueueSize, or check the store)",
				slog.Uint64("dropped", n), slog.Uint64("dropped_total", w.dropped.Load()), slog.String("last_event_type", e.Type))
		}
		return
	}
	w.queue = append(w.queue, e)
	w.seq++
	start := !w.running
	w.running = true
	w.mu.Unlock()
	if start {
		go w.drain()
	}
}

// drain writes batches until the queue is empty, then ends. Before each
// batch it waits auditBatchDelay for events to gather, unless a full
// batch is waiting or flush kicks it.
func (w *auditWriter) drain() {
	wait := time.NewTimer(auditBatchDelay)
	defer wait.Stop()
	for {
		w.mu.Lock()
		backlog := len(w.queue) >= auditBatch
		w.mu.Unlock()
		if !backlog {
			select {
			case <-wait.C:
			case <-w.kick:
			}
		}
		w.mu.Lock()
		if len(w.queue) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		n := min(len(w.queue), auditBatch)
		batch := w.queue[:n:n]
		w.queue = w.queue[n:]
		if len(w.queue) == 0 {
			w.queue, w.spare = w.spare, nil // the next events go to the spare array
		}
		w.mu.Unlock()

		w.write(batch)
		clear(batch) // let the events' strings go

		w.mu.Lock()
		if w.spare == nil {
			w.spare = batch[:0]
		}
		w.done += uint64(n)
		close(w.progress)
		w.progress = make(chan struct{})
		if len(w.queue) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		wait.Reset(auditBatchDelay)
	}
}

// write stores a batch and gives each event to the Auditor, counting and
// logging what either refuses.
func (w *auditWriter) write(batch []storage.AuditEvent) {
	ctx, cancel := context.WithTimeout(context.Background(), auditWriteTimeout)
	defer cancel()
	failed := make([]bool, len(batch))
	if w.store != nil {
		if err := w.store.AppendAuditEvents(ctx, batch); err != nil {
			ids := make([]string, len(batch))
			for i := range batch {
				failed[i] = true
				ids[i] = batch[i].ID
			}
			w.logger.LogAttrs(ctx, slog.LevelError, "audit: events could not be stored",
				slog.Int("events", len(batch)), slog.Any("event_ids", ids), slog.String("error", err.Error()))
		}
	}
	for i, e := range batch {
		if err := w.auditor.Audit(ctx, e); err != nil {
			failed[i] = true
			w.logger.LogAttrs(ctx, slog.LevelError, "audit: the Auditor refused an event",
				append(appendAuditAttrs(nil, e), slog.Time("event_time", e.Time), slog.String("error", err.Error()))...)
		}
	}
	var bad uint64
	for _, f := range failed {
		if f {
			bad++
		}
	}
	w.unwritten.Add(bad)
	w.written.Add(uint64(len(batch)) - bad)
}

// countWritten counts n events written synchronously.
func (w *auditWriter) countWritten(n uint64) { w.written.Add(n) }

// flush waits until the writer has finished with every event queued
// before the call, or ctx ends (its error is returned then).
func (w *auditWriter) flush(ctx context.Context) error {
	w.mu.Lock()
	target := w.seq
	w.mu.Unlock()
	for {
		w.mu.Lock()
		if w.done >= target {
			w.mu.Unlock()
			return nil
		}
		ch := w.progress
		w.mu.Unlock()
		select { // the writer need not wait for more events
		case w.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stats returns the writer's counts.
func (w *auditWriter) stats() AuditStats {
	w.mu.Lock()
	queued := int(w.seq - w.done)
	w.mu.Unlock()
	return AuditStats{Queued: queued, Written: w.written.Load(), Unwritten: w.unwritten.Load(), Dropped: w.dropped.Load()}
}
