package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cutWithin reports whether the server closes conn within limit while
// trickle keeps sending one byte every 200 ms (trickle may be empty: the
// client then sends nothing more). It reads and discards whatever the
// server answers.
func cutWithin(t *testing.T, conn net.Conn, trickle string, limit time.Duration) bool {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; i < len(trickle); i++ {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{trickle[i]}); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, conn)
	// io.Copy returns nil at EOF: the server closed the connection. A
	// deadline error means it was still open when the limit came.
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func dial(t *testing.T, issuer string) net.Conn {
	t.Helper()
	u, err := url.Parse(issuer)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// A client that announces a 60 KB body and sends a byte every 200 ms
// (slowloris on the body) is cut after the read timeout; without one it
// would hold its connection for over three hours. Several such
// connections are all cut.
func TestSlowBodyIsCut(t *testing.T) {
	issuer := startDemo(t, "-read-timeout", "1s")
	const conns = 5
	var wg sync.WaitGroup
	cut := make([]bool, conns)
	for i := range conns {
		conn := dial(t, issuer)
		_, err := fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\r\n")
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			cut[i] = cutWithin(t, conn, strings.Repeat("a", 60000), 15*time.Second)
		}()
	}
	wg.Wait()
	for i, c := range cut {
		assert.True(t, c, "connection %d with a slow body was still open after 15 s (read timeout 1 s)", i)
	}
}

// Headers sent a byte at a time are cut too (ReadHeaderTimeout).
func TestSlowHeadersAreCut(t *testing.T) {
	issuer := startDemo(t, "-read-timeout", "1s")
	conn := dial(t, issuer)
	assert.True(t, cutWithin(t, conn, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "+strings.Repeat("a", 1000), 15*time.Second),
		"a connection sending its headers slowly was still open after 15 s")
}

// An idle keep-alive connection is closed after the idle timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	issuer := startDemo(t, "-idle-timeout", "1s")
	conn := dial(t, issuer)
	_, err := fmt.Fprintf(conn, "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, cutWithin(t, conn, "", 15*time.Second), "an idle keep-alive connection was still open after 15 s (idle timeout 1 s)")
}

// Oversized headers get 431, not a megabyte of buffering.
func TestOversizedHeadersAreRefused(t *testing.T) {
	issuer := startDemo(t)
	req, err := http.NewRequest(http.MethodGet, issuer+"/.well-known/openid-configuration", nil)
	require.NoError(t, err)
	req.Header.Set("X-Big", strings.Repeat("a", 2*maxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
}

// Every limit of the demo's server is set by default.
func TestServerLimitsAreSet(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), defaultLimits)
	assert.Equal(t, 10*time.Second, srv.ReadHeaderTimeout)
	assert.Equal(t, 10*time.Second, srv.ReadTimeout)
	assert.Equal(t, 30*time.Second, srv.WriteTimeout)
	assert.Equal(t, 2*time.Minute, srv.IdleTimeout)
	assert.Equal(t, maxHeaderBytes, srv.MaxHeaderBytes)
}
