package storagetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

// withAudit runs an Audit case on a store that implements
// storage.AuditStore, and skips it, saying so, on one that does not.
func withAudit(run func(t *testing.T, s storage.Store, a storage.AuditStore)) func(t *testing.T, s storage.Store) {
	return func(t *testing.T, s storage.Store) {
		a, ok := s.(storage.AuditStore)
		if !ok {
			t.Skipf("storagetest: %T does not implement storage.AuditStore; the Audit cases run only for stores that do", s)
		}
		run(t, s, a)
	}
}

// newAuditEvent returns an event with every field set, at base plus d.
func newAuditEvent(id string, d time.Duration) storage.AuditEvent {
	return storage.AuditEvent{
		ID:         id,
		Time:       at(d),
		Type:       "token.issued",
		Actor:      storage.AuditActor{Kind: storage.ActorClient, ID: "client-" + id},
		Target:     "grant:fam-" + id,
		ClientID:   "client",
		Subject:    "alice",
		RequestID:  "req-" + id,
		ClientAddr: "2001:db8::1",
		Details: []storage.AuditDetail{ // in name order, as the provider makes them
			{Name: "grant", Value: "authorization_code"}, {Name: "note", Value: `"quoted" \ ü`}, {Name: "scopes", Value: "openid assets:read"},
		},
	}
}

// findAudit returns what q finds, failing the test on an error.
func findAudit(t *testing.T, a storage.AuditStore, q storage.AuditQuery) []storage.AuditEvent {
	t.Helper()
	got, err := a.FindAuditEvents(t.Context(), q)
	require.NoError(t, err, "FindAuditEvents(%+v)", q)
	return got
}

// auditIDs returns the IDs of events, in order.
func auditIDs(events []storage.AuditEvent) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

func testAuditAppendFind(t *testing.T, _ storage.Store, a storage.AuditStore) {
	ctx := t.Context()
	got := findAudit(t, a, storage.AuditQuery{})
	assert.NotNil(t, got, "an empty trail is an empty result")
	assert.Empty(t, got)

	e1, e2 := newAuditEvent("e1", 0), newAuditEvent("e2", time.Second)
	e2.Details = nil
	e2.Actor = storage.AuditActor{Kind: storage.ActorSystem}
	e2.Subject, e2.Target, e2.RequestID, e2.ClientAddr = "", "", "", ""
	require.NoError(t, a.AppendAuditEvents(ctx, []storage.AuditEvent{e1, e2}))
	require.NoError(t, a.AppendAuditEvents(ctx, nil), "an empty batch")
	assertSameRecord(t, []storage.AuditEvent{e2, e1}, findAudit(t, a, storage.AuditQuery{}), "every field round-trips, newest first")

	// A batch appended again (its outcome unknown) adds nothing; an event
	// of another time with the same ID is another event.
	again := newAuditEvent("e1", 2*time.Second)
	require.NoError(t, a.AppendAuditEvents(ctx, []storage.AuditEvent{e1, e2, again}))
	assertSameRecord(t, []storage.AuditEvent{again, e2, e1}, findAudit(t, a, storage.AuditQuery{}),
		"appending stored events again stores them once")

	// Times in another zone are the same instants.
	zoned := newAuditEvent("zoned", 3*time.Second)
	zoned.Time = zoned.Time.In(kolkata)
	require.NoError(t, a.AppendAuditEvents(ctx, []storage.AuditEvent{zoned}))
	got = findAudit(t, a, storage.AuditQuery{Limit: 1})
	require.Len(t, got, 1)
	assert.True(t, got[0].Time.Equal(at(3*time.Second)), "time round-trips as an instant: got %v", got[0].Time)
}

func testAuditOrder(t *testing.T, _ storage.Store, a storage.AuditStore) {
	ctx := t.Context()
	// Appended out of order, in several batches, with ties in time.
	batches := [][]storage.AuditEvent{
		{newAuditEvent("b", time.Second), newAuditEvent("z", -time.Hour)},
		{newAuditEvent("a", time.Second), newAuditEvent("c", time.Second), newAuditEvent("n", 2*time.Second)},
		{newAuditEvent("y", time.Second+time.Microsecond), newAuditEvent("B", time.Second)},
	}
	for _, b := range batches {
		require.NoError(t, a.AppendAuditEvents(ctx, b))
	}
	// Newest first; the same time by ID, greater first, byte order ("B" <
	// "a").
	assert.Equal(t, []string{"n", "y", "c", "b", "a", "B", "z"}, auditIDs(findAudit(t, a, storage.AuditQuery{})))
}

func testAuditFilters(t *testing.T, _ storage.Store, a storage.AuditStore) {
	ctx := t.Context()
	mk := func(id string, d time.Duration, typ, client, subject string) storage.AuditEvent {
		e := newAuditEvent(id, d)
		e.Type, e.ClientID, e.Subject = typ, client, subject
		return e
	}
	events := []storage.AuditEvent{
		mk("1", 1*time.Second, "token.issued", "c", "alice"),
		mk("2", 2*time.Second, "token.refreshed", "c", "bob"),
		mk("3", 3*time.Second, "client.created", "C", ""),
		mk("4", 4*time.Second, "token.issued", "c2", "alice"),
		mk("5", 5*time.Second, "token.issued", "", "Alice"),
		mk("6", 6*time.Second, "token.issued.more", "c", "alice"),
	}
	require.NoError(t, a.AppendAuditEvents(ctx, events))
	for _, tc := range []struct {
		name string
		q    storage.AuditQuery
		want []string
	}{
		{"all", storage.AuditQuery{}, []string{"6", "5", "4", "3", "2", "1"}},
		{"since is inclusive", storage.AuditQuery{Since: at(3 * time.Second)}, []string{"6", "5", "4", "3"}},
		{"until is exclusive", storage.AuditQuery{Until: at(3 * time.Second)}, []string{"2", "1"}},
		{"since and until", storage.AuditQuery{Since: at(2 * time.Second), Until: at(5 * time.Second)}, []string{"4", "3", "2"}},
		{"since a microsecond later", storage.AuditQuery{Since: at(3*time.Second + time.Microsecond)}, []string{"6", "5", "4"}},
		// A client ID compares byte for byte: not "C", not "c2".
		{"client", storage.AuditQuery{ClientID: "c"}, []string{"6", "2", "1"}},
		{"subject", storage.AuditQuery{Subject: "alice"}, []string{"6", "4", "1"}},
		// A type is matched whole: not "token.issued.more".
		{"one type", storage.AuditQuery{Types: []string{"token.issued"}}, []string{"5", "4", "1"}},
		{"two types", storage.AuditQuery{Types: []string{"client.created", "token.refreshed"}}, []string{"3", "2"}},
		{"unknown type", storage.AuditQuery{Types: []string{"token"}}, []string{}},
		{"combined", storage.AuditQuery{ClientID: "c", Subject: "alice", Types: []string{"token.issued"}, Until: at(6 * time.Second)}, []string{"1"}},
		{"limit", storage.AuditQuery{Limit: 2}, []string{"6", "5"}},
		{"limit with filter", storage.AuditQuery{Subject: "alice", Limit: 2}, []string{"6", "4"}},
		{"after", storage.AuditQuery{After: events[3].Key()}, []string{"3", "2", "1"}},
		{"after with filter", storage.AuditQuery{After: events[3].Key(), ClientID: "c"}, []string{"2", "1"}},
		{"nothing", storage.AuditQuery{ClientID: "nobody"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, auditIDs(findAudit(t, a, tc.q)), "FindAuditEvents(%+v)", tc.q)
		})
	}
}

func testAuditPages(t *testing.T, _ storage.Store, a storage.AuditStore) {
	ctx := t.Context()
	// 30 events, most sharing their time with others: a page boundary
	// falls inside a run of equal times, where a cursor of the time alone
	// would skip or repeat events.
	var events []storage.AuditEvent
	for i := range 30 {
		e := newAuditEvent(fmt.Sprintf("ev-%02d", (i*7)%30), time.Duration(i/6)*time.Second)
		if i%3 == 0 {
			e.ClientID = "other"
		}
		events = append(events, e)
	}
	require.NoError(t, a.AppendAuditEvents(ctx, events[:15]))
	require.NoError(t, a.AppendAuditEvents(ctx, events[15:]))
	for _, q := range []storage.AuditQuery{{}, {ClientID: "client"}, {Since: at(time.Second), Until: at(4 * time.Second)}} {
		all := findAudit(t, a, q)
		for _, size := range []int{1, 4, 5, 7} {
			var paged []storage.AuditEvent
			page := q
			page.Limit = size
			for range 40 {
				got := findAudit(t, a, page)
				require.LessOrEqual(t, len(got), size, "a page holds at most Limit events")
				paged = append(paged, got...)
				if len(got) < size {
					break
				}
				page.After = got[len(got)-1].Key()
			}
			assert.Equal(t, auditIDs(all), auditIDs(paged), "pages of %d of %+v are the whole result, in order, each event once", size, q)
		}
	}
}

func testAuditRetention(t *testing.T, _ storage.Store, a storage.AuditStore) {
	ctx := t.Context()
	cut := at(time.Hour)
	events := []storage.AuditEvent{
		newAuditEvent("long-ago", -24*time.Hour),
		newAuditEvent("before", time.Hour-time.Microsecond),
		newAuditEvent("at", time.Hour),
		newAuditEvent("after", time.Hour+time.Microsecond),
	}
	events[0].Time = longAgo
	require.NoError(t, a.AppendAuditEvents(ctx, events))
	n, err := a.DeleteAuditEvents(ctx, cut)
	require.NoError(t, err)
	assert.Equal(t, []string{"after", "at"}, auditIDs(findAudit(t, a, storage.AuditQuery{})),
		"DeleteAuditEvents(%s) removes the events before it, keeps the one exactly at it", cut.Format(time.RFC3339Nano))
	assert.EqualValues(t, 2, n, "DeleteAuditEvents returns how many it removed")
	n, err = a.DeleteAuditEvents(ctx, cut)
	require.NoError(t, err)
	assert.EqualValues(t, 0, n, "a second sweep removes nothing")

	// A removed event appended again (a late retry) is stored again.
	require.NoError(t, a.AppendAuditEvents(ctx, events[1:2]))
	assert.Equal(t, []string{"after", "at", "before"}, auditIDs(findAudit(t, a, storage.AuditQuery{})))
}

func testAuditIsolation(t *testing.T, _ storage.Store, a storage.AuditStore) {
	ctx := t.Context()
	e := newAuditEvent("e", 0)
	batch := []storage.AuditEvent{e}
	batch[0].Details = []storage.AuditDetail{{Name: "grant", Value: "client_credentials"}}
	require.NoError(t, a.AppendAuditEvents(ctx, batch))
	batch[0].Details[0].Value = "changed"
	batch[0].ID = "changed"
	got := findAudit(t, a, storage.AuditQuery{})
	require.Len(t, got, 1)
	assert.Equal(t, []storage.AuditDetail{{Name: "grant", Value: "client_credentials"}}, got[0].Details, "changing the details appended changes nothing stored")
	got[0].Details[0].Value = "changed again"
	again := findAudit(t, a, storage.AuditQuery{})
	require.Len(t, again, 1)
	assert.Equal(t, []storage.AuditDetail{{Name: "grant", Value: "client_credentials"}}, again[0].Details, "changing the details found changes nothing stored")
}

func testAuditContext(t *testing.T, _ storage.Store, a storage.AuditStore) {
	require.NoError(t, a.AppendAuditEvents(t.Context(), []storage.AuditEvent{newAuditEvent("kept", 0)}))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := a.AppendAuditEvents(ctx, []storage.AuditEvent{newAuditEvent("new", time.Second)})
	assert.ErrorIs(t, err, context.Canceled, "AppendAuditEvents")
	_, err = a.FindAuditEvents(ctx, storage.AuditQuery{})
	assert.ErrorIs(t, err, context.Canceled, "FindAuditEvents")
	_, err = a.DeleteAuditEvents(ctx, at(time.Hour))
	assert.ErrorIs(t, err, context.Canceled, "DeleteAuditEvents")
	assert.Equal(t, []string{"kept"}, auditIDs(findAudit(t, a, storage.AuditQuery{})), "calls with a cancelled context change nothing")
}

// testAuditTransaction checks that events appended in a transaction are
// kept or discarded with it: the provider records an administrator's
// change in the transaction that makes it, so that neither is kept without
// the other.
func testAuditTransaction(t *testing.T, s storage.Store, a storage.AuditStore) {
	tr, ok := s.(storage.Transactor)
	if !ok {
		t.Skipf("storagetest: %T does not implement storage.Transactor", s)
	}
	for _, commit := range []bool{false, true} {
		id := fmt.Sprintf("commit-%v", commit)
		ctx, err := tr.BeginTx(t.Context())
		require.NoError(t, err)
		require.NoError(t, s.CreateClient(ctx, newClient(id)))
		require.NoError(t, a.AppendAuditEvents(ctx, []storage.AuditEvent{newAuditEvent(id, 0)}))
		inTx, err := a.FindAuditEvents(ctx, storage.AuditQuery{})
		require.NoError(t, err)
		assert.Contains(t, auditIDs(inTx), id, "the transaction sees its own event")
		if commit {
			require.NoError(t, tr.Commit(ctx))
		} else {
			require.NoError(t, tr.Rollback(ctx))
		}
		got := auditIDs(findAudit(t, a, storage.AuditQuery{}))
		assert.Equal(t, commit, slices.Contains(got, id), "after %s the event is kept: %v", map[bool]string{true: "commit", false: "rollback"}[commit], commit)
	}
}
