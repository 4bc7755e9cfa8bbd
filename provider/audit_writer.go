package provider

import (
	"context"
	"log/slog"
	"maps"
	"strings"
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

		batch := w.batch[:0]
		for i := range chunk {
			batch = append(batch, chunk[i].event())
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

// auditDetail is a detail of an event on its way to the queue: name, value.
type auditDetail [2]string

// queuedDetails is how many details a queuedEvent keeps as pairs (queueEvent
// writes each pair's texts by name); an event with more keeps its map.
const queuedDetails = 4

// queuedEvent is an event in the writer's queue, made by queueEvent on
// the request's goroutine: its ID, its texts and its details share one
// allocation (so the writer reads one string, not a dozen scattered
// ones), and its details wait as pairs until the writer makes the map
// (event), so that a request pays for neither the map nor its walk.
type queuedEvent struct {
	e       storage.AuditEvent // Details nil unless more than queuedDetails
	details [queuedDetails]auditDetail
	n       int
}

// put sets the detail k to v, a new name in the first free pair.
func (q *queuedEvent) put(k, v string) {
	for i := range q.n {
		if q.details[i][0] == k {
			q.details[i][1] = v
			return
		}
	}
	q.details[q.n] = auditDetail{k, v}
	q.n++
}

// queueEvent makes the queued form of e, which newEvent completed (all
// but the ID, which queueEvent gives it), with the details of its map and
// of extra together (extra's win a name in both); extra's names and
// values are cleaned and capped here, as newEvent did the map's, and empty
// values left out.
func queueEvent(e storage.AuditEvent, extra []auditDetail) queuedEvent {
	var q queuedEvent
	switch {
	case len(e.Details)+len(extra) <= queuedDetails:
		for k, v := range e.Details {
			q.put(k, v)
		}
		e.Details = nil
	case len(extra) > 0: // rare: a map holds them all, a copy of the caller's
		m := make(map[string]string, len(e.Details)+len(extra))
		maps.Copy(m, e.Details)
		e.Details = m
	}
	for _, d := range extra {
		if d[1] == "" {
			continue
		}
		k, v := cleanText(d[0], maxAuditText), cleanText(d[1], maxAuditDetail)
		if e.Details != nil {
			e.Details[k] = v
		} else {
			q.put(k, v)
		}
	}
	if e.Details != nil {
		e.ID = newID()
		q.e = e
		return q
	}

	// Every text written once into one string, then each a slice of it.
	texts := [...]*string{&e.Actor.ID, &e.Target, &e.ClientID, &e.Subject, &e.RequestID, &e.ClientAddr,
		&q.details[0][0], &q.details[0][1], &q.details[1][0], &q.details[1][1],
		&q.details[2][0], &q.details[2][1], &q.details[3][0], &q.details[3][1]}
	n := idLen
	for _, t := range texts {
		n += len(*t)
	}
	var b strings.Builder
	b.Grow(n)
	id := newIDBytes()
	b.Write(id[:])
	for _, t := range texts {
		b.WriteString(*t)
	}
	text := b.String()
	e.ID = text[:idLen]
	off := idLen
	for _, t := range texts {
		l := len(*t)
		*t = text[off : off+l]
		off += l
	}
	q.e = e
	return q
}

// event returns the event q holds, with its details' map.
func (q *queuedEvent) event() storage.AuditEvent {
	e := q.e
	if q.n > 0 {
		e.Details = make(map[string]string, q.n)
		for _, d := range q.details[:q.n] {
			e.Details[d[0]] = d[1]
		}
	}
	return e
}
