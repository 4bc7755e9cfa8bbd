package provider_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/provider"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// storedNow returns the events of typ in the store, read directly (not
// through the provider, which would wait for the background writer): what
// the store holds at this moment.
func (e *env) storedNow(typ string) []storage.AuditEvent {
	e.t.Helper()
	evs, err := e.store.(storage.AuditStore).FindAuditEvents(context.Background(), storage.AuditQuery{Types: []string{typ}})
	require.NoError(e.t, err)
	return evs
}

// Every administrator's action through the admin API is in the trail, with
// the administrator and the request, before the answer is sent; neither
// the admin token nor a client secret is.
func TestAuditAdminActions(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, logs := newAuditEnv(t, store)
		ad := newAdminAPI(t, e.p)
		admin := storage.AuditActor{Kind: storage.ActorAdmin, ID: "ops"}

		// check asserts that the answer's event is stored already, one of
		// typ for client id, by ops, naming the request.
		check := func(a adminAnswer, typ, id string) storage.AuditEvent {
			t.Helper()
			var found []storage.AuditEvent
			for _, ev := range e.storedNow(typ) {
				if ev.Actor == admin {
					found = append(found, ev)
				}
			}
			require.Len(t, found, 1, "one %s event by ops, stored before the answer", typ)
			ev := found[0]
			assert.Equal(t, id, ev.ClientID)
			if id != "" {
				assert.Equal(t, "client:"+id, ev.Target)
			}
			assert.Equal(t, requestIDOf(t, a.header), ev.RequestID)
			assert.Equal(t, "127.0.0.1", ev.ClientAddr)
			return ev
		}

		created := ad.call(http.MethodPost, "/clients", map[string]any{
			"client_id": "reporting", "grant_types": []string{"client_credentials"}, "scope": "assets:read",
		}).requireStatus(t, http.StatusCreated)
		secret1 := created.body["client_secret"].(string)
		ev := check(created, provider.AuditClientCreated, "reporting")
		assert.Equal(t, "client_credentials", ev.Detail("grant_types"))

		check(ad.call(http.MethodGet, "/clients/reporting", nil).requireStatus(t, http.StatusOK), provider.AuditClientRead, "reporting")

		patched := ad.call(http.MethodPatch, "/clients/reporting", map[string]any{"client_name": "Reporting job", "description": "nightly"}).requireStatus(t, http.StatusOK)
		assert.Equal(t, "Name Description", check(patched, provider.AuditClientUpdated, "reporting").Detail("fields"))
		// A refused change is no change.
		ad.call(http.MethodPatch, "/clients/reporting", map[string]any{"grant_types": []string{"implicit"}}).requireStatus(t, http.StatusBadRequest)
		assert.Len(t, e.storedNow(provider.AuditClientUpdated), 1)

		rotated := ad.call(http.MethodPost, "/clients/reporting/secret", map[string]any{"grace_period": 60}).requireStatus(t, http.StatusOK)
		secret2 := rotated.body["client_secret"].(string)
		ev = check(rotated, provider.AuditClientSecretRotated, "reporting")
		assert.Equal(t, "60", ev.Detail("grace_period"))
		assert.NotEmpty(t, ev.Detail("secret_expires_at"))
		assert.Empty(t, e.storedNow(provider.AuditClientRead)[1:], "the rotation's answer is not a read")

		listed := ad.call(http.MethodGet, "/clients?customer=acme", nil).requireStatus(t, http.StatusOK)
		ev = check(listed, provider.AuditClientListed, "")
		assert.Equal(t, "acme", ev.Detail("customer"))
		assert.Equal(t, "0", ev.Detail("count"))

		check(ad.call(http.MethodDelete, "/clients/reporting", nil).requireStatus(t, http.StatusNoContent), provider.AuditClientDeleted, "reporting")
		ad.call(http.MethodDelete, "/clients/reporting", nil).requireStatus(t, http.StatusNotFound)
		assert.Len(t, e.storedNow(provider.AuditClientDeleted), 1, "deleting nothing records nothing")

		// A refused admin request: its token is not recorded.
		const wrongToken = "wrong-admin-token-0123456789"
		refused := ad.call(http.MethodGet, "/clients", nil, "Authorization", "Bearer "+wrongToken)
		require.Equal(t, http.StatusUnauthorized, refused.status)
		af := e.event(provider.AuditAdminAuthFailed, "")
		assert.Equal(t, storage.AuditActor{Kind: storage.ActorAdmin}, af.Actor)
		assert.Equal(t, "/clients", af.Detail("path"))
		assert.Equal(t, requestIDOf(t, refused.header), af.RequestID)

		// The trail as GET /audit shows it, newest first.
		page := ad.call(http.MethodGet, "/audit?type=client.created,client.read,client.updated,client.secret_rotated,client.listed,client.deleted", nil).requireStatus(t, http.StatusOK)
		var types []string
		for _, it := range page.body["items"].([]any) {
			item := it.(map[string]any)
			if item["actor"].(map[string]any)["id"] == "ops" {
				types = append(types, item["type"].(string))
			}
			if item["type"] == "client.deleted" {
				assert.Equal(t, map[string]any{}, item["details"], "details is always an object")
			}
		}
		assert.Equal(t, []string{"client.deleted", "client.listed", "client.secret_rotated", "client.updated", "client.read", "client.created"}, types)

		e.assertNoSecrets(logs, adminToken, wrongToken, secret1, secret2)
		assert.NotContains(t, string(page.raw), adminToken)
		assert.NotContains(t, string(page.raw), secret1)
	})
}

// failingAudit is a store whose audit trail fails while fail is set:
// appends fail, or finds do.
type failingAudit struct {
	storage.Store
	failAppend, failFind atomic.Bool
}

func (f *failingAudit) AppendAuditEvents(ctx context.Context, events []storage.AuditEvent) error {
	if f.failAppend.Load() {
		return errors.New("audit disk full")
	}
	return f.Store.(storage.AuditStore).AppendAuditEvents(ctx, events)
}

func (f *failingAudit) FindAuditEvents(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEvent, error) {
	if f.failFind.Load() {
		return nil, errors.New("audit index corrupt")
	}
	return f.Store.(storage.AuditStore).FindAuditEvents(ctx, q)
}

func (f *failingAudit) DeleteAuditEvents(ctx context.Context, before time.Time) (int64, error) {
	return f.Store.(storage.AuditStore).DeleteAuditEvents(ctx, before)
}

// failingAuditTx is failingAudit on a store that is a storage.Transactor.
type failingAuditTx struct {
	*failingAudit
	storage.Transactor
}

// newFailingAudit wraps store, keeping it a storage.Transactor if it is one.
func newFailingAudit(store storage.Store) (storage.Store, *failingAudit) {
	f := &failingAudit{Store: store}
	if tx, ok := store.(storage.Transactor); ok {
		return &failingAuditTx{failingAudit: f, Transactor: tx}, f
	}
	return f, f
}

// An administrator's action whose event cannot be written fails with 503:
// on a store with transactions nothing is changed; on one without, the
// answer says that the change may have been made. A read's answer is
// withheld. The requests of clients go on, their events counted as
// unwritten and logged.
func TestAuditAdminWriteFailure(t *testing.T) {
	forEachStore(t, func(t *testing.T, inner storage.Store) {
		store, f := newFailingAudit(inner)
		_, transactional := store.(storage.Transactor)
		e, logs := newAuditEnv(t, store)
		ad := newAdminAPI(t, e.p)
		ctx := context.Background()
		victim, _, err := e.p.CreateClient(ctx, storage.Client{ID: "victim", GrantTypes: []string{"client_credentials"}})
		require.NoError(t, err)
		f.failAppend.Store(true)

		a := ad.call(http.MethodPost, "/clients", map[string]any{"client_id": "reporting", "grant_types": []string{"client_credentials"}})
		require.Equal(t, http.StatusServiceUnavailable, a.status, "%s", a.raw)
		assert.Equal(t, "temporarily_unavailable", a.body["error"])
		assert.NotContains(t, string(a.raw), "client_secret", "no secret is handed out")
		_, err = inner.GetClient(ctx, "reporting")
		if transactional {
			assert.Contains(t, a.body["error_description"], "nothing was done")
			assert.ErrorIs(t, err, storage.ErrNotFound, "the client was not created")
		} else {
			assert.Contains(t, a.body["error_description"], "may have taken effect")
			assert.NoError(t, err, "without transactions the change stands")
		}

		a = ad.call(http.MethodGet, "/clients/"+e.svc.ID, nil)
		require.Equal(t, http.StatusServiceUnavailable, a.status)
		assert.NotContains(t, string(a.raw), "grant_types", "the client is not shown")
		assert.Contains(t, a.body["error_description"], "withheld")
		_, err = e.p.GetClient(ctx, e.svc.ID)
		assert.ErrorIs(t, err, provider.ErrUnavailable, "the Go API fails the same way")

		ad.call(http.MethodPatch, "/clients/"+victim.ID, map[string]any{"client_name": "changed"}).requireStatus(t, http.StatusServiceUnavailable)
		ad.call(http.MethodPost, "/clients/"+victim.ID+"/secret", nil).requireStatus(t, http.StatusServiceUnavailable)
		ad.call(http.MethodDelete, "/clients/"+victim.ID, nil).requireStatus(t, http.StatusServiceUnavailable)
		got, err := inner.GetClient(ctx, victim.ID)
		if transactional {
			require.NoError(t, err, "the client was not deleted")
			assert.Empty(t, got.Name, "the change was not made")
			assert.Len(t, got.Secrets, 1, "the secret was not rotated")
			assert.ErrorIs(t, e.p.DeleteClient(ctx, victim.ID), provider.ErrUnavailable)
		} else {
			assert.ErrorIs(t, err, storage.ErrNotFound, "without transactions the deletion stands")
		}

		// A client's request is not failed by the trail.
		status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, status)
		require.NoError(t, e.p.Shutdown(ctx))
		stats := e.p.AuditStats()
		assert.EqualValues(t, 1, stats.Unwritten, "the token event was not stored: %+v", stats)
		assert.Zero(t, stats.Queued)
		assert.Contains(t, logs.String(), `"msg":"audit: events could not be stored"`)
		assert.Contains(t, logs.String(), `"event_type":"token.issued"`, "the default Auditor still logged the event")

		f.failAppend.Store(false)
		ad.call(http.MethodGet, "/clients/"+e.svc.ID, nil).requireStatus(t, http.StatusOK)
	})
}

// GET /audit filters and pages the trail as AuditEvents does, and refuses
// bad queries naming the parameter.
func TestAuditQueryAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, _ := newAuditEnv(t, store)
		ad := newAdminAPI(t, e.p)
		cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"assets:read"}}
		start := time.Now().Truncate(time.Second)
		e.clock.Set(start)
		for i := range 7 {
			status, _, _ := e.postForm("/oauth2/token", cc, e.svc.ID, e.svcSecret)
			require.Equal(t, http.StatusOK, status)
			if i%2 == 0 {
				e.clock.Advance(time.Second) // some events share a time
			}
		}
		e.postForm("/oauth2/token", cc, e.svc.ID, "wrong-secret-0123456789")
		tok := e.codeFlow(e.web, e.webSecret, webRedirect, "alice", "openid")
		_ = tok

		want, err := e.p.AuditEvents(context.Background(), storage.AuditQuery{ClientID: e.svc.ID, Types: []string{provider.AuditTokenIssued}})
		require.NoError(t, err)
		require.Len(t, want, 7)
		var got []string
		q := url.Values{"client_id": {e.svc.ID}, "type": {"token.issued"}, "limit": {"3"}}
		for range 10 {
			page := ad.call(http.MethodGet, "/audit?"+q.Encode(), nil).requireStatus(t, http.StatusOK)
			items := page.body["items"].([]any)
			require.LessOrEqual(t, len(items), 3)
			for _, it := range items {
				got = append(got, it.(map[string]any)["id"].(string))
			}
			next := page.body["next_cursor"].(string)
			if next == "" {
				break
			}
			q.Set("cursor", next)
		}
		var wantIDs []string
		for _, ev := range want {
			wantIDs = append(wantIDs, ev.ID)
		}
		assert.Equal(t, wantIDs, got, "the pages are the whole result, newest first, each event once")

		// One item, whole.
		one := ad.call(http.MethodGet, "/audit?limit=1&type=client.auth_failed", nil).requireStatus(t, http.StatusOK)
		var page struct {
			Items []map[string]any `json:"items"`
		}
		require.NoError(t, json.Unmarshal(one.raw, &page))
		require.Len(t, page.Items, 1)
		item := page.Items[0]
		for _, k := range []string{"id", "time", "type", "actor", "target", "client_id", "subject", "request_id", "client_addr", "details"} {
			assert.Contains(t, item, k)
		}
		assert.Equal(t, map[string]any{"kind": "client", "id": e.svc.ID}, item["actor"])
		assert.Equal(t, map[string]any{"reason": "invalid_secret"}, item["details"])
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`, item["time"])

		// Filters by subject and time, RFC 3339 or seconds.
		bySubject := ad.call(http.MethodGet, "/audit?subject=sub-alice", nil).requireStatus(t, http.StatusOK)
		for _, it := range bySubject.body["items"].([]any) {
			assert.Equal(t, "sub-alice", it.(map[string]any)["subject"])
		}
		assert.NotEmpty(t, bySubject.body["items"])
		until := start.Add(time.Second).UTC()
		early := ad.call(http.MethodGet, "/audit?type=token.issued&since="+url.QueryEscape(start.UTC().Format(time.RFC3339Nano))+
			"&until="+url.QueryEscape(until.Format(time.RFC3339Nano)), nil).requireStatus(t, http.StatusOK)
		assert.Len(t, early.body["items"], 1, "one token in the first second")
		none := ad.call(http.MethodGet, "/audit?until=946684800", nil).requireStatus(t, http.StatusOK)
		assert.Empty(t, none.body["items"], "nothing before 2000")
		assert.Equal(t, "", none.body["next_cursor"])

		for _, tc := range []struct {
			query, field string
		}{
			{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=x", "limit"},
			{"type=Token.Issued", "type"}, {"type=token", "type"}, {"type=token.issued,", "type"},
			{"since=yesterday", "since"}, {"until=2026-13-01T00:00:00Z", "until"},
			{"since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z", "until"},
			{"cursor=%21%21", "cursor"}, {"cursor=" + base64.RawURLEncoding.EncodeToString([]byte("x")), "cursor"},
			{"client_id=a&client_id=b", "client_id"}, {"subject=", "subject"},
			{"client_id=" + strings.Repeat("x", 300), "client_id"},
			{"customer=acme", "customer"},
		} {
			a := ad.call(http.MethodGet, "/audit?"+tc.query, nil)
			if assert.Equal(t, http.StatusBadRequest, a.status, "%s: %s", tc.query, a.raw) {
				assert.Equal(t, "invalid_request", a.body["error"], tc.query)
				assert.Contains(t, a.fields(), tc.field, tc.query)
			}
		}
		ad.call(http.MethodPost, "/audit", nil).requireStatus(t, http.StatusMethodNotAllowed)
		// A host's own type is a valid filter.
		ad.call(http.MethodGet, "/audit?type=apikey.created,my_app.export_run", nil).requireStatus(t, http.StatusOK)
	})
}

// noAudit hides the audit trail of a store.
type noAudit struct{ storage.Store }

// GET /audit is 501 when the store keeps no trail, and 503 when it fails.
func TestAuditQueryUnavailable(t *testing.T) {
	e, _ := newAuditEnv(t, noAudit{memory.New()})
	a := newAdminAPI(t, e.p).call(http.MethodGet, "/audit", nil)
	require.Equal(t, http.StatusNotImplemented, a.status, "%s", a.raw)
	assert.Equal(t, "not_implemented", a.body["error"])
	_, err := e.p.AuditEvents(context.Background(), storage.AuditQuery{})
	assert.ErrorIs(t, err, provider.ErrAuditNotSupported)
	// The events still go to the Auditor, and the administration works.
	newAdminAPI(t, e.p).call(http.MethodGet, "/clients/"+e.svc.ID, nil).requireStatus(t, http.StatusOK)

	store, f := newFailingAudit(memory.New())
	e2, _ := newAuditEnv(t, store)
	f.failFind.Store(true)
	a = newAdminAPI(t, e2.p).call(http.MethodGet, "/audit", nil)
	require.Equal(t, http.StatusServiceUnavailable, a.status, "%s", a.raw)
	assert.Equal(t, "temporarily_unavailable", a.body["error"])
	assert.NotContains(t, string(a.raw), "corrupt", "the cause goes to the log only")
	_, err = e2.p.AuditEvents(context.Background(), storage.AuditQuery{})
	assert.ErrorIs(t, err, provider.ErrUnavailable)
}

// SweepAudit keeps Config.AuditRetention (90 days by default) of events.
func TestAuditRetention(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, _ := newAuditEnv(t, store)
		ctx := context.Background()
		cc := url.Values{"grant_type": {"client_credentials"}}
		e.clock.Set(time.Now())
		status, _, _ := e.postForm("/oauth2/token", cc, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, status)
		old := len(e.events(""))
		e.clock.Advance(90*24*time.Hour - time.Second)
		status, _, _ = e.postForm("/oauth2/token", cc, e.svc.ID, e.svcSecret)
		require.Equal(t, http.StatusOK, status)
		n, err := e.p.SweepAudit(ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "nothing is 90 days old yet")
		e.clock.Advance(2 * time.Second)
		n, err = e.p.SweepAudit(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, old, n, "the first events are past 90 days")
		left := e.events("")
		require.Len(t, left, 1)
		assert.Equal(t, provider.AuditTokenIssued, left[0].Type)
	})
	t.Run("negative keeps everything", func(t *testing.T) {
		e, _ := newAuditEnv(t, memory.New(), func(c *provider.Config) { c.AuditRetention = -1 })
		e.clock.Advance(10 * 365 * 24 * time.Hour)
		n, err := e.p.SweepAudit(context.Background())
		require.NoError(t, err)
		assert.Zero(t, n)
		assert.NotEmpty(t, e.events(""))
	})
}

// The default Auditor logs each event, at Warn for refusals and attacks
// and at Debug for tokens issued;
// a host's Auditor gets every event, and one that fails an
// administrator's event fails the action, while its failures on requests'
// events are counted and logged.
func TestAuditAuditor(t *testing.T) {
	e, logs := newAuditEnv(t, memory.New())
	e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, e.svcSecret)
	e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, "wrong-secret-0123456789")
	require.NoError(t, e.p.Shutdown(context.Background()))
	levels := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if rec["msg"] == "audit" {
			levels[rec["event_type"].(string)] = rec["level"].(string)
			assert.NotEmpty(t, rec["event_id"])
			assert.NotEmpty(t, rec["actor_kind"])
			if rec["event_type"] == "token.issued" {
				assert.NotEmpty(t, rec["request_id"])
				assert.NotContains(t, rec, "subject", "an empty field is left out")
			}
		}
	}
	assert.Equal(t, map[string]string{"client.created": "INFO", "token.issued": "DEBUG", "client.auth_failed": "WARN"}, levels)

	var mu sync.Mutex
	var seen []string
	var fail atomic.Bool
	auditor := provider.AuditorFunc(func(_ context.Context, ev storage.AuditEvent) error {
		if fail.Load() {
			return errors.New("siem unreachable")
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, ev.Type)
		return nil
	})
	e2, logs2 := newAuditEnv(t, memory.New(), func(c *provider.Config) { c.Auditor = auditor })
	ctx := context.Background()
	e2.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e2.svc.ID, e2.svcSecret)
	require.NoError(t, e2.p.Shutdown(ctx))
	mu.Lock()
	assert.Equal(t, []string{"client.created", "client.created", "client.created", "token.issued"}, seen)
	mu.Unlock()
	assert.NotContains(t, logs2.String(), `"msg":"audit"`, "a host's Auditor replaces the log")
	assert.Len(t, e2.events(""), 4, "the store keeps the events whatever the Auditor")

	fail.Store(true)
	_, err := e2.p.GetClient(ctx, e2.svc.ID)
	assert.ErrorIs(t, err, provider.ErrUnavailable, "the read is refused when it cannot be recorded")
	e2.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e2.svc.ID, e2.svcSecret)
	require.NoError(t, e2.p.Shutdown(ctx))
	assert.EqualValues(t, 1, e2.p.AuditStats().Unwritten)
	assert.Contains(t, logs2.String(), `"msg":"audit: the Auditor refused an event"`)
	assert.Contains(t, logs2.String(), `"event_type":"token.issued"`, "the refused event is in the log")
}

// With AuditDisabled nothing is recorded and answers carry no request ID.
func TestAuditDisabled(t *testing.T) {
	e, logs := newAuditEnv(t, memory.New(), func(c *provider.Config) { c.AuditDisabled = true })
	status, _, hdr := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, e.svcSecret)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, hdr.Values("X-Request-Id"))
	newAdminAPI(t, e.p).call(http.MethodGet, "/clients/"+e.svc.ID, nil).requireStatus(t, http.StatusOK)
	require.NoError(t, e.p.Shutdown(context.Background()))
	assert.Empty(t, e.events(""))
	assert.NotContains(t, logs.String(), `"msg":"audit"`)
	assert.Equal(t, provider.AuditStats{}, e.p.AuditStats())
}

// AuditStats counts what the writer wrote; Shutdown waits for it.
func TestAuditStats(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		e, _ := newAuditEnv(t, store)
		for range 20 {
			status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, e.svc.ID, e.svcSecret)
			require.Equal(t, http.StatusOK, status)
		}
		require.NoError(t, e.p.Shutdown(context.Background()))
		assert.Equal(t, provider.AuditStats{Written: 23}, e.p.AuditStats(), "3 clients created, 20 tokens")
		evs, err := e.store.(storage.AuditStore).FindAuditEvents(context.Background(), storage.AuditQuery{Types: []string{provider.AuditTokenIssued}})
		require.NoError(t, err)
		assert.Len(t, evs, 20, "after Shutdown every event is stored")
	})
}

// An Auditor that refuses an administrator's event fails the change; with
// a store that has transactions, the change is not made.
func TestAuditAuditorRefusesChange(t *testing.T) {
	forEachStore(t, func(t *testing.T, store storage.Store) {
		var refuse atomic.Bool
		e, _ := newAuditEnv(t, store, func(c *provider.Config) {
			c.Auditor = provider.AuditorFunc(func(context.Context, storage.AuditEvent) error {
				if refuse.Load() {
					return errors.New("siem unreachable")
				}
				return nil
			})
		})
		refuse.Store(true)
		ctx := context.Background()
		_, _, err := e.p.CreateClient(ctx, storage.Client{ID: "refused", GrantTypes: []string{"client_credentials"}})
		require.ErrorIs(t, err, provider.ErrUnavailable)
		_, err = store.GetClient(ctx, "refused")
		_, transactional := store.(storage.Transactor)
		if transactional {
			assert.ErrorIs(t, err, storage.ErrNotFound, "rolled back")
			assert.Empty(t, e.storedNow(provider.AuditClientCreated)[3:], "nor is its event stored")
		} else {
			assert.NoError(t, err, "made before the Auditor refused it")
		}
	})
}
