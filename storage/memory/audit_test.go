package memory

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// tokenIssued is a token.issued event as the provider records one for a
// client_credentials request: the same fields, the same sizes.
func tokenIssued(i int, at time.Time) storage.AuditEvent {
	return storage.AuditEvent{
		ID: fmt.Sprintf("%026d", i), Time: at, Type: "token.issued",
		Actor:  storage.AuditActor{Kind: storage.ActorClient, ID: "demo-service"},
		Target: "client:demo-service", ClientID: "demo-service",
		RequestID: fmt.Sprintf("R%025d", i), ClientAddr: "127.0.0.1",
		Details: []storage.AuditDetail{{Name: "grant_type", Value: "client_credentials"}, {Name: "scope", Value: "assets:read"}, {Name: "token_types", Value: "access_token"}},
	}
}

// TestAuditCapacity: a store keeps at most its capacity of audit events;
// beyond it the oldest events are dropped, and counted; the rest
// are found as before, and a sweep in between leaves the order right.
func TestAuditCapacity(t *testing.T) {
	ctx := context.Background()
	s := New(WithAuditCapacity(100))
	t0 := time.Now().Add(-time.Hour).UTC()
	for i := range 250 {
		require.NoError(t, s.AppendAuditEvents(ctx, []storage.AuditEvent{tokenIssued(i, t0.Add(time.Duration(i)*time.Second))}))
	}
	all, err := s.FindAuditEvents(ctx, storage.AuditQuery{})
	require.NoError(t, err)
	require.Len(t, all, 100)
	assert.Equal(t, fmt.Sprintf("%026d", 249), all[0].ID, "newest first")
	assert.Equal(t, fmt.Sprintf("%026d", 150), all[99].ID, "the 150 oldest were dropped")
	assert.Equal(t, int64(150), s.AuditEventsDropped())

	// A sweep removes the oldest 50; the next 60 appended fill the room
	// and drop 10, the oldest left.
	n, err := s.DeleteAuditEvents(ctx, t0.Add(200*time.Second))
	require.NoError(t, err)
	assert.Equal(t, int64(50), n)
	batch := make([]storage.AuditEvent, 60)
	for i := range batch {
		batch[i] = tokenIssued(250+i, t0.Add(time.Duration(250+i)*time.Second))
	}
	require.NoError(t, s.AppendAuditEvents(ctx, batch))
	all, err = s.FindAuditEvents(ctx, storage.AuditQuery{})
	require.NoError(t, err)
	require.Len(t, all, 100)
	assert.Equal(t, fmt.Sprintf("%026d", 210), all[99].ID)
	assert.Equal(t, int64(160), s.AuditEventsDropped())

	unbounded := New(WithAuditCapacity(-1))
	for i := range DefaultAuditCapacity + 10 {
		require.NoError(t, unbounded.AppendAuditEvents(ctx, []storage.AuditEvent{tokenIssued(i, t0)}))
	}
	assert.Zero(t, unbounded.AuditEventsDropped())
	assert.Len(t, unbounded.auditLog, DefaultAuditCapacity+10)
}

// maxBytesPerAuditEvent is the most heap one token.issued event may hold
// in the memory store (DefaultAuditCapacity's doc comment).
const maxBytesPerAuditEvent = 300

// TestAuditEventFootprint appends 100,000 token.issued events and checks
// the heap they hold, as runtime.MemStats counts it.
func TestAuditEventFootprint(t *testing.T) {
	ctx := context.Background()
	at := time.Now()
	s := New(WithAuditCapacity(100_000))
	checkFootprint(t, "stored audit event", maxBytesPerAuditEvent, func(i int) error {
		return s.AppendAuditEvents(ctx, []storage.AuditEvent{tokenIssued(i, at)})
	})
	runtime.KeepAlive(s)
}

// Events arrive nearly in time order (a batch of concurrent requests'
// events): each is put in its place, a stored one appended again is
// skipped, and the trail is found newest first, of events as old the
// greater ID first; at capacity the oldest go, whatever the append order.
func TestAuditOutOfOrder(t *testing.T) {
	ctx := context.Background()
	s := New(WithAuditCapacity(6))
	t0 := time.Now().UTC().Truncate(time.Second)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	require.NoError(t, s.AppendAuditEvents(ctx, []storage.AuditEvent{
		tokenIssued(1, at(1)), tokenIssued(3, at(3)), tokenIssued(2, at(2)), tokenIssued(5, at(3)), tokenIssued(4, at(3)),
	}))
	require.NoError(t, s.AppendAuditEvents(ctx, []storage.AuditEvent{tokenIssued(2, at(2)), tokenIssued(0, at(0))}), "one again, one older")
	ids := func() []string {
		all, err := s.FindAuditEvents(ctx, storage.AuditQuery{})
		require.NoError(t, err)
		var out []string
		for i, e := range all {
			if i > 0 {
				require.True(t, all[i-1].Key().Before(e.Key()), "the trail's order")
			}
			out = append(out, strings.TrimLeft(e.ID, "0"))
		}
		return out
	}
	assert.Equal(t, []string{"5", "4", "3", "2", "1", ""}, ids(), "newest first; the duplicate skipped")
	require.NoError(t, s.AppendAuditEvents(ctx, []storage.AuditEvent{tokenIssued(7, at(-1)), tokenIssued(6, at(4))}))
	assert.Equal(t, []string{"6", "5", "4", "3", "2", "1"}, ids(), "the two oldest dropped, the one appended last among them")
	assert.Equal(t, int64(2), s.AuditEventsDropped())

	page, err := s.FindAuditEvents(ctx, storage.AuditQuery{Limit: 2, After: storage.AuditKey{Time: at(3), ID: fmt.Sprintf("%026d", 4)}})
	require.NoError(t, err)
	require.Len(t, page, 2)
	assert.Equal(t, []string{fmt.Sprintf("%026d", 3), fmt.Sprintf("%026d", 2)}, []string{page[0].ID, page[1].ID}, "the page after a cursor")

	n, err := s.DeleteAuditEvents(ctx, at(3))
	require.NoError(t, err)
	assert.Equal(t, int64(2), n, "the events before the cut")
	assert.Equal(t, []string{"6", "5", "4", "3"}, ids())
}

// TestAuditArenaReleased: the events the trail drops (at capacity, or
// by DeleteAuditEvents) free their room in the audit arena, whose chunks
// go once empty: a trail at its capacity holds a bounded number of them.
func TestAuditArenaReleased(t *testing.T) {
	ctx := context.Background()
	s := New(WithAuditCapacity(1_000))
	at := time.Now()
	for i := range 20_000 {
		require.NoError(t, s.AppendAuditEvents(ctx, []storage.AuditEvent{tokenIssued(i, at.Add(time.Duration(i)))}))
	}
	held := func() (chunks, live int) {
		for i, c := range s.auditRecs.chunks {
			if c != nil {
				chunks++
				live += s.auditRecs.live[i]
			}
		}
		return chunks, live
	}
	chunks, live := held()
	assert.LessOrEqual(t, chunks, live/chunkSize+2, "1,000 events of %d bytes in %d chunks", live, chunks)
	got, err := s.FindAuditEvents(ctx, storage.AuditQuery{Limit: 1})
	require.NoError(t, err)
	assert.Equal(t, tokenIssued(19_999, at.Add(19_999)).ID, got[0].ID, "the newest event reads back")

	n, err := s.DeleteAuditEvents(ctx, at.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, int64(1_000), n)
	chunks, live = held()
	assert.Zero(t, live, "no event left, no live byte")
	assert.LessOrEqual(t, chunks, 1, "at most the chunk being filled is kept")
}
