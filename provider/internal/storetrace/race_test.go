//go:build race

package storetrace_test

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = true
