package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestStartRecording_CommitsAndLeavesNoIntent: the row is there once commit returns, in state
// recording with CreateRecording's fields, and its intent is gone.
func TestStartRecording_CommitsAndLeavesNoIntent(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	r := newRecording(tn.company.ID, clk.t)
	commit, err := db.StartRecording(ctx, r)
	must(t, err)
	if len(r.ID) != 26 || r.State != StateRecording || r.FileName == "" {
		t.Fatalf("not filled before the commit: %+v", r)
	}
	must(t, commit())
	got, err := db.Recording(ctx, r.ID)
	must(t, err)
	if got.State != StateRecording || got.CallID != "call-1" {
		t.Fatalf("row %+v", got)
	}
	if left, _ := filepath.Glob(filepath.Join(intentsDir(db.Path()), "*")); len(left) != 0 {
		t.Fatalf("intents left after the commit: %v", left)
	}
	bad := newRecording(tn.company.ID, clk.t)
	bad.Type = "nonsense"
	if _, err := db.StartRecording(ctx, bad); ErrorCode(err) != EINVALID {
		t.Fatalf("an invalid recording: %v, want EINVALID before any intent", err)
	}
}

// TestStartRecording_CommitRefusedForAGoneCompany: an intent whose commit fails (the company was
// deleted meanwhile) reports it and leaves neither a row nor an intent.
func TestStartRecording_CommitRefusedForAGoneCompany(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	r := newRecording("01ZZZZZZZZZZZZZZZZZZZZZZZZ", clk.t)
	commit, err := db.StartRecording(ctx, r)
	must(t, err)
	wantCode(t, commit(), EINVALID, "company_id")
	if left, _ := filepath.Glob(filepath.Join(intentsDir(db.Path()), "*")); len(left) != 0 {
		t.Fatalf("intents left: %v", left)
	}
}

// TestOpen_StoresTheRowsOfIntentsLeftByADeadProcess: a process killed between the intent and the
// commit (the intent written, the batch never run) leaves the intent; the next Open stores its
// row in state recording, exactly once, and removes every intent — also those whose row was
// committed, whose company is gone, and the empty file of a process killed before the write.
func TestOpen_StoresTheRowsOfIntentsLeftByADeadProcess(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/c.db"
	db, err := Open(ctx, path, Options{NoSync: true})
	must(t, err)
	tn := mustTenant(t, db, "1")
	at := time.Now().UTC().Truncate(time.Millisecond)
	committed := newRecording(tn.company.ID, at)
	must(t, db.CreateRecording(ctx, committed))
	lost := newRecording(tn.company.ID, at.Add(time.Second)) // the dead process's recording
	must(t, db.prepareRecording(lost))
	gone := newRecording("01ZZZZZZZZZZZZZZZZZZZZZZZZ", at)
	must(t, db.prepareRecording(gone))
	must(t, db.Close())

	dir := intentsDir(path)
	for _, r := range []*Recording{committed, lost, gone} {
		b, err := encodeRecording(r)
		must(t, err)
		must(t, writeIntent(filepath.Join(dir, r.ID+".json"), b))
	}
	must(t, os.WriteFile(filepath.Join(dir, "01AAAAAAAAAAAAAAAAAAAAAAAA.json"), nil, 0o600))

	db, err = Open(ctx, path, Options{NoSync: true})
	must(t, err)
	defer db.Close()
	got, err := db.Recording(ctx, lost.ID)
	if err != nil {
		t.Fatalf("the dead process's recording has no row: %v", err)
	}
	if got.State != StateRecording || !got.StartedAt.Equal(lost.StartedAt) || got.CompanyID != tn.company.ID {
		t.Fatalf("replayed row %+v", got)
	}
	rows, err := db.RecordingsInState(ctx, StateRecording, 0)
	must(t, err)
	if len(rows) != 2 {
		t.Fatalf("%d rows recording, want 2 (the committed one and the replayed one)", len(rows))
	}
	if _, err := db.Recording(ctx, gone.ID); err == nil {
		t.Fatal("an intent of a company that does not exist got a row")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Fatalf("intents left after Open: %v", left)
	}
	must(t, db.bolt.View(checkIndexes))
}
