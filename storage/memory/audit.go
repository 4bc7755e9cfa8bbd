package memory

import (
	"context"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

var _ storage.AuditStore = (*Store)(nil)

// AppendAuditEvents implements [storage.AuditStore]. An event whose Time
// and ID are those of a stored one is skipped.
func (s *Store) AppendAuditEvents(ctx context.Context, events []storage.AuditEvent) error {
	return s.auditTx(ctx, func() error {
		for _, e := range events {
			k := auditKey{e.Time.UnixNano(), e.ID}
			if _, dup := s.audit[k]; !dup {
				s.audit[k] = packAuditEvent(e)
			}
		}
		return nil
	})
}

// FindAuditEvents implements [storage.AuditStore]. It scans every event:
// the memory store is for tests, demos and small single-process hosts.
func (s *Store) FindAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	var found []packedAuditEvent // their details are never changed: safe to read after the lock
	err := s.auditTx(ctx, func() error {
		for _, p := range s.audit {
			if auditSelects(q, p.AuditEvent) {
				found = append(found, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(a, b packedAuditEvent) int {
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
	out := make([]storage.AuditEvent, len(found))
	for i, p := range found {
		out[i] = p.unpack()
	}
	return out, nil
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
		for k, e := range s.audit {
			if e.Time.Before(before) {
				delete(s.audit, k)
				n++
			}
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

// packedAuditEvent is an event as the store keeps it: its details as one
// flat slice of keys and values rather than a map, which costs the
// garbage collector less to keep (a trail holds many events).
type packedAuditEvent struct {
	storage.AuditEvent // without Details
	details            []string
}

func packAuditEvent(e storage.AuditEvent) packedAuditEvent {
	p := packedAuditEvent{AuditEvent: e}
	p.Details = nil
	if len(e.Details) > 0 {
		p.details = make([]string, 0, 2*len(e.Details))
		for k, v := range e.Details {
			p.details = append(p.details, k, v)
		}
	}
	return p
}

// unpack returns the event, with a details map of its own.
func (p packedAuditEvent) unpack() storage.AuditEvent {
	e := p.AuditEvent
	if len(p.details) > 0 {
		e.Details = make(map[string]string, len(p.details)/2)
		for i := 0; i+1 < len(p.details); i += 2 {
			e.Details[p.details[i]] = p.details[i+1]
		}
	}
	return e
}
