package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded migration file, migrations/NNNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string // with {{prefix}} in table names
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// loadMigrations returns the embedded migrations in order, and checks that
// they are numbered 1, 2, 3, ... without gaps.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("postgres: migration file %q is not named NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("postgres: read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: m[2], sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("postgres: migrations must be numbered 1, 2, 3, ...: found version %d at position %d", m.version, i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this package's migrations bring a
// database to: the number of the last embedded migration.
func SchemaVersion() int {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return 0
	}
	return len(ms)
}

// Migrate applies the embedded migrations (migrations/0001_*.sql, ...) that
// are not applied yet, in order, each in its own transaction together with
// its row in the version table <prefix>schema_migrations (version int
// primary key, name text, applied_at timestamptz). It is idempotent, and
// safe to run from several replicas at once: a transaction-level advisory
// lock keyed by the prefix serialises them. It returns an error if the
// database is at a newer version than this package knows (a newer binary
// migrated it).
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...Option) error {
	if pool == nil {
		return errors.New("postgres: Migrate: the pool is nil")
	}
	o, err := buildOptions(opts)
	if err != nil {
		return err
	}
	return migrate(ctx, pool, o.prefix)
}

// lockKey is the advisory lock key of a prefix's migrations.
func lockKey(prefix string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/gatehouse/gatehouse/storage/postgres migrate " + prefix))
	return int64(h.Sum64())
}

func migrate(ctx context.Context, pool *pgxpool.Pool, prefix string) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := applyMigration(ctx, pool, prefix, m, len(ms)); err != nil {
			return err
		}
	}
	return nil
}

// applyMigration applies m unless it is applied already, in one transaction
// that holds the prefix's advisory lock.
func applyMigration(ctx context.Context, pool *pgxpool.Pool, prefix string, m migration, latest int) error {
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(prefix)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+prefix+`schema_migrations (
			version int PRIMARY KEY,
			name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var applied bool
		var newest int
		err := tx.QueryRow(ctx, `SELECT coalesce(bool_or(version = $1), false), coalesce(max(version), 0) FROM `+prefix+`schema_migrations`,
			m.version).Scan(&applied, &newest)
		if err != nil {
			return err
		}
		if newest > latest {
			return &aheadError{prefix, newest, latest}
		}
		if applied {
			return nil
		}
		if _, err := tx.Exec(ctx, strings.ReplaceAll(m.sql, "{{prefix}}", prefix)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+prefix+`schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
			return err
		}
		return nil
	})
	var ahead *aheadError
	if err != nil && !errors.As(err, &ahead) {
		return fmt.Errorf("postgres: migrate prefix %q to version %d (%s): %w", prefix, m.version, m.name, err)
	}
	return err
}

// aheadError says that a database is at a newer schema version than this
// package knows.
type aheadError struct {
	prefix    string
	db, known int
}

func (e *aheadError) Error() string {
	return fmt.Sprintf("postgres: the schema of prefix %q is at version %d, newer than version %d that this binary knows: a newer binary migrated the database; run that one (or a newer one)", e.prefix, e.db, e.known)
}

// checkVersion returns an error unless every embedded migration, and no
// newer one, has been applied to the prefix's schema.
func checkVersion(ctx context.Context, pool *pgxpool.Pool, prefix string) error {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return err
	}
	latest := len(ms)
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, prefix+"schema_migrations").Scan(&exists); err != nil {
		return fmt.Errorf("postgres: check the schema version of prefix %q: %w", prefix, err)
	}
	if !exists {
		return fmt.Errorf("postgres: the schema of prefix %q is not migrated (no table %sschema_migrations): call postgres.Migrate first, or pass postgres.WithMigrate()", prefix, prefix)
	}
	rows, err := pool.Query(ctx, `SELECT version FROM `+prefix+`schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("postgres: check the schema version of prefix %q: %w", prefix, err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return fmt.Errorf("postgres: check the schema version of prefix %q: %w", prefix, err)
	}
	newest := 0
	if len(versions) > 0 {
		newest = int(versions[len(versions)-1])
	}
	if newest > latest {
		return &aheadError{prefix, newest, latest}
	}
	for v := 1; v <= latest; v++ {
		if !slices.Contains(versions, int32(v)) {
			return fmt.Errorf("postgres: the schema of prefix %q is at version %d, behind version %d that this binary needs (version %d is missing): call postgres.Migrate first, or pass postgres.WithMigrate()", prefix, newest, latest, v)
		}
	}
	return nil
}
