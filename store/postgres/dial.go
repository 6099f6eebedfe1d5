package postgres

import (
	"net"
	"time"
)

// How a connection to a database that went away without a word (a partition, a host down: no
// TCP reset) is found dead: keepalive probes while it is idle or waiting for an answer, and, on
// Linux, TCP_USER_TIMEOUT for data sent and never acknowledged. Without them a query waits until
// the kernel gives up on retransmissions (~15 minutes), holding whoever asked; with them the
// connection fails within about userTimeout and pgx dials a new one.
const (
	keepAliveIdle     = 10 * time.Second
	keepAliveInterval = 5 * time.Second
	keepAliveCount    = 3
	userTimeout       = 25 * time.Second // keepAliveIdle + keepAliveCount × keepAliveInterval
)

// dialer is the net.Dialer of every connection of the pool: connectTimeout per dial, the
// keepalive above, and the user timeout where the platform has one (tcpUserTimeout).
func dialer(connectTimeout time.Duration) *net.Dialer {
	return &net.Dialer{
		Timeout:         connectTimeout,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle, Interval: keepAliveInterval, Count: keepAliveCount},
		Control:         tcpUserTimeout(userTimeout),
	}
}
