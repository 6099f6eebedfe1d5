package esl

import (
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestInboundDDI_RecordingSurvivesBlindAndAttendedTransfer: the external caller is recorded
// from answer to hangup while 1001 blind-transfers them to 1002, and 1002 hands them back to
// 1001 with an attended transfer; one row, and the WAV holds every user who talked to them.
func TestInboundDDI_RecordingSurvivesBlindAndAttendedTransfer(t *testing.T) {
	for _, mode := range []string{store.OnDemandDisabled, store.OnDemandKey} {
		t.Run("on_demand="+mode, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordAll, onDemand: mode})
			ctx := ctxT(t, 30*time.Second)
			call, b1 := h.callAnswered("+34600111222", "+34911234567", "1001")
			h.waitEvent("RECORD_START", 1)
			h.fs.Advance(3 * time.Second)

			// Blind transfer by 1001 to 1002.
			refer := b1.BlindTransfer("1002")
			if refer.Status != 202 {
				t.Fatalf("REFER answered %d", refer.Status)
			}
			b2, err := call.WaitLeg(ctx, "1002")
			must(t, err)
			if _, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.PeerUUID == b2.UUID() }); err != nil {
				t.Fatalf("caller not bridged to 1002: %v", err)
			}
			b1.Hangup("NORMAL_CLEARING")
			h.fs.Advance(3 * time.Second)

			// 1002 consults 1001 and completes an attended transfer: the caller talks to 1001 again.
			consult, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1002", To: "1001"})
			must(t, err)
			c1001, err := consult.WaitLeg(ctx, "1001")
			must(t, err)
			must(t, c1001.WaitAnswer(ctx))
			if _, err := consult.A.WaitState(ctx, func(s fstest.LegState) bool { return s.PeerUUID == c1001.UUID() }); err != nil {
				t.Fatalf("consult call not bridged: %v", err)
			}
			must(t, h.fs.AttendedTransfer(b2, consult.A))
			if _, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.PeerUUID == c1001.UUID() }); err != nil {
				t.Fatalf("caller not bridged back to 1001: %v", err)
			}
			h.fs.Advance(3 * time.Second)
			call.A.Hangup("NORMAL_CLEARING")
			h.waitSessions()

			recs := h.waitRecordings(store.StateProcessing, 1)
			if n := len(h.allRecordings()); n != 1 {
				t.Fatalf("%d rows, want exactly one", n)
			}
			r := recs[0]
			if r.DurationMS < 8900 || r.DurationMS > 9600 {
				t.Errorf("duration %d ms, want about 9000 (answer to the caller's hangup)", r.DurationMS)
			}
			prof := toneProfile(t, r.WAVPath, toneCaller, tone1001, tone1002)
			want := []struct {
				second int
				tone   float64
			}{{1, tone1001}, {4, tone1002}, {7, tone1001}}
			for _, w := range want {
				if w.second >= len(prof) || !prof[w.second][w.tone] || !prof[w.second][toneCaller] {
					t.Fatalf("second %d should hold the caller and %.0f Hz:\n%s", w.second, w.tone, describeProfile(prof))
				}
			}
		})
	}
}
