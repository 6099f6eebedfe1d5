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
	call, err := h.fs.Inbound(ctx, fstest.CallSpec{From: "+34600111222", To: "+34911234567", ToneHz: toneCaller})
	must(t, err)
	b, err := call.WaitLeg(ctx, "1001")
	must(t, err)
	must(t, b.WaitAnswer(ctx))
	r := h.waitRecordings(store.StateRecording, 1)[0]
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
