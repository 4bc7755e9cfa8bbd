package provider

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/textproto"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// docs/audit.md's table of event types lists exactly the provider's types.
func TestAuditDocListsEveryType(t *testing.T) {
	doc, err := os.ReadFile("../docs/audit.md")
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(doc), "## Event types")
	require.True(t, ok, "docs/audit.md has an Event types section")
	table, _, _ = strings.Cut(table, "\n## ")
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\|").FindAllStringSubmatch(table, -1) {
		documented = append(documented, m[1])
	}
	var defined []string
	level := map[string]slog.Level{}
	for _, at := range auditTypes {
		defined = append(defined, at.name)
		level[at.name] = at.level
	}
	assert.Equal(t, defined, documented, "the table lists every type, in the order of auditTypes")
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.]+)` \\|[^|]*\\|").FindAllStringSubmatch(table, -1) {
		assert.Equal(t, level[m[1]] == slog.LevelWarn, strings.Contains(m[0], "*warn*"), "%s: the table marks it *warn* exactly when it is logged at Warn", m[1])
		assert.Equal(t, level[m[1]] == slog.LevelDebug, strings.Contains(m[0], "*debug*"), "%s: the table marks it *debug* exactly when it is logged at Debug", m[1])
	}
}

// cleanText makes any string valid UTF-8 without NUL and at most max
// bytes, cutting at a character.
func TestCleanText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"a\x00b", "a\ufffdb"},
		{"a\xff\xfeb", "a\ufffdb"},
		{strings.Repeat("é", 10), strings.Repeat("é", 3) + "…"}, // 9 bytes max: 3 é (6) + … (3)
		{strings.Repeat("x", 9), strings.Repeat("x", 9)},
		{strings.Repeat("x", 10), strings.Repeat("x", 6) + "…"},
	} {
		got := cleanText(tc.in, 9)
		assert.Equal(t, tc.want, got, "%q", tc.in)
		assert.True(t, utf8.ValidString(got) && !strings.Contains(got, "\x00") && len(got) <= 9, "%q", got)
	}
}

// blockingAudit is an audit store whose appends wait until release is
// closed, after saying so on entered; it counts the batches it got.
type blockingAudit struct {
	storage.AuditStore
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	batches []int
	fail    error
}

func (b *blockingAudit) AppendAuditEvents(ctx context.Context, events []storage.AuditEvent) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	<-b.release
	b.mu.Lock()
	b.batches = append(b.batches, len(events))
	b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	return b.AuditStore.AppendAuditEvents(ctx, events)
}

// got returns the sizes of the batches appended so far.
func (b *blockingAudit) got() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.batches)
}

func newTestWriter(store storage.AuditStore, auditor Auditor, max int) (*auditWriter, *bytes.Buffer) {
	var logs bytes.Buffer
	var mu sync.Mutex
	h := slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) }), nil)
	return newAuditWriter(store, auditor, slog.New(h), max), &logs
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func testEvent(id string) queuedEvent {
	return queuedEvent{e: storage.AuditEvent{ID: id, Time: time.Now().UTC().Truncate(time.Microsecond), Type: AuditTokenIssued}}
}

var nopAuditor = AuditorFunc(func(context.Context, storage.AuditEvent) error { return nil })

// A full queue drops events, counting and logging them; the writer stores
// what it queued in batches, and flush waits for it.
func TestAuditWriterQueueFull(t *testing.T) {
	mem := memory.New()
	store := &blockingAudit{AuditStore: mem, entered: make(chan struct{}, 1), release: make(chan struct{})}
	w, logs := newTestWriter(store, nopAuditor, 3)
	w.enqueue(testEvent("first"))
	<-store.entered // the writer holds "first" and waits on the store
	for _, id := range []string{"a", "b", "c", "dropped-1", "dropped-2"} {
		w.enqueue(testEvent(id))
	}
	assert.Equal(t, AuditStats{Queued: 4, Unwritten: 2, Dropped: 2}, w.stats())
	assert.Contains(t, logs.String(), "the queue is full; events dropped")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, w.flush(ctx), context.Canceled, "flush gives up when its context ends")

	close(store.release)
	require.NoError(t, w.flush(context.Background()))
	assert.Equal(t, AuditStats{Written: 4, Unwritten: 2, Dropped: 2}, w.stats())
	assert.Equal(t, []int{1, 3}, store.got(), "the three queued meanwhile are one batch")
	got, err := mem.FindAuditEvents(context.Background(), storage.AuditQuery{})
	require.NoError(t, err)
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ID)
	}
	slices.Sort(ids)
	assert.Equal(t, []string{"a", "b", "c", "first"}, ids)
}

// A batch the store refuses is counted and logged with its events' IDs;
// the Auditor still gets each event.
func TestAuditWriterStoreFailure(t *testing.T) {
	store := &blockingAudit{AuditStore: memory.New(), entered: make(chan struct{}, 1), release: make(chan struct{}), fail: errors.New("disk full")}
	close(store.release)
	var mu sync.Mutex
	var seen []string
	w, logs := newTestWriter(store, AuditorFunc(func(_ context.Context, e storage.AuditEvent) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, e.ID)
		return nil
	}), 10)
	w.enqueue(testEvent("lost-event-1"))
	require.NoError(t, w.flush(context.Background()))
	assert.Equal(t, AuditStats{Unwritten: 1}, w.stats())
	assert.Contains(t, logs.String(), `"msg":"audit: events could not be stored"`)
	assert.Contains(t, logs.String(), "lost-event-1")
	assert.Contains(t, logs.String(), "disk full")
	assert.Equal(t, []string{"lost-event-1"}, seen)
}

// The writer lets events gather for auditBatchDelay and writes them in one
// batch; its goroutine ends when the queue is empty, so a provider that is
// never shut down leaks nothing.
func TestAuditWriterBatchesAndStopsWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &blockingAudit{AuditStore: memory.New(), entered: make(chan struct{}, 1), release: make(chan struct{})}
		close(store.release)
		w, _ := newTestWriter(store, nopAuditor, 10)
		for _, id := range []string{"a", "b", "c"} {
			w.enqueue(testEvent(id))
		}
		synctest.Wait() // the writer waits for more
		assert.Empty(t, store.got(), "nothing written before the delay")
		time.Sleep(auditBatchDelay)
		synctest.Wait() // every goroutine of the bubble has ended or blocks for good
		assert.Equal(t, []int{3}, store.got(), "one batch")
		w.mu.Lock()
		defer w.mu.Unlock()
		assert.False(t, w.running, "the drain goroutine ended")
		assert.Equal(t, w.seq, w.done)
	})
}

// revokeConsent revokes a consent and records consent.revoked with the
// context's actor before it returns; if the event cannot be written, the
// call fails.
func TestRevokeConsentIsAudited(t *testing.T) {
	store := memory.New()
	p, err := New(Config{Issuer: "http://127.0.0.1:9", Store: store, Authenticator: UserAuthenticatorFunc(func(context.Context, string, string) (User, error) {
		return User{}, ErrInvalidCredentials
	}), Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, store.SaveConsent(ctx, storage.Consent{Subject: "sub-alice", ClientID: "web", Scopes: []string{"openid"}, GrantedAt: time.Now()}))
	ctx = WithRequestID(WithActor(ctx, storage.AuditActor{Kind: storage.ActorUser, ID: "sub-alice"}), "req-1")
	require.NoError(t, p.revokeConsent(ctx, "sub-alice", "web"))
	_, err = store.GetConsent(ctx, "sub-alice", "web")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	got, err := store.FindAuditEvents(ctx, storage.AuditQuery{Types: []string{AuditConsentRevoked}})
	require.NoError(t, err)
	require.Len(t, got, 1, "written before revokeConsent returned")
	assert.Equal(t, storage.AuditActor{Kind: storage.ActorUser, ID: "sub-alice"}, got[0].Actor)
	assert.Equal(t, "sub-alice", got[0].Subject)
	assert.Equal(t, "web", got[0].ClientID)
	assert.Equal(t, "req-1", got[0].RequestID)

	// Nothing left to revoke (RevokeApp revokes the grants even so): not
	// an error, and recorded, as asked.
	require.NoError(t, p.revokeConsent(ctx, "sub-alice", "web"))
	got, err = store.FindAuditEvents(ctx, storage.AuditQuery{Types: []string{AuditConsentRevoked}})
	require.NoError(t, err)
	assert.Len(t, got, 2)

	p.cfg.Auditor = AuditorFunc(func(context.Context, storage.AuditEvent) error { return errors.New("siem down") })
	require.NoError(t, store.SaveConsent(ctx, storage.Consent{Subject: "sub-alice", ClientID: "web", Scopes: []string{"openid"}, GrantedAt: time.Now()}))
	assert.ErrorIs(t, p.revokeConsent(ctx, "sub-alice", "web"), ErrUnavailable)
}

// The request ID's header is read and set by its key as http.Header keeps
// it: the key must be the canonical one, or neither would find it.
func TestRequestIDHeaderIsCanonical(t *testing.T) {
	assert.Equal(t, textproto.CanonicalMIMEHeaderKey(requestIDHeader), requestIDHeader)
}

// cleanDetails puts an event's details as storage.AuditEvent says they
// are: in name order, each name once (its last value), cleaned, without
// empty values; it returns details that are so already as they are, and
// leaves the caller's slice as it was otherwise.
func TestCleanDetails(t *testing.T) {
	d := func(nv ...string) []storage.AuditDetail { return details(nv...) }
	for _, tc := range []struct {
		name     string
		in, want []storage.AuditDetail
	}{
		{"none", nil, nil},
		{"in order", d("grant", "client_credentials", "grant_id", "g-1", "scopes", "a b"), d("grant", "client_credentials", "grant_id", "g-1", "scopes", "a b")},
		{"out of order", d("scopes", "a b", "grant", "client_credentials", "grant_id", "g-1"), d("grant", "client_credentials", "grant_id", "g-1", "scopes", "a b")},
		{"empty values left out", d("reason", "", "factor", "totp"), d("factor", "totp")},
		{"only empty values", d("reason", ""), nil},
		{"a later value wins", d("grant", "implicit", "factor", "totp", "grant", "refresh_token"), d("factor", "totp", "grant", "refresh_token")},
		{"cleaned", d("bad\x00name", "bad\xffvalue"), d("bad\uFFFDname", "bad\uFFFDvalue")},
		{"names that clean to one", d("a\x00", "1", "a\uFFFD", "2"), d("a\uFFFD", "2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := cleanDetails(in)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.in, in, "the caller's details are left as they were")
			if slices.Equal(tc.in, tc.want) && len(tc.in) > 0 {
				assert.Same(t, &in[0], &got[0], "details in order are returned as they are")
			}
		})
	}

	long := strings.Repeat("s", 3*maxAuditDetail)
	got := cleanDetails(d("scopes", long))[0].Value
	assert.LessOrEqual(t, len(got), maxAuditDetail, "a stranger's request cannot make an event large through a detail")
	assert.True(t, strings.HasSuffix(got, "…"), "the cut is marked")
	assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(got, "…")))
}

// queueEvent keeps every text and detail of the event and gives it a fresh
// ID, however many details there are; event gives the details the room of
// the batch, and no two events share any.
func TestQueueEvent(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Microsecond)
	base := storage.AuditEvent{
		Time: at, Type: AuditTokenIssued, Actor: clientActor("svc"), Target: "grant:g-1", ClientID: "svc",
		Subject: "sub-alice", RequestID: "req-1", ClientAddr: "192.0.2.1",
	}
	for _, tc := range []struct {
		name    string
		details []storage.AuditDetail
	}{
		{"none", nil},
		{"one", details("reason", "locked")},
		{"as many as are kept in place", details("a", "1", "b", "2", "c", "3", "d", "4")},
		{"more", details("a", "1", "b", "2", "c", "3", "d", "4", "e", "5")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := base
			details := slices.Clone(tc.details)
			q, again := queueEvent(e, details), queueEvent(e, details)
			for i := range details { // the caller's slice is not kept
				details[i].Value = "changed"
			}
			room := make([]storage.AuditDetail, 2*q.n+1)
			got, rest := q.event(room)
			second, rest := again.event(rest)
			assert.Len(t, rest, 1, "each event takes the room of its details")
			assert.Len(t, got.ID, idLen)
			assert.Regexp(t, `^[A-Z2-7]{26}$`, got.ID)
			assert.NotEqual(t, got.ID, second.ID, "a new ID each time")
			got.ID, second.ID = "", ""
			want := base
			want.Details = tc.details
			assert.Equal(t, want, got)
			assert.Equal(t, want, second)
			if len(got.Details) > 0 {
				// got's details lie just before second's in the room:
				// an append to them must not write over second's.
				got.Details = append(got.Details, detail("z", "appended"))
				got.Details[0].Value = "changed"
				assert.Equal(t, tc.details, second.Details, "events share no details")
			}
		})
	}
}

// An event's details given in both ways (e.Details, and the pairs a hot
// path passes) are recorded together, in order, the pairs winning a name
// in both; the caller's e.Details are left as they were.
func TestAuditMergesDetails(t *testing.T) {
	p, err := New(Config{Issuer: "http://127.0.0.1:9", Store: memory.New(), Authenticator: UserAuthenticatorFunc(func(context.Context, string, string) (User, error) {
		return User{}, ErrInvalidCredentials
	}), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	require.NoError(t, err)
	mine := details("reason", "locked", "grant", "implicit")
	p.audit(t.Context(), storage.AuditEvent{Type: AuditTokenIssued, Details: mine}, detail("grant", "refresh_token"), detail("empty", ""))
	got, err := p.AuditEvents(t.Context(), storage.AuditQuery{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, details("grant", "refresh_token", "reason", "locked"), got[0].Details)
	assert.Equal(t, details("reason", "locked", "grant", "implicit"), mine)
}
