package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/store/postgres/pgtest"
)

// TestStartRecording_PendingWhileTheDatabaseIsDownAndStoredWhenItIsBack: with the database
// unreachable, StartRecording still returns at once (the intent is written), its commit says
// store.ErrCommitPending (not a refusal: the call path keeps the recording), the intent stays,
// and the row is inserted by the background retries soon after the database is back, then the
// intent is removed; a row the database refuses once it is back (its company deleted meanwhile)
// is settled too, leaving no intent. Close stops the retries of a row still pending and keeps
// its intent for the next Open.
func TestStartRecording_PendingWhileTheDatabaseIsDownAndStoredWhenItIsBack(t *testing.T) {
	ctx := context.Background()
	direct, base := mustOpen(t, Options{})
	tn, gone := mustTenant(t, direct, "1"), mustTenant(t, direct, "2")
	o, through := pgtest.NewOutage(t, base)
	dir := t.TempDir()
	db := mustOpenDSN(t, through, Options{IntentsDir: dir})

	o.Cut()
	kept, refused := newLive(tn.companyID, time.Time{}), newLive(gone.companyID, time.Time{})
	var commits []func() error
	for _, r := range []*store.Recording{kept, refused} {
		t0 := time.Now()
		commit, err := db.StartRecording(ctx, r)
		must(t, err)
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("StartRecording took %v with the database down", d)
		}
		commits = append(commits, commit)
	}
	for _, commit := range commits {
		err := commit()
		if !errors.Is(err, store.ErrCommitPending) {
			t.Fatalf("commit with the database down: %v, want ErrCommitPending", err)
		}
		var refusal *store.Error
		if errors.As(err, &refusal) {
			t.Fatalf("commit with the database down is a refusal: %v", err)
		}
	}
	if left := intentsLeft(t, dir); len(left) != 2 {
		t.Fatalf("intents while the database is down: %v, want both", left)
	}
	// The company of the second row goes while the database is away from this instance.
	if _, err := direct.pool.Exec(ctx, "DELETE FROM companies WHERE id = $1", gone.companyID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a few retries fail meanwhile
	o.Restore()
	waitFor(t, "the pending row stored and both intents settled", func() bool {
		got, err := direct.Recording(ctx, kept.ID)
		return err == nil && got.State == store.StateRecording && len(intentsLeft(t, dir)) == 0
	})
	if _, err := direct.Recording(ctx, refused.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("the refused row: %v, want ENOTFOUND", err)
	}

	// Still pending at Close: the intent stays, and the next Open stores it.
	o.Cut()
	late := newLive(tn.companyID, time.Time{})
	commit, err := db.StartRecording(ctx, late)
	must(t, err)
	if err := commit(); !errors.Is(err, store.ErrCommitPending) {
		t.Fatalf("commit with the database down: %v", err)
	}
	closed := make(chan struct{})
	go func() { db.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the pending row's retries")
	}
	if left := intentsLeft(t, dir); len(left) != 1 {
		t.Fatalf("intents after Close: %v, want the pending one", left)
	}
	mustOpenDSN(t, base, Options{IntentsDir: dir})
	if got, err := direct.Recording(ctx, late.ID); err != nil || got.State != store.StateRecording {
		t.Fatalf("the pending row after the next Open: %+v, %v", got, err)
	}
}

// TestWrites_ABoundedContextEndsAWriteToAStalledDatabase: with the database stalled (no byte
// through, nothing closed: a partition), a write given a deadline returns soon after it, as the
// call path's writes are (esl storeContext); once the stall ends the DB works again.
func TestWrites_ABoundedContextEndsAWriteToAStalledDatabase(t *testing.T) {
	ctx := context.Background()
	direct, base := mustOpen(t, Options{})
	tn := mustTenant(t, direct, "1")
	o, through := pgtest.NewOutage(t, base)
	db := mustOpenDSN(t, through, Options{})
	r := newLive(tn.companyID, time.Time{})
	must(t, db.CreateRecording(ctx, r))
	o.Stall()
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	t0 := time.Now()
	err := db.FinishRecording(wctx, r.ID, time.Now().UTC(), 1000, "/spool/"+r.ID+".wav")
	cancel()
	if d := time.Since(t0); err == nil || d > 3*time.Second {
		t.Fatalf("a write to a stalled database: %v after %v, want an error soon after its 500 ms deadline", err, d)
	}
	o.Resume()
	waitFor(t, "writes again after the stall", func() bool {
		wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return db.FinishRecording(wctx, r.ID, time.Now().UTC(), 1000, "/spool/"+r.ID+".wav") == nil
	})
	if got, err := direct.Recording(ctx, r.ID); err != nil || got.State != store.StateProcessing {
		t.Fatalf("row after the stall: %+v, %v", got, err)
	}
}
