package racetest

import (
	"errors"
	"sync/atomic"
	"testing"
)

func TestRunStartsAllBeforeAny(t *testing.T) {
	var started atomic.Int64
	const n = 20
	seen := Run(n, func(i int) int64 {
		started.Add(1)
		return int64(i)
	})
	for i, v := range seen {
		if v != int64(i) {
			t.Fatalf("result %d is %d", i, v)
		}
	}
	if started.Load() != n {
		t.Fatalf("%d of %d ran", started.Load(), n)
	}
	if got := Nils([]error{nil, errors.New("x"), nil}); got != 2 {
		t.Fatalf("Nils = %d, want 2", got)
	}
}
