package postgres_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/internal/pgtest"
	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/storagetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	pgtest.DSN(t) // skip once, not in every subtest
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _, _ := pgtest.Store(t)
		return s
	})
}
