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

// TestDeleteRecordingAudited_DeletionAndEntryTogetherOrNeither: as store's test of the same
// name, per case: the deletion and its audit entry commit together; no entry when there is no
// audit function or it makes none; a refused deletion (missing, held) writes no entry; and
// when the entry cannot be written (a damaged chain head: its next sequence number is taken)
// the recording is kept.
func TestDeleteRecordingAudited_DeletionAndEntryTogetherOrNeither(t *testing.T) {
	entry := func(old *store.Recording) *store.AuditEntry {
		return &store.AuditEntry{Action: store.AuditDelete, CompanyID: old.CompanyID, RecordingID: old.ID, Role: store.RoleCompanyAdmin}
	}
	for _, c := range []struct {
		name      string
		setup     func(t *testing.T, db *DB, tn tenant, r *store.Recording) string // returns the id to delete
		audit     func(old *store.Recording) *store.AuditEntry
		wantCode  string // "" for success
		wantField string
		deleted   bool
		entries   uint64 // entries in the company's chain afterwards
	}{
		{"audited", nil, entry, "", "", true, 1},
		{"no audit function", nil, nil, "", "", true, 0},
		{"audit makes no entry", nil, func(*store.Recording) *store.AuditEntry { return nil }, "", "", true, 0},
		{"missing", func(*testing.T, *DB, tenant, *store.Recording) string { return "nope" }, entry, store.ENOTFOUND, "", false, 0},
		{"held", func(t *testing.T, db *DB, tn tenant, r *store.Recording) string {
			must(t, db.PlaceHold(context.Background(), &store.Hold{CompanyID: tn.companyID, Kind: store.HoldRecording, RecordingID: r.ID, Reason: "case"}, "token:x"))
			return r.ID
		}, entry, store.ECONFLICT, "hold", false, 0},
		{"audit entry fails", func(t *testing.T, db *DB, tn tenant, r *store.Recording) string {
			ctx := context.Background()
			must(t, db.AppendAudit(ctx, &store.AuditEntry{Action: store.AuditPlay, CompanyID: tn.companyID, Role: store.RoleCompanyAdmin}))
			_, err := db.pool.Exec(ctx, "UPDATE audit_heads SET seq = 0 WHERE chain = $1", store.AuditChain("", tn.companyID))
			must(t, err)
			return r.ID
		}, entry, store.EINTERNAL, "", false, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, _ := mustOpen(t, Options{})
			tn := mustTenant(t, db, "1")
			ctx := context.Background()
			r := mustProcessing(t, db, tn, 1)[0]
			id := r.ID
			if c.setup != nil {
				id = c.setup(t, db, tn, r)
			}
			old, err := db.DeleteRecordingAudited(ctx, id, c.audit)
			if c.wantCode == "" {
				must(t, err)
				if old.ID != r.ID || old.WAVPath == "" {
					t.Errorf("deleted row %+v", old)
				}
			} else if err == nil || store.ErrorCode(err) != c.wantCode || store.ErrorField(err) != c.wantField {
				t.Fatalf("DeleteRecordingAudited: %+v, %v; want %s %q", old, err, c.wantCode, c.wantField)
			}
			_, err = db.Recording(ctx, r.ID)
			if gone := store.ErrorCode(err) == store.ENOTFOUND; gone != c.deleted {
				t.Errorf("recording deleted: %v (%v), want %v", gone, err, c.deleted)
			}
			if n, err := db.QueueDepth(ctx); err != nil || (n == 0) != c.deleted {
				t.Errorf("queue depth %d, %v; deleted %v", n, err, c.deleted)
			}
			chain := store.AuditChain("", tn.companyID)
			page, _, err := db.AuditPage(ctx, chain, 0, 10)
			must(t, err)
			if uint64(len(page)) != c.entries {
				t.Fatalf("audit after the deletion: %+v, want %d entries", page, c.entries)
			}
			if c.deleted && c.entries == 1 {
				if e := page[0]; e.RecordingID != r.ID || e.Action != store.AuditDelete || e.At.IsZero() {
					t.Errorf("audit entry %+v", e)
				}
				if v, err := db.VerifyAudit(ctx, chain); err != nil || !v.OK {
					t.Errorf("chain after the audited deletion: %+v, %v", v, err)
				}
			}
		})
	}
}
