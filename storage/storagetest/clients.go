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

// withSecretExpiring returns c whose newest secret expires at newest (zero:
// never) and whose older one expires at older.
func withSecretExpiring(c storage.Client, newest, older time.Time) storage.Client {
	c.Secrets = []storage.SecretHash{
		{Hash: "sha256$new-" + c.ID, CreatedAt: at(2 * time.Hour), ExpiresAt: newest},
		{Hash: "sha256$old-" + c.ID, CreatedAt: at(time.Hour), ExpiresAt: older},
	}
	return c
}

func testClientsFind(t *testing.T, s storage.Store) {
	ctx := t.Context()
	find := func(q storage.ClientQuery) []string {
		t.Helper()
		got, err := s.FindClients(ctx, q)
		require.NoError(t, err, "FindClients(%+v)", q)
		ids := []string{}
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		return ids
	}
	assert.Equal(t, []string{}, find(storage.ClientQuery{}), "an empty store finds nothing")

	bound := at(24 * time.Hour)
	acme := func(id string) storage.Client { c := newClient(id); c.Customer = "acme"; return c }
	clients := []storage.Client{
		withSecretExpiring(acme("expires-before"), bound.Add(-time.Microsecond), time.Time{}),
		withSecretExpiring(acme("expires-at-bound"), bound, time.Time{}),
		withSecretExpiring(acme("expires-after"), bound.Add(time.Microsecond), time.Time{}),
		withSecretExpiring(acme("never-expires"), time.Time{}, bound.Add(-time.Hour)), // only its older secret expires
		withSecretExpiring(acme("expired-long-ago"), longAgo, time.Time{}),
		newPublicClient("public"), // no secrets
	}
	other := withSecretExpiring(newClient("other-customer"), longAgo, time.Time{})
	other.Customer = "acme2"
	upper := withSecretExpiring(newClient("upper-customer"), longAgo, time.Time{})
	upper.Customer = "ACME"
	clients = append(clients, other, upper)
	for _, c := range clients {
		require.NoError(t, s.CreateClient(ctx, c))
	}

	all := []string{"expired-long-ago", "expires-after", "expires-at-bound", "expires-before", "never-expires", "other-customer", "public", "upper-customer"}
	assert.Equal(t, all, find(storage.ClientQuery{}), "the zero query finds every client, ordered by ID")
	assert.Equal(t, []string{"expired-long-ago", "expires-after", "expires-at-bound", "expires-before", "never-expires"},
		find(storage.ClientQuery{Customer: "acme"}), "Customer matches exactly: not acme2, not ACME, not unbound clients")
	assert.Equal(t, []string{}, find(storage.ClientQuery{Customer: "acm"}), "not by prefix")
	assert.Equal(t, []string{"expired-long-ago", "expires-before", "other-customer", "upper-customer"},
		find(storage.ClientQuery{SecretExpiresBefore: bound}),
		"the newest secret expires strictly before the bound: not at it, not after, not never, and not an older secret's expiry")
	assert.Equal(t, []string{"expired-long-ago", "expires-before"},
		find(storage.ClientQuery{Customer: "acme", SecretExpiresBefore: bound}), "the conditions combine")
	assert.Equal(t, []string{"expires-before"},
		find(storage.ClientQuery{Customer: "acme", SecretExpiresBefore: bound, After: "expired-long-ago"}), "After combines too")

	// The records come back whole.
	got, err := s.FindClients(ctx, storage.ClientQuery{Customer: "acme", SecretExpiresBefore: bound, Limit: 1})
	require.NoError(t, err)
	assertSameRecord(t, []storage.Client{clients[4]}, got, "FindClients returns every field")
}

func testClientsFindPages(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// IDs whose byte order differs from a case-folding or natural order.
	ids := []string{"B", "a", "a-1", "a.2", "a_3", "a~4", "a10", "a9", "z"}
	for _, id := range ids {
		require.NoError(t, s.CreateClient(ctx, newPublicClient(id)))
	}
	sorted := []string{"B", "a", "a-1", "a.2", "a10", "a9", "a_3", "a~4", "z"}

	var pages [][]string
	after := ""
	for range len(ids) + 1 {
		got, err := s.FindClients(ctx, storage.ClientQuery{After: after, Limit: 4})
		require.NoError(t, err)
		if len(got) == 0 {
			break
		}
		page := []string{}
		for _, c := range got {
			page = append(page, c.ID)
		}
		pages = append(pages, page)
		after = page[len(page)-1]
	}
	assert.Equal(t, [][]string{sorted[:4], sorted[4:8], sorted[8:]}, pages, "pages of 4 by After and Limit, in byte order, none skipped or repeated")

	got, err := s.FindClients(ctx, storage.ClientQuery{After: "a0"})
	require.NoError(t, err)
	require.Len(t, got, 5, "After need not be an existing ID")
	assert.Equal(t, "a10", got[0].ID)
	got, err = s.FindClients(ctx, storage.ClientQuery{Limit: -1})
	require.NoError(t, err)
	assert.Len(t, got, len(ids), "a negative limit is no limit")
}

func testClientsDeleteRemovesGrants(t *testing.T, s storage.Store) {
	ctx := t.Context()
	// c1 is deleted; c10 (its ID has c1 as a prefix), C1 (case) and c2 keep
	// everything. ghost has tokens, a consent and a flow but no record.
	owners := []string{"c1", "c10", "C1", "c2", "ghost"}
	for _, id := range owners[:4] {
		require.NoError(t, s.CreateClient(ctx, newClient(id)))
	}
	type kept struct {
		tokens   []storage.Token
		consents []storage.Consent
		flows    []storage.AuthFlow
	}
	made := map[string]*kept{}
	for _, id := range owners {
		k := &kept{}
		for i, kind := range storage.Kinds {
			for j := range 2 {
				tok := newToken(kind, fmt.Sprintf("%s-%s-%d", id, kind, j), fmt.Sprintf("fam-%s-%d", id, i))
				tok.Request.ClientID = id
				require.NoError(t, s.CreateToken(ctx, tok))
				k.tokens = append(k.tokens, tok)
			}
		}
		for _, sub := range []string{"alice", "bob"} {
			c := newConsent(sub, id)
			require.NoError(t, s.SaveConsent(ctx, c))
			k.consents = append(k.consents, c)
		}
		f := newFlow("flow-" + id)
		f.ClientID = id
		require.NoError(t, s.CreateAuthFlow(ctx, f))
		k.flows = append(k.flows, f)
		made[id] = k
	}
	// The token of c1 rotated, so its row is inactive: it goes too.
	require.NoError(t, s.RotateRefreshToken(ctx, "c1-refresh_token-0", base))

	require.ErrorIs(t, s.DeleteClient(ctx, "ghost"), storage.ErrNotFound, "no client record: ErrNotFound")
	require.NoError(t, s.DeleteClient(ctx, "c1"))
	require.ErrorIs(t, s.DeleteClient(ctx, "c1"), storage.ErrNotFound, "deleted once")

	for _, id := range owners {
		k, gone := made[id], id == "c1"
		for _, want := range k.tokens {
			got, err := s.GetToken(ctx, want.Kind, want.Signature)
			switch {
			case gone:
				assert.ErrorIs(t, err, storage.ErrNotFound, "the deleted client's %s %s is gone", want.Kind, want.Signature)
			case assert.NoError(t, err, "%s %s of %s is kept", want.Kind, want.Signature, id):
				assertSameRecord(t, want, got, "%s %s of %s is unchanged", want.Kind, want.Signature, id)
			}
		}
		for _, want := range k.consents {
			got, err := s.GetConsent(ctx, want.Subject, want.ClientID)
			switch {
			case gone:
				assert.ErrorIs(t, err, storage.ErrNotFound, "the deleted client's consent of %s is gone", want.Subject)
			case assert.NoError(t, err, "consent of %s for %s is kept", want.Subject, id):
				assertSameRecord(t, want, got)
			}
		}
		for _, want := range k.flows {
			got, err := s.GetAuthFlow(ctx, want.ID)
			switch {
			case gone:
				assert.ErrorIs(t, err, storage.ErrNotFound, "the deleted client's flow is gone")
			case assert.NoError(t, err, "flow of %s is kept", id):
				assertSameRecord(t, want, got)
			}
		}
	}
	list, err := s.ListClients(ctx)
	require.NoError(t, err)
	assertSameRecord(t, []storage.Client{newClient("C1"), newClient("c10"), newClient("c2")}, list, "the other clients are kept")

	// A client registered again under the ID starts with nothing.
	require.NoError(t, s.CreateClient(ctx, newClient("c1")))
	_, err = s.GetToken(ctx, storage.KindAccessToken, "c1-access_token-0")
	assert.ErrorIs(t, err, storage.ErrNotFound, "the old client's tokens do not come back")
}

// testClientsVersion checks ClientsVersion of [storage.StatusReader], for
// backends that implement it: reads leave it as it is, and every write of
// a client (a creation, an update, a deletion) changes it before the call
// returns, so that a client kept under one number is never used after a
// write, here or from another goroutine.
func testClientsVersion(t *testing.T, s storage.Store) {
	r, ok := s.(storage.StatusReader)
	if !ok {
		t.Skip("the store does not implement storage.StatusReader (optional)")
	}
	ctx := t.Context()
	seen := map[uint64]string{}
	changed := func(step string) {
		t.Helper()
		v := r.ClientsVersion()
		if prev, ok := seen[v]; ok {
			t.Errorf("after %s, ClientsVersion is %d, as it was after %s", step, v, prev)
		}
		seen[v] = step
	}
	changed("the start")
	require.NoError(t, s.CreateClient(ctx, newClient("version-1")))
	changed("CreateClient")
	v := r.ClientsVersion()
	_, err := s.GetClient(ctx, "version-1")
	require.NoError(t, err)
	_, err = s.ListClients(ctx)
	require.NoError(t, err)
	assert.Equal(t, v, r.ClientsVersion(), "reads leave ClientsVersion as it is")
	require.NoError(t, s.UpdateClient(ctx, "version-1", func(c storage.Client) (storage.Client, error) {
		c.Name = "renamed"
		return c, nil
	}))
	changed("UpdateClient")
	require.NoError(t, s.DeleteClient(ctx, "version-1"))
	changed("DeleteClient")

	// A write on another goroutine: once its call has returned, the
	// number read before it no longer holds.
	require.NoError(t, s.CreateClient(ctx, newClient("version-2")))
	before := r.ClientsVersion()
	done := make(chan error)
	go func() {
		done <- s.UpdateClient(ctx, "version-2", func(c storage.Client) (storage.Client, error) {
			c.Name = "renamed"
			return c, nil
		})
	}()
	require.NoError(t, <-done)
	assert.NotEqual(t, before, r.ClientsVersion(), "an update that returned has changed ClientsVersion")
}
