package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/postgres"
)

// migrationRows returns the version table of prefix: version -> applied_at.
func migrationRows(t *testing.T, pool *pgxpool.Pool, prefix string) map[int]time.Time {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT version, applied_at FROM `+prefix+`schema_migrations`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int]time.Time{}
	for rows.Next() {
		var v int
		var at time.Time
		require.NoError(t, rows.Scan(&v, &at))
		_, dup := out[v]
		require.False(t, dup, "version %d recorded twice", v)
		out[v] = at
	}
	require.NoError(t, rows.Err())
	return out
}

func TestMigrateTwiceIsANoOp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.Pool(t)
	prefix := pgtest.Prefix(t, pool)
	require.NoError(t, postgres.Migrate(ctx, pool, postgres.WithTablePrefix(prefix)))
	first := migrationRows(t, pool, prefix)
	require.Len(t, first, postgres.SchemaVersion())
	require.NoError(t, postgres.Migrate(ctx, pool, postgres.WithTablePrefix(prefix)), "a second Migrate")
	assert.Equal(t, first, migrationRows(t, pool, prefix), "the second Migrate applied nothing")
	_, err := postgres.New(ctx, pool, postgres.WithTablePrefix(prefix))
	assert.NoError(t, err)
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.Pool(t)
	prefix := pgtest.Prefix(t, pool)
	const n = 8
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = postgres.Migrate(ctx, pool, postgres.WithTablePrefix(prefix))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "Migrate %d", i)
	}
	rows := migrationRows(t, pool, prefix)
	assert.Len(t, rows, postgres.SchemaVersion(), "one row per version")
	for v := 1; v <= postgres.SchemaVersion(); v++ {
		assert.Contains(t, rows, v)
	}
	s, err := postgres.New(ctx, pool, postgres.WithTablePrefix(prefix))
	require.NoError(t, err)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c"}))
}

func TestNewRefusesAnUnmigratedSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.Pool(t)
	prefix := pgtest.Prefix(t, pool)
	_, err := postgres.New(ctx, pool, postgres.WithTablePrefix(prefix))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Migrate", "the error says what to do")
	assert.Contains(t, err.Error(), "WithMigrate")

	// A schema missing its newest migration is behind too.
	require.NoError(t, postgres.Migrate(ctx, pool, postgres.WithTablePrefix(prefix)))
	_, err = pool.Exec(ctx, `DELETE FROM `+prefix+`schema_migrations WHERE version = $1`, postgres.SchemaVersion())
	require.NoError(t, err)
	_, err = postgres.New(ctx, pool, postgres.WithTablePrefix(prefix))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Migrate")
}

func TestNewRefusesANewerSchema(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.Pool(t)
	prefix := pgtest.Prefix(t, pool)
	require.NoError(t, postgres.Migrate(ctx, pool, postgres.WithTablePrefix(prefix)))
	newer := postgres.SchemaVersion() + 41
	_, err := pool.Exec(ctx, `INSERT INTO `+prefix+`schema_migrations (version, name) VALUES ($1, 'from_the_future')`, newer)
	require.NoError(t, err)

	_, err = postgres.New(ctx, pool, postgres.WithTablePrefix(prefix))
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("version %d", newer), "the error names the database's version")
	assert.Contains(t, err.Error(), fmt.Sprintf("version %d", postgres.SchemaVersion()), "and the binary's")
	_, err = postgres.New(ctx, pool, postgres.WithTablePrefix(prefix), postgres.WithMigrate())
	assert.Error(t, err, "WithMigrate does not hide it")
	assert.Error(t, postgres.Migrate(ctx, pool, postgres.WithTablePrefix(prefix)), "nor does Migrate")
}

func TestInvalidPrefixesAreRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.Pool(t)
	for _, prefix := range []string{
		"", "_x", "1x", "Gatehouse_", "gate-house_", "gate house", `x"; DROP TABLE users; --`, "x.y", "é",
		"a" + strings.Repeat("b", 31), // 32 characters
	} {
		_, err := postgres.New(ctx, pool, postgres.WithTablePrefix(prefix))
		if assert.Error(t, err, "New with prefix %q", prefix) {
			assert.Contains(t, err.Error(), "prefix")
		}
		assert.Error(t, postgres.Migrate(ctx, pool, postgres.WithTablePrefix(prefix)), "Migrate with prefix %q", prefix)
		_, err = postgres.Open(ctx, pgtest.DSN(t), postgres.WithTablePrefix(prefix))
		assert.Error(t, err, "Open with prefix %q", prefix)
	}
	// The longest valid prefix works end to end.
	longest := "t" + strings.Repeat("z", 30)
	t.Cleanup(func() { pgtest.Drop(t, pool, longest) })
	s, err := postgres.New(ctx, pool, postgres.WithTablePrefix(longest), postgres.WithMigrate())
	require.NoError(t, err)
	require.NoError(t, s.CreateLoginSession(ctx, storage.LoginSession{ID: "ls", Subject: "alice", ExpiresAt: time.Now()}))
}

func TestPrefixesAreIndependent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, pool, prefixA := pgtest.Store(t)
	prefixB := pgtest.Prefix(t, pool)
	b, err := postgres.New(ctx, pool, postgres.WithTablePrefix(prefixB), postgres.WithMigrate())
	require.NoError(t, err)
	assert.NotEqual(t, prefixA, prefixB)

	require.NoError(t, a.CreateClient(ctx, storage.Client{ID: "c", Name: "in A"}))
	_, err = b.GetClient(ctx, "c")
	assert.ErrorIs(t, err, storage.ErrNotFound, "B does not see A's client")
	require.NoError(t, b.CreateClient(ctx, storage.Client{ID: "c", Name: "in B"}), "the same ID in B")
	got, err := a.GetClient(ctx, "c")
	require.NoError(t, err)
	assert.Equal(t, "in A", got.Name)

	require.NoError(t, a.UseJTI(ctx, "jti", time.Now().Add(time.Hour), time.Now()))
	assert.NoError(t, b.UseJTI(ctx, "jti", time.Now().Add(time.Hour), time.Now()), "JWT IDs are per prefix")

	n, err := b.DeleteExpired(ctx, time.Now().Add(2*time.Hour))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "B's cleanup removes B's JWT ID only")
	assert.ErrorIs(t, a.UseJTI(ctx, "jti", time.Now().Add(time.Hour), time.Now()), storage.ErrAlreadyUsed)
}

func TestOpenAndClose(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.Pool(t)
	prefix := pgtest.Prefix(t, pool)
	s, err := postgres.Open(ctx, pgtest.DSN(t), postgres.WithTablePrefix(prefix), postgres.WithMigrate())
	require.NoError(t, err)
	require.NoError(t, s.CreateClient(ctx, storage.Client{ID: "c"}))
	s.Close()
	_, err = s.GetClient(ctx, "c")
	assert.Error(t, err, "Close closed the pool Open made")

	// New's pool stays open.
	s2, err := postgres.New(ctx, pool, postgres.WithTablePrefix(prefix))
	require.NoError(t, err)
	s2.Close()
	_, err = s2.GetClient(ctx, "c")
	assert.NoError(t, err, "Close leaves a caller's pool open")

	_, err = postgres.Open(ctx, "postgres://user:hunter2@[::1", postgres.WithTablePrefix(prefix))
	if assert.Error(t, err) {
		assert.NotContains(t, err.Error(), "hunter2", "the DSN's password is not in the error")
	}
}

// TestMigrationAddsIntrospectAudiences upgrades a database that lacks the
// migration adding clients.introspect_audiences and holds a client: New
// refuses it until Migrate has run, the client comes back unchanged with no
// IntrospectAudiences, and the new column then keeps what is written. The
// migration is found by name, so the test holds whatever its number.
func TestMigrationAddsIntrospectAudiences(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, prefix, s := migratedStore(t)
	old := storage.Client{ID: "rs", Name: "Resource server", Scopes: []string{"assets:read"}, Audience: []string{"https://api.example"}}
	require.NoError(t, s.CreateClient(ctx, old))

	version := undoMigration(t, pool, prefix, "client_introspect_audiences", `ALTER TABLE `+prefix+`clients DROP COLUMN introspect_audiences`)
	s = reopenMigrated(t, pool, prefix, version)
	got, err := s.GetClient(ctx, "rs")
	require.NoError(t, err)
	assert.Equal(t, old, got, "the client is kept, with no IntrospectAudiences")
	assert.Nil(t, got.IntrospectAudiences)

	require.NoError(t, s.UpdateClient(ctx, "rs", func(c storage.Client) (storage.Client, error) {
		c.IntrospectAudiences = []string{"https://api.example", "urn:example:rs"}
		return c, nil
	}))
	got, err = s.GetClient(ctx, "rs")
	require.NoError(t, err)
	assert.Equal(t, []string{"https://api.example", "urn:example:rs"}, got.IntrospectAudiences)
}

// TestMigrationAddsClientDescription upgrades a database that lacks the
// migration adding clients.description and holds a client: New refuses it
// until Migrate has run, the client comes back unchanged with an empty
// Description, and the new column then keeps what is written.
func TestMigrationAddsClientDescription(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, prefix, s := migratedStore(t)
	old := storage.Client{ID: "svc", Name: "Service", Scopes: []string{"assets:read"}, Customer: "acme"}
	require.NoError(t, s.CreateClient(ctx, old))

	version := undoMigration(t, pool, prefix, "client_description", `ALTER TABLE `+prefix+`clients DROP COLUMN description`)
	s = reopenMigrated(t, pool, prefix, version)
	got, err := s.GetClient(ctx, "svc")
	require.NoError(t, err)
	assert.Equal(t, old, got, "the client is kept, with an empty Description")

	require.NoError(t, s.UpdateClient(ctx, "svc", func(c storage.Client) (storage.Client, error) {
		c.Description = "Nightly export; owner ops@example.com"
		return c, nil
	}))
	got, err = s.GetClient(ctx, "svc")
	require.NoError(t, err)
	assert.Equal(t, "Nightly export; owner ops@example.com", got.Description)
}

// migratedStore returns a pool, a fresh migrated table prefix on it, and a
// store on that prefix.
func migratedStore(t *testing.T) (*pgxpool.Pool, string, *postgres.Store) {
	t.Helper()
	pool := pgtest.Pool(t)
	prefix := pgtest.Prefix(t, pool)
	require.NoError(t, postgres.Migrate(t.Context(), pool, postgres.WithTablePrefix(prefix)))
	s, err := postgres.New(t.Context(), pool, postgres.WithTablePrefix(prefix))
	require.NoError(t, err)
	return pool, prefix, s
}

// reopenMigrated checks that New refuses the schema of prefix, from which
// migration version was undone (undoMigration), naming the version and
// saying to run Migrate; then it opens the store with WithMigrate and
// checks the migration is recorded again.
func reopenMigrated(t *testing.T, pool *pgxpool.Pool, prefix string, version int) *postgres.Store {
	t.Helper()
	_, err := postgres.New(t.Context(), pool, postgres.WithTablePrefix(prefix))
	require.Error(t, err, "a schema without the migration is behind")
	assert.Contains(t, err.Error(), fmt.Sprintf("version %d is missing", version), "the error names the missing version")
	assert.Contains(t, err.Error(), "Migrate", "and says what to do")
	s, err := postgres.New(t.Context(), pool, postgres.WithTablePrefix(prefix), postgres.WithMigrate())
	require.NoError(t, err)
	assert.Contains(t, migrationRows(t, pool, prefix), version, "the migration is recorded again")
	return s
}

// undoMigration returns the schema of prefix to what a binary without the
// migration called name left: it runs undo (SQL that reverts the
// migration) and forgets the migration's version, which it returns. The
// migration is found by name, so a test holds whatever its number.
func undoMigration(t *testing.T, pool *pgxpool.Pool, prefix, name, undo string) int {
	t.Helper()
	ctx := t.Context()
	var version int
	require.NoError(t, pool.QueryRow(ctx, `SELECT version FROM `+prefix+`schema_migrations WHERE name = $1`, name).Scan(&version))
	_, err := pool.Exec(ctx, undo)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `DELETE FROM `+prefix+`schema_migrations WHERE version = $1`, version)
	require.NoError(t, err)
	return version
}

// TestMigrationAddsClientDisplay upgrades a database that lacks the
// migration adding clients.logo_uri and clients.client_uri and holds a
// client: New refuses it until Migrate has run, the client comes back
// unchanged with an empty LogoURI and ClientURI, and the new columns then
// keep what is written.
func TestMigrationAddsClientDisplay(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, prefix, s := migratedStore(t)
	old := storage.Client{ID: "spa", Name: "Single-page app", Public: true, RedirectURIs: []string{"https://spa.example/cb"}}
	require.NoError(t, s.CreateClient(ctx, old))

	version := undoMigration(t, pool, prefix, "client_display",
		`ALTER TABLE `+prefix+`clients DROP COLUMN logo_uri, DROP COLUMN client_uri`)
	s = reopenMigrated(t, pool, prefix, version)
	got, err := s.GetClient(ctx, "spa")
	require.NoError(t, err)
	assert.Equal(t, old, got, "the client is kept, with no logo and no home page")

	require.NoError(t, s.UpdateClient(ctx, "spa", func(c storage.Client) (storage.Client, error) {
		c.LogoURI, c.ClientURI = "https://spa.example/logo.svg", "https://spa.example/"
		return c, nil
	}))
	got, err = s.GetClient(ctx, "spa")
	require.NoError(t, err)
	assert.Equal(t, "https://spa.example/logo.svg", got.LogoURI)
	assert.Equal(t, "https://spa.example/", got.ClientURI)
}
