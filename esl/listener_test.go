package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// flakyListener fails Accept with EMFILE (as the kernel does when callrec is out of descriptors)
// while failing is set, then accepts again.
type flakyListener struct {
	net.Listener
	failing atomic.Bool
	fails   atomic.Int64
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failing.Load() {
		l.fails.Add(1)
		time.Sleep(time.Millisecond)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// fakeHealth records what a part reported last.
type fakeHealth struct {
	mu   sync.Mutex
	down map[string]string
	seen map[string]bool
}

func newFakeHealth() *fakeHealth {
	return &fakeHealth{down: map[string]string{}, seen: map[string]bool{}}
}
func (f *fakeHealth) Up(part string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[part] = true
	delete(f.down, part)
}
func (f *fakeHealth) Down(part string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[part] = true
	f.down[part] = err.Error()
}
func (f *fakeHealth) isDown(part string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	why, ok := f.down[part]
	return why, ok
}

// TestListener_AcceptErrorsAreRetried: eslgo's own accept loop ended for good on the first
// Accept error (EMFILE), and every later call went unrecorded. callrec's loop reports the
// listener down while Accept fails, retries with back-off, reports it up again and records the
// next call.
func TestListener_AcceptErrorsAreRetried(t *testing.T) {
	fl := &flakyListener{}
	fl.failing.Store(true)
	hr := newFakeHealth()
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, health: hr,
		wrapListener: func(ln net.Listener) net.Listener { fl.Listener = ln; return fl }})
	waitFor(t, func() bool { why, down := hr.isDown(partListener); return down && fl.fails.Load() > 3 && why != "" }, "listener reported down")
	why, _ := hr.isDown(partListener)
	t.Logf("down: %s", why)
	fl.failing.Store(false)
	call, _ := h.callAnswered("+34600111222", "+34911234567", "1001")
	h.waitEvent("RECORD_START", 1)
	if _, down := hr.isDown(partListener); down {
		t.Fatal("listener still reported down after it accepted again")
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitRecordings(store.StateProcessing, 1)
}

// TestListener_CapClosesNewConnectionsAtOnce: with esl.max_conns connections held (by peers
// that never answer `connect`), a new call's connection is closed before `connect`: FreeSWITCH
// falls back at once and the call proceeds unrecorded; once the peers go, calls are recorded
// again.
func TestListener_CapClosesNewConnectionsAtOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, maxConns: 2, commandTimeout: 30 * time.Second})
	peers := []*hostilePeer{dialHostile(t, h.srv.BoundAddr()), dialHostile(t, h.srv.BoundAddr())}
	call, b := h.callAnswered("+34600111222", "+34911234567", "1001")
	if n := h.srv.LiveSessions(); n != 0 {
		t.Fatalf("%d sessions: the call over the cap was taken", n)
	}
	waitFor(t, func() bool { return call.A.State().PeerUUID == b.UUID() }, "the call over the cap bridged by its fallback route")
	call.A.Hangup("NORMAL_CLEARING")
	for _, p := range peers {
		p.c.Close()
	}
	waitFor(t, func() bool { return h.srv.conns.Load() == 0 }, "the held connections released")
	next, _ := h.callAnswered("+34600111333", "+34911234567", "1001")
	h.waitEvent("RECORD_START", 1)
	next.A.Hangup("NORMAL_CLEARING")
	h.waitRecordings(store.StateProcessing, 1)
}

// TestOpen_RefusesAnAddressAnotherProgramHolds: another Event Socket program already listening
// on esl.listen used to be "probed" successfully (it answered the probe's handshake) and callrec
// served without a listener of its own. Open must fail and name the cause.
func TestOpen_RefusesAnAddressAnotherProgramHolds(t *testing.T) {
	other, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer other.Close()
	go func() { // another outbound ESL server: sends `connect` to whoever connects, then `exit`
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprint(c, "connect\n\n")
				buf := make([]byte, 4096)
				if _, err := c.Read(buf); err == nil {
					fmt.Fprint(c, "exit\n\n")
				}
			}()
		}
	}()
	db, err := store.Open(context.Background(), t.TempDir()+"/callrec.db", store.Options{NoSync: true})
	must(t, err)
	defer db.Close()
	srv := &Server{Addr: other.Addr().String(), DB: db, Logger: testLogger(t), SpoolDir: t.TempDir()}
	err = srv.Open()
	if err == nil {
		srv.Close(context.Background())
		t.Fatal("Open succeeded on an address another program listens on")
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("error %v does not say the address is in use", err)
	}
	t.Logf("refused: %v", err)
}
