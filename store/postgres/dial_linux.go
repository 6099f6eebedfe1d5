//go:build linux

package postgres

import (
	"fmt"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tcpUserTimeout is a net.Dialer Control that sets TCP_USER_TIMEOUT (tcp(7)) to d on TCP
// sockets: data not acknowledged within d fails the connection. Error: the setsockopt's.
func tcpUserTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(network, _ string, c syscall.RawConn) error {
		if !strings.HasPrefix(network, "tcp") {
			return nil
		}
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("TCP_USER_TIMEOUT: %w", serr)
		}
		return nil
	}
}
