package postgres

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestRecordingStates_AsStore: masks only while recording; discard acks the job and is
// idempotent; fail refuses a discarded recording; RecordingsInState lists oldest first.
func TestRecordingStates_AsStore(t *testing.T) {
	clk := newClock()
	db, _ := mustOpen(t, Options{Now: clk.Now})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	live := &store.Recording{CompanyID: tn.companyID, Type: store.TypeOnDemand, Trigger: store.TriggerDTMF, Direction: store.DirectionInternal}
	must(t, db.CreateRecording(ctx, live))
	masks := []store.MaskSpan{{OffsetMS: 500, Open: true, By: "U1"}}
	must(t, db.SetRecordingMasks(ctx, live.ID, masks))
	if err := db.SetRecordingMasks(ctx, live.ID, []store.MaskSpan{{OffsetMS: -1}}); store.ErrorField(err) != "masks" {
		t.Errorf("negative mask: %v", err)
	}
	got, err := db.Recording(ctx, live.ID)
	must(t, err)
	if !reflect.DeepEqual(got.Masks, masks) {
		t.Errorf("masks %+v, want %+v", got.Masks, masks)
	}
	clk.Add(time.Second)
	done := mustProcessing(t, db, tn, 2)
	if err := db.SetRecordingMasks(ctx, done[0].ID, masks); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("masks on a processing recording: %v, want ECONFLICT", err)
	}
	must(t, db.DiscardRecording(ctx, done[0].ID, "caller asked"))
	must(t, db.DiscardRecording(ctx, done[0].ID, "again"))
	if err := db.FailRecording(ctx, done[0].ID, "x"); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("fail of a discarded recording: %v, want ECONFLICT", err)
	}
	if n, _ := db.QueueDepth(ctx); n != 1 {
		t.Errorf("queue depth %d after discarding one of two, want 1", n)
	}
	for _, c := range []struct {
		state string
		want  []string
	}{
		{store.StateRecording, []string{live.ID}},
		{store.StateProcessing, []string{done[1].ID}},
		{store.StateDiscarded, []string{done[0].ID}},
		{store.StateReady, nil},
	} {
		rs, err := db.RecordingsInState(ctx, c.state, 0)
		must(t, err)
		if ids := idsOf(rs); !reflect.DeepEqual(ids, c.want) {
			t.Errorf("in state %s: %v, want %v", c.state, ids, c.want)
		}
	}
	if _, err := db.RecordingsInState(ctx, "lost", 0); store.ErrorField(err) != "state" {
		t.Errorf("unknown state: %v", err)
	}
}

// TestCompanyRecordings_SweeperPagesAndUsage: the sweeper's pages run in start order from
// afterID, bounded by age for retention; usage counts rows, ready rows and their bytes.
func TestCompanyRecordings_SweeperPagesAndUsage(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var rs []*store.Recording
	for i := range 10 {
		co := a
		if i == 4 {
			co = b
		}
		r := prepared(db, &store.Recording{CompanyID: co.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, StartedAt: base.Add(time.Duration(i) * time.Hour), FileSize: int64(100 * (i + 1))})
		if i%3 == 0 {
			r.State = store.StateFailed
		}
		rs = append(rs, r)
	}
	copyRecordings(t, db, rs)
	ctx := context.Background()
	var aIDs []string
	for i, r := range rs {
		if i != 4 {
			aIDs = append(aIDs, r.ID)
		}
	}
	var walked []string
	for after := ""; ; {
		page, err := db.CompanyRecordingsOldestFirst(ctx, a.companyID, after, 4)
		must(t, err)
		if len(page) == 0 {
			break
		}
		walked = append(walked, idsOf(page)...)
		after = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(walked, aIDs) {
		t.Errorf("oldest-first walk %v, want %v", walked, aIDs)
	}
	old, err := db.CompanyRecordingsStartedBefore(ctx, a.companyID, "", base.Add(3*time.Hour), 0)
	must(t, err)
	if !reflect.DeepEqual(idsOf(old), aIDs[:3]) {
		t.Errorf("started before 03:00: %v, want %v", idsOf(old), aIDs[:3])
	}
	u, err := db.CompanyUsage(ctx, a.companyID)
	must(t, err)
	// a's rows: i = 0..9 but 4; ready unless i%3 == 0 (0, 3, 6, 9 failed): ready 1,2,5,7,8.
	if want := (store.LibraryUsage{Recordings: 9, Ready: 5, Bytes: 200 + 300 + 600 + 800 + 900}); u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
}

func idsOf(rs []*store.Recording) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}
