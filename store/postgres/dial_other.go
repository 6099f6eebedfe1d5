//go:build !linux

package postgres

import (
	"syscall"
	"time"
)

// tcpUserTimeout is nil where TCP_USER_TIMEOUT is not known: keepalive alone finds a dead
// connection.
func tcpUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
