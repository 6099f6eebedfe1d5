package web

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Back-off of the accept loop after an Accept error (EMFILE, ENFILE, ENOBUFS…): it starts at
// acceptBackoffMin and doubles to acceptBackoffMax while the errors go on.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// logEvery bounds how often one kind of refusal (accept error, connection over a cap) is
	// logged: a flood must not become a flood of log lines.
	logEvery = 10 * time.Second
)

// refusedReply is what a connection over a cap gets before it is closed.
const refusedReply = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\ntoo many connections"

// guardedListener is the listener fasthttp serves on. It keeps fasthttp's accept loop alive and
// bounds what one client can hold:
//
//   - fasthttp's Server.Serve returns for good on the first Accept error that is not a timeout
//     (fasthttp v1.51.0 server.go acceptConn: "Permanent error when accepting new
//     connections"), so EMFILE once would end the HTTP side while the process lives on. Accept
//     here retries every error but a closed listener, with back-off, and never passes one up.
//   - Connections are capped in total and per client IP (fasthttp's own MaxConnsPerIP counts
//     IPv4 only and Fiber does not expose it); a connection over a cap gets a 503 and is closed
//     at once, so its descriptor is free again.
//
// Close closes the inner listener and ends a back-off wait; Accept then returns net.ErrClosed
// (fasthttp takes it for a shutdown).
type guardedListener struct {
	net.Listener
	maxTotal int // 0: no cap
	maxPerIP int // 0: no cap
	log      zerolog.Logger

	done      chan struct{}
	closeOnce sync.Once

	mu    sync.Mutex
	total int
	perIP map[string]int

	lastAcceptLog, lastCapLog atomic.Int64          // unix nanoseconds of the last such log line
	refused                   atomic.Int64          // connections refused over a cap since start
	failing                   atomic.Pointer[error] // the last Accept error while accepting fails; nil once one succeeds
}

func newGuardedListener(ln net.Listener, maxTotal, maxPerIP int, log zerolog.Logger) *guardedListener {
	return &guardedListener{Listener: ln, maxTotal: maxTotal, maxPerIP: maxPerIP, log: log,
		done: make(chan struct{}), perIP: map[string]int{}}
}

// Accept returns the next connection within the caps. Errors: net.ErrClosed once Close ran.
func (l *guardedListener) Accept() (net.Conn, error) {
	delay := acceptBackoffMin
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return nil, net.ErrClosed
			}
			l.failing.Store(&err)
			l.sampled(&l.lastAcceptLog, func() {
				l.log.Error().Err(err).Dur("retry_in", delay).Msg("http accept failed; retrying")
			})
			if !l.sleep(delay) {
				return nil, net.ErrClosed
			}
			delay = min(2*delay, acceptBackoffMax)
			continue
		}
		delay = acceptBackoffMin
		l.failing.Store(nil)
		ip := remoteIP(c)
		if reason := l.admit(ip); reason != "" {
			l.refuse(c, ip, reason)
			continue
		}
		return &guardedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

// acceptErr is the error accepting fails with right now, nil while it works.
func (l *guardedListener) acceptErr() error {
	if p := l.failing.Load(); p != nil {
		return *p
	}
	return nil
}

// Close closes the inner listener and wakes a back-off wait.
func (l *guardedListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

func (l *guardedListener) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// sleep waits d, or less when the listener closes (then false).
func (l *guardedListener) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

// admit counts a new connection from ip, or names the cap it would exceed ("" when admitted).
func (l *guardedListener) admit(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.maxTotal > 0 && l.total >= l.maxTotal {
		return "max_conns"
	}
	if l.maxPerIP > 0 && l.perIP[ip] >= l.maxPerIP {
		return "max_conns_per_ip"
	}
	l.total++
	l.perIP[ip]++
	return ""
}

func (l *guardedListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// refuse answers 503 without waiting on the client and closes c.
func (l *guardedListener) refuse(c net.Conn, ip, reason string) {
	n := l.refused.Add(1)
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, _ = c.Write([]byte(refusedReply))
	_ = c.Close()
	l.sampled(&l.lastCapLog, func() {
		l.log.Warn().Str("ip", ip).Str("decision", "refused").Str("limit", reason).Int64("refused_total", n).
			Msg("http connection over its cap refused")
	})
}

// sampled runs logf when the last sampled line of its kind is older than logEvery.
func (l *guardedListener) sampled(last *atomic.Int64, logf func()) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(logEvery) || !last.CompareAndSwap(prev, now) {
		return
	}
	logf()
}

// remoteIP is the peer's address without its port ("" when it has none).
func remoteIP(c net.Conn) string {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return ""
	}
	return host
}

// guardedConn gives its slot back once, on the first Close.
type guardedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *guardedConn) Close() error {
	c.once.Do(c.release) // first: a client that sees the close finds the slot free
	return c.Conn.Close()
}
