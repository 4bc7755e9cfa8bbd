// Package racetest starts many goroutines at one instant, for the tests
// that check that exactly one of several concurrent callers wins (a code
// exchanged twice, a TOTP code used twice) or that no update is lost.
package racetest

import "sync"

// Run calls f(0) ... f(n-1) in n goroutines that all wait on one start
// signal, given once every goroutine is ready, and returns their results
// indexed by i.
func Run[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			out[i] = f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out
}

// Nils counts the nil errors in errs: the winners.
func Nils(errs []error) int {
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n
}
