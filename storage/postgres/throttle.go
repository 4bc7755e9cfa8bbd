package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse/gatehouse/storage"
)

const throttleColumns = `key, failures, locked_until, expires_at`

func throttleArgs(th storage.Throttle) []any {
	return []any{th.Key, int64(th.Failures), ts(th.LockedUntil), ts(th.ExpiresAt)}
}

func scanThrottle(row pgx.Row) (storage.Throttle, error) {
	var (
		th                     storage.Throttle
		failures               int64
		lockedUntil, expiresAt pgtype.Timestamptz
	)
	if err := row.Scan(&th.Key, &failures, &lockedUntil, &expiresAt); err != nil {
		return storage.Throttle{}, err
	}
	th.Failures = int(failures)
	th.LockedUntil, th.ExpiresAt = fromTS(lockedUntil), fromTS(expiresAt)
	return th, nil
}

var throttles = newTable(table[storage.Throttle]{
	name: "throttles", columns: throttleColumns, key: "key", what: "throttle %q",
	args: throttleArgs, scan: scanThrottle,
	keyOf:  func(th storage.Throttle) string { return th.Key },
	setKey: func(th *storage.Throttle, key string) { th.Key = key },
})

// ensureThrottleSQL inserts an empty row for a key unless it has one, so
// that the SELECT ... FOR UPDATE that follows always finds a row to lock:
// of two callers racing on a missing key, the second waits on the first's
// row instead of both seeing none.
const ensureThrottleSQL = `INSERT INTO {p}throttles (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`

// GetThrottle implements [storage.ThrottleStore].
func (s *Store) GetThrottle(ctx context.Context, key string) (storage.Throttle, error) {
	return throttles.get(ctx, s, key)
}

// UpdateThrottle implements [storage.ThrottleStore]. In one transaction it
// makes sure the key has a row (INSERT ... ON CONFLICT DO NOTHING), locks
// it (SELECT ... FOR UPDATE), calls update once and writes what it returns,
// or deletes the row when the result has zero Failures and a zero
// LockedUntil. Concurrent updates of one key, even one that has no record
// yet, wait for each other across every replica, so no failure is lost. An
// error from update rolls the transaction back, the inserted row with it:
// nothing is written. A row that another transaction deletes meanwhile is
// inserted again. update receives Throttle{Key: key} when there was no
// record, and must not call back into the store with the same context.
func (s *Store) UpdateThrottle(ctx context.Context, key string, update func(storage.Throttle) (storage.Throttle, error)) error {
	updateFailed := false
	err := s.inTx(ctx, func(q querier) error {
		var cur storage.Throttle
		for {
			if _, err := q.Exec(ctx, s.sql(ensureThrottleSQL), key); err != nil {
				return err
			}
			var err error
			cur, err = throttles.scan(q.QueryRow(ctx, s.sql(throttles.selectSQL+` FOR UPDATE`), key))
			if !isNoRows(err) {
				if err != nil {
					return err
				}
				break
			}
			// Another transaction deleted the row between the two
			// statements (a reset, or DeleteExpired): insert it again.
		}
		next, err := update(cur)
		if err != nil {
			updateFailed = true
			return err
		}
		if next.Failures == 0 && next.LockedUntil.IsZero() {
			_, err = q.Exec(ctx, s.sql(throttles.deleteSQL), key)
			return err
		}
		throttles.setKey(&next, key)
		_, err = q.Exec(ctx, s.sql(throttles.updateSQL), throttles.args(next)...)
		return err
	})
	if err == nil || updateFailed {
		return err // update's error as it is
	}
	return s.fail(ctx, err, "update "+throttles.what, key)
}
