package storagetest_test

import (
	"testing"

	"github.com/gatehouse/gatehouse/storage"
	"github.com/gatehouse/gatehouse/storage/memory"
	"github.com/gatehouse/gatehouse/storage/storagetest"
)

// A backend's whole conformance test. Put it in the backend's _test.go file
// as func TestConformance(t *testing.T); newStore must return a fresh, empty
// store for every subtest.
func ExampleRun() {
	testConformance := func(t *testing.T) {
		storagetest.Run(t, func(t *testing.T) storage.Store {
			return memory.New()
		})
	}
	_ = testConformance
}
