package esl

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestRestart_RecordingOfALiveCallFinishesThroughTheNode: callrec loses its connections mid-call
// (killed); the bridge survives (socket_resume false), and after the restart the inbound node
// connection books the RECORD_STOP with FreeSWITCH's duration.
func TestRestart_RecordingOfALiveCallFinishesThroughTheNode(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, inbound: true})
	ctx := ctxT(t, 30*time.Second)
	call, b := h.callAnswered("+34600111222", "+34911234567", "1001")
	h.waitEvent("RECORD_START", 1)

	// "kill": every connection of this callrec goes away at once.
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	must(t, h.srv.Close(closeCtx))
	cancel()
	h.fs.Advance(5 * time.Second)
	if st := call.A.State(); st.PeerUUID != b.UUID() {
		t.Fatalf("the bridge did not survive callrec's exit: %+v", st)
	}

	// restart: a node connection to the same FreeSWITCH.
	node := &Node{Addr: h.fs.InboundAddr(), Password: "ClueCon", DB: h.db, Logger: testLogger(t), SpoolDir: h.spool}
	nodeCtx, stopNode := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { node.Run(nodeCtx); close(done) }()
	defer func() { stopNode(); <-done }()
	waitFor(t, func() bool { return h.fs.ActiveConns() >= 1 }, "node connected")
	time.Sleep(50 * time.Millisecond) // the node's `event plain` subscription

	call.A.Hangup("NORMAL_CLEARING")
	r := h.waitRecordings(store.StateProcessing, 1)[0]
	if r.DurationMS < 4900 || r.DurationMS > 5600 {
		t.Fatalf("duration %d ms, want about 5000 (FreeSWITCH's record_ms)", r.DurationMS)
	}
}

// TestReplyNeverSent_ClosesOnlyThatCall: 50 recorded calls are live when FreeSWITCH stops
// answering commands for a new call; that call's session times out and closes (the call falls
// back and proceeds), and the 50 others end normally with their rows.
func TestReplyNeverSent_ClosesOnlyThatCall(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound})
	ctx := ctxT(t, 60*time.Second)
	const live = 50
	calls := make([]*fstest.Call, live)
	for i := range calls {
		c, err := h.fs.Inbound(ctx, fstestSpec(fmt.Sprintf("+346001%05d", i), "+34911234567"))
		must(t, err)
		calls[i] = c
	}
	h.waitEvent("RECORD_START", live)
	h.waitQuiet()
	h.fs.SetFaults(fstest.Faults{DropReplies: true})
	stuck, err := h.fs.Inbound(ctx, fstestSpec("+34600999999", "+34911234567"))
	must(t, err)
	// The fallback routes the stuck call to 1001 once callrec gives up on it.
	b, err := stuck.WaitLeg(ctx, "1001")
	must(t, err)
	must(t, b.WaitAnswer(ctx))
	h.fs.SetFaults(fstest.Faults{})
	for _, c := range calls {
		c.A.Hangup("NORMAL_CLEARING")
	}
	stuck.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	h.waitRecordings(store.StateProcessing, live)
}

// TestLoad_500ConcurrentRecordedCalls: 500 calls recorded at once end with 500 rows, and neither
// goroutines nor file descriptors are left behind.
func TestLoad_500ConcurrentRecordedCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	// A burst of 500 set-ups on a busy 2-core machine can exceed the 2 s watchdog; this test is
	// about rows and leaks, not about the watchdog (TestReplyNeverSent_… is).
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, planDeadline: 15 * time.Second, commandTimeout: 15 * time.Second})
	ctx := ctxT(t, 120*time.Second)
	base := takeBaseline()
	n := 500
	if s := os.Getenv("CALLREC_LOAD_CALLS"); s != "" {
		fmt.Sscan(s, &n)
	}
	calls := make([]*fstest.Call, n)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := h.fs.Inbound(ctx, fstestSpec(fmt.Sprintf("+3460%07d", i), "+34911234567"))
			if err != nil {
				t.Error(err)
				return
			}
			calls[i] = c
		}()
	}
	wg.Wait()
	h.waitEvent("RECORD_START", n)
	recording := time.Since(start)
	h.fs.Advance(2 * time.Second)
	hangup := time.Now()
	for _, c := range calls {
		c.A.Hangup("NORMAL_CLEARING")
	}
	h.waitSessions()
	recs := h.waitRecordings(store.StateProcessing, n)
	if len(recs) != n {
		t.Fatalf("%d rows", len(recs))
	}
	t.Logf("%d calls: all recording %v after the first INVITE (%.0f calls/s set up), all rows processing %v after the hangups",
		n, recording.Round(time.Millisecond), float64(n)/recording.Seconds(), time.Since(hangup).Round(time.Millisecond))
	lat := answerToRecord(h.fs.Transcript())
	t.Logf("CHANNEL_ANSWER → uuid_record start (row written first): p50 %v, p95 %v, p99 %v over %d calls",
		fstest.Percentile(lat, 50), fstest.Percentile(lat, 95), fstest.Percentile(lat, 99), len(lat))
	waitFor(t, func() bool { return h.fs.ActiveConns() == 0 }, "stand-in connections closed")
	base.expectBack(t, 20, 10)
}

// baseline is the process's goroutines and open file descriptors before a load, to prove the
// load left none behind.
type baseline struct{ goroutines, fds int }

func takeBaseline() baseline { return baseline{runtime.NumGoroutine(), openFDs()} }

// expectBack fails the test unless goroutines and fds come back within slack of the baseline
// (waiting up to 15 s: eslgo keeps a few goroutines briefly after a close, ESLGO.md "partial EOF
// cleanup").
func (b baseline) expectBack(t *testing.T, goroutineSlack, fdSlack int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for (runtime.NumGoroutine() > b.goroutines+goroutineSlack || openFDs() > b.fds+fdSlack) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > b.goroutines+goroutineSlack {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after the calls, %d before:\n%s", g, b.goroutines, buf[:runtime.Stack(buf, true)])
	}
	if fd := openFDs(); b.fds >= 0 && fd > b.fds+fdSlack {
		t.Fatalf("%d open fds after the calls, %d before", fd, b.fds)
	}
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDrain_NewCallsFallBackLiveCallsKeepRecording: after Drain (SIGTERM) a new call is closed
// right after connect and proceeds through the dialplan's fallback unrecorded, while the call
// already recorded goes on to its row.
func TestDrain_NewCallsFallBackLiveCallsKeepRecording(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound})
	ctx := ctxT(t, 20*time.Second)
	live, err := h.fs.Inbound(ctx, fstestSpec("+34600111222", "+34911234567"))
	must(t, err)
	h.waitEvent("RECORD_START", 1)
	h.srv.Drain()
	late, _ := h.callAnswered("+34600111333", "+34911234567", "1001")
	h.fs.Advance(time.Second)
	late.A.Hangup("NORMAL_CLEARING")
	live.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	if n := len(h.allRecordings()); n != 1 {
		t.Fatalf("%d rows, want only the live call's", n)
	}
	h.waitRecordings(store.StateProcessing, 1)
}

// answerToRecord measures, per call, the time from the CHANNEL_ANSWER event of a leg to the
// `uuid_record <leg> start` command: the row is written (batched) in between.
func answerToRecord(frames []fstest.Frame) []time.Duration {
	answered := map[string]time.Time{}
	var out []time.Duration
	for _, f := range frames {
		if f.Event != nil && f.Event.Name() == "CHANNEL_ANSWER" {
			if _, seen := answered[f.Event.Value("Unique-ID")]; !seen {
				answered[f.Event.Value("Unique-ID")] = f.At
			}
			continue
		}
		if f.Dir != fstest.ToFS {
			continue
		}
		if fields := strings.Fields(f.Command()); len(fields) >= 4 && fields[1] == "uuid_record" && fields[3] == "start" {
			if at, ok := answered[fields[2]]; ok {
				out = append(out, f.At.Sub(at))
			}
		}
	}
	return out
}
