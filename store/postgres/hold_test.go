package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestDeleteRecording_RefusedWhileAHoldCoversIt: each kind of hold protects the recordings it
// covers until released; the deletion then returns the row, and its job goes with it.
func TestDeleteRecording_RefusedWhileAHoldCoversIt(t *testing.T) {
	clk := newClock()
	db, _ := mustOpen(t, Options{Now: clk.Now, DefaultCountry: "ES"})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	from, to := clk.Now().Add(-2*time.Minute), clk.Now()
	for _, c := range []struct {
		name string
		hold func(r *store.Recording) *store.Hold
	}{
		{"recording", func(r *store.Recording) *store.Hold { return &store.Hold{Kind: store.HoldRecording, RecordingID: r.ID} }},
		{"call", func(r *store.Recording) *store.Hold { return &store.Hold{Kind: store.HoldCall, CallID: r.CallID} }},
		{"number in national form", func(*store.Recording) *store.Hold { return &store.Hold{Kind: store.HoldNumber, Number: "600 000 000"} }},
		{"range", func(*store.Recording) *store.Hold { return &store.Hold{Kind: store.HoldRange, From: &from, To: &to} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mustProcessing(t, db, tn, 1)[0]
			_, err := db.pool.Exec(ctx, "UPDATE recordings SET call_id = 'call-'||id, caller = '+34600000000' WHERE id = $1", r.ID)
			must(t, err)
			r, err = db.Recording(ctx, r.ID)
			must(t, err)
			h := c.hold(r)
			h.CompanyID, h.Reason = tn.companyID, "case 16"
			must(t, db.PlaceHold(ctx, h, "token:x"))
			if got, err := db.HoldOn(ctx, r); err != nil || got == nil || got.ID != h.ID {
				t.Fatalf("HoldOn = %+v, %v; want hold %s", got, err, h.ID)
			}
			if _, err := db.DeleteRecording(ctx, r.ID); store.ErrorCode(err) != store.ECONFLICT || store.ErrorField(err) != "hold" {
				t.Fatalf("delete under a hold: %v, want ECONFLICT hold", err)
			}
			_, err = db.ReleaseHold(ctx, h.ID, "token:y")
			must(t, err)
			if _, err := db.ReleaseHold(ctx, h.ID, "token:y"); store.ErrorCode(err) != store.ECONFLICT {
				t.Errorf("second release: %v, want ECONFLICT", err)
			}
			old, err := db.DeleteRecording(ctx, r.ID)
			must(t, err)
			if old.ID != r.ID || old.WAVPath == "" {
				t.Errorf("deleted row %+v", old)
			}
			if n, err := db.QueueDepth(ctx); err != nil || n != 0 {
				t.Errorf("queue after the delete: %d, %v", n, err)
			}
			got, err := db.Hold(ctx, h.ID)
			must(t, err)
			if got.Active() || got.ReleasedBy != "token:y" || got.CreatedBy != "token:x" {
				t.Errorf("released hold: %+v", got)
			}
		})
	}
}

// TestDeleteRecording_WaitsForAHoldBeingPlaced: a deletion racing a hold placed in the same
// company (its transaction open, holding the company's hold lock as PlaceHold does) waits
// for it and then refuses; without the lock it would have deleted a held recording.
func TestDeleteRecording_WaitsForAHoldBeingPlaced(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	r := mustProcessing(t, db, tn, 1)[0]
	ctx := context.Background()
	tx, err := db.pool.Begin(ctx)
	must(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", holdLock(tn.companyID))
	must(t, err)
	_, err = tx.Exec(ctx, `INSERT INTO holds (id, company_id, kind, recording_id, reason, created_at)
		VALUES ('H1', $1, 'recording', $2, 'case', now())`, tn.companyID, r.ID)
	must(t, err)
	done := make(chan error, 1)
	go func() { _, err := db.DeleteRecording(ctx, r.ID); done <- err }()
	// The deletion is now either waiting on the lock or (broken) already done; let it run to
	// the lock first, then commit the hold.
	waitFor(t, "the deletion to wait on the hold lock", func() bool {
		var waiting bool
		must(t, db.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)").Scan(&waiting))
		select {
		case err := <-done:
			done <- err
			return true
		default:
		}
		return waiting
	})
	must(t, tx.Commit(ctx))
	select {
	case err := <-done:
		if store.ErrorCode(err) != store.ECONFLICT {
			t.Fatalf("deletion racing a hold: %v, want ECONFLICT hold", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("deletion never returned")
	}
}
