//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package postgres

import (
	"errors"
	"net"
	"syscall"
)

// serverSpoke reports whether the server has sent anything on nc, or
// closed it, since pgx last read from it: a look at the socket (recv with
// MSG_PEEK|MSG_DONTWAIT) that neither reads nor waits. On a connection
// idle in the pool that can only be an unsolicited message (a notice, a
// parameter change, or a terminated backend's FATAL error) or an end of
// stream. It reports true when it cannot tell, so that the caller checks
// the connection properly. The caller must have called SyncConn: pgx may
// otherwise have a read of its own pending on the socket.
func serverSpoke(nc net.Conn) bool {
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn() // TLS: look at the bytes on the socket under it
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false // not a socket: leave it to pgx
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var (
		buf  [1]byte
		rerr error
	)
	// Control, not Read: Read would wait for the socket's read lock, and
	// the socket is non-blocking (and MSG_DONTWAIT says so again).
	err = rc.Control(func(fd uintptr) {
		_, _, rerr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	if err != nil {
		return true
	}
	// Nothing to read yet: the socket is quiet. Otherwise there are bytes
	// (rerr nil, n > 0), an end of stream (nil, 0) or an error.
	return !errors.Is(rerr, syscall.EAGAIN) && !errors.Is(rerr, syscall.EWOULDBLOCK)
}
