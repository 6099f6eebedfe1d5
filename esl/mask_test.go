package esl

import (
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestMask_CodeSilencesEveryRecordingOfTheCall: in a key_dtmf company with a mask code, the user
// typing "*"+mask code turns every running recording of the call (here the DDI one and the
// user's own) to silence, keeping the timeline, until the code is typed again; each row stores
// its span, closed, with who masked it. The digits of the external party change nothing.
func TestMask_CodeSilencesEveryRecordingOfTheCall(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandKeyDTMF, code: "7", maskCode: "8"})
	call, b := answeredInbound(t, h)
	h.waitRecordings(store.StateRecording, 1) // the DDI recording
	b.SendDTMF("*7")
	h.waitRecordings(store.StateRecording, 2)
	h.waitQuiet()
	h.fs.Advance(2 * time.Second) // seconds 0–1: both parties heard

	call.A.SendDTMF("*8") // the caller typing the mask code: nothing happens
	h.waitQuiet()
	if n := countCommands(h, "api uuid_record "+call.A.UUID()+" mask"); n != 0 {
		t.Fatalf("the external party's digits masked the recording (%d mask commands)", n)
	}

	b.SendDTMF("*8")
	waitFor(t, func() bool { return countCommands(h, "api uuid_record") >= 4 }, "two mask commands")
	h.waitQuiet()
	for _, r := range h.allRecordings() {
		if len(r.Masks) != 1 || !r.Masks[0].Open || r.Masks[0].By != h.u1001.ID {
			t.Fatalf("while masked, row %s (%s) has masks %+v, want one open span by %s", r.ID, r.Type, r.Masks, h.u1001.ID)
		}
	}
	h.fs.Advance(3 * time.Second) // seconds 2–4: masked
	b.SendDTMF("*8")
	waitFor(t, func() bool { return countCommands(h, "api uuid_record") >= 6 }, "two unmask commands")
	h.waitQuiet()
	h.fs.Advance(2 * time.Second) // seconds 5–6: heard again
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()

	rows := h.waitRecordings(store.StateProcessing, 2)
	for _, r := range rows {
		if len(r.Masks) != 1 || r.Masks[0].Open || r.Masks[0].By != h.u1001.ID {
			t.Errorf("row %s (%s): masks %+v, want one closed span by %s", r.ID, r.Type, r.Masks, h.u1001.ID)
		}
		// The masked 3 s are silence, one run in the middle; both parties are heard on each side.
		prof := toneProfile(t, r.WAVPath, toneCaller, tone1001)
		var silent []int
		for sec, heard := range prof {
			if !heard[toneCaller] && !heard[tone1001] {
				silent = append(silent, sec)
			}
		}
		if len(silent) != 3 || silent[2]-silent[0] != 2 || silent[0] < 1 || silent[2] >= len(prof)-1 {
			t.Errorf("%s recording: silent seconds %v, want 3 in a row inside the call:\n%s", r.Type, silent, describeProfile(prof))
		}
	}
}

// TestMask_SurvivesACallrecRestart: callrec restarts while the call is masked; the re-adopted
// call knows it is masked (the open span is on the row, FreeSWITCH kept the bug's flag), so the
// next mask code unmasks, and the row ends with one closed span.
func TestMask_SurvivesACallrecRestart(t *testing.T) {
	fwd := newForwarder(t)
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandKeyDTMF, code: "7", maskCode: "8",
		inbound: true, dialplanEdit: fwd.dialplanEdit})
	stopNode := h.startNode(h.srv)
	call, b := answeredInbound(t, h)
	h.waitRecordings(store.StateRecording, 1)
	h.fs.Advance(time.Second)
	b.SendDTMF("*8")
	waitFor(t, func() bool { return countCommands(h, "api uuid_record "+call.A.UUID()+" mask") == 1 }, "the mask command")
	h.waitQuiet()

	stopNode()
	srv := h.restart()
	fwd.point(srv.BoundAddr())
	h.startNode(srv)
	h.waitFollowedInbound(b.UUID())
	h.fs.Advance(2 * time.Second)
	b.SendDTMF("*8")
	waitFor(t, func() bool { return countCommands(h, "api uuid_record "+call.A.UUID()+" unmask") == 1 }, "unmask after the restart")
	h.waitQuiet()
	if n := countCommands(h, "api uuid_record "+call.A.UUID()+" mask"); n != 1 {
		t.Errorf("%d mask commands, want 1: the re-adopted call masked again instead of unmasking", n)
	}
	h.fs.Advance(time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	r := h.waitRecordings(store.StateProcessing, 1)[0]
	if len(r.Masks) != 1 || r.Masks[0].Open || r.Masks[0].LengthMS <= 0 {
		t.Errorf("masks %+v, want one closed span", r.Masks)
	}
}

// TestMask_TheCallNeverWaitsForTheSpanWrite: with the store's batches taking 3 s, masking two
// recordings still sends both mask commands at once, and the spans are on the rows by the end.
func TestMask_TheCallNeverWaitsForTheSpanWrite(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandKeyDTMF, code: "7", maskCode: "8", batchDelay: 3 * time.Second})
	call, b := answeredInbound(t, h)
	h.waitRecordings(store.StateRecording, 1)
	b.SendDTMF("*7")
	waitFor(t, func() bool { return countCommands(h, "api uuid_record") >= 2 }, "the on-demand recording")
	h.waitQuiet()
	start := time.Now()
	b.SendDTMF("*8")
	waitFor(t, func() bool { return countCommands(h, "api uuid_record") >= 4 }, "two mask commands")
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Errorf("masking two recordings took %v: the call waited for the store (3 s batches)", took)
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	for _, r := range h.waitRecordings(store.StateProcessing, 2) {
		if len(r.Masks) != 1 || r.Masks[0].Open {
			t.Errorf("row %s masks %+v, want its span, closed at the hangup", r.ID, r.Masks)
		}
	}
}
