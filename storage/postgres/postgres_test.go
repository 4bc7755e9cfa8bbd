package postgres_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/storagetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	testDSN(t) // skip once, not in every subtest
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _, _ := newTestStore(t)
		return s
	})
}
