package esl

import (
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestFrustratedTransfer_RefusedRepeatedlyNeverDropsTheCall: one call, the user REFERs to the
// code 30 times. Every time the phone gets NOTIFY 403, the caller and the user stay up and are
// bridged again, and the recording toggles (on, off, on …). callrec must not answer
// `blind_transfer_ack false`: that clears the transferee's confirm flag without parking it, and
// when the code extension ends before the transferor's intercept has run, FreeSWITCH hangs both
// parties up (switch_ivr.c ~4418, switch_core_state_machine.c ~362-382; the stand-in races them
// as a real switch does). Ending the extension with the flag set parks the transferee.
func TestFrustratedTransfer_RefusedRepeatedlyNeverDropsTheCall(t *testing.T) {
	const refusals = 30
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "7"})
	call, user := answeredInbound(t, h)
	ctx := ctxT(t, 120*time.Second)
	for i := 1; i <= refusals; i++ {
		refer := user.BlindTransfer("*7")
		if refer.Status != 202 {
			t.Fatalf("REFER %d answered %d", i, refer.Status)
		}
		if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
			t.Fatalf("REFER %d: NOTIFY %d %v, want 403 (transfer reported failed)", i, st, err)
		}
		s, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.Hungup || s.PeerUUID == user.UUID() })
		if err != nil || s.Hungup {
			t.Fatalf("REFER %d: caller not re-joined with the user (%+v, %v)", i, s, err)
		}
		if us := user.State(); us.Hungup {
			t.Fatalf("REFER %d: the user was hung up (%s)", i, us.HangupCause)
		}
		// Odd refusals start a recording, even ones stop it.
		on, stopped := i%2, i/2
		if stopped > 0 {
			h.waitRecordings(store.StateProcessing, stopped)
		}
		if on == 1 {
			h.waitRecordings(store.StateRecording, 1)
		} else if n := len(h.recordingsIn(store.StateRecording)); n != 0 {
			t.Fatalf("REFER %d: %d recordings still running, want the toggle to have stopped it", i, n)
		}
		h.fs.Advance(time.Second)
	}
	for _, r := range ondemandRows(h) {
		if r.Trigger != store.TriggerTransfer || r.UserID != h.u1001.ID {
			t.Errorf("row %+v, want a transfer recording of user 1001", r)
		}
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	if n := len(ondemandRows(h)); n != refusals/2 {
		t.Fatalf("%d on-demand rows, want %d", n, refusals/2)
	}
}

// recordingsIn lists the recordings in state now, without waiting.
func (h *harness) recordingsIn(state string) []*store.Recording {
	h.t.Helper()
	var out []*store.Recording
	for _, r := range h.allRecordings() {
		if r.State == state {
			out = append(out, r)
		}
	}
	return out
}
