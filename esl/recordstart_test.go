package esl

import (
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestRecordingStartsBeforeItsRowIsCommitted: FreeSWITCH does not wait for the store's commit
// (a batched fsync) before it starts recording (issue 13: the recording within 30 ms of
// CHANNEL_ANSWER). With a store whose batches wait 5 s, RECORD_START comes while the row is not
// yet committed; the row follows, and the recording ends ready for the worker as any other.
// Before, uuid_record was sent only after CreateRecording returned: 5 s after the answer.
func TestRecordingStartsBeforeItsRowIsCommitted(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, batchDelay: 5 * time.Second, commandTimeout: 10 * time.Second})
	start := time.Now()
	call, _ := h.callAnswered("+34600111222", "+34911234567", "1001")
	h.waitEvent("RECORD_START", 1)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("RECORD_START %v after the call was placed: it waited for the store's 5 s batch", took)
	}
	// Nor does the Session wait for it: the bridged user's leg is followed and gated while the
	// commit is still pending (before, the Session sat in the commit for the whole batch).
	b := call.Legs()
	gated := func() bool {
		for _, f := range h.fs.Transcript() {
			if f.Dir == fstest.ToFS && strings.HasPrefix(f.Command(), "api uuid_setvar") && len(b) > 1 && strings.Contains(f.Command(), b[1].UUID()) {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(4 * time.Second); !gated() && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b = call.Legs()
	}
	if !gated() {
		t.Fatalf("the bridged leg was not gated within 4 s: the Session waited for the store's 5 s batch")
	}
	if n, _ := h.db.RecordingsInState(ctxT(t, time.Second), store.StateRecording, 0); len(n) != 0 {
		t.Fatalf("the row is committed already (%d rows): the test's batch delay did not hold it", len(n))
	}
	rows := h.waitRecordings(store.StateRecording, 1)
	if rows[0].Type != store.TypeDDI {
		t.Fatalf("row %+v", rows[0])
	}
	h.fs.Advance(time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	h.waitRecordings(store.StateProcessing, 1)
}
