package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/gatehouse/gatehouse/storage"
)

// table is a record type kept in a map under a string key: the create,
// get, update, delete and list that clients, login sessions, auth flows,
// signing keys and MFA records share. Records are deep-copied with copy on
// the way in and on the way out, so the caller and the store never share a
// slice, map or byte slice. create, get, update, delete and list run under
// the store's lock (through Store.tx, which also sets the tables of a zero
// Store up); deleteWhere is for callers that hold it.
type table[T any] struct {
	copy    func(T) T         // a deep copy (see copy.go)
	keyOf   func(T) string    // the record's key
	withKey func(T, string) T // the record with its key set
	rows    map[string]T

	// The errors' formats, made once so that an error costs no more
	// allocations than a constant format would: "memory: get client %q: %w".
	createErr, getErr, updateErr, deleteErr string
}

// newTable returns an empty table of the records deepCopy copies and whose
// key keyOf returns and withKey sets. what names the record in errors, with a %q for the key:
// `client %q`.
func newTable[T any](what string, deepCopy func(T) T, keyOf func(T) string, withKey func(T, string) T) table[T] {
	return table[T]{
		copy: deepCopy, keyOf: keyOf, withKey: withKey, rows: map[string]T{},
		createErr: "memory: create " + what + ": %w",
		getErr:    "memory: get " + what + ": %w",
		updateErr: "memory: update " + what + ": %w",
		deleteErr: "memory: delete " + what + ": %w",
	}
}

// create stores a copy of r, or returns [storage.ErrAlreadyExists] if its
// key is taken.
func (t *table[T]) create(ctx context.Context, s *Store, r T) error {
	return s.tx(ctx, func() error {
		k := t.keyOf(r)
		if _, ok := t.rows[k]; ok {
			return fmt.Errorf(t.createErr, k, storage.ErrAlreadyExists)
		}
		t.rows[k] = t.copy(r)
		return nil
	})
}

// get returns a copy of the record of key, or [storage.ErrNotFound].
func (t *table[T]) get(ctx context.Context, s *Store, key string) (T, error) {
	var r T
	err := s.tx(ctx, func() error {
		got, ok := t.rows[key]
		if !ok {
			return fmt.Errorf(t.getErr, key, storage.ErrNotFound)
		}
		r = t.copy(got)
		return nil
	})
	return r, err
}

// update calls update once, under the lock, with a copy of the record of
// key, and stores a copy of what it returns with the key put back. An error
// from update is returned as it is and nothing is written; update is not
// called for a missing record ([storage.ErrNotFound]).
func (t *table[T]) update(ctx context.Context, s *Store, key string, update func(T) (T, error)) error {
	return s.tx(ctx, func() error {
		got, ok := t.rows[key]
		if !ok {
			return fmt.Errorf(t.updateErr, key, storage.ErrNotFound)
		}
		next, err := update(t.copy(got))
		if err != nil {
			return err
		}
		t.rows[key] = t.copy(t.withKey(next, key))
		return nil
	})
}

// delete removes the record of key, or returns [storage.ErrNotFound].
func (t *table[T]) delete(ctx context.Context, s *Store, key string) error {
	return s.tx(ctx, func() error {
		if _, ok := t.rows[key]; !ok {
			return fmt.Errorf(t.deleteErr, key, storage.ErrNotFound)
		}
		delete(t.rows, key)
		return nil
	})
}

// list returns a copy of every record, ordered by key (compared byte by
// byte) or, if cmp is not nil, by cmp.
func (t *table[T]) list(ctx context.Context, s *Store, cmp func(a, b T) int) ([]T, error) {
	var out []T
	err := s.tx(ctx, func() error {
		out = make([]T, 0, len(t.rows))
		if cmp != nil {
			for _, r := range t.rows {
				out = append(out, t.copy(r))
			}
			slices.SortFunc(out, cmp)
			return nil
		}
		// Sorting the keys moves strings, not records.
		keys := make([]string, 0, len(t.rows))
		for k := range t.rows {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, t.copy(t.rows[k]))
		}
		return nil
	})
	return out, err
}

// where returns a copy of every record keep reports true for, ordered by
// key (compared byte by byte).
func (t *table[T]) where(ctx context.Context, s *Store, keep func(T) bool) ([]T, error) {
	var out []T
	err := s.tx(ctx, func() error {
		var keys []string
		for k, r := range t.rows {
			if keep(r) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		out = make([]T, 0, len(keys))
		for _, k := range keys {
			out = append(out, t.copy(t.rows[k]))
		}
		return nil
	})
	return out, err
}

// deleteWhere removes every record del reports true for and returns how
// many it removed. The caller holds the lock.
func (t *table[T]) deleteWhere(del func(T) bool) int64 {
	n := len(t.rows)
	maps.DeleteFunc(t.rows, func(_ string, r T) bool { return del(r) })
	return int64(n - len(t.rows))
}
