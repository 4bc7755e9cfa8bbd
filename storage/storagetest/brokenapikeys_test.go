package storagetest

import (
	"context"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
)

// These check that the APIKeys and ApplicationUsers groups catch the bugs
// a backend of API keys could have and sequential tests miss: a rotation
// that reads the key and writes it back outside one atomic step (two
// concurrent rotations both win, and the caller of the first holds a dead
// key), a delete of an application user that removes the keys of a user
// with the same name, and a touch that moves LastUsedAt back. As in
// brokenstore_test.go, the suite runs against each broken store in a child
// process.

const brokenKeysEnv = "GATEHOUSE_STORAGETEST_BROKEN_APIKEYS"

// brokenKeys is the memory store with one of those bugs.
type brokenKeys struct {
	*memory.Store
	variant string
}

// UpdateAPIKey of "update-racy" reads the key, yields, calls update on
// what it read and writes the result over whatever is stored by then.
func (s *brokenKeys) UpdateAPIKey(ctx context.Context, id string, update func(storage.APIKey) (storage.APIKey, error)) error {
	if s.variant != "update-racy" {
		return s.Store.UpdateAPIKey(ctx, id, update)
	}
	cur, err := s.GetAPIKey(ctx, id)
	if err != nil {
		return err
	}
	dawdle()
	next, err := update(cur)
	if err != nil {
		return err
	}
	return s.Store.UpdateAPIKey(ctx, id, func(storage.APIKey) (storage.APIKey, error) { return next, nil })
}

// TouchAPIKey of "touch-backwards" sets LastUsedAt to at, earlier or not.
func (s *brokenKeys) TouchAPIKey(ctx context.Context, id string, at time.Time) error {
	if s.variant != "touch-backwards" {
		return s.Store.TouchAPIKey(ctx, id, at)
	}
	return s.Store.UpdateAPIKey(ctx, id, func(k storage.APIKey) (storage.APIKey, error) {
		k.LastUsedAt = at
		return k, nil
	})
}

// DeleteApplicationUser of "delete-by-owner" also deletes the keys of the
// user named like the application user.
func (s *brokenKeys) DeleteApplicationUser(ctx context.Context, id string) error {
	if err := s.Store.DeleteApplicationUser(ctx, id); err != nil || s.variant != "delete-by-owner" {
		return err
	}
	keys, err := s.FindAPIKeys(ctx, storage.APIKeyQuery{Owner: id})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := s.DeleteAPIKey(ctx, k.ID); err != nil {
			return err
		}
	}
	return nil
}

// TestBrokenKeyStore is the child: it runs the suite on the broken store
// brokenKeysEnv names, and nothing without it.
func TestBrokenKeyStore(t *testing.T) {
	variant := os.Getenv(brokenKeysEnv)
	if variant == "" {
		t.Skip("run by TestSuiteCatchesBrokenKeyStores")
	}
	Run(t, func(t *testing.T) storage.Store { return &brokenKeys{Store: memory.New(), variant: variant} })
}

func TestSuiteCatchesBrokenKeyStores(t *testing.T) {
	for _, tc := range []struct {
		variant  string
		failing  []string
		messages []string
	}{
		{
			variant:  "update-racy",
			failing:  []string{"APIKeys/RotateRace"},
			messages: []string{`round \d+: exactly one of 50 concurrent rotations wins`}, // the round the race shows in depends on the scheduler
		},
		{
			variant:  "touch-backwards",
			failing:  []string{"APIKeys/Touch"},
			messages: []string{`an earlier touch leaves it, and changes nothing else`},
		},
		{
			variant:  "delete-by-owner",
			failing:  []string{"ApplicationUsers/DeleteRemovesKeys"},
			messages: []string{`DeleteApplicationUser\(alice\) leaves key user of user alice`},
		},
	} {
		t.Run(tc.variant, func(t *testing.T) {
			out, failing, passing := runSuiteChild(t, "^TestBrokenKeyStore$", brokenKeysEnv, tc.variant)
			assert.Equal(t, tc.failing, failing, "the cases that fail:\n%s", out)
			for _, c := range passing {
				assert.False(t, slices.Contains(tc.failing, c), "%s passed", c)
			}
			assert.NotEmpty(t, passing, "the rest of the suite ran and passed:\n%s", out)
			for _, msg := range tc.messages {
				assert.True(t, regexp.MustCompile(msg).Match(out), "the output matches %q", msg)
			}
		})
	}
}
