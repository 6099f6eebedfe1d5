package postgres

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

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

// TestCompanyUsage_RunningTotalsFollowEveryWrite: after inserts, completions, failures, a
// discard, a delete and a file-size change the running totals equal a count of the rows.
func TestCompanyUsage_RunningTotalsFollowEveryWrite(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	recs := mustProcessing(t, db, tn, 6)
	for range 3 {
		j, err := db.ClaimJob(ctx, time.Minute)
		must(t, err)
		must(t, db.CompleteRecording(ctx, j.ID, store.RecordingResult{MP3Path: "/lib/" + j.ID, FileSize: 1000}))
	}
	for _, r := range recs[:2] {
		_ = db.FailRecording(ctx, r.ID, "x") // ready ones refuse: either way the totals follow
		must(t, db.DiscardRecording(ctx, r.ID, "y"))
	}
	_, err := db.DeleteRecording(ctx, recs[5].ID)
	must(t, err)
	_, err = db.pool.Exec(ctx, "UPDATE recordings SET file_size = file_size + 7 WHERE state = 'ready'")
	must(t, err)
	checkUsage(t, db, tn.companyID)
}

func checkUsage(t *testing.T, db *DB, companyID string) {
	t.Helper()
	ctx := context.Background()
	got, err := db.CompanyUsage(ctx, companyID)
	must(t, err)
	var want store.LibraryUsage
	must(t, db.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state = 'ready'),
		coalesce(sum(file_size) FILTER (WHERE state = 'ready'), 0) FROM recordings WHERE company_id = $1`, companyID).Scan(&want.Recordings, &want.Ready, &want.Bytes))
	if got != want || want.Recordings == 0 {
		t.Errorf("usage %+v, rows say %+v", got, want)
	}
}

// TestMigration4_TotalsOfExistingRows: a database at schema 3 holding recordings gets their
// totals when migration 4 runs at Open.
func TestMigration4_TotalsOfExistingRows(t *testing.T) {
	dsn := shared.EmptyDatabase(t)
	ctx := context.Background()
	old := fstest.MapFS{}
	for _, n := range []string{"0001_initial.sql", "0002_shared_secrets.sql", "0003_audit_heads.sql"} {
		b, err := migrationFiles.ReadFile("migrations/" + n)
		must(t, err)
		old["migrations/"+n] = &fstest.MapFile{Data: b}
	}
	v3, err := openWith(ctx, dsn, Options{}, old, true)
	must(t, err)
	tn := mustTenant(t, v3, "1")
	var rs []*store.Recording
	for i := range 5 {
		r := prepared(v3, &store.Recording{CompanyID: tn.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, StartedAt: time.Now(), FileSize: int64(10 * i)})
		if i%2 == 1 {
			r.State = store.StateFailed
		}
		rs = append(rs, r)
	}
	// Schema 3's columns: recordingColumns without what later migrations added (0005's
	// encryption_key_id, the last column).
	cols := strings.Split(recordingColumns, ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	if cols[len(cols)-1] != "encryption_key_id" {
		t.Fatalf("recordingColumns ends with %q: update this test's schema-3 column list", cols[len(cols)-1])
	}
	cols = cols[:len(cols)-1]
	n, err := v3.pool.CopyFrom(ctx, pgx.Identifier{"recordings"}, cols, pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) {
		args, err := recordingArgs(rs[i])
		return args[:len(cols)], err
	}))
	if err != nil || int(n) != len(rs) {
		t.Fatalf("copied %d of %d rows: %v", n, len(rs), err)
	}
	v3.Close()
	db := mustOpenDSN(t, dsn, Options{})
	if db.SchemaVersion() < 4 {
		t.Fatalf("schema %d after Open", db.SchemaVersion())
	}
	checkUsage(t, db, tn.companyID)
}
