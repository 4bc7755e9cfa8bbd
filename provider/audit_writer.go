package provider

import (
	"context"
	"log/slog"
	"slices"
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

	mu sync.Mutex
	// chunks is the queue, oldest first: arrays of auditBatch events each,
	// the last one filling, so that a busy queue never grows an array (and
	// copies its events into it) and the writer takes a batch whole.
	chunks [][]queuedEvent
	queued int // the events in chunks
	// free holds up to auditFreeChunks written chunks, cleared, for the
	// queue to fill again.
	free [][]queuedEvent
	// batch is the writer's array for the events of a chunk (the drain
	// goroutine's alone: one runs at a time).
	batch    []storage.AuditEvent
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
	auditFreeChunks   = 4
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
func (w *auditWriter) enqueue(e queuedEvent) {
	w.mu.Lock()
	if w.queued >= w.max {
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
				slog.Uint64("dropped", n), slog.Uint64("dropped_total", w.dropped.Load()), slog.String("last_event_type", e.e.Type))
		}
		return
	}
	last := len(w.chunks) - 1
	if last < 0 || len(w.chunks[last]) == auditBatch {
		var c []queuedEvent
		if n := len(w.free); n > 0 {
			c, w.free = w.free[n-1], w.free[:n-1]
		} else {
			c = make([]queuedEvent, 0, auditBatch)
		}
		w.chunks = append(w.chunks, c)
		last++
	}
	w.chunks[last] = append(w.chunks[last], e)
	w.queued++
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
		backlog := w.queued >= auditBatch
		w.mu.Unlock()
		if !backlog {
			select {
			case <-wait.C:
			case <-w.kick:
			}
		}
		w.mu.Lock()
		if w.queued == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		chunk := w.chunks[0] // the oldest chunk, whole: the next events go to another
		copy(w.chunks, w.chunks[1:])
		w.chunks[len(w.chunks)-1] = nil
		w.chunks = w.chunks[:len(w.chunks)-1]
		n := len(chunk)
		w.queued -= n
		w.mu.Unlock()

		// The details of the chunk's events, in one slice: the events
		// outlive the chunk (an Auditor may keep them), and one slice
		// for the batch is one allocation rather than one per event.
		var details int
		for i := range chunk {
			details += chunk[i].n
		}
		room := make([]storage.AuditDetail, details)
		batch := w.batch[:0]
		for i := range chunk {
			var e storage.AuditEvent
			e, room = chunk[i].event(room)
			batch = append(batch, e)
		}
		clear(chunk) // let the events' strings go
		w.write(batch)
		clear(batch)
		w.batch = batch[:0]

		w.mu.Lock()
		if len(w.free) < auditFreeChunks {
			w.free = append(w.free, chunk[:0])
		}
		w.done += uint64(n)
		close(w.progress)
		w.progress = make(chan struct{})
		if w.queued == 0 {
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

// queuedDetails is how many details a queuedEvent keeps in place; an
// event with more keeps a slice of its own.
const queuedDetails = 4

// queuedEvent is an event in the writer's queue, made by queueEvent on
// the request's goroutine. Its texts are the strings the request had
// (the client's ID, the grant's), not copies, and its details wait in
// place until the writer gives them the room of their batch (event), so
// that a request pays for no slice of them: queueing an event allocates
// its ID alone.
type queuedEvent struct {
	e       storage.AuditEvent // Details nil unless more than queuedDetails
	details [queuedDetails]storage.AuditDetail
	n       int
}

// queueEvent makes the queued form of e, which newEvent completed (all
// but the ID, which queueEvent gives it, and its details: details, which
// it puts in order with cleanDetails; e.Details must be nil). The slice
// details is not kept, so that a caller's may live on its stack.
func queueEvent(e storage.AuditEvent, details []storage.AuditDetail) queuedEvent {
	var q queuedEvent
	details = cleanDetails(details)
	if len(details) > queuedDetails {
		e.Details = slices.Clone(details)
	} else {
		q.n = copy(q.details[:], details)
	}
	e.ID = newID()
	q.e = e
	return q
}

// event returns the event q holds, its details copied to the front of
// room (which has room for them), and the rest of room.
func (q *queuedEvent) event(room []storage.AuditDetail) (storage.AuditEvent, []storage.AuditDetail) {
	e := q.e
	if q.n > 0 {
		e.Details = room[:q.n:q.n]
		copy(e.Details, q.details[:q.n])
		room = room[q.n:]
	}
	return e, room
}
