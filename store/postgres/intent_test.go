package postgres

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// intentsLeft lists the files in dir.
func intentsLeft(t *testing.T, dir string) []string {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(dir, "*"))
	must(t, err)
	return left
}

func newLive(companyID string, at time.Time) *store.Recording {
	return &store.Recording{CompanyID: companyID, CallID: "call-1", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, Caller: "+34600333444", Callee: "+34911234567", StartedAt: at}
}

// TestStartRecording_CommitsAsStore is store's intent tests (store/intent_test.go) on both ways
// of this backend, with an IntentsDir (the row committed in the background) and without (the
// row inserted before StartRecording returns): the row is there once commit returns, in state
// recording with CreateRecording's fields; commit answers the same each time; a company gone
// meanwhile is EINVALID "company_id" from commit with neither a row nor an intent; an invalid
// recording is EINVALID before any intent; no intent is left.
func TestStartRecording_CommitsAsStore(t *testing.T) {
	for _, c := range []struct {
		name    string
		intents bool
	}{{"intents", true}, {"synchronous", false}} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := ""
			if c.intents {
				dir = filepath.Join(t.TempDir(), "intents")
			}
			clk := newClock()
			db, _ := mustOpen(t, Options{Now: clk.Now, IntentsDir: dir})
			tn := mustTenant(t, db, "1")

			r := newLive(tn.companyID, time.Time{})
			commit, err := db.StartRecording(ctx, r)
			must(t, err)
			if len(r.ID) != 26 || r.State != store.StateRecording || r.FileName == "" || !r.StartedAt.Equal(clk.Now()) {
				t.Fatalf("not filled before the commit: %+v", r)
			}
			if _, err := db.Recording(ctx, r.ID); !c.intents && err != nil {
				t.Fatalf("without intents the row is inserted before StartRecording returns: %v", err)
			}
			must(t, commit())
			must(t, commit())
			got, err := db.Recording(ctx, r.ID)
			must(t, err)
			if got.State != store.StateRecording || got.CallID != "call-1" || got.FileName != r.FileName || !got.StartedAt.Equal(r.StartedAt) {
				t.Fatalf("row %+v", got)
			}

			gone := newLive("01ZZZZZZZZZZZZZZZZZZZZZZZZ", time.Time{})
			commit, err = db.StartRecording(ctx, gone)
			must(t, err)
			for range 2 {
				if err := commit(); store.ErrorCode(err) != store.EINVALID || store.ErrorField(err) != "company_id" {
					t.Fatalf("commit for a company that is gone: %v, want EINVALID company_id", err)
				}
			}
			if _, err := db.Recording(ctx, gone.ID); store.ErrorCode(err) != store.ENOTFOUND {
				t.Fatalf("a row for a company that is gone: %v", err)
			}

			bad := newLive(tn.companyID, time.Time{})
			bad.Type = "nonsense"
			if _, err := db.StartRecording(ctx, bad); store.ErrorCode(err) != store.EINVALID {
				t.Fatalf("an invalid recording: %v, want EINVALID before any intent", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := db.StartRecording(cctx, newLive(tn.companyID, time.Time{})); err == nil {
				t.Fatal("a cancelled context started a recording")
			}
			if dir != "" {
				if left := intentsLeft(t, dir); len(left) != 0 {
					t.Fatalf("intents left after the commits: %v", left)
				}
			}
		})
	}
}

// TestOpen_ReplaysTheIntentsLeftByADeadProcess: a process that died between the intent and the
// insert left intents; the next Open on the same IntentsDir inserts the row of the lost one,
// once, in state recording with its fields, and removes every intent — also those whose row
// was inserted before the death (the row is not touched: ON CONFLICT DO NOTHING), whose company
// is gone, and the empty file of a process killed before its write. A third Open finds
// nothing to do.
func TestOpen_ReplaysTheIntentsLeftByADeadProcess(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "intents")
	db, dsn := mustOpen(t, Options{IntentsDir: dir})
	tn := mustTenant(t, db, "1")
	at := time.Now().UTC().Truncate(time.Millisecond)
	committed := newLive(tn.companyID, at)
	must(t, db.CreateRecording(ctx, committed))
	must(t, db.SetRecordingMasks(ctx, committed.ID, []store.MaskSpan{{OffsetMS: 10, LengthMS: 5}})) // changed since
	// the dead process's recording:
	lost := newLive(tn.companyID, at.Add(time.Second))
	must(t, db.prepareRecording(lost))
	gone := newLive("01ZZZZZZZZZZZZZZZZZZZZZZZZ", at)
	must(t, db.prepareRecording(gone))
	in := store.Intents{Dir: dir}
	for _, r := range []*store.Recording{committed, lost, gone} {
		must(t, in.Write(r))
	}
	must(t, os.WriteFile(filepath.Join(dir, "01AAAAAAAAAAAAAAAAAAAAAAAA.json"), nil, 0o600))

	again := mustOpenDSN(t, dsn, Options{IntentsDir: dir}) // the restarted process
	got, err := again.Recording(ctx, lost.ID)
	if err != nil {
		t.Fatalf("the dead process's recording has no row: %v", err)
	}
	if got.State != store.StateRecording || !got.StartedAt.Equal(lost.StartedAt) || got.CompanyID != tn.companyID ||
		got.Caller != lost.Caller || got.FileName != lost.FileName {
		t.Fatalf("replayed row %+v, want %+v", got, lost)
	}
	if c, err := again.Recording(ctx, committed.ID); err != nil || len(c.Masks) != 1 {
		t.Fatalf("the row committed before the death was replaced: %+v, %v", c, err)
	}
	if _, err := again.Recording(ctx, gone.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("an intent of a company that does not exist got a row: %v", err)
	}
	if left := intentsLeft(t, dir); len(left) != 0 {
		t.Fatalf("intents left after Open: %v", left)
	}
	must(t, in.Write(lost)) // as if the restarted process died before removing it: still once
	third := mustOpenDSN(t, dsn, Options{IntentsDir: dir})
	rows, err := third.RecordingsInState(ctx, store.StateRecording, 0)
	must(t, err)
	if ids := idsOf(rows); len(ids) != 2 || ids[0] != committed.ID || ids[1] != lost.ID {
		t.Fatalf("rows recording %v, want the committed one and the replayed one, once each", ids)
	}
	if left := intentsLeft(t, dir); len(left) != 0 {
		t.Fatalf("intents left after the third Open: %v", left)
	}
}

// TestStartRecording_KeepsTheIntentOfACommitThatDidNotReachTheDatabase: a commit that fails on
// the way (here the pool is closed, as at a shutdown racing a call) reports it and keeps its
// intent, and the next Open inserts the row: unlike a refusal, such a failure says nothing of
// whether the row is in.
func TestStartRecording_KeepsTheIntentOfACommitThatDidNotReachTheDatabase(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "intents")
	dsn := shared.Database(t)
	db, err := Open(ctx, dsn, Options{IntentsDir: dir})
	must(t, err)
	tn := mustTenant(t, db, "1")
	db.Close()
	r := newLive(tn.companyID, time.Time{})
	commit, err := db.StartRecording(ctx, r)
	must(t, err)
	if err := commit(); !errors.Is(err, store.ErrCommitPending) || store.ErrorCode(err) != store.EINTERNAL {
		t.Fatalf("commit on a closed pool: %v, want ErrCommitPending, not a refusal", err)
	}
	if left := intentsLeft(t, dir); len(left) != 1 {
		t.Fatalf("intents %v, want the one of the failed commit", left)
	}
	again := mustOpenDSN(t, dsn, Options{IntentsDir: dir})
	if got, err := again.Recording(ctx, r.ID); err != nil || got.State != store.StateRecording {
		t.Fatalf("the row of the failed commit after the next Open: %+v, %v", got, err)
	}
	if left := intentsLeft(t, dir); len(left) != 0 {
		t.Fatalf("intents left: %v", left)
	}
}
