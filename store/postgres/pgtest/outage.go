package pgtest

import (
	"io"
	"net"
	"regexp"
	"sync"
	"testing"
)

// Outage stands between a test's clients and a server: a TCP forwarder on 127.0.0.1 that Cut
// makes look like a database gone down (every connection through it closed, new ones refused)
// and Restore brings back on the same address. Use it for what a store does while its database
// restarts or fails over.
type Outage struct {
	tb     testing.TB
	addr   string
	target string

	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
	stalled bool
	resumed *sync.Cond // on mu: broadcast when stalled ends
}

var dsnPort = regexp.MustCompile(`port=(\d+)`)

// NewOutage starts a forwarder in front of the server of dsn (one of this package's: a
// key=value DSN naming 127.0.0.1 and its port) and returns it with the DSN that goes through
// it. The forwarder is cut when the test ends. Fails tb when it cannot listen.
func NewOutage(tb testing.TB, dsn string) (*Outage, string) {
	tb.Helper()
	m := dsnPort.FindStringSubmatch(dsn)
	if m == nil {
		tb.Fatalf("pgtest: DSN %q names no port", dsn)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	o := &Outage{tb: tb, addr: ln.Addr().String(), target: net.JoinHostPort("127.0.0.1", m[1])}
	o.resumed = sync.NewCond(&o.mu)
	o.serve(ln)
	tb.Cleanup(o.Cut)
	_, port, _ := net.SplitHostPort(o.addr)
	return o, dsnPort.ReplaceAllString(dsn, "port="+port)
}

func (o *Outage) serve(ln net.Listener) {
	o.mu.Lock()
	o.ln = ln
	o.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", o.target)
			if err != nil {
				c.Close()
				continue
			}
			o.mu.Lock()
			o.conns = append(o.conns, c, s)
			o.mu.Unlock()
			go func() { o.copy(s, c); s.Close() }()
			go func() { o.copy(c, s); c.Close() }()
		}
	}()
}

// copy forwards from src to dst, holding what it read while the forwarder is stalled.
func (o *Outage) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		o.mu.Lock()
		for o.stalled {
			o.resumed.Wait()
		}
		o.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Stall stops every byte through the forwarder, both ways, without closing anything: a
// database host partitioned away, or stalled. Resume (or Cut) ends it.
func (o *Outage) Stall() {
	o.mu.Lock()
	o.stalled = true
	o.mu.Unlock()
}

// Resume lets the held bytes and the later ones through again.
func (o *Outage) Resume() {
	o.mu.Lock()
	o.stalled = false
	o.resumed.Broadcast()
	o.mu.Unlock()
}

// Cut closes the forwarder's listener and every connection through it. Idempotent.
func (o *Outage) Cut() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stalled = false
	o.resumed.Broadcast()
	if o.ln != nil {
		o.ln.Close()
		o.ln = nil
	}
	for _, c := range o.conns {
		c.Close()
	}
	o.conns = nil
}

// Restore listens again on the forwarder's address. Fails the test when the address is taken.
func (o *Outage) Restore() {
	o.tb.Helper()
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		o.tb.Fatal(err)
	}
	o.serve(ln)
}
