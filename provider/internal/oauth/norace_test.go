//go:build !race

package oauth

// raceEnabled: the race detector changes allocation counts (sync.Pool
// drops a share of what it is given, on purpose).
const raceEnabled = false
