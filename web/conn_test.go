package web

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// halfSent is the start of a request whose headers never end.
const halfSent = "GET /healthz HTTP/1.1\r\nHost: callrec\r\nX-Slow: "

// dialFrom connects to the server from the loopback address src (Linux routes all of 127/8 to
// lo, so 127.0.0.2 is a second client) and writes what.
func dialFrom(t *testing.T, s *Server, src, what string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	must(t, err)
	t.Cleanup(func() { c.Close() })
	if what != "" {
		_, err = io.WriteString(c, what)
		must(t, err)
	}
	return c
}

// closedWithin reports whether the server ends c (EOF, or a reply then EOF) within d, and what
// it sent.
func closedWithin(c net.Conn, d time.Duration) (bool, string) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, string(b)
	}
	return true, string(b)
}

// getFrom sends a whole GET /healthz from src and returns the status line.
func getFrom(t *testing.T, s *Server, src string) string {
	t.Helper()
	c := dialFrom(t, s, src, "GET /healthz HTTP/1.1\r\nHost: callrec\r\nConnection: close\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("GET /healthz from %s: %v", src, err)
	}
	return strings.TrimSpace(line)
}

// Issue 12 item 1: ~21,000 idle half-sent requests from one unauthenticated client took every
// descriptor. One client IP holds at most MaxConnsPerIP connections and all clients together
// MaxConns; the one over a cap is answered 503 and closed at once, and other clients are served.
func TestConnCaps_OneClientCannotHoldEveryConnection(t *testing.T) {
	db := MustOpenStore(t)
	s := MustServe(t, db, func(s *Server) {
		s.MaxConnsPerIP, s.MaxConns = 4, 6
		s.ReadHeaderTimeout = 10 * time.Minute // the half-sent ones stay for the whole test
	})
	for range 4 {
		dialFrom(t, s, "127.0.0.1", halfSent)
	}
	over := dialFrom(t, s, "127.0.0.1", halfSent)
	if closed, got := closedWithin(over, 15*time.Second); !closed || !strings.HasPrefix(got, "HTTP/1.1 503") {
		t.Fatalf("the 5th half-sent connection from one IP: closed %v, got %q; want 503 and closed", closed, got)
	}
	if got := getFrom(t, s, "127.0.0.2"); !strings.Contains(got, " 200 ") {
		t.Fatalf("another client while one IP is at its cap: %q, want 200", got)
	}
	dialFrom(t, s, "127.0.0.2", halfSent)
	dialFrom(t, s, "127.0.0.2", halfSent) // 6 open: the total cap
	third := dialFrom(t, s, "127.0.0.3", halfSent)
	if closed, got := closedWithin(third, 15*time.Second); !closed || !strings.HasPrefix(got, "HTTP/1.1 503") {
		t.Fatalf("a connection over the total cap: closed %v, got %q; want 503 and closed", closed, got)
	}
}

// A half-sent request is dropped after ReadHeaderTimeout, while a request whose headers are in
// keeps ReadTimeout for its body.
func TestReadHeaderTimeout_HalfSentRequestIsDropped(t *testing.T) {
	db := MustOpenStore(t)
	s := MustServe(t, db, func(s *Server) {
		s.ReadHeaderTimeout, s.ReadTimeout = 500*time.Millisecond, time.Minute
	})
	c := dialFrom(t, s, "127.0.0.1", halfSent)
	if closed, got := closedWithin(c, 15*time.Second); !closed {
		t.Fatalf("half-sent request still open after 15 s (read header timeout 500 ms), got %q", got)
	}
	slow := dialFrom(t, s, "127.0.0.1", "POST /api/v1/me HTTP/1.1\r\nHost: callrec\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{}")
	if closed, got := closedWithin(slow, 2*time.Second); closed {
		t.Fatalf("a body still arriving was cut by the header timeout: %q", got)
	}
	_, err := io.WriteString(slow, "        ")
	must(t, err)
	if closed, got := closedWithin(slow, 20*time.Second); !closed || !strings.HasPrefix(got, "HTTP/1.1 401") {
		t.Fatalf("slow body: closed %v, got %q; want the 401 reply", closed, got)
	}
}

// flakyListener fails its first n Accepts with EMFILE, as accept(2) does when the process is out
// of file descriptors.
type flakyListener struct {
	net.Listener
	fails atomic.Int32
	down  atomic.Bool // fail every Accept while set
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 || l.down.Load() {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// Issue 12 item 1: fasthttp's Serve ends for good on an Accept error that is not a timeout, so
// one EMFILE stopped the HTTP side while the process lived on. The accept loop now survives it.
func TestAccept_SurvivesEMFILE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	fl := &flakyListener{Listener: ln}
	fl.fails.Store(5)
	db := MustOpenStore(t)
	s := MustServe(t, db, func(s *Server) { s.Listener = fl })
	if got := getFrom(t, s, "127.0.0.1"); !strings.Contains(got, " 200 ") {
		t.Fatalf("after 5 EMFILE accepts: %q, want 200", got)
	}
}

// While accepting fails the server says so (AcceptErr, for /readyz), and once accept(2) works
// again it is served and the error is gone.
func TestAccept_ErrorReportedWhileFailingAndClearedAfter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	fl := &flakyListener{Listener: ln}
	fl.down.Store(true)
	s := MustServe(t, MustOpenStore(t), func(s *Server) { s.Listener = fl })
	waitFor(t, "AcceptErr to report EMFILE", func() bool { return errors.Is(s.AcceptErr(), syscall.EMFILE) })
	fl.down.Store(false)
	if got := getFrom(t, s, "127.0.0.1"); !strings.Contains(got, " 200 ") {
		t.Fatalf("after accept recovers: %q, want 200", got)
	}
	waitFor(t, "AcceptErr to clear", func() bool { return s.AcceptErr() == nil })
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
