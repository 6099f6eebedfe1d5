package esl

import (
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// startNode runs a node connection to the harness's stand-in that re-adopts calls for srv, until
// the test ends (or the returned stop is called).
func (h *harness) startNode(srv *Server) (stop func()) {
	h.t.Helper()
	node := &Node{Addr: h.fs.InboundAddr(), Password: "ClueCon", DB: h.db, Logger: testLogger(h.t), SpoolDir: h.spool,
		OnDemandPath: srv.OnDemandPath, Calls: srv}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { node.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	h.t.Cleanup(stop)
	waitFor(h.t, func() bool { return node.connected() }, "node connected")
	return stop
}

// waitFollowedInbound waits until an inbound connection follows leg: it filtered on the leg's
// Unique-ID and subscribed to events after that. The deadline is far below the 60 s heartbeat.
func (h *harness) waitFollowedInbound(leg string) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		filtered := map[int]bool{}
		for _, f := range h.fs.Transcript() {
			if f.Kind != "inbound" || f.Dir != fstest.ToFS {
				continue
			}
			switch cmd := f.Command(); {
			case cmd == "filter Unique-ID "+leg:
				filtered[f.Conn] = true
			case strings.HasPrefix(cmd, "event plain") && filtered[f.Conn]:
				h.waitQuiet()
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no inbound connection follows leg %s: control of the call was not regained", leg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReadopt_ReloadEventSocketMidCall: `reload mod_event_socket` 5 s into a call closes its
// outbound connection (and the node's); callrec re-attaches through the node and the user's
// second `*12` (or Record: off) stops the on-demand recording at ~5 s, not at hangup.
func TestReadopt_ReloadEventSocketMidCall(t *testing.T) {
	tests := []struct {
		name, trigger string
		toggle        func(b *fstest.Leg)
		gap           time.Duration // unload, then load this much later: the node's listener is down meanwhile
	}{
		{"dtmf", store.TriggerDTMF, func(b *fstest.Leg) { b.SendDTMF("*12") }, 0},
		{"key", store.TriggerKey, nil, 0},
		{"dtmf, listener down 4 s", store.TriggerDTMF, func(b *fstest.Leg) { b.SendDTMF("*12") }, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKeyDTMF, code: "12", inbound: true})
			h.startNode(h.srv)
			call, b := answeredInbound(t, h)
			on, off := tt.toggle, tt.toggle
			if tt.trigger == store.TriggerKey {
				on = func(b *fstest.Leg) { b.SendInfoRecord(true) }
				off = func(b *fstest.Leg) {
					if st, _ := b.SendInfoRecord(false); st != 200 {
						t.Errorf("INFO Record: off answered %d", st)
					}
				}
			}
			on(b)
			h.waitRecordings(store.StateRecording, 1)
			// The row exists before uuid_record start returns: wait for FreeSWITCH's RECORD_START,
			// or the 5 s advanced below may come before the recording began (a flake seen under load).
			h.waitEvent("RECORD_START", 1)
			start := h.fs.Now()
			h.fs.Advance(5 * time.Second)

			if tt.gap == 0 {
				must(t, h.fs.ReloadEventSocket())
			} else {
				must(t, h.fs.UnloadEventSocket(false))
				time.Sleep(tt.gap)
				must(t, h.fs.LoadEventSocket())
			}
			h.waitFollowedInbound(b.UUID())
			stopAt := h.fs.Now()
			off(b)
			r := h.waitRecordings(store.StateProcessing, 1)[0]
			want := stopAt.Sub(start)
			if r.Trigger != tt.trigger || r.DurationMS < want.Milliseconds()-500 || r.DurationMS > want.Milliseconds()+500 {
				t.Fatalf("recording %s %d ms, want ~%d ms (stopped by the user after the reload)", r.Trigger, r.DurationMS, want.Milliseconds())
			}
			h.fs.Advance(5 * time.Second)
			call.A.Hangup("NORMAL_CLEARING")
			h.waitSessions()
			if n := len(h.allRecordings()); n != 1 {
				t.Fatalf("%d rows, want 1", n)
			}
			if st, err := b.WaitHangup(ctxT(t, 10*time.Second)); err != nil {
				t.Fatalf("user leg: %v %v", st, err)
			}
		})
	}
}

// TestReadopt_DeadConnectionNoticedWithoutTheHeartbeat: the call's connection dies without a
// word (the heartbeat is 60 s); callrec notices at once, re-attaches and the DTMF code works.
func TestReadopt_DeadConnectionNoticedWithoutTheHeartbeat(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKeyDTMF, code: "7", inbound: true})
	h.startNode(h.srv)
	call, b := answeredInbound(t, h)
	if n := h.fs.DropConn(call.A.UUID()); n != 1 {
		t.Fatalf("dropped %d connections", n)
	}
	h.waitFollowedInbound(b.UUID())
	b.SendDTMF("*7")
	r := h.waitRecordings(store.StateRecording, 1)[0]
	if r.Trigger != store.TriggerDTMF || r.UserID != h.u1001.ID {
		t.Fatalf("row %+v", r)
	}
	// The row exists before uuid_record is sent: hanging up before FreeSWITCH started the
	// recording would make it fail (Cannot locate session), a race of the test's, not callrec's.
	h.waitEvent("RECORD_START", 1)
	h.fs.Advance(2 * time.Second)
	call.A.Hangup("NORMAL_CLEARING") // the requester leaves with the caller: the recording ends
	h.waitSessions()
	h.waitRecordings(store.StateProcessing, 1)
}

// forwarder is a TCP relay in front of callrec's outbound listener, so that a new Server (a
// restart in the same test process, whose old listener eslgo cannot close) is reached at the
// address the dialplan names.
type forwarder struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
}

func newForwarder(t *testing.T) *forwarder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	f := &forwarder{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			target := f.target
			f.mu.Unlock()
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, up)
			}()
		}
	}()
	return f
}

func (f *forwarder) point(addr string) {
	f.mu.Lock()
	f.target = addr
	f.mu.Unlock()
}

var socketAddr = regexp.MustCompile(`127\.0\.0\.1:\d+( async full)`)

// dialplanEdit points every socket application at the forwarder, which points at the server.
func (f *forwarder) dialplanEdit(xml string) string {
	if m := socketAddr.FindStringSubmatch(xml); m != nil {
		f.point(strings.TrimSuffix(m[0], m[1]))
	}
	return socketAddr.ReplaceAllString(xml, f.ln.Addr().String()+"$1")
}

// restart is a callrec restart: the Server closes (live calls go on in FreeSWITCH) and a new one
// on the same store takes the calls the dialplan hands over.
func (h *harness) restart() *Server {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(h.t, h.srv.Close(ctx))
	old := h.srv
	h.srv = &Server{
		Addr: "127.0.0.1:0", DB: h.db, Logger: old.Logger, SpoolDir: old.SpoolDir, OnDemandPath: old.OnDemandPath,
		TransferContext: old.TransferContext, Tone: old.Tone, CommandTimeout: old.CommandTimeout,
		HangupDrain: old.HangupDrain, PlanDeadline: old.PlanDeadline,
	}
	must(h.t, h.srv.Open())
	srv := h.srv
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return h.srv
}

// TestReadopt_AfterACallrecRestart: callrec restarts mid-call; the node re-adopts the call from
// the store and the channel, and every trigger works again: a frustrated transfer toggles
// (NOTIFY 403, the parties re-joined), the DTMF code toggles, and the hangup finishes every
// recording, the automatic one of the DDI included.
func TestReadopt_AfterACallrecRestart(t *testing.T) {
	fwd := newForwarder(t)
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandKeyDTMF, code: "7", inbound: true,
		dialplanEdit: fwd.dialplanEdit})
	stopNode := h.startNode(h.srv)
	ctx := ctxT(t, 60*time.Second)
	call, b := answeredInbound(t, h)
	h.waitRecordings(store.StateRecording, 1) // the DDI recording of the caller
	h.fs.Advance(2 * time.Second)

	stopNode()
	srv := h.restart()
	fwd.point(srv.BoundAddr())
	h.startNode(srv)
	h.waitFollowedInbound(b.UUID())

	refer := b.BlindTransfer("*7")
	if refer.Status != 202 {
		t.Fatalf("REFER %d", refer.Status)
	}
	if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
		t.Fatalf("NOTIFY %d %v, want 403", st, err)
	}
	if _, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.PeerUUID == b.UUID() }); err != nil {
		t.Fatalf("caller not re-joined with the user: %v", err)
	}
	recs := h.waitRecordings(store.StateRecording, 2)
	if !hasTrigger(recs, store.TriggerTransfer) {
		t.Fatalf("no transfer recording after the restart: %+v", recs)
	}
	h.waitQuiet()
	h.fs.Advance(time.Second)
	b.SendDTMF("*7")
	recs = h.waitRecordings(store.StateRecording, 3)
	if !hasTrigger(recs, store.TriggerDTMF) {
		t.Fatalf("no DTMF recording after the restart: %+v", recs)
	}
	h.waitQuiet()
	h.fs.Advance(time.Second)
	refer = b.BlindTransfer("*7")
	if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
		t.Fatalf("second NOTIFY %d %v", st, err)
	}
	h.waitRecordings(store.StateProcessing, 1)
	h.waitQuiet()
	h.fs.Advance(time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	h.waitRecordings(store.StateProcessing, 3)
	for _, r := range h.allRecordings() {
		if r.State != store.StateProcessing {
			t.Errorf("recording %s (%s) is %s", r.ID, r.Trigger, r.State)
		}
	}
}

func hasTrigger(recs []*store.Recording, trigger string) bool {
	for _, r := range recs {
		if r.Trigger == trigger {
			return true
		}
	}
	return false
}

// TestLingerFor_ShortOnlyWhileANodeIsConnected: a Session asks for the 2 s linger only when a
// node could take its call back now; a configured node that never connected (the default
// 127.0.0.1:8021 without callrec's event socket) leaves FreeSWITCH's full linger.
func TestLingerFor_ShortOnlyWhileANodeIsConnected(t *testing.T) {
	srv := &Server{}
	if got := srv.lingerFor(); got != lingerSeconds {
		t.Fatalf("no node: linger %d, want %d", got, lingerSeconds)
	}
	n := &Node{Addr: "127.0.0.1:8021"}
	srv.addNode(n)
	if got := srv.lingerFor(); got != lingerSeconds {
		t.Errorf("node configured, never connected: linger %d, want %d", got, lingerSeconds)
	}
	n.up.Store(true)
	if got := srv.lingerFor(); got != reattachLinger {
		t.Errorf("node connected: linger %d, want %d", got, reattachLinger)
	}
}
