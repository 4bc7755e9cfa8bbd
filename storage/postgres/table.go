package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse/gatehouse/storage"
)

// table is a record type kept one row a record under a one-column key: the
// create, get, update and delete that clients, login sessions, auth flows,
// signing keys and MFA records share. Make one with newTable.
type table[T any] struct {
	name    string // the table's name, without the prefix
	columns string // every column, the key first
	key     string // the key column
	what    string // the record in errors, with a %q for the key: `client %q`
	args    func(T) []any
	scan    func(pgx.Row) (T, error)
	keyOf   func(T) string
	setKey  func(*T, string)

	insertSQL, selectSQL, updateSQL, deleteSQL string // set by newTable
}

// newTable returns t with its statements.
func newTable[T any](t table[T]) *table[T] {
	vals := make([]string, strings.Count(t.columns, ",")+1)
	for i := range vals {
		vals[i] = fmt.Sprintf("$%d", i+1)
	}
	v := strings.Join(vals, ", ")
	from, where := ` {p}`+t.name, ` WHERE `+t.key+` = $1`
	t.insertSQL = `INSERT INTO` + from + ` (` + t.columns + `) VALUES (` + v + `) ON CONFLICT (` + t.key + `) DO NOTHING`
	t.selectSQL = `SELECT ` + t.columns + ` FROM` + from + where
	t.updateSQL = `UPDATE` + from + ` SET (` + t.columns + `) = (` + v + `)` + where
	t.deleteSQL = `DELETE FROM` + from + where
	return &t
}

// create inserts r, or returns [storage.ErrAlreadyExists] if its key is taken.
func (t *table[T]) create(ctx context.Context, s *Store, r T) error {
	err := s.run(ctx, func(q querier) error {
		tag, err := q.Exec(ctx, s.sql(t.insertSQL), t.args(r)...)
		if err == nil && tag.RowsAffected() == 0 {
			err = storage.ErrAlreadyExists
		}
		return err
	})
	if err != nil {
		return s.fail(ctx, err, "create "+t.what, t.keyOf(r))
	}
	return nil
}

// get reads the record of key.
func (t *table[T]) get(ctx context.Context, s *Store, key string) (T, error) {
	var r T
	err := s.run(ctx, func(q querier) error {
		var err error
		r, err = t.scan(q.QueryRow(ctx, s.sql(t.selectSQL), key))
		return err
	})
	if err != nil {
		var zero T
		return zero, s.fail(ctx, err, "get "+t.what, key)
	}
	return r, nil
}

// update locks the row of key (SELECT ... FOR UPDATE), calls update once
// and writes what it returns, with the key put back. An error from update
// is returned as it is.
func (t *table[T]) update(ctx context.Context, s *Store, key string, update func(T) (T, error)) error {
	updateFailed := false
	err := s.inTx(ctx, func(q querier) error {
		cur, err := t.scan(q.QueryRow(ctx, s.sql(t.selectSQL+` FOR UPDATE`), key))
		if err != nil {
			return err
		}
		next, err := update(cur)
		if err != nil {
			updateFailed = true
			return err
		}
		t.setKey(&next, key)
		_, err = q.Exec(ctx, s.sql(t.updateSQL), t.args(next)...)
		return err
	})
	if err == nil || updateFailed {
		return err // update's error as it is
	}
	return s.fail(ctx, err, "update "+t.what, key)
}

// delete deletes the record of key.
func (t *table[T]) delete(ctx context.Context, s *Store, key string) error {
	err := s.run(ctx, func(q querier) error {
		return execOne(ctx, q, s.sql(t.deleteSQL), key)
	})
	if err != nil {
		return s.fail(ctx, err, "delete "+t.what, key)
	}
	return nil
}

// queryAll runs query (a template for s.sql) and scans every row it returns.
func queryAll[T any](ctx context.Context, s *Store, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := s.run(ctx, func(q querier) error {
		rows, err := q.Query(ctx, s.sql(query), args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
		return err
	})
	return out, err
}

// execOne runs a statement that must change one row, and returns
// pgx.ErrNoRows if it changed none.
func execOne(ctx context.Context, q querier, sql string, args ...any) error {
	tag, err := q.Exec(ctx, sql, args...)
	if err == nil && tag.RowsAffected() == 0 {
		return pgx.ErrNoRows
	}
	return err
}
