//go:build linux

package postgres

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDialer_FindsADeadConnection: the pool's connections carry keepalive and TCP_USER_TIMEOUT
// as dial.go says, read back from the socket (a partition itself cannot be made on loopback
// without touching the host's firewall).
func TestDialer_FindsADeadConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	c, err := dialer(time.Second).DialContext(context.Background(), "tcp", ln.Addr().String())
	must(t, err)
	defer c.Close()
	raw, err := c.(*net.TCPConn).SyscallConn()
	must(t, err)
	opt := func(level, name int) int {
		var v int
		var gerr error
		must(t, raw.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, name) }))
		must(t, gerr)
		return v
	}
	for _, c := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(keepAliveIdle / time.Second)},
		{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(keepAliveInterval / time.Second)},
		{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAliveCount},
		{"TCP_USER_TIMEOUT", unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(userTimeout / time.Millisecond)},
	} {
		if got := opt(c.level, c.opt); got != c.want {
			t.Errorf("%s = %d, want %d", c.name, got, c.want)
		}
	}
}
