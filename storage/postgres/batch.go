package postgres

import (
	"context"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/storage"
)

// Group commit of token inserts.
//
// A client_credentials request stores one access token on its own, outside
// any transaction: one INSERT, one commit, one WAL flush. Under load the
// flushes, not the statements, bound the throughput. So CreateToken calls
// made outside a transaction are gathered: while one group is being
// written, the calls that arrive wait, and the next group takes them all (up
// to maxInsertGroup) in one pipelined batch, which pgx sends in one round
// trip and PostgreSQL runs as one implicit transaction: one commit for the
// group. No call waits for a timer: a call that finds nothing being written
// writes at once, alone, exactly as before, so a quiet store sees no
// difference and a busy one commits many tokens per flush.
//
// Every call still answers only after its own row is committed (or with
// the error that stopped it): nothing is acknowledged before it is
// durable. If the group's batch fails as a whole (one row that the server
// refuses rolls back the implicit transaction), each row of it is written
// again on its own, so one bad row fails only its own call.

// A token that belongs to a sign-in (LoginSID set: a browser sign-in, an
// API key's secret, an application user) and is inserted outside a
// transaction must not come out active from a race with RevokeLoginGrants
// of that sign-in: its INSERT can take its snapshot before the sign-in is
// recorded as ended and commit after the revocation's last UPDATE took
// its own, and a group's rows stay uncommitted until the whole group is.
// So every such batch first takes a shared transaction-level advisory
// lock per sign-in (sidLock), in its own statements, before its INSERTs;
// RevokeLoginGrants takes the same lock exclusively, once the sign-in is
// recorded, which waits until every batch holding it has committed. A
// batch that locks after that has its INSERTs' snapshots taken after the
// record, and stores its tokens inactive. The locks are taken in one
// order (sorted by key), so two batches never wait on each other through
// revocations waiting between them.

// sidLockClass is the first key of the sign-in locks: the two-key
// advisory locks are a key space of their own, apart from the migrations'
// one-key lock.
const sidLockClass = 0x67617465 // "gate"

// sidLock is the second key of sign-in sid's advisory lock: two sign-ins
// with one key only wait for each other.
func sidLock(sid string) int32 {
	h := fnv.New32a()
	h.Write([]byte(sid))
	return int32(h.Sum32())
}

// sidLocks returns the sorted, distinct lock keys of the tokens' sign-ins.
func sidLocks(group []*pendingInsert) []int32 {
	var keys []int32
	for _, p := range group {
		if p.t.Request.LoginSID != "" {
			keys = append(keys, sidLock(p.t.Request.LoginSID))
		}
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// maxInsertGroup bounds a group: the batch's size on the wire (a token row
// is a few hundred bytes) and the wait of its last member.
const maxInsertGroup = 64

// groupWriteTimeout bounds the writing of a group. The group outlives the
// context of the call that happens to write it (that caller going away
// must not fail the others), so it needs a bound of its own.
const groupWriteTimeout = 30 * time.Second

// insertGroups gathers the token inserts made outside a transaction.
type insertGroups struct {
	mu      sync.Mutex
	queue   []*pendingInsert
	writing bool // a goroutine is writing groups; new calls queue
}

// pendingInsert is one CreateToken call waiting for its group.
type pendingInsert struct {
	t    storage.Token
	done chan error // buffered: the writer never blocks on it
}

// createToken stores t with the calls that arrive while another group is
// written, and returns when t's row is committed or has failed.
func (s *Store) createGrouped(ctx context.Context, t storage.Token) error {
	g := &s.groups
	p := &pendingInsert{t: t, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, p)
	lead := !g.writing
	g.writing = true
	g.mu.Unlock()
	if lead {
		// Write the first group (this call's own) here; hand any later ones
		// to a goroutine of their own, so this call answers now.
		s.writeGroup(ctx, g.next())
		if g.more() {
			go s.writeGroups(context.WithoutCancel(ctx))
		}
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		// The row may still be written; a token nobody was given is
		// harmless, and expires.
		return ctx.Err()
	}
}

// next takes the next group off the queue.
func (g *insertGroups) next() []*pendingInsert {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := min(len(g.queue), maxInsertGroup)
	group := make([]*pendingInsert, n)
	copy(group, g.queue)
	clear(g.queue[:n])
	g.queue = g.queue[n:]
	return group
}

// more reports whether calls are queued, and otherwise ends the writing:
// the next call writes its own group.
func (g *insertGroups) more() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.writing = false
		g.queue = nil // drop the backing array of a burst
		return false
	}
	return true
}

// writeGroups writes groups until the queue is empty.
func (s *Store) writeGroups(ctx context.Context) {
	for {
		s.writeGroup(ctx, s.groups.next())
		if !s.groups.more() {
			return
		}
	}
}

// writeGroup writes group and tells each call its result.
func (s *Store) writeGroup(ctx context.Context, group []*pendingInsert) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupWriteTimeout)
	defer cancel()
	results, err := s.insertBatch(ctx, group)
	if err == nil {
		for i, p := range group {
			p.done <- results[i]
		}
		return
	}
	if len(group) == 1 {
		group[0].done <- err
		return
	}
	// The batch rolled back as a whole: write each row alone.
	for _, p := range group {
		results, err := s.insertBatch(ctx, []*pendingInsert{p})
		if err == nil {
			err = results[0]
		}
		p.done <- err
	}
}

// insertBatch writes the group's rows in one pipelined batch (one round
// trip, one implicit transaction) and returns each row's result: nil, or
// storage.ErrAlreadyExists for a key already taken (by an earlier row, or
// by an earlier member of the group). err is the batch's failure, after
// which nothing of it was committed.
func (s *Store) insertBatch(ctx context.Context, group []*pendingInsert) (results []error, err error) {
	var b pgx.Batch
	locks := sidLocks(group)
	for _, k := range locks {
		b.Queue(`SELECT pg_advisory_xact_lock_shared($1, $2)`, int32(sidLockClass), k)
	}
	for _, p := range group {
		b.Queue(s.sql(insertTokenSQL), tokenArgs(p.t)...)
	}
	if len(group) == 1 && len(locks) == 0 {
		// One statement: as it always was, without a batch.
		results = make([]error, 1)
		return results, s.onConn(ctx, func(c *conn) error { return s.insertToken(ctx, c, group[0].t) })
	}
	results = make([]error, len(group))
	err = s.onConn(ctx, func(c *conn) error {
		c.sent++
		br := c.c.SendBatch(ctx, &b)
		for range locks {
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
		}
		for i := range group {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if tag.RowsAffected() == 0 {
				results[i] = storage.ErrAlreadyExists
			}
		}
		return br.Close() // the implicit transaction's commit
	})
	return results, err
}
