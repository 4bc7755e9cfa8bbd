package memory

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/storage"
)

var _ storage.AuditStore = (*Store)(nil)

// AppendAuditEvents implements [storage.AuditStore]. An event whose Time
// and ID are those of a stored one is skipped.
func (s *Store) AppendAuditEvents(ctx context.Context, events []storage.AuditEvent) error {
	return s.tx(ctx, func() error {
		for _, e := range events {
			k := auditKey{e.Time.UnixNano(), e.ID}
			if _, dup := s.audit[k]; !dup {
				s.audit[k] = copyAuditEvent(e)
			}
		}
		return nil
	})
}

// FindAuditEvents implements [storage.AuditStore]. It scans every event:
// the memory store is for tests, demos and small single-process hosts.
func (s *Store) FindAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	out := []storage.AuditEvent{}
	err := s.tx(ctx, func() error {
		for _, e := range s.audit {
			if auditSelects(q, e) {
				out = append(out, e) // copied below, once sorted and cut
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b storage.AuditEvent) int {
		switch ka, kb := a.Key(), b.Key(); {
		case ka.Before(kb):
			return -1
		case kb.Before(ka):
			return 1
		}
		return 0
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	for i := range out {
		out[i] = copyAuditEvent(out[i])
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
	err := s.tx(ctx, func() error {
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

// auditKey is the key of a stored audit event: its Time and ID.
type auditKey struct {
	nanos int64
	id    string
}

func copyAuditEvent(e storage.AuditEvent) storage.AuditEvent {
	e.Details = maps.Clone(e.Details)
	return e
}
