package memory

import (
	"cmp"
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

var _ storage.AuditStore = (*Store)(nil)

// AppendAuditEvents implements [storage.AuditStore]. An event whose Time
// and ID are those of a stored one is skipped. Beyond the store's audit
// capacity ([WithAuditCapacity]) the oldest events are dropped.
//
// The trail is one slice in the trail's order, oldest first: events
// arrive nearly in time order, so an append is an append at the end or an
// insert a few places before it, and no map or index is kept beside it.
func (s *Store) AppendAuditEvents(ctx context.Context, events []storage.AuditEvent) error {
	return s.auditTx(ctx, func() error {
		for _, e := range events {
			nanos := e.Time.UnixNano()
			live := s.auditLog[s.auditHead:]
			i := len(live)
			if i > 0 && compareAudit(live[i-1], nanos, e.ID) >= 0 { // not the newest: find its place
				var found bool
				if i, found = slices.BinarySearchFunc(live, e, func(x auditEntry, e storage.AuditEvent) int {
					return compareAudit(x, nanos, e.ID)
				}); found {
					continue
				}
			}
			s.auditLog = slices.Insert(s.auditLog, s.auditHead+i, auditEntry{nanos: nanos, p: packAuditEvent(e)})
		}
		limit := s.auditCap
		if limit == 0 { // a zero Store
			limit = DefaultAuditCapacity
		}
		for limit >= 0 && len(s.auditLog)-s.auditHead > limit {
			s.auditLog[s.auditHead] = auditEntry{}
			s.auditHead++
			s.auditDropped++
		}
		s.compactAudit()
		return nil
	})
}

// compactAudit reuses the room of the events dropped from the front once
// it is half the slice.
func (s *Store) compactAudit() {
	if s.auditHead > 0 && s.auditHead >= len(s.auditLog)/2 {
		n := copy(s.auditLog, s.auditLog[s.auditHead:])
		clear(s.auditLog[n:])
		s.auditLog = s.auditLog[:n]
		s.auditHead = 0
	}
}

// AuditEventsDropped returns how many audit events the store dropped
// because it held its capacity of them ([WithAuditCapacity]).
func (s *Store) AuditEventsDropped() int64 {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	return s.auditDropped
}

// FindAuditEvents implements [storage.AuditStore]. It reads the trail
// from its newest event back, decoding each, until it has found the
// query's limit: the memory store is for tests, demos and small
// single-process hosts.
func (s *Store) FindAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	found := []storage.AuditEvent{}
	err := s.auditTx(ctx, func() error {
		live := s.auditLog[s.auditHead:]
		for i := len(live) - 1; i >= 0; i-- {
			if e := live[i].p.unpack(); auditSelects(q, e) {
				found = append(found, e)
				if q.Limit > 0 && len(found) == q.Limit {
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// auditSelects reports whether q selects e.
func auditSelects(q storage.AuditQuery, e storage.AuditEvent) bool {
	switch {
	case !q.Since.IsZero() && e.Time.Before(q.Since),
		!q.Until.IsZero() && !e.Time.Before(q.Until),
		q.ClientID != "" && e.ClientID != q.ClientID,
		q.Subject != "" && e.Subject != q.Subject,
		len(q.Types) > 0 && !slices.Contains(q.Types, e.Type),
		q.After.ID != "" && !q.After.Before(e.Key()):
		return false
	}
	return true
}

// DeleteAuditEvents implements [storage.AuditStore].
func (s *Store) DeleteAuditEvents(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.auditTx(ctx, func() error {
		live := s.auditLog[s.auditHead:]
		cut := before.UnixNano()
		i, _ := slices.BinarySearchFunc(live, cut, func(x auditEntry, cut int64) int { return cmp.Compare(x.nanos, cut) })
		clear(live[:i])
		s.auditHead += i
		n = int64(i)
		s.compactAudit()
		return nil
	})
	return n, err
}

// auditTx is tx for the audit trail, which has a lock of its own: its
// records relate to no other record, and a batch of them appended must
// not hold up the token endpoint's reads and writes.
func (s *Store) auditTx(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	return f()
}

// auditEntry is a stored audit event: its Time, for the order, and the
// event packed.
type auditEntry struct {
	nanos int64
	p     packedAuditEvent
}

// compareAudit compares x with the event of time nanos and ID id in the
// trail's stored order (oldest first; of events as old, the smaller ID
// first: the reverse of storage.AuditKey.Before).
func compareAudit(x auditEntry, nanos int64, id string) int {
	if c := cmp.Compare(x.nanos, nanos); c != 0 {
		return c
	}
	return strings.Compare(x.p.id(), id)
}

// packedAuditEvent is an event as the store keeps it: every field, but
// the time (in the key), encoded in one string, each text length-prefixed
// (a uvarint), then the number of details and each key and value. A
// trail holds many events, and one string per event (whose bytes the
// garbage collector need not scan) costs it far less than the event's
// dozen strings and map; it also makes the store's copy its own.
type packedAuditEvent string

// packAuditEvent encodes e.
func packAuditEvent(e storage.AuditEvent) packedAuditEvent {
	var num [binary.MaxVarintLen64]byte
	nanos := binary.AppendVarint(num[:0], e.Time.UnixNano())
	fields := [...]string{e.ID, e.Type, string(e.Actor.Kind), e.Actor.ID, e.Target, e.ClientID, e.Subject, e.RequestID, e.ClientAddr}
	// The details once through the map (a map's walk costs more than the
	// copy), into an array on the stack for the usual few.
	var inline [8][2]string
	details := inline[:0]
	for k, v := range e.Details {
		details = append(details, [2]string{k, v})
	}
	// The exact size: the string is kept as long as the event, and all of
	// its array with it.
	n := len(nanos) + uvarintLen(len(details))
	for _, f := range fields {
		n += uvarintLen(len(f)) + len(f)
	}
	for _, d := range details {
		n += uvarintLen(len(d[0])) + len(d[0]) + uvarintLen(len(d[1])) + len(d[1])
	}
	var b strings.Builder // its String makes no copy
	b.Grow(n)
	b.Write(nanos)
	text := func(t string) {
		b.Write(binary.AppendUvarint(num[:0], uint64(len(t))))
		b.WriteString(t)
	}
	for _, f := range fields {
		text(f)
	}
	b.Write(binary.AppendUvarint(num[:0], uint64(len(details))))
	for _, d := range details {
		text(d[0])
		text(d[1])
	}
	return packedAuditEvent(b.String())
}

// uvarintLen is the length of n as binary.AppendUvarint writes it.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// id returns the ID of the packed event without decoding the rest.
func (p packedAuditEvent) id() string {
	s := string(p)
	_, n := binary.Varint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
	s = s[n:]
	l, n := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
	return s[n : n+int(l)]
}

// unpack decodes p, with a details map of its own. Times come back in UTC.
func (p packedAuditEvent) unpack() storage.AuditEvent {
	s := string(p)
	nanos, n := binary.Varint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
	s = s[n:]
	text := func() string {
		l, n := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
		v := s[n : n+int(l)]
		s = s[n+int(l):]
		return v
	}
	var e storage.AuditEvent
	e.Time = time.Unix(0, nanos).UTC()
	e.ID, e.Type = text(), text()
	e.Actor.Kind, e.Actor.ID = storage.ActorKind(text()), text()
	e.Target, e.ClientID, e.Subject, e.RequestID, e.ClientAddr = text(), text(), text(), text(), text()
	count, n := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
	s = s[n:]
	if count > 0 {
		e.Details = make(map[string]string, count)
		for range count {
			k := text()
			e.Details[k] = text()
		}
	}
	return e
}
