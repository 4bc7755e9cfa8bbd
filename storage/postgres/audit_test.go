package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage"
)

func TestAuditEventEveryFieldRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	e := filled[storage.AuditEvent]()
	require.NoError(t, s.AppendAuditEvents(ctx, []storage.AuditEvent{e}))
	got, err := s.FindAuditEvents(ctx, storage.AuditQuery{})
	require.NoError(t, err)
	assert.Equal(t, []storage.AuditEvent{e}, got, "every AuditEvent field is stored")
}

// A batch is one INSERT: 2000 events in one call, and a batch with a bad
// event stores none of them.
func TestAppendAuditEventsIsOneStatement(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, pool, prefix := pgtest.Store(t)
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var batch []storage.AuditEvent
	for i := range 2000 {
		batch = append(batch, storage.AuditEvent{ID: fmt.Sprintf("e%04d", i), Time: base.Add(time.Duration(i) * time.Microsecond), Type: "token.issued",
			Details: []storage.AuditDetail{{Name: "n", Value: fmt.Sprint(i)}}})
	}
	require.NoError(t, s.AppendAuditEvents(ctx, batch))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+prefix+`audit_events`).Scan(&n))
	assert.Equal(t, 2000, n)

	bad := []storage.AuditEvent{
		{ID: "good", Time: base.Add(time.Hour), Type: "token.issued"},
		{ID: "bad", Time: base.Add(time.Hour), Type: "nul\x00"}, // text cannot hold NUL
	}
	assert.Error(t, s.AppendAuditEvents(ctx, bad))
	got, err := s.FindAuditEvents(ctx, storage.AuditQuery{Since: base.Add(time.Hour)})
	require.NoError(t, err)
	assert.Empty(t, got, "all of the batch or none")
}

func TestDeleteAuditEventsInBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, pool, prefix := pgtest.Store(t)
	_, err := pool.Exec(ctx, `INSERT INTO `+prefix+`audit_events (at, id, type, actor_kind, actor_id, target, client_id, subject, request_id, client_addr)
		SELECT '2000-01-01Z'::timestamptz + g * interval '1 second', 'e' || g, 'token.issued', 'client', 'c', '', 'c', '', '', '' FROM generate_series(1, 2500) g`)
	require.NoError(t, err)
	live := storage.AuditEvent{ID: "live", Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Type: "token.issued"}
	require.NoError(t, s.AppendAuditEvents(ctx, []storage.AuditEvent{live}))
	n, err := s.DeleteAuditEvents(ctx, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.EqualValues(t, 2500, n, "every old event, over several batches")
	got, err := s.FindAuditEvents(ctx, storage.AuditQuery{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "live", got[0].ID)
}
