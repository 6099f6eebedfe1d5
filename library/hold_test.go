package library

import (
	"context"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestSweeper_LegalHoldsSurviveRetentionAndQuota: recordings under an active hold (one by
// recording, one by date range) stay past retention and are passed by the quota walk, which removes
// the next oldest instead; once the holds are released the next sweep removes them.
func TestSweeper_LegalHoldsSurviveRetentionAndQuota(t *testing.T) {
	ctx := context.Background()
	e := mustOpenEnv(t)
	c := e.addCompany(t, "Thirty days, 1 MB", 30, 1)
	heldByID := e.ready(t, c.ID, 300_000)
	e.clock.Advance(time.Hour)
	heldByNumber := e.ready(t, c.ID, 300_000)
	e.clock.Advance(time.Hour)
	free := e.ready(t, c.ID, 300_000)
	e.clock.Advance(40 * day)
	recent := []*store.Recording{e.ready(t, c.ID, 300_000), e.ready(t, c.ID, 300_000)}

	h1 := &store.Hold{CompanyID: c.ID, Kind: store.HoldRecording, RecordingID: heldByID.ID, Reason: "case 2026-17"}
	must(t, e.db.PlaceHold(ctx, h1, "token:T"))
	// A range hold around the second recording only.
	h2 := &store.Hold{CompanyID: c.ID, Kind: store.HoldRange, From: ptr(heldByNumber.StartedAt), To: ptr(heldByNumber.StartedAt.Add(time.Minute)), Reason: "complaint"}
	must(t, e.db.PlaceHold(ctx, h2, "token:T"))

	n, err := e.sweeper(nil).SweepOnce(ctx)
	must(t, err)
	// Retention removes the old free one only; quota then: 4 × 300 kB = 1.2 MB > 1 MiB, the
	// held ones are passed by, so the oldest recent one goes.
	if n != 2 || !gone(t, e, free.ID) || gone(t, e, heldByID.ID) || gone(t, e, heldByNumber.ID) || !gone(t, e, recent[0].ID) || gone(t, e, recent[1].ID) {
		t.Fatalf("removed %d: free gone=%v, held gone=%v/%v, recent gone=%v/%v", n, gone(t, e, free.ID),
			gone(t, e, heldByID.ID), gone(t, e, heldByNumber.ID), gone(t, e, recent[0].ID), gone(t, e, recent[1].ID))
	}
	// Each removal is in the company's audit log, by callrec, with its reason.
	entries, _, err := e.db.AuditPage(ctx, store.AuditChain("", c.ID), 0, 10)
	must(t, err)
	byRec := map[string]string{}
	for _, en := range entries {
		byRec[en.RecordingID] = en.Action
		if en.Role != "callrec" || en.Detail == "" {
			t.Errorf("removal entry %+v", en)
		}
	}
	if len(entries) != 2 || byRec[free.ID] != store.AuditRetentionRemoval || byRec[recent[0].ID] != store.AuditQuotaRemoval {
		t.Errorf("audit entries %v, want the retention and the quota removal", byRec)
	}
	if _, err := e.db.DeleteRecording(ctx, heldByID.ID); store.ErrorCode(err) != store.ECONFLICT {
		t.Fatalf("deleting a held recording: %v, want a conflict naming the hold", err)
	}
	for _, h := range []*store.Hold{h1, h2} {
		if _, err := e.db.ReleaseHold(ctx, h.ID, "token:T"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.sweeper(nil).SweepOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if !gone(t, e, heldByID.ID) || !gone(t, e, heldByNumber.ID) {
		t.Error("released recordings kept past retention")
	}
}

func ptr[T any](v T) *T { return &v }
