package memory

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"slices"
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
			if i > 0 && s.compareAudit(live[i-1], nanos, e.ID) >= 0 { // not the newest: find its place
				var found bool
				if i, found = slices.BinarySearchFunc(live, e, func(x auditEntry, e storage.AuditEvent) int {
					return s.compareAudit(x, nanos, e.ID)
				}); found {
					continue
				}
			}
			s.auditScratch = appendAuditEvent(s.auditScratch[:0], e)
			s.auditLog = slices.Insert(s.auditLog, s.auditHead+i, auditEntry{nanos: nanos, at: s.auditRecs.put(s.auditScratch)})
		}
		limit := s.auditCap
		if limit == 0 { // a zero Store
			limit = DefaultAuditCapacity
		}
		for limit >= 0 && len(s.auditLog)-s.auditHead > limit {
			s.auditRecs.del(s.auditLog[s.auditHead].at)
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
			if e := unpackAuditEvent(s.auditRecs.get(live[i].at)); auditSelects(q, e) {
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
		for _, x := range live[:i] {
			s.auditRecs.del(x.at)
		}
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

// auditEntry is a stored audit event: its Time, for the order, and where
// the event lies packed in the store's audit arena (auditRecs). Neither
// holds a pointer: the trail of a busy provider is a hundred thousand
// events, which, kept as a string each, the garbage collector marked one
// by one at every collection (two to three percent of a token request's
// CPU under load, measured with the trail's capacity at 1,000 and at
// 100,000).
type auditEntry struct {
	nanos int64
	at    recRef
}

// compareAudit compares x with the event of time nanos and ID id in the
// trail's stored order (oldest first; of events as old, the smaller ID
// first: the reverse of storage.AuditKey.Before). The caller holds auditMu.
func (s *Store) compareAudit(x auditEntry, nanos int64, id string) int {
	if c := cmp.Compare(x.nanos, nanos); c != 0 {
		return c
	}
	return bytes.Compare(packedAuditID(s.auditRecs.get(x.at)), []byte(id))
}

// A packed event is every field of an event but its time (in the entry),
// each text length-prefixed (a uvarint), then the number of details and
// each key and value; the time's nanoseconds come first (a varint), so
// that the record stands alone.

// appendAuditEvent appends e packed to b.
func appendAuditEvent(b []byte, e storage.AuditEvent) []byte {
	b = binary.AppendVarint(b, e.Time.UnixNano())
	for _, f := range [...]string{e.ID, e.Type, string(e.Actor.Kind), e.Actor.ID, e.Target, e.ClientID, e.Subject, e.RequestID, e.ClientAddr} {
		b = appendText(b, f)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Details)))
	for _, d := range e.Details {
		b = appendText(appendText(b, d.Name), d.Value)
	}
	return b
}

func appendText(b []byte, t string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(t))), t...)
}

// uvarintLen is the length of n as binary.AppendUvarint writes it.
func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// packedAuditID returns the ID of a packed event without decoding the
// rest: a slice of p.
func packedAuditID(p []byte) []byte {
	_, n := binary.Varint(p)
	p = p[n:]
	l, n := binary.Uvarint(p)
	return p[n : n+int(l)]
}

// unpackAuditEvent decodes p into an event of its own (its texts share one
// string, its details a map of its own). Times come back in UTC.
func unpackAuditEvent(p []byte) storage.AuditEvent {
	s := string(p)
	nanos, n := binary.Varint(p)
	off := n
	num := func() uint64 {
		v, n := binary.Uvarint(p[off:])
		off += n
		return v
	}
	text := func() string {
		l := int(num())
		v := s[off : off+l]
		off += l
		return v
	}
	var e storage.AuditEvent
	e.Time = time.Unix(0, nanos).UTC()
	e.ID, e.Type = text(), text()
	e.Actor.Kind, e.Actor.ID = storage.ActorKind(text()), text()
	e.Target, e.ClientID, e.Subject, e.RequestID, e.ClientAddr = text(), text(), text(), text(), text()
	if count := num(); count > 0 {
		e.Details = make([]storage.AuditDetail, count)
		for i := range e.Details {
			e.Details[i].Name = text()
			e.Details[i].Value = text()
		}
	}
	return e
}
