package memory

import (
	"context"
	"fmt"

	"github.com/gatehouse/gatehouse/storage"
)

// GetThrottle implements [storage.ThrottleStore].
func (s *Store) GetThrottle(ctx context.Context, key string) (storage.Throttle, error) {
	var th storage.Throttle
	err := s.tx(ctx, func() error {
		got, ok := s.throttles[key]
		if !ok {
			return fmt.Errorf("memory: get throttle %q: %w", key, storage.ErrNotFound)
		}
		th = got
		return nil
	})
	return th, err
}

// UpdateThrottle implements [storage.ThrottleStore]. update is called
// exactly once, with the stored throttle or Throttle{Key: key} if there is
// none, while the store is locked: it must not call back into the store. A
// result with zero Failures and a zero LockedUntil removes the record; the
// record keeps its key whatever update returns.
func (s *Store) UpdateThrottle(ctx context.Context, key string, update func(storage.Throttle) (storage.Throttle, error)) error {
	return s.tx(ctx, func() error {
		cur, ok := s.throttles[key]
		if !ok {
			cur = storage.Throttle{Key: key}
		}
		next, err := update(cur)
		if err != nil {
			return err
		}
		if next.Failures == 0 && next.LockedUntil.IsZero() {
			delete(s.throttles, key)
			return nil
		}
		next.Key = key
		s.throttles[key] = next
		return nil
	})
}
