package esl

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// recordedOutbound places a call from 1001 with the DDI as outgoing caller id to an external
// number, and waits until the external party answered and its recording started.
func recordedOutbound(t *testing.T, h *harness) (*fstest.Call, *fstest.Leg) {
	t.Helper()
	ctx := ctxT(t, 40*time.Second)
	call, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: "+34600999888",
		Vars: map[string]string{"outbound_caller_id_number": "+34911234567"}})
	must(t, err)
	ext, err := call.WaitLeg(ctx, "+34600999888")
	must(t, err)
	must(t, ext.WaitAnswer(ctx))
	h.waitEvent("RECORD_START", 1)
	return call, ext
}

func TestOutboundDDI_RecordsExternalPartyFromAnswer(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordOutbound})
	_, ext := recordedOutbound(t, h)
	h.fs.Advance(3 * time.Second)
	ext.Hangup("NORMAL_CLEARING") // the external party leaves: the recording ends with it
	h.waitSessions()

	recs := h.waitRecordings(store.StateProcessing, 1)
	r := recs[0]
	if r.Direction != store.DirectionOutbound || r.Recorder != "+34911234567" || r.Callee != "+34600999888" || r.DDIID != h.ddi.ID {
		t.Errorf("row %+v", r)
	}
	if r.DurationMS < 2900 || r.DurationMS > 3500 {
		t.Errorf("duration %d, want about 3000", r.DurationMS)
	}
	starts := h.waitEvent("RECORD_START", 1)
	if got := starts[0].Value("Unique-ID"); got != ext.UUID() {
		t.Errorf("recorded leg %s, want the external leg %s", got, ext.UUID())
	}
	prof := toneProfile(t, r.WAVPath, toneExternal, tone1001)
	if len(prof) < 2 || !prof[1][toneExternal] || !prof[1][tone1001] {
		t.Fatalf("WAV should hold both parties:\n%s", describeProfile(prof))
	}
}

func TestUserCalls_NotRecordedAutomatically(t *testing.T) {
	tests := []struct {
		name, mode, to, vars string
	}{
		{"internal call with DDI all", store.RecordAll, "1002", "+34911234567"},
		{"outbound with an inbound-only DDI", store.RecordInbound, "+34600999888", "+34911234567"},
		{"outbound with a none DDI", store.RecordNone, "+34600999888", "+34911234567"},
		{"outbound with a DDI of nobody", store.RecordAll, "+34600999888", "+34910000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: tt.mode})
			ctx := ctxT(t, 20*time.Second)
			call, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: tt.to,
				Vars: map[string]string{"outbound_caller_id_number": tt.vars}})
			must(t, err)
			peer, err := call.WaitLeg(ctx, tt.to)
			must(t, err)
			must(t, peer.WaitAnswer(ctx))
			h.waitEvent("CHANNEL_BRIDGE", 1)
			h.fs.Advance(time.Second)
			call.A.Hangup("NORMAL_CLEARING")
			h.waitSessions()
			if n := len(h.allRecordings()); n != 0 {
				t.Fatalf("%d rows, want none", n)
			}
		})
	}
}

func TestInboundDDI_AnnouncementPlaysBeforeRecording(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, announcement: "/usr/share/freeswitch/sounds/recorded.wav"})
	call, _ := h.callAnswered("+34600111222", "+34911234567", "1001")
	h.waitEvent("RECORD_START", 1)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()

	// In the transcript: playback queued, its EXECUTE_COMPLETE, then uuid_record, then uuid_transfer.
	var order []string
	for _, f := range h.fs.Transcript() {
		switch {
		case f.Dir == fstest.ToFS && bytes.Contains(f.Data, []byte("execute-app-name: playback")):
			order = append(order, "playback")
		case f.Event != nil && f.Event.Name() == "CHANNEL_EXECUTE_COMPLETE" && f.Event.Value("Application") == "playback":
			order = append(order, "playback_done")
		case f.Dir == fstest.ToFS && strings.HasPrefix(f.Command(), "api uuid_record"):
			order = append(order, "record")
		case f.Dir == fstest.ToFS && strings.HasPrefix(f.Command(), "api uuid_transfer"):
			order = append(order, "transfer")
		}
	}
	if got := strings.Join(order, ","); got != "playback,playback_done,record,transfer" {
		t.Fatalf("order %s, want playback,playback_done,record,transfer", got)
	}
	apps := h.fs.AppLog(call.A.UUID())
	var names []string
	for _, a := range apps {
		names = append(names, a.App)
	}
	if !strings.Contains(strings.Join(names, ","), "answer,playback") {
		t.Errorf("apps on the caller: %v", names)
	}
	h.waitRecordings(store.StateProcessing, 1)
}

func TestFailOpen_CallsProceedWhenCallrecIsDown(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordAll, serverDown: true})
	ctx := ctxT(t, 20*time.Second)
	call, _ := h.callAnswered("+34600111222", "+34911234567", "1001")
	out, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1002", To: "+34600999888"})
	must(t, err)
	ext, err := out.WaitLeg(ctx, "+34600999888")
	must(t, err)
	must(t, ext.WaitAnswer(ctx))
	call.A.Hangup("NORMAL_CLEARING")
	out.A.Hangup("NORMAL_CLEARING")
	if n := len(h.allRecordings()); n != 0 {
		t.Fatalf("%d rows, want none", n)
	}
}
