package esl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// Drills (issue 12 "prove it stays fixed"): FreeSWITCH misbehaving under live recorded calls,
// and a long run that must leave nothing behind.

// healthLog is a HealthReporter that keeps every report, in order.
type healthLog struct {
	mu      sync.Mutex
	reports []string // "up <part>" / "down <part>"
}

func (l *healthLog) Up(part string) {
	l.mu.Lock()
	l.reports = append(l.reports, "up "+part)
	l.mu.Unlock()
}

func (l *healthLog) Down(part string, _ error) {
	l.mu.Lock()
	l.reports = append(l.reports, "down "+part)
	l.mu.Unlock()
}

func (l *healthLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reports...)
}

// TestDrill_FreeSWITCHResetStallRestartMidCall: 20 recorded calls are up when FreeSWITCH
// (a) resets one call's connection, (b) stalls on one call's command and (c) restarts. The reset
// and the stalled call are followed again through the node and their recordings finish with
// the right duration; no other call is touched (none needs re-attaching, every duration right);
// the node connection goes down and comes back (health), and a call after the restart is
// recorded. No row is left `recording`.
func TestDrill_FreeSWITCHResetStallRestartMidCall(t *testing.T) {
	fwd := newForwarder(t) // the node's address: the restarted stand-in is reached at the same one
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandKeyDTMF, code: "7", inbound: true})
	fwd.point(h.fs.InboundAddr())
	health := &healthLog{}
	part := fmt.Sprintf(partNodeFmt, fwd.ln.Addr().String())
	node := h.runNodeAt(fwd.ln.Addr().String(), health)

	ctx := ctxT(t, 90*time.Second)
	const n = 20
	calls := make([]*fstest.Call, n)
	users := make([]*fstest.Leg, n)
	for i := range calls {
		c, err := h.fs.Inbound(ctx, fstestSpec(fmt.Sprintf("+346002%05d", i), "+34911234567"))
		must(t, err)
		b, err := c.WaitLeg(ctx, "1001")
		must(t, err)
		must(t, b.WaitAnswer(ctx))
		calls[i], users[i] = c, b
	}
	h.waitRecordings(store.StateRecording, n)
	h.waitQuiet()
	start := h.fs.Now()
	h.fs.Advance(10 * time.Second)

	// (a) RST: call 0's connection goes without a word; the call is followed again.
	reset := calls[0].A.UUID()
	if got := h.fs.DropConn(reset); got != 1 {
		t.Fatalf("dropped %d connections", got)
	}
	h.waitFollowedInbound(reset)

	// (b) stall: FreeSWITCH answers no command; the only call that sends one (the user of call 1
	// dials the on-demand code) times out, loses its connection and re-attaches once
	// FreeSWITCH answers again.
	stalled := calls[1].A.UUID()
	auths := inboundCommands(h, "auth ")
	h.fs.SetFaults(fstest.Faults{DropReplies: true})
	users[1].SendDTMF("*7")
	waitFor(t, func() bool { return inboundCommands(h, "auth ") > auths }, "the stalled call's session gave up its connection and re-attaches")
	h.fs.SetFaults(fstest.Faults{})
	h.waitFollowedInbound(stalled)
	for i := 2; i < n; i++ {
		if got := inboundCommands(h, "filter Unique-ID "+calls[i].A.UUID()); got != 0 {
			t.Errorf("call %d was re-attached: its connection was harmed by another call's fault", i)
		}
	}

	// The calls hang up; every DDI recording lasts from its start to its hangup.
	h.fs.Advance(5 * time.Second)
	const restartAt = 10 // calls 10… stay up through the restart
	hangupAt := make([]time.Time, restartAt)
	for i := 0; i < restartAt; i++ {
		hangupAt[i] = h.fs.Now()
		calls[i].A.Hangup("NORMAL_CLEARING")
	}
	for i := 0; i < restartAt; i++ {
		if _, err := calls[i].A.WaitHangup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return h.srv.LiveSessions() == n-restartAt }, "the hung-up calls' sessions ended")
	byLeg := h.ddiRowsByLeg()
	for i := 0; i < restartAt; i++ {
		r := byLeg[calls[i].A.UUID()]
		if r == nil {
			t.Fatalf("call %d has no DDI recording", i)
		}
		want := hangupAt[i].Sub(start).Milliseconds()
		if r.State != store.StateProcessing || r.DurationMS < want-500 || r.DurationMS > want+3000 {
			t.Errorf("call %d: DDI recording %s %d ms, want processing ~%d ms", i, r.State, r.DurationMS, want)
		}
	}

	// (c) FreeSWITCH restarts: every call on it ends, the node loses its connection and comes
	// back to the new FreeSWITCH at the same address.
	h.fs.Close()
	waitFor(t, func() bool { return containsReport(health.list(), "down "+part) }, "node reported down")
	downAt := len(health.list())
	h.fs = fstest.Start(t, h.fsOpts)
	fwd.point(h.fs.InboundAddr())
	waitFor(t, func() bool { return containsReport(health.list()[downAt:], "up "+part) && node.connected() }, "node reconnected and reported up")
	// The sessions of the calls that died with FreeSWITCH learn it from the new one (uuid_exists).
	waitFor(t, func() bool { return h.srv.LiveSessions() == 0 }, "the calls of the stopped FreeSWITCH ended")

	after, _ := h.callAnswered("+34600299999", "+34911234567", "1001")
	waitFor(t, func() bool { return h.ddiRowsByLeg()[after.A.UUID()] != nil }, "the call after the restart is recorded")
	// The row exists before uuid_record start returns: wait for the new FreeSWITCH's RECORD_START,
	// or the hangup below may come first and fail the recording (seen once in CI).
	h.waitEvent("RECORD_START", 1)
	h.fs.Advance(3 * time.Second)
	after.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	if r := h.ddiRowsByLeg()[after.A.UUID()]; r.State != store.StateProcessing || r.DurationMS < 2500 || r.DurationMS > 6000 {
		t.Errorf("call after the restart: %s %d ms, want processing ~3000 ms", r.State, r.DurationMS)
	}

	for _, r := range h.allRecordings() {
		switch {
		case r.State == store.StateRecording:
			t.Errorf("recording %s (%s, leg %s) stuck recording", r.ID, r.Trigger, r.RecordedLeg)
		case r.State != store.StateProcessing && r.State != store.StateReady && r.Error == "":
			t.Errorf("recording %s ended %s without a reason", r.ID, r.State)
		}
	}
}

// runNodeAt runs, until the test ends, a node connection to addr that re-adopts calls for the
// harness's Server and reports to health; it returns once connected.
func (h *harness) runNodeAt(addr string, health HealthReporter) *Node {
	h.t.Helper()
	node := &Node{Addr: addr, Password: "ClueCon", DB: h.db, Logger: testLogger(h.t), SpoolDir: h.spool,
		OnDemandPath: h.srv.OnDemandPath, Calls: h.srv, Health: health, MaxBackoff: 500 * time.Millisecond}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { node.Run(ctx); close(done) }()
	h.t.Cleanup(func() { stop(); <-done })
	waitFor(h.t, node.connected, "node connected")
	return node
}

// inboundCommands counts the commands callrec sent on inbound connections that start with
// prefix (a re-attachment filters on the leg it follows).
func inboundCommands(h *harness, prefix string) int {
	n := 0
	for _, f := range h.fs.Transcript() {
		if f.Kind == "inbound" && f.Dir == fstest.ToFS && strings.HasPrefix(f.Command(), prefix) {
			n++
		}
	}
	return n
}

func containsReport(reports []string, want string) bool {
	for _, r := range reports {
		if r == want {
			return true
		}
	}
	return false
}

// ddiRowsByLeg maps each recorded leg to its DDI recording.
func (h *harness) ddiRowsByLeg() map[string]*store.Recording {
	out := map[string]*store.Recording{}
	for _, r := range h.allRecordings() {
		if r.Type == store.TypeDDI {
			out[r.RecordedLeg] = r
		}
	}
	return out
}

// TestDrill_10000CallsLeaveNothingBehind: 10,000 recorded calls, in waves of 500 at once, end
// with exactly 10,000 rows, and the process's goroutines, open fds and heap come back to what
// they were after the first wave.
func TestDrill_10000CallsLeaveNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("load drill")
	}
	const waves, wave = 20, 500
	// A burst of 500 set-ups on a busy 2-core machine can exceed the 2 s watchdog; this drill is
	// about what is left behind, not the watchdog (TestReplyNeverSent_… is).
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, planDeadline: 15 * time.Second, commandTimeout: 15 * time.Second,
		noTranscript: true, // 10,000 calls' frames would be the test's own bloat
		// With a node connection callrec asks for a 2 s linger (reattachLinger), not 30 s: eslgo
		// keeps each closed outbound Conn for its linger (outbound.go dummyLoop), so the heap
		// check would otherwise see the last 30 s of calls.
		inbound: true})
	// Each wave runs on a fresh stand-in (FreeSWITCH restarted between waves, the node
	// reconnecting through the forwarder): a stand-in keeps every leg it ever had, which would be
	// the test's own heap growth.
	fwd := newForwarder(t)
	fwd.point(h.fs.InboundAddr())
	node := h.runNodeAt(fwd.ln.Addr().String(), nil)
	ctx := ctxT(t, 10*time.Minute)
	start := time.Now()
	var base baseline
	var baseHeap uint64
	defer func() { h.fs.Close() }()
	for w := 0; w < waves; w++ {
		if w > 0 {
			fs, err := fstest.New(h.fsOpts)
			must(t, err)
			h.fs = fs // closed below, or by the deferred Close: a t.Cleanup would keep every stand-in
			fwd.point(fs.InboundAddr())
			waitFor(t, node.connected, "node reconnected")
		}
		runWave(ctx, t, h, w, wave)
		removeWAVs(t, h.spool) // 10,000 WAVs would be the test's own disk use; the rows stay
		waitFor(t, func() bool { return h.fs.ActiveConns() == 1 }, "stand-in connections closed but the node's")
		h.fs.Close()
		waitFor(t, func() bool { return !node.connected() }, "node saw the stand-in go")
		if w == 0 { // the first wave warms the pools and caches that stay by design
			base, baseHeap = takeBaseline(), heapInUse()
		}
	}
	base.expectBack(t, 20, 10)
	time.Sleep(3 * time.Second) // the last wave's linger (2 s): eslgo lets go of its Conns
	heap := heapInUse()
	t.Logf("%d calls in %v; heap in use %d MiB after the first wave, %d MiB at the end", waves*wave,
		time.Since(start).Round(time.Second), baseHeap>>20, heap>>20)
	if heap > baseHeap+16<<20 {
		t.Fatalf("heap in use %d MiB after %d calls, %d MiB after the first wave", heap>>20, waves*wave, baseHeap>>20)
	}
	rows := h.allRecordings()
	if len(rows) != waves*wave {
		t.Fatalf("%d rows, want %d", len(rows), waves*wave)
	}
	for _, r := range rows {
		if r.State != store.StateProcessing {
			t.Fatalf("recording %s is %s (%s)", r.ID, r.State, r.Error)
		}
	}
}

// runWave brings n recorded calls up at once, lets them record a second and hangs them up,
// returning when their sessions have ended and their rows left `recording`.
func runWave(ctx context.Context, t *testing.T, h *harness, w, n int) {
	t.Helper()
	calls := make([]*fstest.Call, n)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := h.fs.Inbound(ctx, fstestSpec(fmt.Sprintf("+346%02d%06d", w, i), "+34911234567"))
			if err != nil {
				t.Error(err)
				return
			}
			calls[i] = c
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	waitRecordingCount(t, h, store.StateRecording, n)
	// A row is committed before FreeSWITCH answers its uuid_record (issue 13), so the rows alone
	// do not say every media bug is on: a hang-up in between finds no channel to record, and on a
	// busy machine (CI ran it beside the web tests) that is what failed one call in 10,000. The
	// stand-in writes each WAV's header as uuid_record starts (as switch_ivr_record_session does).
	waitWAVCount(t, h.spool, n)
	h.fs.Advance(time.Second)
	for _, c := range calls {
		c.A.Hangup("NORMAL_CLEARING")
	}
	h.waitSessions()
	waitRecordingCount(t, h, store.StateRecording, 0)
}

// waitRecordingCount waits until exactly n rows are in state (a cheap poll for many rows).
func waitRecordingCount(t *testing.T, h *harness, state string, n int) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		recs, err := h.db.RecordingsInState(context.Background(), state, 0)
		must(t, err)
		if len(recs) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows %s, want %d", len(recs), state, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitWAVCount waits until dir holds exactly n WAVs.
func waitWAVCount(t *testing.T, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		wavs, err := filepath.Glob(filepath.Join(dir, "*.wav"))
		must(t, err)
		if len(wavs) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d WAVs in the spool, want %d", len(wavs), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// removeWAVs deletes the WAVs in dir.
func removeWAVs(t *testing.T, dir string) {
	t.Helper()
	wavs, err := filepath.Glob(filepath.Join(dir, "*.wav"))
	must(t, err)
	for _, p := range wavs {
		must(t, os.Remove(p))
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
