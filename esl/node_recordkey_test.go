package esl

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// a Record-key (INFO) recording lives under OnDemandPath, not SpoolDir, and its row is
// created without WAVPath. When callrec restarts mid-call, the Node ignores its RECORD_STOP
// (node.go:111 only accepts <SpoolDir>/<id>.wav) and the Reconciler looks for
// <SpoolDir>/<id>.wav (reconcile.go:35) and discards the row although the WAV exists.
func TestRecordKeyRecordingOfALiveCallFinishesThroughTheNode(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, inbound: true})
	ctx := ctxT(t, 30*time.Second)
	call, b := answeredInbound(t, h)
	if st, _ := b.SendInfoRecord(true); st != 200 {
		t.Fatalf("on: %d", st)
	}
	h.waitRecordings(store.StateRecording, 1)

	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	must(t, h.srv.Close(closeCtx)) // callrec killed
	cancel()
	h.fs.Advance(3 * time.Second)

	node := &Node{Addr: h.fs.InboundAddr(), Password: "ClueCon", DB: h.db, Logger: testLogger(t), SpoolDir: h.spool, OnDemandPath: h.srv.OnDemandPath}
	nodeCtx, stopNode := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { node.Run(nodeCtx); close(done) }()
	defer func() { stopNode(); <-done }()
	waitFor(t, func() bool { return h.fs.ActiveConns() >= 1 }, "node connected")
	time.Sleep(50 * time.Millisecond)

	b.SendInfoRecord(false) // the user stops it after the restart
	h.fs.Advance(time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitQuiet()
	recs, err := h.db.RecordingsInState(ctx, store.StateProcessing, 0)
	must(t, err)
	if len(recs) != 1 {
		t.Errorf("%d rows processing, want 1: the node should book the Record key RECORD_STOP", len(recs))
	}
	// The next start-up's reconcile, long after: the WAV is in OnDemandPath.
	res, err := (&Reconciler{DB: h.db, SpoolDir: h.spool, Logger: zerolog.Nop(), Quiet: time.Millisecond,
		Now: func() time.Time { return time.Now().Add(time.Hour) }}).Run(ctx)
	must(t, err)
	if res.Failed != 0 {
		t.Errorf("reconcile failed %d Record key recording(s) whose WAV exists in %s", res.Failed, h.srv.OnDemandPath)
	}
}
