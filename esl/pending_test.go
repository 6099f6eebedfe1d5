package esl

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// downStore is a store whose database has gone away after the recording's row was handed to
// it: the row's commit says store.ErrCommitPending (postgres.DB while its database is down), and
// every write of a recording fails until up is set. The row itself is in the underlying store,
// as it is once a pending commit's retries get through.
type downStore struct {
	store.Store
	up atomic.Bool
}

var errDatabaseDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (d *downStore) StartRecording(ctx context.Context, r *store.Recording) (func() error, error) {
	commit, err := d.Store.StartRecording(ctx, r)
	if err != nil {
		return nil, err
	}
	return sync.OnceValue(func() error {
		if err := commit(); err != nil {
			return err
		}
		return errors.Join(store.ErrCommitPending, errDatabaseDown)
	}), nil
}

func (d *downStore) FinishRecording(ctx context.Context, id string, endedAt time.Time, durationMS int64, wavPath string) error {
	if !d.up.Load() {
		return errDatabaseDown
	}
	return d.Store.FinishRecording(ctx, id, endedAt, durationMS, wavPath)
}

func (d *downStore) FailRecording(ctx context.Context, id, reason string) error {
	if !d.up.Load() {
		return errDatabaseDown
	}
	return d.Store.FailRecording(ctx, id, reason)
}

// TestRecording_KeptWhileItsRowIsPending: a recording whose row the store has not stored yet
// (store.ErrCommitPending: a shared store's database is down) is kept. The call is recorded to
// its end, its WAV stays in the spool (a row that was refused would have it removed), the
// decision is logged as record_row_pending and not as a failure, and once the database is back
// the reconcile finishes the row from the WAV.
func TestRecording_KeptWhileItsRowIsPending(t *testing.T) {
	logs := &logLines{}
	down := &downStore{}
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, logs: logs,
		wrapStore: func(s store.Store) store.Store { down.Store = s; return down }})
	ctx := ctxT(t, 30*time.Second)
	call, r := recordedDDICall(ctx, h)
	h.fs.Advance(2 * time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	wav := h.spool + "/" + r.ID + ".wav"
	if _, err := os.Stat(wav); err != nil {
		t.Fatalf("the WAV of a pending row: %v", err)
	}
	if logs.count(`"decision":"record_row_pending"`) != 1 || logs.count(`"decision":"record_failed"`) != 0 {
		t.Fatalf("log of a pending row, want one record_row_pending and no record_failed:\n%s", logs.buf.String())
	}
	if got, err := h.db.Recording(ctx, r.ID); err != nil || got.State != store.StateRecording {
		t.Fatalf("row while the database is down: %+v, %v", got, err)
	}

	down.up.Store(true)
	time.Sleep(20 * time.Millisecond)
	res, err := (&Reconciler{DB: down, SpoolDir: h.spool, Logger: testLogger(t), Quiet: 10 * time.Millisecond}).Run(ctx)
	must(t, err)
	got, err := h.db.Recording(ctx, r.ID)
	must(t, err)
	if res.Finished != 1 || got.State != store.StateProcessing || got.DurationMS < 1900 {
		t.Fatalf("after the database is back and the reconcile: %+v, row %s %d ms", res, got.State, got.DurationMS)
	}
}

// stallStore is a store whose database has stalled (partitioned, no reset): every write of a
// recording's end waits until its context ends.
type stallStore struct {
	store.Store
	stalled atomic.Int32
}

func (s *stallStore) FinishRecording(ctx context.Context, id string, endedAt time.Time, durationMS int64, wavPath string) error {
	s.stalled.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// TestRecording_AStalledStoreDoesNotHoldTheCall: a store write for a call's events that does not
// answer is given up after Server.StoreTimeout. The Session ends, its failure is logged, and
// the row stays `recording` with its WAV for the reconcile. Before, the write had no deadline,
// so the Session waited as long as the database did.
func TestRecording_AStalledStoreDoesNotHoldTheCall(t *testing.T) {
	logs := &logLines{}
	stall := &stallStore{}
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, logs: logs, storeTimeout: 300 * time.Millisecond,
		wrapStore: func(s store.Store) store.Store { stall.Store = s; return stall }})
	ctx := ctxT(t, 30*time.Second)
	call, r := recordedDDICall(ctx, h)
	h.fs.Advance(time.Second)
	t0 := time.Now()
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	if d := time.Since(t0); d > 5*time.Second || stall.stalled.Load() == 0 {
		t.Fatalf("session ended %v after the hangup with %d stalled writes", d, stall.stalled.Load())
	}
	if logs.count("recording not finished in the store") == 0 || logs.count("context deadline exceeded") == 0 {
		t.Fatalf("the stalled write is not logged:\n%s", logs.buf.String())
	}
	if got, err := h.db.Recording(ctx, r.ID); err != nil || got.State != store.StateRecording {
		t.Fatalf("row after a stalled finish: %+v, %v", got, err)
	}
	if _, err := os.Stat(h.spool + "/" + r.ID + ".wav"); err != nil {
		t.Fatalf("WAV after a stalled finish: %v", err)
	}
}

// recordedDDICall places an inbound call to the harness's DDI, answered by 1001, and returns it
// with its recording once that is `recording`.
func recordedDDICall(ctx context.Context, h *harness) (*fstest.Call, *store.Recording) {
	h.t.Helper()
	call, err := h.fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "+34911234567", ToneHz: toneCaller})
	must(h.t, err)
	b, err := call.WaitLeg(ctx, "1001")
	must(h.t, err)
	must(h.t, b.WaitAnswer(ctx))
	return call, h.waitRecordings(store.StateRecording, 1)[0]
}
