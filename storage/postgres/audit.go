package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

var _ storage.AuditStore = (*Store)(nil)

// auditColumns are the columns of an audit event, in the order
// appendAuditSQL gives and scanAuditEvent reads them.
const auditColumns = `at, id, type, actor_kind, actor_id, target, client_id, subject, request_id, client_addr, details`

// appendAuditSQL inserts a batch of events in one statement: each
// parameter is an array with one element per event.
const appendAuditSQL = `INSERT INTO {p}audit_events (` + auditColumns + `)
	SELECT at, id, type, actor_kind, actor_id, target, client_id, subject, request_id, client_addr, details::jsonb
	FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
		AS e(at, id, type, actor_kind, actor_id, target, client_id, subject, request_id, client_addr, details)
	ON CONFLICT (at, id) DO NOTHING`

// AppendAuditEvents implements [storage.AuditStore]: one INSERT of every
// event (columns as arrays, unnested), so a batch is stored whole or not
// at all, in one round trip. Strings must be valid UTF-8 without NUL, as
// the provider's events always are.
func (s *Store) AppendAuditEvents(ctx context.Context, events []storage.AuditEvent) error {
	if len(events) == 0 {
		return ctx.Err()
	}
	n := len(events)
	at := make([]pgtype.Timestamptz, n)
	cols := make([][]string, 9)
	for i := range cols {
		cols[i] = make([]string, n)
	}
	details := make([]*string, n)
	for i, e := range events {
		at[i] = ts(e.Time)
		for j, v := range []string{e.ID, e.Type, string(e.Actor.Kind), e.Actor.ID, e.Target, e.ClientID, e.Subject, e.RequestID, e.ClientAddr} {
			cols[j][i] = v
		}
		if len(e.Details) > 0 {
			d, err := encodeDetails(e.Details)
			if err != nil {
				return fmt.Errorf("postgres: append audit events: encode details: %w", err)
			}
			details[i] = &d
		}
	}
	args := []any{at}
	for _, c := range cols {
		args = append(args, c)
	}
	args = append(args, details)
	err := s.run(ctx, func(q querier) error {
		_, err := q.Exec(ctx, s.sql(appendAuditSQL), args...)
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "append %d audit events", n)
	}
	return nil
}

// scanAuditEvent reads a row of auditColumns.
func scanAuditEvent(row pgx.Row) (storage.AuditEvent, error) {
	var (
		e       storage.AuditEvent
		at      pgtype.Timestamptz
		kind    string
		details []byte
	)
	err := row.Scan(&at, &e.ID, &e.Type, &kind, &e.Actor.ID, &e.Target, &e.ClientID, &e.Subject, &e.RequestID, &e.ClientAddr, &details)
	if err != nil {
		return storage.AuditEvent{}, err
	}
	e.Time = fromTS(at)
	e.Actor.Kind = storage.ActorKind(kind)
	if details != nil {
		if e.Details, err = decodeDetails(details); err != nil {
			return storage.AuditEvent{}, fmt.Errorf("corrupt audit event details: %w", err)
		}
	}
	return e, nil
}

// encodeDetails returns an event's details as the JSON object the
// details column holds: {"name": "value", ...}.
func encodeDetails(details []storage.AuditDetail) (string, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, d := range details {
		if i > 0 {
			b.WriteByte(',')
		}
		for j, t := range [2]string{d.Name, d.Value} {
			q, err := json.Marshal(t)
			if err != nil {
				return "", err
			}
			b.Write(q)
			if j == 0 {
				b.WriteByte(':')
			}
		}
	}
	b.WriteByte('}')
	return b.String(), nil
}

// decodeDetails reads the details column: a JSON object, whose names
// jsonb keeps in an order of its own, returned in byte order of the
// names as [storage.AuditEvent] says.
func decodeDetails(b []byte) ([]storage.AuditDetail, error) {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	out := make([]storage.AuditDetail, 0, len(m))
	for k, v := range m {
		out = append(out, storage.AuditDetail{Name: k, Value: v})
	}
	slices.SortFunc(out, func(a, b storage.AuditDetail) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// FindAuditEvents implements [storage.AuditStore]. The query names only
// the conditions q sets, so that each combination is planned on the index
// that serves it: the primary key (at, id) read backwards, or the index
// on client_id, subject or type.
func (s *Store) FindAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.Since.IsZero() {
		conds = append(conds, "at >= "+arg(q.Since))
	}
	if !q.Until.IsZero() {
		conds = append(conds, "at < "+arg(q.Until))
	}
	if q.ClientID != "" {
		conds = append(conds, "client_id = "+arg(q.ClientID))
	}
	if q.Subject != "" {
		conds = append(conds, "subject = "+arg(q.Subject))
	}
	switch len(q.Types) {
	case 0:
	case 1:
		conds = append(conds, "type = "+arg(q.Types[0]))
	default:
		conds = append(conds, "type = ANY("+arg(q.Types)+"::text[])")
	}
	if q.After.ID != "" {
		conds = append(conds, "(at, id) < ("+arg(q.After.Time)+"::timestamptz, "+arg(q.After.ID)+")")
	}
	query := `SELECT ` + auditColumns + ` FROM {p}audit_events`
	if len(conds) > 0 {
		query += ` WHERE ` + strings.Join(conds, " AND ")
	}
	query += ` ORDER BY at DESC, id DESC`
	if q.Limit > 0 {
		query += ` LIMIT ` + arg(q.Limit)
	}
	out, err := queryAll(ctx, s, scanAuditEvent, query, args...)
	if err != nil {
		return nil, s.fail(ctx, err, "find audit events")
	}
	if out == nil {
		out = []storage.AuditEvent{}
	}
	return out, nil
}

// deleteAuditSQL deletes at most $2 events older than $1, skipping rows
// another transaction holds.
const deleteAuditSQL = `DELETE FROM {p}audit_events WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM {p}audit_events WHERE at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED
	)) AND at < $1`

// DeleteAuditEvents implements [storage.AuditStore]. Like DeleteExpired it
// deletes in batches of at most 1000 rows, each its own statement, so it
// never holds many locks for long; on an error it returns how many events
// it had removed so far.
func (s *Store) DeleteAuditEvents(ctx context.Context, before time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, s.fail(ctx, err, "delete audit events")
	}
	var total int64
	for {
		var n int64
		err := s.run(ctx, func(q querier) error {
			tag, err := q.Exec(ctx, s.sql(deleteAuditSQL), before, deleteBatch)
			n = tag.RowsAffected()
			return err
		})
		total += n
		if err != nil {
			return total, s.fail(ctx, err, "delete audit events")
		}
		if n < deleteBatch {
			return total, nil
		}
	}
}
