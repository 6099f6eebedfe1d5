package esl

import (
	"testing"
	"time"

	"github.com/callrec/callrec/fsconf"
	"github.com/callrec/callrec/store"
)

// SPEC §3.2 "`on` while recording ... change[s] nothing". With the record-template fsconf
// renders (a strftime timestamp in the name), mod_sofia starts a *second* concurrent recording for
// an `on` sent in a later second (REFERENCE.md §4), and callrec books it as a second on-demand row
// instead of stopping it. `off` then stops only the last one (sofia_record_file); the first keeps
// recording until the user hangs up.
func TestRecordKeyOnWhileRecordingChangesNothing(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey,
		recordTemplate: fsconf.RecordTemplate})
	call, b := answeredInbound(t, h)
	if st, _ := b.SendInfoRecord(true); st != 200 {
		t.Fatalf("on: %d", st)
	}
	h.waitRecordings(store.StateRecording, 1)
	h.fs.Advance(2 * time.Second) // the phone sends `on` again two seconds later
	b.SendInfoRecord(true)
	h.waitQuiet()
	if n := len(ondemandRows(h)); n != 1 {
		t.Errorf("%d on-demand rows after on,on; want 1 (a second `on` changes nothing)", n)
	}
	h.fs.Advance(2 * time.Second)
	b.SendInfoRecord(false)
	h.waitQuiet()
	if recs, _ := h.db.RecordingsInState(ctxT(t, time.Second), store.StateRecording, 0); len(recs) != 0 {
		t.Errorf("after `off`, %d on-demand recording(s) still running", len(recs))
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
}
