package postgres

import (
	"context"
	"time"
)

// deleteBatch is the most rows one DELETE of DeleteExpired removes.
const deleteBatch = 1000

// expiring lists the tables DeleteExpired cleans. zeroExpired marks those
// whose records always expire: a zero (NULL) expiry has passed at any
// time after the zero time, as in the memory store. Consents and signing
// keys with a zero expiry never expire; MFA records never do.
var expiring = []struct {
	table       string
	zeroExpired bool
}{
	{"tokens", true},
	{"jtis", true},
	{"consents", false},
	{"login_sessions", true},
	{"auth_flows", true},
	{"throttles", true},
	{"signing_keys", false},
	{"ended_logins", true},
	{"revoked_grants", true},
	{"deny_list", false},
}

// DeleteExpired implements [storage.Store]. It removes tokens, login
// sessions, flows, used JWT IDs, throttles, ended sign-ins, revoked
// grants and deny-list entries whose expiry is before before
// (a zero expiry has passed at any later time), and consents and signing
// keys whose non-zero ExpiresAt is before before. An expiry equal to before
// has not passed.
//
// It deletes in batches of at most 1000 rows, each its own statement (and,
// outside a transaction, its own transaction), so that it never holds many
// locks for long; rows that another transaction holds locked are skipped
// and left for the next run. Several replicas may run it at once. On an
// error it returns how many records it had removed so far.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, s.fail(ctx, err, "delete expired")
	}
	var total int64
	for _, t := range expiring {
		cond := `expires_at < $1`
		if t.zeroExpired && before.After(time.Time{}) {
			cond = `(expires_at < $1 OR expires_at IS NULL)`
		}
		query := s.sql(`DELETE FROM {p}` + t.table + ` WHERE ctid = ANY(ARRAY(
				SELECT ctid FROM {p}` + t.table + ` WHERE ` + cond + ` LIMIT $2 FOR UPDATE SKIP LOCKED
			)) AND ` + cond)
		for {
			var n int64
			err := s.run(ctx, func(q querier) error {
				tag, err := q.Exec(ctx, query, before, deleteBatch)
				n = tag.RowsAffected()
				return err
			})
			total += n
			if err != nil {
				return total, s.fail(ctx, err, "delete expired %s", t.table)
			}
			if n < deleteBatch {
				break
			}
		}
	}
	return total, nil
}
