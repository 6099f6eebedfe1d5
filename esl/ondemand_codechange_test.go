package esl

import (
	"testing"

	"github.com/callrec/callrec/store"
)

// TestOnDemandCodeChanged_TypedCodeFromTheNextCall backs what the page says after a brand admin
// saves a new on-demand code (issue 14 item 4): the `*code` typed during a call is matched
// against the setting the call started with (its matcher and DTMF subscription are set up from
// the plan at call start), so a call in progress keeps the old code, and the next call matches
// the new code at once — a store write, no restart, no re-render. (A blind transfer to the code
// is checked at each REFER, even mid-call: TestOnDemandSettingChangedMidCall_AppliesToTheNextREFER.)
func TestOnDemandCodeChanged_TypedCodeFromTheNextCall(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKeyDTMF, code: "12"})
	call1, b1 := answeredInbound(t, h)
	h.setOnDemand(store.OnDemandKeyDTMF, "34") // the brand admin saves the new code mid-call

	b1.SendDTMF("*12")
	r := h.waitRecordings(store.StateRecording, 1)[0]
	if r.Trigger != store.TriggerDTMF || r.UserID != h.u1001.ID {
		t.Fatalf("call in progress: row %+v, want the user's DTMF recording started by the old code *12", r)
	}
	call1.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	h.waitRecordings(store.StateRecording, 0)

	call2, b2 := h.callAnswered("+34600111333", "+34911234567", "1001")
	h.waitEvent("CHANNEL_BRIDGE", 2)
	h.waitQuiet()
	b2.SendDTMF("*34")
	r = h.waitRecordings(store.StateRecording, 1)[0]
	if r.Trigger != store.TriggerDTMF || r.UserID != h.u1001.ID {
		t.Fatalf("next call: row %+v, want a DTMF recording of the new call started by the new code *34", r)
	}
	call2.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	if n := len(ondemandRows(h)); n != 2 {
		t.Fatalf("%d on-demand rows, want 2 (one per call)", n)
	}
}
