package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
)

func testSessionsCreateGetDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	one, two := newLoginSession("session-1", "alice"), newLoginSession("session-2", "alice")
	two.AMR, two.Claims = nil, binary(256, 0x33)
	for _, ls := range []storage.LoginSession{one, two} {
		require.NoError(t, s.CreateLoginSession(ctx, ls))
	}
	for _, want := range []storage.LoginSession{one, two} {
		got, err := s.GetLoginSession(ctx, want.ID)
		require.NoError(t, err, want.ID)
		assertSameRecord(t, want, got, "GetLoginSession returns every field as created")
	}
	require.NoError(t, s.DeleteLoginSession(ctx, one.ID))
	_, err := s.GetLoginSession(ctx, one.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "a deleted login session is gone")
	got, err := s.GetLoginSession(ctx, two.ID)
	require.NoError(t, err, "deleting one login session leaves the others")
	assertSameRecord(t, two, got)
}

func testSessionsDeleteBySubject(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for _, ls := range []storage.LoginSession{
		newLoginSession("alice-1", "alice"),
		newLoginSession("alice-2", "alice"),
		newLoginSession("alice-3", "alice"),
		newLoginSession("bob-1", "bob"),
	} {
		require.NoError(t, s.CreateLoginSession(ctx, ls))
	}
	n, err := s.DeleteLoginSessionsBySubject(ctx, "alice")
	require.NoError(t, err)
	assert.EqualValues(t, 3, n, "it returns how many it removed")
	for _, id := range []string{"alice-1", "alice-2", "alice-3"} {
		_, err := s.GetLoginSession(ctx, id)
		assert.ErrorIs(t, err, storage.ErrNotFound, id)
	}
	got, err := s.GetLoginSession(ctx, "bob-1")
	require.NoError(t, err, "other subjects' sessions stay")
	assertSameRecord(t, newLoginSession("bob-1", "bob"), got)

	n, err = s.DeleteLoginSessionsBySubject(ctx, "alice")
	require.NoError(t, err, "a subject without sessions is not an error")
	assert.EqualValues(t, 0, n)
}

func testAuthFlowsCreateGetDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	started := storage.AuthFlow{ // before login: most fields empty
		ID:          "flow-new",
		Query:       "response_type=code&client_id=c&state=%F0%9F%94%91",
		ClientID:    "c",
		RequestedAt: base,
		ClientIP:    "127.0.0.1",
		Browser:     "b",
		CSRF:        "csrf",
		ExpiresAt:   at(10 * time.Minute),
	}
	midway := newFlow("flow-midway")
	for _, f := range []storage.AuthFlow{started, midway} {
		require.NoError(t, s.CreateAuthFlow(ctx, f))
	}
	for _, want := range []storage.AuthFlow{started, midway} {
		got, err := s.GetAuthFlow(ctx, want.ID)
		require.NoError(t, err, want.ID)
		assertSameRecord(t, want, got, "GetAuthFlow returns every field as created")
	}
	require.NoError(t, s.DeleteAuthFlow(ctx, started.ID))
	_, err := s.GetAuthFlow(ctx, started.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "a deleted flow is gone")
	got, err := s.GetAuthFlow(ctx, midway.ID)
	require.NoError(t, err, "deleting one flow leaves the others")
	assertSameRecord(t, midway, got)
}

func testAuthFlowsUpdate(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateAuthFlow(ctx, newFlow("flow")))

	var seen storage.AuthFlow
	require.NoError(t, s.UpdateAuthFlow(ctx, "flow", func(f storage.AuthFlow) (storage.AuthFlow, error) {
		seen = normalized(f).(storage.AuthFlow) // a deep copy: f is changed below
		f.Subject = "bob"
		f.AuthTime = at(time.Minute)
		f.AMR = append(f.AMR, "otp")
		f.Done = append(f.Done, "mfa")
		f.RequestedAt = at(2 * time.Minute)
		f.ClientIP = "192.0.2.9"
		f.Browser = "other-browser"
		f.Tenant = "globex"
		f.User = []byte(`{"subject":"bob"}`)
		f.Data["color"] = "green"
		delete(f.Data, "answer")
		f.CSRF = "rotated"
		return f, nil
	}))
	assertSameRecord(t, newFlow("flow"), seen, "update receives the current record")
	want := newFlow("flow")
	want.Subject, want.AuthTime, want.CSRF = "bob", at(time.Minute), "rotated"
	want.AMR = []string{"pwd", "otp"}
	want.Done = []string{"login", "mfa"}
	want.RequestedAt, want.ClientIP, want.Browser = at(2*time.Minute), "192.0.2.9", "other-browser"
	want.Tenant, want.User = "globex", []byte(`{"subject":"bob"}`)
	want.Data = map[string]string{"color": "green"}
	got, err := s.GetAuthFlow(ctx, "flow")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "the record update returned is stored")

	boom := errors.New("update refused")
	err = s.UpdateAuthFlow(ctx, "flow", func(f storage.AuthFlow) (storage.AuthFlow, error) {
		f.Done[0] = "not written"
		f.User[0] = 'X'
		f.Tenant = "not written"
		f.Data["color"] = "not written"
		f.Data["extra"] = "not written"
		return f, boom
	})
	assert.ErrorIs(t, err, boom, "update's error is returned")
	got, err = s.GetAuthFlow(ctx, "flow")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "a failed update writes nothing, even what update changed in place")
}

func testAuthFlowsUpdate50Concurrent(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateAuthFlow(ctx, newFlow("flow")))
	n := raceWidth
	errs := race(n, func(i int) error {
		return s.UpdateAuthFlow(ctx, "flow", func(f storage.AuthFlow) (storage.AuthFlow, error) {
			dawdle()
			f.Done = append(f.Done, fmt.Sprintf("step-%d", i))
			return f, nil
		})
	})
	for i, err := range errs {
		require.NoError(t, err, "concurrent UpdateAuthFlow %d", i)
	}
	got, err := s.GetAuthFlow(ctx, "flow")
	require.NoError(t, err)
	want := []string{"login"}
	for i := range n {
		want = append(want, fmt.Sprintf("step-%d", i))
	}
	assert.ElementsMatch(t, want, got.Done, "no update lost among %d concurrent ones", n)
}
