package storagetest_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
	"github.com/gatehouse/gatehouse/storage/storagetest"
)

// A backend runs the whole suite from one test function in its own
// _test.go file. The function below is that test; in a real backend it is
// declared as func TestConformance(t *testing.T), and memory.New is replaced
// by the backend's constructor, pointed at a fresh, empty database.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Store {
			s := memory.New() // a fresh, empty store for every subtest
			t.Cleanup(func() {
				// Close connections, drop the test database, ...
			})
			return s
		})
	}
	_ = testConformance
}
