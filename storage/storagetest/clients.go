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

func testClientsCreateGetDelete(t *testing.T, s storage.Store) {
	ctx := t.Context()
	conf, pub := newClient("confidential"), newPublicClient("public")
	require.NoError(t, s.CreateClient(ctx, conf))
	require.NoError(t, s.CreateClient(ctx, pub))

	for _, want := range []storage.Client{conf, pub} {
		got, err := s.GetClient(ctx, want.ID)
		require.NoError(t, err, want.ID)
		assertSameRecord(t, want, got, "GetClient(%q) returns every field as created", want.ID)
	}

	require.NoError(t, s.DeleteClient(ctx, conf.ID))
	_, err := s.GetClient(ctx, conf.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "a deleted client is gone")
	got, err := s.GetClient(ctx, pub.ID)
	require.NoError(t, err, "deleting one client leaves the others")
	assertSameRecord(t, pub, got)

	require.NoError(t, s.CreateClient(ctx, conf), "a deleted ID can be used again")
}

func testClientsUpdateAtomic(t *testing.T, s storage.Store) {
	ctx := t.Context()
	require.NoError(t, s.CreateClient(ctx, newClient("c1")))

	// update receives the current record, and what it returns is stored.
	var seen storage.Client
	require.NoError(t, s.UpdateClient(ctx, "c1", func(c storage.Client) (storage.Client, error) {
		seen = normalized(c).(storage.Client) // a deep copy: c is changed below
		c.Name = "Renamed"
		c.Scopes = append(c.Scopes, "email")
		c.Secrets = c.Secrets[:1]
		c.Public, c.RequirePKCE = true, false
		c.AccessTokenLifetime = 0
		c.UpdatedAt = at(time.Hour)
		return c, nil
	}))
	assertSameRecord(t, newClient("c1"), seen, "update receives the current record")
	want := newClient("c1")
	want.Name = "Renamed"
	want.Scopes = append(want.Scopes, "email")
	want.Secrets = want.Secrets[:1]
	want.Public, want.RequirePKCE = true, false
	want.AccessTokenLifetime = 0
	want.UpdatedAt = at(time.Hour)
	got, err := s.GetClient(ctx, "c1")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "the record update returned is stored")

	// An error from update is returned and nothing is written, even when
	// update changed its argument in place first.
	boom := errors.New("update refused")
	err = s.UpdateClient(ctx, "c1", func(c storage.Client) (storage.Client, error) {
		c.Name = "not written"
		c.Scopes[0] = "not written"
		c.JWKS[0] = 'X'
		return c, boom
	})
	assert.ErrorIs(t, err, boom, "update's error is returned")
	got, err = s.GetClient(ctx, "c1")
	require.NoError(t, err)
	assertSameRecord(t, want, got, "a failed update writes nothing")

	// 50 concurrent read-modify-writes: none is lost.
	n := raceWidth
	errs := race(n, func(i int) error {
		return s.UpdateClient(ctx, "c1", func(c storage.Client) (storage.Client, error) {
			dawdle()
			c.RedirectURIs = append(c.RedirectURIs, fmt.Sprintf("https://app.example.com/cb/%d", i))
			return c, nil
		})
	})
	for i, err := range errs {
		require.NoError(t, err, "concurrent UpdateClient %d", i)
	}
	got, err = s.GetClient(ctx, "c1")
	require.NoError(t, err)
	wantURIs := append([]string(nil), want.RedirectURIs...)
	for i := range n {
		wantURIs = append(wantURIs, fmt.Sprintf("https://app.example.com/cb/%d", i))
	}
	assert.ElementsMatch(t, wantURIs, got.RedirectURIs, "no update lost among %d concurrent ones", n)
}

func testClientsList(t *testing.T, s storage.Store) {
	ctx := t.Context()
	list, err := s.ListClients(ctx)
	require.NoError(t, err)
	assert.Empty(t, list, "an empty store lists no clients")

	a, b, c := newClient("client-a"), newPublicClient("client-b"), newClient("client-c")
	for _, cl := range []storage.Client{b, c, a} {
		require.NoError(t, s.CreateClient(ctx, cl))
	}
	list, err = s.ListClients(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.Client{a, b, c}, list, "every client, ordered by ID")

	require.NoError(t, s.DeleteClient(ctx, b.ID))
	list, err = s.ListClients(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.Client{a, c}, list, "a deleted client is not listed")
}
