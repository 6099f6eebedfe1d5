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
	call, b := h.callAnswered("+34600111222", "+34911234567", "1001")
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

// TestOnDemand_EveryTriggerForEveryMode fills the matrix of SPEC §3.2: which trigger starts a
// recording under which company mode, and that a started recording holds both parties.
func TestOnDemand_EveryTriggerForEveryMode(t *testing.T) {
	type trigger struct {
		name  string
		start func(t *testing.T, call *fstest.Call, user *fstest.Leg)
	}
	triggers := []trigger{
		{"key", func(t *testing.T, _ *fstest.Call, user *fstest.Leg) { user.SendInfoRecord(true) }},
		{"dtmf", func(t *testing.T, _ *fstest.Call, user *fstest.Leg) { user.SendDTMF("*7") }},
		{"transfer", func(t *testing.T, _ *fstest.Call, user *fstest.Leg) { user.BlindTransfer("*7") }},
	}
	allowed := map[string]map[string]bool{
		store.OnDemandDisabled: {"key": false, "dtmf": false, "transfer": false},
		store.OnDemandKey:      {"key": true, "dtmf": false, "transfer": true},
		store.OnDemandKeyDTMF:  {"key": true, "dtmf": true, "transfer": true},
	}
	for _, mode := range []string{store.OnDemandDisabled, store.OnDemandKey, store.OnDemandKeyDTMF} {
		for _, tr := range triggers {
			t.Run(mode+"/"+tr.name, func(t *testing.T) {
				h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: mode, code: "7"})
				call, b := answeredInbound(t, h)
				tr.start(t, call, b)
				h.waitQuiet()
				if !allowed[mode][tr.name] {
					call.A.Hangup("NORMAL_CLEARING")
					b.Hangup("NORMAL_CLEARING")
					h.waitSessions()
					if n := len(h.allRecordings()); n != 0 {
						t.Fatalf("%d rows, want none", n)
					}
					return
				}
				r := h.waitRecordings(store.StateRecording, 1)[0]
				if r.Trigger != tr.name || r.UserID != h.u1001.ID || r.Type != store.TypeOnDemand {
					t.Fatalf("row %+v", r)
				}
				h.fs.Advance(2 * time.Second)
				call.A.Hangup("NORMAL_CLEARING")
				h.waitSessions()
				r = h.waitRecordings(store.StateProcessing, 1)[0]
				prof := toneProfile(t, r.WAVPath, toneCaller, tone1001)
				if len(prof) < 1 || !prof[len(prof)-1][toneCaller] || !prof[len(prof)-1][tone1001] {
					t.Fatalf("WAV should hold both parties:\n%s", describeProfile(prof))
				}
			})
		}
	}
}

// TestOnDemand_InternalCallEitherUserMayRecord: on a call between two users, each may press the
// Record key; each recording is attributed to the user who asked.
func TestOnDemand_InternalCallEitherUserMayRecord(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordAll, onDemand: store.OnDemandKey})
	ctx := ctxT(t, 20*time.Second)
	call, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: "1002"})
	must(t, err)
	b, err := call.WaitLeg(ctx, "1002")
	must(t, err)
	must(t, b.WaitAnswer(ctx))
	h.waitEvent("CHANNEL_BRIDGE", 1)
	h.waitQuiet()
	if st, _ := call.A.SendInfoRecord(true); st != 200 {
		t.Fatalf("1001's Record key answered %d", st)
	}
	if st, _ := b.SendInfoRecord(true); st != 200 {
		t.Fatalf("1002's Record key answered %d", st)
	}
	recs := h.waitRecordings(store.StateRecording, 2)
	users := map[string]string{}
	for _, r := range recs {
		users[r.UserID] = r.Recorder
	}
	if users[h.u1001.ID] != "1001" || users[h.u1002.ID] != "1002" {
		t.Fatalf("attribution %v", users)
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	h.waitRecordings(store.StateProcessing, 2)
	for _, r := range h.allRecordings() {
		if r.Type != store.TypeOnDemand || r.Direction != store.DirectionInternal {
			t.Errorf("row %+v: an internal call is never recorded automatically", r)
		}
	}
}

// TestOnDemand_DTMFFromTheCallingUser: on a call the user places, the user is the controlled leg;
// their code toggles, the external party's does not.
func TestOnDemand_DTMFFromTheCallingUser(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKeyDTMF, code: "7"})
	ctx := ctxT(t, 20*time.Second)
	call, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: "+34600999888"})
	must(t, err)
	ext, err := call.WaitLeg(ctx, "+34600999888")
	must(t, err)
	must(t, ext.WaitAnswer(ctx))
	h.waitEvent("CHANNEL_BRIDGE", 1)
	h.waitQuiet()
	ext.SendDTMF("*7")
	waitFor(t, func() bool { return strings.Contains(call.A.HeardDigits(), "*7") }, "the external digits reach the user")
	h.waitQuiet()
	if n := len(h.allRecordings()); n != 0 {
		t.Fatalf("the external party's code started %d recordings", n)
	}
	call.A.SendDTMF("*7")
	r := h.waitRecordings(store.StateRecording, 1)[0]
	if r.Trigger != store.TriggerDTMF || r.UserID != h.u1001.ID || r.Direction != store.DirectionOutbound {
		t.Fatalf("row %+v", r)
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	h.waitRecordings(store.StateProcessing, 1)
}
