package esl

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestRecordStop_SaysWhatFreeSWITCHDid: a recording FreeSWITCH deleted as shorter than
// RECORD_MIN_SEC (RECORD_DISCARDED=true, no file) is discarded with FreeSWITCH's cause, both when
// the call's Session books RECORD_STOP and when the node connection does after callrec stopped.
func TestRecordStop_SaysWhatFreeSWITCHDid(t *testing.T) {
	for _, via := range []string{"session", "node"} {
		t.Run(via, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, inbound: via == "node"})
			ctx := ctxT(t, 30*time.Second)
			call, err := h.fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "+34911234567", ToneHz: toneCaller,
				Vars: map[string]string{"RECORD_MIN_SEC": "5"}})
			must(t, err)
			b, err := call.WaitLeg(ctx, "1001")
			must(t, err)
			must(t, b.WaitAnswer(ctx))
			h.waitRecordings(store.StateRecording, 1)
			h.waitQuiet()
			if via == "node" {
				closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
				must(t, h.srv.Close(closeCtx))
				cancel()
				node := &Node{Addr: h.fs.InboundAddr(), Password: "ClueCon", DB: h.db, Logger: testLogger(t), SpoolDir: h.spool}
				nodeCtx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { node.Run(nodeCtx); close(done) }()
				defer func() { stop(); <-done }()
				waitFor(t, func() bool { return h.fs.ActiveConns() >= 1 }, "node connected")
				time.Sleep(50 * time.Millisecond)
			}
			h.fs.Advance(time.Second)
			call.A.Hangup("NORMAL_CLEARING")
			r := h.waitRecordings(store.StateDiscarded, 1)[0]
			if r.Error != "discarded by FreeSWITCH: input-too-short" {
				t.Errorf("reason %q, want FreeSWITCH's cause", r.Error)
			}
			if _, err := os.Stat(h.spool + "/" + r.ID + ".wav"); err == nil {
				t.Error("the stand-in kept a discarded WAV")
			}
		})
	}
}
