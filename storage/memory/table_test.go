package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// kindOps is the create, get, update and delete of one record kind, on a
// record with key "k" whose one other field update changes.
type kindOps struct {
	name   string
	create func(ctx context.Context, s *memory.Store) error
	get    func(ctx context.Context, s *memory.Store, key string) error
	// update calls the store's update with a func that sets the record's
	// key to "other", marks the record, and returns fail.
	update func(ctx context.Context, s *memory.Store, key string, fail error) (calls int, err error)
	// marked reports whether the stored record of "k" carries update's mark
	// and the key "k".
	marked func(ctx context.Context, s *memory.Store) bool
	delete func(ctx context.Context, s *memory.Store, key string) error
}

func kinds() []kindOps {
	return []kindOps{
		{
			name:   "client",
			create: func(ctx context.Context, s *memory.Store) error { return s.CreateClient(ctx, storage.Client{ID: "k"}) },
			get: func(ctx context.Context, s *memory.Store, key string) error {
				_, err := s.GetClient(ctx, key)
				return err
			},
			update: func(ctx context.Context, s *memory.Store, key string, fail error) (int, error) {
				calls := 0
				err := s.UpdateClient(ctx, key, func(c storage.Client) (storage.Client, error) {
					calls++
					c.ID, c.Name = "other", "marked"
					return c, fail
				})
				return calls, err
			},
			marked: func(ctx context.Context, s *memory.Store) bool {
				c, err := s.GetClient(ctx, "k")
				return err == nil && c.ID == "k" && c.Name == "marked"
			},
			delete: func(ctx context.Context, s *memory.Store, key string) error { return s.DeleteClient(ctx, key) },
		},
		{
			name: "login session",
			create: func(ctx context.Context, s *memory.Store) error {
				return s.CreateLoginSession(ctx, storage.LoginSession{ID: "k"})
			},
			get: func(ctx context.Context, s *memory.Store, key string) error {
				_, err := s.GetLoginSession(ctx, key)
				return err
			},
			delete: func(ctx context.Context, s *memory.Store, key string) error { return s.DeleteLoginSession(ctx, key) },
		},
		{
			name: "auth flow",
			create: func(ctx context.Context, s *memory.Store) error {
				return s.CreateAuthFlow(ctx, storage.AuthFlow{ID: "k"})
			},
			get: func(ctx context.Context, s *memory.Store, key string) error {
				_, err := s.GetAuthFlow(ctx, key)
				return err
			},
			update: func(ctx context.Context, s *memory.Store, key string, fail error) (int, error) {
				calls := 0
				err := s.UpdateAuthFlow(ctx, key, func(f storage.AuthFlow) (storage.AuthFlow, error) {
					calls++
					f.ID, f.CSRF = "other", "marked"
					return f, fail
				})
				return calls, err
			},
			marked: func(ctx context.Context, s *memory.Store) bool {
				f, err := s.GetAuthFlow(ctx, "k")
				return err == nil && f.ID == "k" && f.CSRF == "marked"
			},
			delete: func(ctx context.Context, s *memory.Store, key string) error { return s.DeleteAuthFlow(ctx, key) },
		},
		{
			name: "signing key",
			create: func(ctx context.Context, s *memory.Store) error {
				return s.CreateSigningKey(ctx, storage.SigningKey{ID: "k"})
			},
			update: func(ctx context.Context, s *memory.Store, key string, fail error) (int, error) {
				calls := 0
				err := s.UpdateSigningKey(ctx, key, func(k storage.SigningKey) (storage.SigningKey, error) {
					calls++
					k.ID, k.Algorithm = "other", "marked"
					return k, fail
				})
				return calls, err
			},
			marked: func(ctx context.Context, s *memory.Store) bool {
				keys, err := s.ListSigningKeys(ctx)
				return err == nil && len(keys) == 1 && keys[0].ID == "k" && keys[0].Algorithm == "marked"
			},
			delete: func(ctx context.Context, s *memory.Store, key string) error { return s.DeleteSigningKey(ctx, key) },
		},
		{
			name: "mfa of",
			create: func(ctx context.Context, s *memory.Store) error {
				return s.CreateMFA(ctx, storage.MFARecord{Subject: "k"})
			},
			get: func(ctx context.Context, s *memory.Store, key string) error { _, err := s.GetMFA(ctx, key); return err },
			update: func(ctx context.Context, s *memory.Store, key string, fail error) (int, error) {
				calls := 0
				err := s.UpdateMFA(ctx, key, func(r storage.MFARecord) (storage.MFARecord, error) {
					calls++
					r.Subject, r.Failures = "other", 7
					return r, fail
				})
				return calls, err
			},
			marked: func(ctx context.Context, s *memory.Store) bool {
				r, err := s.GetMFA(ctx, "k")
				return err == nil && r.Subject == "k" && r.Failures == 7
			},
			delete: func(ctx context.Context, s *memory.Store, key string) error { return s.DeleteMFA(ctx, key) },
		},
	}
}

// TestRecordKinds pins, for every record kind kept by key, what the store
// did before its create, get, update and delete were written once: the
// errors and their messages, update called once and writing nothing on its
// error, and the key kept whatever update returns.
func TestRecordKinds(t *testing.T) {
	for _, k := range kinds() {
		t.Run(k.name, func(t *testing.T) {
			ctx := t.Context()
			s := memory.New()
			if k.get != nil {
				assert.EqualError(t, k.get(ctx, s, "missing"), `memory: get `+k.name+` "missing": storage: not found`)
			}
			assert.EqualError(t, k.delete(ctx, s, "missing"), `memory: delete `+k.name+` "missing": storage: not found`)
			require.NoError(t, k.create(ctx, s))
			assert.EqualError(t, k.create(ctx, s), `memory: create `+k.name+` "k": storage: already exists`)
			if k.update != nil {
				calls, err := k.update(ctx, s, "missing", nil)
				assert.EqualError(t, err, `memory: update `+k.name+` "missing": storage: not found`)
				assert.Zero(t, calls, "update is not called for a missing record")

				boom := errors.New("boom")
				calls, err = k.update(ctx, s, "k", boom)
				assert.Same(t, boom, err, "update's error is returned as it is")
				assert.Equal(t, 1, calls)
				assert.False(t, k.marked(ctx, s), "a failed update writes nothing")

				calls, err = k.update(ctx, s, "k", nil)
				require.NoError(t, err)
				assert.Equal(t, 1, calls, "update is called exactly once")
				assert.True(t, k.marked(ctx, s), "the update is stored under its key, whatever key update returned")
				if k.get != nil {
					assert.ErrorIs(t, k.get(ctx, s, "other"), storage.ErrNotFound, "no record under the key update returned")
				}
			}
			require.NoError(t, k.delete(ctx, s, "k"))
			assert.ErrorIs(t, k.delete(ctx, s, "k"), storage.ErrNotFound)
			require.NoError(t, k.create(ctx, s), "a deleted key can be used again")
		})
	}
}
