package esl

import (
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// SPEC §3.1 "Outbound ... recorded from the external party's answer until it leaves" —
// across transfers. The DDI recording is on the external leg E, but the Session ends (and
// finish() books the row processing with the hangup time) when the *user* leg hangs up, while
// E keeps talking to 1002 and FreeSWITCH keeps writing the WAV.
func TestOutboundDDIRecordingOutlivesTheUserWhoTransferredTheCall(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordOutbound})
	ctx := ctxT(t, 40*time.Second)
	call, ext := recordedOutbound(t, h)
	h.fs.Advance(2 * time.Second)

	// 1001 blind-transfers the external party to 1002 and hangs up after the NOTIFY.
	refer := call.A.BlindTransfer("1002")
	if refer.Status != 202 {
		t.Fatalf("REFER %d", refer.Status)
	}
	if _, err := refer.WaitNotify(ctx); err != nil {
		t.Fatal(err)
	}
	call.A.Hangup("NORMAL_CLEARING")
	b2, err := call.WaitLeg(ctx, "1002")
	must(t, err)
	must(t, b2.WaitAnswer(ctx))
	if _, err := ext.WaitState(ctx, func(s fstest.LegState) bool { return s.PeerUUID == b2.UUID() }); err != nil {
		t.Fatalf("external party not bridged to 1002: %v", err)
	}
	// The external party talks to 1002 well past HangupDrain (2 s in the harness).
	time.Sleep(3 * time.Second)
	h.fs.Advance(5 * time.Second)
	if recs, _ := h.db.RecordingsInState(ctx, store.StateProcessing, 0); len(recs) != 0 {
		t.Errorf("the DDI recording was handed to the audio worker while the external party is still on the call (duration %d ms); FreeSWITCH is still writing %s",
			recs[0].DurationMS, recs[0].WAVPath)
	}
	ext.Hangup("NORMAL_CLEARING")
	r := h.waitRecordings(store.StateProcessing, 1)[0]
	if r.DurationMS < 6500 {
		t.Errorf("duration %d ms, want ~7000 (answer until the external party leaves)", r.DurationMS)
	}
}

// TestTransferredLegIsNotHandedToCallrecAgain: the hand-over mark is exported to the legs a call
// creates, so when the user transfers the external party to a colleague, that leg is routed by
// the operator's extensions, not handed to callrec as if a phone had placed a new call.
func TestTransferredLegIsNotHandedToCallrecAgain(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandDisabled})
	ctx := ctxT(t, 20*time.Second)
	call, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: "+34600999888"})
	must(t, err)
	ext, err := call.WaitLeg(ctx, "+34600999888")
	must(t, err)
	must(t, ext.WaitAnswer(ctx))
	h.waitQuiet()
	if st := call.A.BlindTransfer("1002").Status; st != 202 {
		t.Fatalf("REFER %d", st)
	}
	b2, err := call.WaitLeg(ctx, "1002")
	must(t, err)
	must(t, b2.WaitAnswer(ctx))
	h.waitQuiet()
	conns := map[int]bool{}
	for _, f := range h.fs.Transcript() {
		if f.Kind == "outbound" {
			conns[f.Conn] = true
		}
	}
	if len(conns) != 1 {
		t.Fatalf("%d outbound connections to callrec, want 1 (the transferred leg was handed over again)", len(conns))
	}
	ext.Hangup("NORMAL_CLEARING")
	call.A.Hangup("NORMAL_CLEARING")
}
