package esl

import (
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// answeredInbound places an inbound call to the DDI, waits until user 1001 talks to the caller
// and callrec has finished reacting (the gate's variables are on the user's leg).
func answeredInbound(t *testing.T, h *harness) (*fstest.Call, *fstest.Leg) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	call, err := h.fs.Inbound(ctx, fstestSpec("+34600111222", "+34911234567"))
	must(t, err)
	b, err := call.WaitLeg(ctx, "1001")
	must(t, err)
	must(t, b.WaitAnswer(ctx))
	h.waitEvent("CHANNEL_BRIDGE", 1)
	h.waitQuiet()
	return call, b
}

func ondemandRows(h *harness) []*store.Recording {
	var out []*store.Recording
	for _, r := range h.allRecordings() {
		if r.Type == store.TypeOnDemand {
			out = append(out, r)
		}
	}
	return out
}

func countCommands(h *harness, prefix string) int {
	n := 0
	for _, f := range h.fs.Transcript() {
		if f.Dir == fstest.ToFS && strings.HasPrefix(f.Command(), prefix) {
			n++
		}
	}
	return n
}

func TestOnDemand_RecordKeyPerCompanyMode(t *testing.T) {
	tests := []struct {
		mode       string
		wantStatus int
		wantReason string
	}{
		{store.OnDemandDisabled, 488, "Recording disabled for this channel"},
		{store.OnDemandKey, 200, "OK"},
		{store.OnDemandKeyDTMF, 200, "OK"},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: tt.mode, tone: "tone_stream://%(100,0,880)"})
			call, b := answeredInbound(t, h)
			status, reason := b.SendInfoRecord(true)
			if status != tt.wantStatus || reason != tt.wantReason {
				t.Fatalf("INFO Record: on answered %d %q, want %d %q", status, reason, tt.wantStatus, tt.wantReason)
			}
			if tt.mode == store.OnDemandDisabled {
				call.A.Hangup("NORMAL_CLEARING")
				h.waitSessions()
				if n := len(h.allRecordings()); n != 0 {
					t.Fatalf("%d rows, want none", n)
				}
				if n := countCommands(h, "api uuid_displace"); n != 0 {
					t.Fatalf("%d tones played for a refused request", n)
				}
				return
			}
			h.waitRecordings(store.StateRecording, 1)
			h.waitQuiet()
			tonesAtStart := countCommands(h, "api uuid_displace")
			h.fs.Advance(2 * time.Second)
			if status, _ := b.SendInfoRecord(false); status != 200 {
				t.Fatalf("INFO Record: off answered %d", status)
			}
			r := h.waitRecordings(store.StateProcessing, 1)[0]
			h.waitQuiet()
			if r.Type != store.TypeOnDemand || r.Trigger != store.TriggerKey || r.UserID != h.u1001.ID || r.Recorder != "1001" {
				t.Errorf("row %+v", r)
			}
			if tonesAtStart != 2 || countCommands(h, "api uuid_displace") != 4 {
				t.Errorf("tones: %d at start (want 2: both parties), %d in all (want 4)", tonesAtStart, countCommands(h, "api uuid_displace"))
			}
			prof := toneProfile(t, r.WAVPath, toneCaller, tone1001)
			if len(prof) < 1 || !prof[0][toneCaller] || !prof[0][tone1001] {
				t.Fatalf("WAV should hold both parties:\n%s", describeProfile(prof))
			}
			// A second start→stop is a second recording.
			b.SendInfoRecord(true)
			h.waitRecordings(store.StateRecording, 1)
			call.A.Hangup("NORMAL_CLEARING") // ends at the latest when the user leaves
			h.waitSessions()
			if rows := ondemandRows(h); len(rows) != 2 {
				t.Fatalf("%d on-demand rows, want 2", len(rows))
			}
			h.waitRecordings(store.StateProcessing, 2)
		})
	}
}

func TestOnDemand_DTMFCodeOnlyForKeyDTMFAndOnlyFromTheUser(t *testing.T) {
	t.Run("key_dtmf user toggles", func(t *testing.T) {
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKeyDTMF, code: "7"})
		call, b := answeredInbound(t, h)
		b.SendDTMF("*7")
		r := h.waitRecordings(store.StateRecording, 1)[0]
		if r.Trigger != store.TriggerDTMF || r.UserID != h.u1001.ID {
			t.Fatalf("row %+v", r)
		}
		h.fs.Advance(time.Second)
		b.SendDTMF("*7")
		h.waitRecordings(store.StateProcessing, 1)
		call.A.Hangup("NORMAL_CLEARING")
		h.waitSessions()
		if n := len(h.allRecordings()); n != 1 {
			t.Fatalf("%d rows, want 1", n)
		}
	})
	t.Run("key_dtmf external party typing the code changes nothing", func(t *testing.T) {
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKeyDTMF, code: "7"})
		call, b := answeredInbound(t, h)
		call.A.SendDTMF("*7")
		waitFor(t, func() bool { return strings.Contains(b.HeardDigits(), "*7") }, "digits reach the user")
		h.waitQuiet()
		call.A.Hangup("NORMAL_CLEARING")
		h.waitSessions()
		if n := len(h.allRecordings()); n != 0 {
			t.Fatalf("%d rows, want none", n)
		}
	})
	t.Run("key company: the digits pass and nothing is inspected", func(t *testing.T) {
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "7"})
		call, b := answeredInbound(t, h)
		b.SendDTMF("*7")
		waitFor(t, func() bool { return strings.Contains(call.A.HeardDigits(), "*7") }, "digits reach the caller")
		h.waitQuiet()
		call.A.Hangup("NORMAL_CLEARING")
		h.waitSessions()
		if n := len(h.allRecordings()); n != 0 {
			t.Fatalf("%d rows, want none", n)
		}
		for _, f := range h.fs.Transcript() {
			if f.Dir == fstest.ToFS && strings.HasPrefix(f.Command(), "event plain") && strings.Contains(f.Command(), "DTMF") {
				t.Fatalf("a key company subscribed to DTMF: %s", f.Command())
			}
		}
	})
}

func TestOnDemand_FrustratedBlindTransfer(t *testing.T) {
	t.Run("toggles and re-joins the parties", func(t *testing.T) {
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "7"})
		call, b := answeredInbound(t, h)
		ctx := ctxT(t, 20*time.Second)
		refer := b.BlindTransfer("*7")
		if refer.Status != 202 {
			t.Fatalf("REFER %d", refer.Status)
		}
		if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
			t.Fatalf("NOTIFY %d %v, want 403 (transfer reported failed)", st, err)
		}
		if _, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.PeerUUID == b.UUID() }); err != nil {
			t.Fatalf("caller not re-joined with the user: %v", err)
		}
		r := h.waitRecordings(store.StateRecording, 1)[0]
		if r.Trigger != store.TriggerTransfer || r.UserID != h.u1001.ID {
			t.Fatalf("row %+v", r)
		}
		h.waitQuiet()
		h.fs.Advance(time.Second)
		refer = b.BlindTransfer("*7") // the same method stops it
		if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
			t.Fatalf("second NOTIFY %d %v", st, err)
		}
		h.waitRecordings(store.StateProcessing, 1)
		call.A.Hangup("NORMAL_CLEARING")
		h.waitSessions()
		if n := len(h.allRecordings()); n != 1 {
			t.Fatalf("%d rows, want 1", n)
		}
	})
	t.Run("phone hangs up after 202: the caller is reconnected to the user", func(t *testing.T) {
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "7"})
		call, b := answeredInbound(t, h)
		ctx := ctxT(t, 20*time.Second)
		b.BlindTransfer("*7")
		b.Hangup("NORMAL_CLEARING")
		again, err := call.WaitLeg(ctx, "1001")
		must(t, err)
		if again.UUID() == b.UUID() {
			t.Fatal("no new leg to the user")
		}
		if _, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.PeerUUID == again.UUID() }); err != nil {
			t.Fatalf("caller not reconnected to the user: %v", err)
		}
	})
	t.Run("disabled company: no recording", func(t *testing.T) {
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandDisabled})
		call, b := answeredInbound(t, h)
		b.BlindTransfer("*7")
		h.waitQuiet()
		call.A.Hangup("NORMAL_CLEARING")
		b.Hangup("NORMAL_CLEARING")
		h.waitSessions()
		if n := len(h.allRecordings()); n != 0 {
			t.Fatalf("%d rows, want none", n)
		}
	})
}

func TestOnDemand_StopLeavesTheDDIRecordingRunning(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandKey})
	call, b := answeredInbound(t, h)
	h.waitRecordings(store.StateRecording, 1) // the DDI recording
	b.SendInfoRecord(true)
	h.waitRecordings(store.StateRecording, 2)
	b.SendInfoRecord(false)
	done := h.waitRecordings(store.StateProcessing, 1)
	if done[0].Type != store.TypeOnDemand {
		t.Fatalf("the stopped recording is %s, want the on-demand one", done[0].Type)
	}
	still := h.waitRecordings(store.StateRecording, 1)
	if still[0].Type != store.TypeDDI {
		t.Fatalf("the running recording is %s, want the DDI one", still[0].Type)
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	h.waitRecordings(store.StateProcessing, 2)
}

func TestOnDemand_NoTonesWhenDisabled(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, tone: ""})
	call, b := answeredInbound(t, h)
	b.SendInfoRecord(true)
	h.waitRecordings(store.StateRecording, 1)
	b.SendInfoRecord(false)
	h.waitRecordings(store.StateProcessing, 1)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	if n := countCommands(h, "api uuid_displace"); n != 0 {
		t.Fatalf("%d tones with the tone turned off", n)
	}
}
