package esl

import (
	"os"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func TestInboundDDI_RecordsCallerFromAnswerToHangup(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound})
	call, _ := h.callAnswered("+34600111222", "+34911234567", "1001")
	h.waitRecordings(store.StateRecording, 1)
	h.waitEvent("RECORD_START", 1)
	h.fs.Advance(4 * time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()

	recs := h.waitRecordings(store.StateProcessing, 1)
	r := recs[0]
	checks := []struct {
		name, got, want string
	}{
		{"type", r.Type, store.TypeDDI},
		{"trigger", r.Trigger, store.TriggerDDI},
		{"direction", r.Direction, store.DirectionInbound},
		{"ddi_id", r.DDIID, h.ddi.ID},
		{"recorder", r.Recorder, "+34911234567"},
		{"caller", r.Caller, "+34600111222"},
		{"callee", r.Callee, "+34911234567"},
		{"company_id", r.CompanyID, h.company.ID},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if r.DurationMS < 3900 || r.DurationMS > 4500 {
		t.Errorf("duration_ms = %d, want about 4000", r.DurationMS)
	}
	if _, err := os.Stat(r.WAVPath); err != nil {
		t.Fatalf("WAV: %v", err)
	}
	prof := toneProfile(t, r.WAVPath, toneCaller, tone1001)
	if len(prof) < 3 || !prof[1][toneCaller] || !prof[1][tone1001] {
		t.Fatalf("WAV should hold caller and user:\n%s", describeProfile(prof))
	}
	if n := len(h.allRecordings()); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
}

func TestInboundDDI_NoRecordingWhenModeExcludesInbound(t *testing.T) {
	for _, mode := range []string{store.RecordNone, store.RecordOutbound} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: mode})
			call, b := h.callAnswered("+34600111222", "+34911234567", "1001")
			h.waitEvent("CHANNEL_BRIDGE", 1)
			h.fs.Advance(2 * time.Second)
			call.A.Hangup("NORMAL_CLEARING")
			h.waitSessions()
			if recs := h.allRecordings(); len(recs) != 0 {
				t.Fatalf("%d recordings, want none", len(recs))
			}
			if st := b.State(); st.CallState != "HANGUP" {
				t.Fatalf("user leg not hung up with the caller: %+v", st)
			}
		})
	}
}

func TestInboundDDI_UnknownDDIProceedsUnrecorded(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordAll})
	// +34911000000 is routed by the operator's dialplan but is no DDI in the store.
	call, _ := h.callAnswered("+34600111333", "+34911000000", "1002")
	h.waitEvent("CHANNEL_BRIDGE", 1)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	if n := len(h.allRecordings()); n != 0 {
		t.Fatalf("%d recordings, want none", n)
	}
}

func TestInboundDDI_UnansweredCallIsNotRecorded(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordAll, noAnswer: true})
	ctx := ctxT(t, 20*time.Second)
	call, err := h.fs.Inbound(ctx, fstestSpec("+34600111222", "+34911234567"))
	must(t, err)
	if _, err := call.WaitLeg(ctx, "1001"); err != nil {
		t.Fatal(err)
	}
	h.waitQuiet() // callrec has handed the call on; the caller gives up while the phone rings
	call.A.Hangup("ORIGINATOR_CANCEL")
	h.waitSessions()
	if n := len(h.allRecordings()); n != 0 {
		t.Fatalf("%d recordings, want none", n)
	}
}

// TestInboundDDI_CarrierNumberFormats: the DDI is found whatever form the carrier sends it in.
func TestInboundDDI_CarrierNumberFormats(t *testing.T) {
	for _, to := range []string{"+34911234567", "0034911234567", "34911234567"} {
		t.Run(to, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, routeAny: true})
			call, _ := h.callAnswered("+34600111222", to, "1001")
			h.waitEvent("RECORD_START", 1)
			call.A.Hangup("NORMAL_CLEARING")
			h.waitSessions()
			if r := h.waitRecordings(store.StateProcessing, 1)[0]; r.DDIID != h.ddi.ID || r.Recorder != "+34911234567" {
				t.Fatalf("row %+v", r)
			}
		})
	}
}
