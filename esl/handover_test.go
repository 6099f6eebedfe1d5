package esl

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// logLines is a concurrency-safe sink for the Server's JSON log.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count is how many times s occurs in the log.
func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// decisions returns the log lines whose decision is d, decoded.
func (l *logLines) decisions(t *testing.T, d string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["decision"] == d {
			out = append(out, m)
		}
	}
	return out
}

// loopingDialplan turns the harness's public entry into one without the callrec_seen guard, so
// callrec's uuid_transfer back into public runs the hand-over again; its fallback goes to a
// context of its own ("routes") that routes the DDI to 1001.
func loopingDialplan(xml string) string {
	xml = strings.Replace(xml, `<condition field="${callrec_seen}" expression="^$"/>`, "", 1) // the public entry's guard
	xml = strings.Replace(xml, `<action application="transfer" data="$1 XML public"/>`, `<action application="transfer" data="$1 XML routes"/>`, 1)
	return strings.Replace(xml, `<context name="default">`, `<context name="routes">
  <extension name="ddi_main">
    <condition field="destination_number" expression="^\+34911234567$">
      <action application="transfer" data="1001 XML default"/>
    </condition>
  </extension>
</context>
<context name="default">`, 1)
}

// TestHandOverLoop_ReleasedAfterMaxHandovers: a dialplan whose context callrec hands calls back
// into starts with the hand-over again (no callrec_seen guard). callrec hands the call over at
// most maxHandovers times, then releases it to the fallback with one handover_loop line, the
// call still reaches its bridge, and it is recorded once (one Session follows it). Before the guard the call bounced between callrec and the
// dialplan until FreeSWITCH's max_forwards ran out and hung it up.
func TestHandOverLoop_ReleasedAfterMaxHandovers(t *testing.T) {
	logs := &logLines{}
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, dialplanEdit: loopingDialplan, logs: logs})
	ctx := ctxT(t, 60*time.Second)
	call, err := h.fs.Inbound(ctx, fstestSpec("+34600111222", "+34911234567"))
	must(t, err)
	b, err := call.WaitLeg(ctx, "1001")
	if err != nil {
		t.Fatalf("the call never reached 1001 (caller %+v): %v", call.A.State(), err)
	}
	must(t, b.WaitAnswer(ctx))
	if s, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.Hungup || s.PeerUUID == b.UUID() }); err != nil || s.Hungup {
		t.Fatalf("caller not bridged to 1001: %+v %v", s, err)
	}

	transfers, connects := 0, 0
	for _, f := range h.fs.Transcript() {
		switch cmd := f.Command(); {
		case f.Kind == "outbound" && f.Dir == fstest.ToFS && strings.HasPrefix(cmd, "api uuid_transfer "+call.A.UUID()+" "):
			transfers++
		case f.Kind == "outbound" && f.Dir == fstest.ToFS && cmd == "connect":
			connects++
		}
	}
	if transfers != maxHandovers || connects != maxHandovers+1 {
		t.Errorf("%d hand-overs on %d connections, want %d hand-overs then one refused arrival", transfers, connects, maxHandovers)
	}
	lines := logs.decisions(t, "handover_loop")
	if len(lines) != 1 {
		t.Fatalf("%d handover_loop lines, want 1: %v", len(lines), lines)
	}
	l := lines[0]
	if l["call_id"] != call.A.UUID() || l["handovers"] != float64(maxHandovers) || l["context"] != "public" || l["destination"] != "+34911234567" {
		t.Errorf("handover_loop line %v: want call_id %s, handovers %d, context public, destination +34911234567", l, call.A.UUID(), maxHandovers)
	}
	// The release left socket_resume true; the Session that follows the call sets it false again,
	// else its connection closing mid-call (a callrec restart) would tear the bridge down.
	for deadline := time.Now().Add(30 * time.Second); call.A.Var("socket_resume") != "false"; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("socket_resume = %q after the release, want false again", call.A.Var("socket_resume"))
		}
	}
	h.waitEvent("RECORD_START", 1)
	h.fs.Advance(2 * time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	// One Session follows the call whatever the number of arrivals: one recording, not one per hand-over.
	h.waitRecordings(store.StateProcessing, 1)
	if n := len(h.allRecordings()); n != 1 {
		t.Fatalf("%d recordings of one call, want 1", n)
	}
}

// TestHandoversOf: the count is callrec's own value; anything else counts as no hand-over.
func TestHandoversOf(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{{"", 0}, {"0", 0}, {"1", 1}, {"3", 3}, {"-1", 0}, {"2 ", 0}, {"x", 0}, {"99999", 0}, {"1\r\nexit", 0}} {
		if got := handoversOf(tc.in); got != tc.want {
			t.Errorf("handoversOf(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestHandOverLoop_TransferCodeAfterTheLoopStillWorks: the caller's leg of a call released as a
// loop carries callrec_handovers at the limit, yet a blind transfer to the company's code is
// not a hand-over: it arrives through the transfer context, toggles the user's recording and is
// refused as a frustrated transfer (NOTIFY 403), the parties re-joined. A guard that counted
// transfer-context arrivals would release it instead and nothing would be recorded.
func TestHandOverLoop_TransferCodeAfterTheLoopStillWorks(t *testing.T) {
	logs := &logLines{}
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "7",
		dialplanEdit: loopingDialplan, logs: logs})
	ctx := ctxT(t, 60*time.Second)
	call, user := answeredInbound(t, h)
	if got := call.A.Var(VarHandovers); got != strconv.Itoa(maxHandovers) {
		t.Fatalf("%s = %q on the caller's leg, want %d (the loop was cut at the limit)", VarHandovers, got, maxHandovers)
	}
	for i := 1; i <= 2; i++ {
		refer := user.BlindTransfer("*7")
		if refer.Status != 202 {
			t.Fatalf("REFER %d answered %d", i, refer.Status)
		}
		if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
			t.Fatalf("REFER %d: NOTIFY %d %v, want 403", i, st, err)
		}
		if s, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.Hungup || s.PeerUUID == user.UUID() }); err != nil || s.Hungup {
			t.Fatalf("REFER %d: caller not re-joined with the user (%+v, %v)", i, s, err)
		}
		if i == 1 {
			h.waitRecordings(store.StateRecording, 1)
			h.fs.Advance(time.Second)
		}
	}
	h.waitRecordings(store.StateProcessing, 1)
	if n := len(logs.decisions(t, "handover_loop")); n != 1 {
		t.Errorf("%d handover_loop lines, want the one of the loop only", n)
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
}
