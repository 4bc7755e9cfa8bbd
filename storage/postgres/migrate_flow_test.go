package postgres_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/postgres"
)

// TestMigrationAddsAuthFlowFields upgrades a database that lacks the
// migration adding the typed auth_flows columns and holds a flow written by
// a binary without them (its values under keys of data): after Migrate the
// flow reads back with the typed fields empty and data as it was, and the
// new columns then keep what is written. The migration is found by name.
func TestMigrationAddsAuthFlowFields(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.Pool(t)
	prefix := pgtest.Prefix(t, pool)
	require.NoError(t, postgres.Migrate(ctx, pool, postgres.WithTablePrefix(prefix)))

	version := undoMigration(t, pool, prefix, "auth_flow_fields", `ALTER TABLE `+prefix+`auth_flows DROP COLUMN requested_at,
		DROP COLUMN client_ip, DROP COLUMN browser, DROP COLUMN tenant, DROP COLUMN user_json`)
	// The row such a binary wrote (data in URL query form, keys in order).
	expires := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Microsecond)
	_, err := pool.Exec(ctx, `INSERT INTO `+prefix+`auth_flows (id, query, client_id, subject, done, data, csrf, expires_at)
		VALUES ('f', 'client_id=c', 'c', 'alice', '{login}', $1, 'csrf', $2)`,
		"browser=b-digest&ip=192.0.2.1&rat=1700000000&tenant=acme&user=%7B%22sub%22%3A%22alice%22%7D", expires)
	require.NoError(t, err)

	s, err := postgres.New(ctx, pool, postgres.WithTablePrefix(prefix), postgres.WithMigrate())
	require.NoError(t, err)
	assert.Contains(t, migrationRows(t, pool, prefix), version, "the migration is recorded again")
	got, err := s.GetAuthFlow(ctx, "f")
	require.NoError(t, err)
	want := storage.AuthFlow{ID: "f", Query: "client_id=c", ClientID: "c", Subject: "alice", Done: []string{"login"},
		Data: map[string]string{"browser": "b-digest", "ip": "192.0.2.1", "rat": "1700000000", "tenant": "acme", "user": `{"sub":"alice"}`},
		CSRF: "csrf", ExpiresAt: expires}
	assert.Equal(t, want, got, "the flow is kept: typed fields empty, its values still in Data")

	at := time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)
	require.NoError(t, s.UpdateAuthFlow(ctx, "f", func(f storage.AuthFlow) (storage.AuthFlow, error) {
		f.RequestedAt, f.ClientIP, f.Browser, f.Tenant, f.User = at, "192.0.2.1", "b-digest", "acme", []byte(`{"sub":"alice"}`)
		f.Data = map[string]string{"custom": "x"}
		return f, nil
	}))
	got, err = s.GetAuthFlow(ctx, "f")
	require.NoError(t, err)
	want.RequestedAt, want.ClientIP, want.Browser, want.Tenant, want.User = at, "192.0.2.1", "b-digest", "acme", []byte(`{"sub":"alice"}`)
	want.Data = map[string]string{"custom": "x"}
	assert.Equal(t, want, got, "the new columns keep what is written")
}
