//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package postgres

import "net"

// serverSpoke would report whether the server has sent anything on nc
// while it was idle; on this system the store does not look, and a
// connection whose backend went away fails on its next statement as pgx
// reports it.
func serverSpoke(net.Conn) bool { return false }
