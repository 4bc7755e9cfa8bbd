package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage"
)

// The rest is what this store promises beyond the conformance suite.

// filler sets every exported field of a record, at any depth, to a value
// of its own, so that a field added to a record without a column shows up
// as a field that does not come back.
type filler struct{ n int }

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
)

func (f *filler) fill(v reflect.Value) {
	f.n++
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(f.n) * (time.Hour + time.Microsecond))))
		return
	case v.Type() == durationType:
		v.SetInt(int64(f.n)*int64(time.Second) + 1)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				f.fill(v.Field(i))
			}
		}
	case reflect.String:
		v.SetString(fmt.Sprintf("v%d", f.n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(int64(f.n) + 1<<40)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(i + f.n)
			}
			v.SetBytes(b)
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		f.fill(s.Index(0))
		f.fill(s.Index(1))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for range 2 {
			k := reflect.New(v.Type().Key()).Elem()
			e := reflect.New(v.Type().Elem()).Elem()
			f.fill(k)
			f.fill(e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	default:
		panic(fmt.Sprintf("filler: cannot fill %s", v.Type()))
	}
}

func filled[T any]() T {
	var rec T
	(&filler{}).fill(reflect.ValueOf(&rec).Elem())
	return rec
}

func TestEveryFieldRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)

	client := filled[storage.Client]()
	require.NoError(t, s.CreateClient(ctx, client))
	gotClient, err := s.GetClient(ctx, client.ID)
	require.NoError(t, err)
	assert.Equal(t, client, gotClient, "every Client field is stored")

	tok := filled[storage.Token]()
	tok.Kind = storage.KindRefreshToken
	require.NoError(t, s.CreateToken(ctx, tok))
	gotTok, err := s.GetToken(ctx, tok.Kind, tok.Signature)
	require.NoError(t, err)
	assert.Equal(t, tok, gotTok, "every Token field is stored")

	consent := filled[storage.Consent]()
	require.NoError(t, s.SaveConsent(ctx, consent))
	gotConsent, err := s.GetConsent(ctx, consent.Subject, consent.ClientID)
	require.NoError(t, err)
	assert.Equal(t, consent, gotConsent, "every Consent field is stored")

	session := filled[storage.LoginSession]()
	require.NoError(t, s.CreateLoginSession(ctx, session))
	gotSession, err := s.GetLoginSession(ctx, session.ID)
	require.NoError(t, err)
	assert.Equal(t, session, gotSession, "every LoginSession field is stored")

	flow := filled[storage.AuthFlow]()
	require.NoError(t, s.CreateAuthFlow(ctx, flow))
	gotFlow, err := s.GetAuthFlow(ctx, flow.ID)
	require.NoError(t, err)
	assert.Equal(t, flow, gotFlow, "every AuthFlow field is stored")

	key := filled[storage.SigningKey]()
	require.NoError(t, s.CreateSigningKey(ctx, key))
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []storage.SigningKey{key}, keys, "every SigningKey field is stored")

	mfa := filled[storage.MFARecord]()
	require.NoError(t, s.CreateMFA(ctx, mfa))
	gotMFA, err := s.GetMFA(ctx, mfa.Subject)
	require.NoError(t, err)
	assert.Equal(t, mfa, gotMFA, "every MFARecord field is stored")

	// And through the Update methods.
	next := filled[storage.Client]()
	next.Name, next.Secrets[0].ExpiresAt = "renamed", time.Time{}
	require.NoError(t, s.UpdateClient(ctx, client.ID, func(storage.Client) (storage.Client, error) { return next, nil }))
	next.ID = client.ID
	gotClient, err = s.GetClient(ctx, client.ID)
	require.NoError(t, err)
	assert.Equal(t, next, gotClient, "UpdateClient writes every field")
}

func TestZeroValuesRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c"}))
	got, err := s.GetClient(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, storage.Client{ID: "c"}, got, "zero times come back as time.Time{}, nil slices as nil")
	require.NoError(t, s.CreateToken(ctx, storage.Token{Kind: storage.KindPKCE, Signature: "p"}))
	tok, err := s.GetToken(ctx, storage.KindPKCE, "p")
	require.NoError(t, err)
	assert.Equal(t, storage.Token{Kind: storage.KindPKCE, Signature: "p"}, tok)
	assert.True(t, tok.ExpiresAt.IsZero())
}

func TestFormAndDataKeepEveryByte(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	form := map[string][]string{
		"nul\x00key":   {"a\x00b", ""},
		"\xff\xfe":     {"\xed\xa0\x80", "\x80"},
		"":             {"empty key"},
		"no-values":    {},
		"a=b&c":        {"d=e&f", "%zz", "+ +"},
		"trailing\\":   {"\\", "'", `"`},
		"\u00e9\u00e9": {"\U0001F511"},
	}
	tok := storage.Token{Kind: storage.KindAuthCode, Signature: "code", Request: storage.Request{Form: form}}
	require.NoError(t, s.CreateToken(ctx, tok))
	got, err := s.GetToken(ctx, storage.KindAuthCode, "code")
	require.NoError(t, err)
	assert.Equal(t, form, got.Request.Form)

	data := map[string]string{"nul\x00": "\x00", "\xff": "\xfe", "": "", "a=b": "&"}
	require.NoError(t, s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "f", Data: data}))
	flow, err := s.GetAuthFlow(ctx, "f")
	require.NoError(t, err)
	assert.Equal(t, data, flow.Data)
}

func TestListsAreOrderedBytewise(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, pool, prefix := pgtest.Store(t)
	// Byte order differs from most collations' order: upper case before
	// lower case, punctuation by code point, non-ASCII last.
	ids := []string{"b", "B", "a", "A1", "_x", "-y", "é", "e", "Z", "a b", "ab"}
	for _, id := range ids {
		require.NoError(t, s.CreateClient(ctx, storage.Client{ID: id}))
		require.NoError(t, s.SaveConsent(ctx, storage.Consent{Subject: "alice", ClientID: id}))
		require.NoError(t, s.CreateSigningKey(ctx, storage.SigningKey{ID: id}))
	}
	want := slices.Sorted(slices.Values(ids))
	check := func(msg string) {
		t.Helper()
		clients, err := s.ListClients(ctx)
		require.NoError(t, err)
		consents, err := s.ListConsents(ctx, "alice")
		require.NoError(t, err)
		keys, err := s.ListSigningKeys(ctx)
		require.NoError(t, err)
		var gotClients, gotConsents, gotKeys []string
		for i := range clients {
			gotClients = append(gotClients, clients[i].ID)
		}
		for i := range consents {
			gotConsents = append(gotConsents, consents[i].ClientID)
		}
		for i := range keys {
			gotKeys = append(gotKeys, keys[i].ID)
		}
		assert.Equal(t, want, gotClients, "clients, %s", msg)
		assert.Equal(t, want, gotConsents, "consents, %s", msg)
		assert.Equal(t, want, gotKeys, "keys with the same (zero) CreatedAt are ordered by ID, %s", msg)
	}
	check("with the schema's collation")

	// Even if a DBA changed the columns to a linguistic collation.
	var icu bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')`).Scan(&icu))
	if icu {
		_, err := pool.Exec(ctx, `ALTER TABLE `+prefix+`clients ALTER COLUMN id TYPE text COLLATE "und-x-icu";
			ALTER TABLE `+prefix+`consents ALTER COLUMN client_id TYPE text COLLATE "und-x-icu";
			ALTER TABLE `+prefix+`signing_keys ALTER COLUMN id TYPE text COLLATE "und-x-icu"`)
		require.NoError(t, err)
		check("with an ICU collation")
	}

	// A zero CreatedAt sorts first, as the zero time is the earliest.
	require.NoError(t, s.CreateSigningKey(ctx, storage.SigningKey{ID: "0-dated", CreatedAt: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}))
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, "0-dated", keys[len(keys)-1].ID, "a dated key comes after the undated ones")
}

func TestErrorsNameTheRecord(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	_, err := s.GetClient(ctx, "app-1")
	assert.EqualError(t, err, `postgres: get client "app-1": storage: not found`)
	err = s.RotateRefreshToken(ctx, "sig", time.Now())
	assert.EqualError(t, err, `postgres: rotate refresh token "sig": storage: not found`)
	_, err = s.GetToken(ctx, storage.KindPKCE, "sig")
	assert.EqualError(t, err, `postgres: get pkce "sig": storage: not found`)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c"}))
	assert.EqualError(t, s.CreateClient(ctx, storage.Client{ID: "c"}), `postgres: create client "c": storage: already exists`)
	require.NoError(t, s.UseJTI(ctx, "j", time.Now().Add(time.Minute), time.Now()))
	assert.EqualError(t, s.UseJTI(ctx, "j", time.Now().Add(time.Minute), time.Now()), `postgres: use JWT ID "j": storage: already used`)
}

func TestInvalidTextIsAnErrorNotCorruption(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	for _, id := range []string{"nul\x00id", "bad\xffutf8"} {
		err := s.CreateClient(ctx, storage.Client{ID: id})
		assert.Error(t, err, "client ID %q", id)
		for _, sentinel := range []error{storage.ErrNotFound, storage.ErrAlreadyExists, storage.ErrAlreadyUsed} {
			assert.NotErrorIs(t, err, sentinel)
		}
	}
	clients, err := s.ListClients(ctx)
	require.NoError(t, err, "the store still works")
	assert.Empty(t, clients)
}

func TestUpdateKeepsKeyAndCallsUpdateOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c", Name: "before"}))
	calls := 0
	require.NoError(t, s.UpdateClient(ctx, "c", func(c storage.Client) (storage.Client, error) {
		calls++
		return storage.Client{ID: "other", Name: "after"}, nil
	}))
	assert.Equal(t, 1, calls)
	list, err := s.ListClients(ctx)
	require.NoError(t, err)
	assert.Equal(t, []storage.Client{{ID: "c", Name: "after"}}, list, "update changes the record, never its ID")

	require.NoError(t, s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "f"}))
	require.NoError(t, s.UpdateAuthFlow(ctx, "f", func(f storage.AuthFlow) (storage.AuthFlow, error) { f.ID = "other"; return f, nil }))
	_, err = s.GetAuthFlow(ctx, "other")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, s.CreateSigningKey(ctx, storage.SigningKey{ID: "k"}))
	require.NoError(t, s.UpdateSigningKey(ctx, "k", func(k storage.SigningKey) (storage.SigningKey, error) { k.ID = "other"; return k, nil }))
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, []storage.SigningKey{{ID: "k"}}, keys)
	require.NoError(t, s.CreateMFA(ctx, storage.MFARecord{Subject: "alice"}))
	require.NoError(t, s.UpdateMFA(ctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) { r.Subject = "bob"; return r, nil }))
	_, err = s.GetMFA(ctx, "alice")
	assert.NoError(t, err)

	// update is not called for a missing record.
	calls = 0
	err = s.UpdateClient(ctx, "missing", func(c storage.Client) (storage.Client, error) { calls++; return c, nil })
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.Zero(t, calls)
}

func TestDeleteExpiredInBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, pool, prefix := pgtest.Store(t)
	// More than two batches of each kind.
	_, err := pool.Exec(ctx, `INSERT INTO `+prefix+`tokens (kind, signature, request_id, expires_at, active)
		SELECT 'access_token', 'sig-' || g, 'fam', '2000-01-01Z'::timestamptz + g * interval '1 second', true FROM generate_series(1, 2500) g`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO `+prefix+`jtis (jti, expires_at)
		SELECT 'jti-' || g, '2000-01-01Z' FROM generate_series(1, 1000) g`)
	require.NoError(t, err)
	require.NoError(t, s.CreateToken(ctx, txToken(storage.KindAccessToken, "live", "fam")))

	n, err := s.DeleteExpired(ctx, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.EqualValues(t, 3500, n, "every expired row, over several batches")
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM `+prefix+`tokens`).Scan(&left))
	assert.Equal(t, 1, left, "only the live token is left")
	n, err = s.DeleteExpired(ctx, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestDeleteExpiredZeroExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	// As in the memory store: a token, session, flow or JWT ID with a zero
	// expiry has expired at any time after the zero time; a consent or key
	// with a zero expiry never expires.
	require.NoError(t, s.CreateToken(ctx, storage.Token{Kind: storage.KindAccessToken, Signature: "t"}))
	require.NoError(t, s.CreateLoginSession(ctx, storage.LoginSession{ID: "ls"}))
	require.NoError(t, s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "f"}))
	require.NoError(t, s.UseJTI(ctx, "j", time.Time{}, time.Now()))
	require.NoError(t, s.SaveConsent(ctx, storage.Consent{Subject: "alice", ClientID: "c"}))
	require.NoError(t, s.CreateSigningKey(ctx, storage.SigningKey{ID: "k"}))
	require.NoError(t, s.CreateMFA(ctx, storage.MFARecord{Subject: "alice"}))

	n, err := s.DeleteExpired(ctx, time.Time{})
	require.NoError(t, err)
	assert.Zero(t, n, "nothing is before the zero time")
	n, err = s.DeleteExpired(ctx, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.EqualValues(t, 4, n, "the token, session, flow and JWT ID")
	_, err = s.GetConsent(ctx, "alice", "c")
	assert.NoError(t, err)
	keys, err := s.ListSigningKeys(ctx)
	require.NoError(t, err)
	assert.Len(t, keys, 1)
	_, err = s.GetMFA(ctx, "alice")
	assert.NoError(t, err)
}

func TestContextEndsWhileWaiting(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	require.NoError(t, s.CreateMFA(ctx, storage.MFARecord{Subject: "alice"}))

	// A transaction holds the record's row lock...
	txCtx, err := s.BeginTx(ctx)
	require.NoError(t, err)
	defer s.Rollback(txCtx)
	require.NoError(t, s.UpdateMFA(txCtx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) { r.Failures = 1; return r, nil }))

	// ... so an update with a deadline waits, and gives up at the deadline.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	called := false
	err = s.UpdateMFA(short, "alice", func(r storage.MFARecord) (storage.MFARecord, error) { called = true; return r, nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second, "the deadline is honoured")
	assert.False(t, called)

	// An update whose context is cancelled inside update writes nothing.
	require.NoError(t, s.Rollback(txCtx))
	cctx, cancel2 := context.WithCancel(ctx)
	err = s.UpdateMFA(cctx, "alice", func(r storage.MFARecord) (storage.MFARecord, error) {
		cancel2()
		r.Failures = 42
		return r, nil
	})
	assert.ErrorIs(t, err, context.Canceled)
	got, err := s.GetMFA(ctx, "alice")
	require.NoError(t, err)
	assert.Zero(t, got.Failures)
}

// sliceError is an error type that == cannot compare.
type sliceError []string

func (e sliceError) Error() string { return "slice error" }

func TestUpdateErrorIsReturnedAsIs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _, _ := pgtest.Store(t)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c"}))
	boom := errors.New("boom")
	err := s.UpdateClient(ctx, "c", func(c storage.Client) (storage.Client, error) { return c, boom })
	assert.Same(t, boom, err)
	// An error of a type that cannot be compared does not trip the store.
	err = s.UpdateClient(ctx, "c", func(c storage.Client) (storage.Client, error) { return c, sliceError{"x"} })
	var se sliceError
	assert.ErrorAs(t, err, &se)
}
