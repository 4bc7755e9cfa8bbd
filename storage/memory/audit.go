package memory

import (
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
// capacity ([WithAuditCapacity]) the events appended first are dropped.
func (s *Store) AppendAuditEvents(ctx context.Context, events []storage.AuditEvent) error {
	return s.auditTx(ctx, func() error {
		for _, e := range events {
			k := auditKey{e.Time.UnixNano(), e.ID}
			if _, dup := s.audit[k]; !dup {
				s.audit[k] = packAuditEvent(e)
				s.auditOrder = append(s.auditOrder, k)
			}
		}
		limit := s.auditCap
		if limit == 0 { // a zero Store
			limit = DefaultAuditCapacity
		}
		for limit >= 0 && len(s.audit) > limit {
			k := s.auditOrder[s.auditHead]
			s.auditOrder[s.auditHead] = auditKey{}
			s.auditHead++
			if _, ok := s.audit[k]; ok {
				delete(s.audit, k)
				s.auditDropped++
			}
		}
		if s.auditHead > len(s.auditOrder)/2 { // reuse the dropped half
			s.auditOrder = slices.Delete(s.auditOrder, 0, s.auditHead)
			s.auditHead = 0
		}
		return nil
	})
}

// AuditEventsDropped returns how many audit events the store dropped
// because it held its capacity of them ([WithAuditCapacity]).
func (s *Store) AuditEventsDropped() int64 {
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	return s.auditDropped
}

// FindAuditEvents implements [storage.AuditStore]. It decodes and scans
// every event: the memory store is for tests, demos and small
// single-process hosts.
func (s *Store) FindAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	var found []storage.AuditEvent
	err := s.auditTx(ctx, func() error {
		for _, p := range s.audit {
			if e := p.unpack(); auditSelects(q, e) {
				found = append(found, e)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(a, b storage.AuditEvent) int {
		switch ka, kb := a.Key(), b.Key(); {
		case ka.Before(kb):
			return -1
		case kb.Before(ka):
			return 1
		}
		return 0
	})
	if q.Limit > 0 && len(found) > q.Limit {
		found = found[:q.Limit]
	}
	if found == nil {
		found = []storage.AuditEvent{}
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
		for k := range s.audit {
			if time.Unix(0, k.nanos).Before(before) {
				delete(s.audit, k)
				n++
			}
		}
		if n > 0 { // forget the deleted keys' places
			s.auditOrder = slices.DeleteFunc(s.auditOrder[s.auditHead:], func(k auditKey) bool {
				_, ok := s.audit[k]
				return !ok
			})
			s.auditHead = 0
		}
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
	if s.audit == nil {
		s.audit = map[auditKey]packedAuditEvent{}
	}
	return f()
}

// auditKey is the key of a stored audit event: its Time and ID.
type auditKey struct {
	nanos int64
	id    string
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
	fields := [...]string{e.ID, e.Type, string(e.Actor.Kind), e.Actor.ID, e.Target, e.ClientID, e.Subject, e.RequestID, e.ClientAddr}
	n := 2 * binary.MaxVarintLen64
	for _, f := range fields {
		n += binary.MaxVarintLen64 + len(f)
	}
	for k, v := range e.Details {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	var b strings.Builder // its String makes no copy
	b.Grow(n)
	var num [binary.MaxVarintLen64]byte
	b.Write(binary.AppendVarint(num[:0], e.Time.UnixNano()))
	text := func(t string) {
		b.Write(binary.AppendUvarint(num[:0], uint64(len(t))))
		b.WriteString(t)
	}
	for _, f := range fields {
		text(f)
	}
	b.Write(binary.AppendUvarint(num[:0], uint64(len(e.Details))))
	for k, v := range e.Details {
		text(k)
		text(v)
	}
	return packedAuditEvent(b.String())
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
