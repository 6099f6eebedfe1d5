package store

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// clock is a settable Options.Now for tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func openWithClock(t *testing.T) (*DB, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	db, err := Open(context.Background(), t.TempDir()+"/c.db", Options{NoSync: true, Now: clk.now})
	must(t, err)
	t.Cleanup(func() {
		if err := db.bolt.View(checkIndexes); err != nil {
			t.Error(err)
		}
		db.Close()
	})
	return db, clk
}

func TestRecording_LifecycleToReady(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	r := &Recording{CompanyID: tn.company.ID, CallID: "abc", Type: TypeOnDemand, Trigger: TriggerKey, Direction: DirectionInternal,
		UserID: tn.user.ID, Recorder: "101", Caller: "101", Callee: "102", State: StateReady}
	must(t, db.CreateRecording(ctx, r))
	if r.State != StateRecording || !r.StartedAt.Equal(clk.t) || r.FileName != "20260501100000_ondemand-101_101_102.mp3" || len(r.ID) != 26 {
		t.Fatalf("create did not fill: %+v", r)
	}
	wantCode(t, db.CreateRecording(ctx, newRecording("missing", clk.t)), EINVALID, "company_id")
	wantCode(t, db.FinishRecording(ctx, r.ID, clk.t, 1, ""), EINVALID, "wav_path")
	wantCode(t, db.FinishRecording(ctx, "missing", clk.t, 1, "/x.wav"), ENOTFOUND, "")

	end := clk.t.Add(90 * time.Second)
	must(t, db.FinishRecording(ctx, r.ID, end, 90000, "/spool/a.wav"))
	got, err := db.Recording(ctx, r.ID)
	must(t, err)
	if got.State != StateProcessing || !got.EndedAt.Equal(end) || got.DurationMS != 90000 || got.WAVPath != "/spool/a.wav" {
		t.Fatalf("finish: %+v", got)
	}
	// Same transaction: the job is there as soon as the state says processing.
	n, err := db.QueueDepth(ctx)
	must(t, err)
	if n != 1 {
		t.Fatalf("queue depth %d after finish, want 1", n)
	}
	// A second finish (duplicated RECORD_STOP) is a no-op.
	must(t, db.FinishRecording(ctx, r.ID, end.Add(time.Minute), 1, "/other.wav"))
	if n, _ := db.QueueDepth(ctx); n != 1 {
		t.Fatalf("second finish enqueued again: depth %d", n)
	}
	if inState, _ := db.RecordingsInState(ctx, StateProcessing, 0); len(inState) != 1 || inState[0].ID != r.ID {
		t.Fatalf("RecordingsInState(processing) = %v", inState)
	}
	if inState, _ := db.RecordingsInState(ctx, StateRecording, 0); len(inState) != 0 {
		t.Fatal("state index not moved")
	}
	job, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	if job.RecordingID != r.ID || job.WAVPath != "/spool/a.wav" || job.Attempts != 1 {
		t.Fatalf("job %+v", job)
	}
	must(t, db.CompleteRecording(ctx, job.ID, RecordingResult{MP3Path: "/lib/a.mp3", DurationMS: 89950, FileSize: 720000}))
	got, err = db.Recording(ctx, r.ID)
	must(t, err)
	if got.State != StateReady || got.MP3Path != "/lib/a.mp3" || got.DurationMS != 89950 || got.FileSize != 720000 || got.MIME != "audio/mpeg" {
		t.Fatalf("complete: %+v", got)
	}
	if n, _ := db.QueueDepth(ctx); n != 0 {
		t.Fatal("job not acked by CompleteRecording")
	}
	wantCode(t, db.CompleteRecording(ctx, job.ID, RecordingResult{}), ENOTFOUND, "")
	js, _ := json.Marshal(got)
	if strings.Contains(string(js), "/lib/") || strings.Contains(string(js), "/spool/") {
		t.Fatalf("internal paths in JSON: %s", js)
	}
	wantCode(t, db.FailRecording(ctx, r.ID, "late"), ECONFLICT, "state")

	del, err := db.DeleteRecording(ctx, r.ID)
	must(t, err)
	if del.MP3Path != "/lib/a.mp3" {
		t.Fatal("deleted row not returned with its paths")
	}
	_, err = db.Recording(ctx, r.ID)
	wantCode(t, err, ENOTFOUND, "")
	_, err = db.DeleteRecording(ctx, r.ID)
	wantCode(t, err, ENOTFOUND, "")
}

func TestRecording_FailDiscardDeleteAckTheirJob(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	mk := func() *Recording {
		r := newRecording(tn.company.ID, clk.t)
		must(t, db.CreateRecording(ctx, r))
		must(t, db.FinishRecording(ctx, r.ID, clk.t, 10, "/s/"+r.ID+".wav"))
		return r
	}
	a, b, c := mk(), mk(), mk()
	if n, _ := db.QueueDepth(ctx); n != 3 {
		t.Fatalf("depth %d", n)
	}
	must(t, db.FailRecording(ctx, a.ID, "encoder exploded"))
	must(t, db.FailRecording(ctx, a.ID, "again")) // no-op
	must(t, db.DiscardRecording(ctx, b.ID, "too short"))
	must(t, db.DiscardRecording(ctx, b.ID, "too short"))
	_, err := db.DeleteRecording(ctx, c.ID)
	must(t, err)
	if n, _ := db.QueueDepth(ctx); n != 0 {
		t.Fatalf("jobs left after fail/discard/delete: %d", n)
	}
	got, _ := db.Recording(ctx, a.ID)
	if got.State != StateFailed || got.Error != "encoder exploded" {
		t.Fatalf("failed row %+v", got)
	}
	wantCode(t, db.FailRecording(ctx, b.ID, "x"), ECONFLICT, "state")
	wantCode(t, db.FailRecording(ctx, "missing", "x"), ENOTFOUND, "")
	wantCode(t, db.DiscardRecording(ctx, "missing", "x"), ENOTFOUND, "")
	// Discarded while processing: the worker's completion is refused, its job acked.
	d := mk()
	j, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	must(t, db.bolt.Update(func(tx *boltTx) error { // discard without the ack, as if it raced
		return updateRecording(tx, d.ID, func(r *Recording) (bool, error) { r.State = StateDiscarded; return true, nil })
	}))
	wantCode(t, db.CompleteRecording(ctx, j.ID, RecordingResult{MP3Path: "/x.mp3"}), ECONFLICT, "state")
	if n, _ := db.QueueDepth(ctx); n != 0 {
		t.Fatal("job of a discarded recording not acked")
	}
	// The worker drops a job whose recording no longer needs it.
	e := mk()
	je, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	must(t, db.bolt.Update(func(tx *boltTx) error {
		return updateRecording(tx, e.ID, func(r *Recording) (bool, error) { r.State = StateFailed; return true, nil })
	}))
	must(t, db.AckJob(ctx, je.ID))
	if n, _ := db.QueueDepth(ctx); n != 0 {
		t.Fatal("AckJob left the job")
	}
}

func TestQueue_LeaseRetryAndExpiry(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	r1, r2 := newRecording(tn.company.ID, clk.t), newRecording(tn.company.ID, clk.t)
	must(t, db.CreateRecording(ctx, r1))
	must(t, db.CreateRecording(ctx, r2))
	must(t, db.FinishRecording(ctx, r1.ID, clk.t, 1, "/1.wav"))
	clk.t = clk.t.Add(time.Millisecond)
	must(t, db.FinishRecording(ctx, r2.ID, clk.t, 1, "/2.wav"))

	j1, err := db.ClaimJob(ctx, 30*time.Second)
	must(t, err)
	j2, err := db.ClaimJob(ctx, 30*time.Second)
	must(t, err)
	if j1.RecordingID != r1.ID || j2.RecordingID != r2.ID {
		t.Fatal("jobs not claimed oldest first")
	}
	_, err = db.ClaimJob(ctx, 30*time.Second)
	wantCode(t, err, ENOTFOUND, "") // both leased

	must(t, db.RetryJob(ctx, j1.ID, clk.t.Add(10*time.Second), "disk full"))
	_, err = db.ClaimJob(ctx, 30*time.Second)
	wantCode(t, err, ENOTFOUND, "") // j1 backs off, j2 leased

	clk.t = clk.t.Add(10 * time.Second)
	again, err := db.ClaimJob(ctx, 30*time.Second)
	must(t, err)
	if again.ID != j1.ID || again.Attempts != 2 || again.LastError != "disk full" {
		t.Fatalf("retried job %+v", again)
	}
	// The holder of j2 crashed: its lease expires and the job comes back.
	clk.t = clk.t.Add(21 * time.Second)
	back, err := db.ClaimJob(ctx, 30*time.Second)
	must(t, err)
	if back.ID != j2.ID || back.Attempts != 2 {
		t.Fatalf("expired lease not reclaimed: %+v", back)
	}
	wantCode(t, db.AckJob(ctx, j1.ID), ECONFLICT, "state") // would strand a processing recording
	must(t, db.FailRecording(ctx, r1.ID, "gave up"))       // acks j1
	wantCode(t, db.AckJob(ctx, j1.ID), ENOTFOUND, "")
	wantCode(t, db.RetryJob(ctx, j1.ID, clk.t, "x"), ENOTFOUND, "")
	if n, _ := db.QueueDepth(ctx); n != 1 {
		t.Fatalf("depth %d, want 1", n)
	}
	got, err := db.Job(ctx, j2.ID)
	must(t, err)
	if !got.LeaseUntil.Equal(clk.t.Add(30 * time.Second)) {
		t.Fatalf("lease %v", got.LeaseUntil)
	}
}

func TestQueue_JobsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/q.db"
	db, err := Open(ctx, path, Options{NoSync: true})
	must(t, err)
	tn := mustTenant(t, db, "1")
	r := newRecording(tn.company.ID, time.Time{})
	must(t, db.CreateRecording(ctx, r))
	must(t, db.FinishRecording(ctx, r.ID, time.Now(), 5, "/r.wav"))
	_, err = db.ClaimJob(ctx, time.Hour) // leased by a worker that then dies with the process
	must(t, err)
	must(t, db.Close())

	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	db, err = Open(ctx, path, Options{NoSync: true, Now: later})
	must(t, err)
	defer db.Close()
	j, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	if j.RecordingID != r.ID || j.Attempts != 2 {
		t.Fatalf("job after restart %+v", j)
	}
}

func TestCompanyRecordingsOldestFirstAndUsage_ForRetention(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	other := mustTenant(t, db, "2")
	var ids []string
	for i := 0; i < 5; i++ {
		r := newRecording(tn.company.ID, clk.t.Add(time.Duration(-i)*time.Hour)) // created newest first
		mustInsertRecordings(t, db, r)
		ids = append(ids, r.ID)
	}
	mustInsertRecordings(t, db, newRecording(other.company.ID, clk.t.Add(-48*time.Hour)))
	must(t, db.FinishRecording(ctx, ids[4], clk.t, 1000, "/a.wav"))
	j, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	must(t, db.CompleteRecording(ctx, j.ID, RecordingResult{MP3Path: "/a.mp3", FileSize: 4096}))

	got, err := db.CompanyRecordingsOldestFirst(ctx, tn.company.ID, "", 2)
	must(t, err)
	if len(got) != 2 || got[0].ID != ids[4] || got[1].ID != ids[3] {
		t.Fatalf("oldest: %v", got)
	}
	rest, err := db.CompanyRecordingsOldestFirst(ctx, tn.company.ID, got[1].ID, 0)
	must(t, err)
	if len(rest) != 3 || rest[0].ID != ids[2] || rest[2].ID != ids[0] {
		t.Fatalf("next page: %v", rest)
	}
	u, err := db.CompanyUsage(ctx, tn.company.ID)
	must(t, err)
	if u.Recordings != 5 || u.Ready != 1 || u.Bytes != 4096 {
		t.Fatalf("usage %+v", u)
	}
}

func TestReleaseJobLeases_MakesDeadHoldersJobsClaimableAtOnce(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	r := newRecording(tn.company.ID, clk.t)
	must(t, db.CreateRecording(ctx, r))
	must(t, db.FinishRecording(ctx, r.ID, clk.t, 1, "/r.wav"))
	_, err := db.ClaimJob(ctx, time.Hour)
	must(t, err)
	_, err = db.ClaimJob(ctx, time.Hour)
	wantCode(t, err, ENOTFOUND, "")
	n, err := db.ReleaseJobLeases(ctx)
	must(t, err)
	if n != 1 {
		t.Fatalf("released %d leases, want 1", n)
	}
	j, err := db.ClaimJob(ctx, time.Hour)
	must(t, err)
	if j.Attempts != 2 {
		t.Fatalf("attempts %d", j.Attempts)
	}
}

// TestRecording_LegsAreKeptButNotPublished: the FreeSWITCH legs of a recording survive in the
// row (esl re-adopts calls from them) and never appear in the API's JSON.
func TestRecording_LegsAreKeptButNotPublished(t *testing.T) {
	ctx := context.Background()
	db, _ := openWithClock(t)
	tn := mustTenant(t, db, "1")
	r := &Recording{CompanyID: tn.company.ID, CallID: "abc", Type: TypeOnDemand, Trigger: TriggerDTMF, Direction: DirectionInbound, UserID: tn.user.ID,
		RecordedLeg: "leg-b", RequesterLeg: "leg-b2"}
	must(t, db.CreateRecording(ctx, r))
	got, err := db.Recording(ctx, r.ID)
	must(t, err)
	if got.RecordedLeg != "leg-b" || got.RequesterLeg != "leg-b2" {
		t.Fatalf("legs not kept: %+v", got)
	}
	b, err := json.Marshal(got)
	must(t, err)
	if strings.Contains(string(b), "leg-b") {
		t.Fatalf("legs published: %s", b)
	}
}

// The masked spans of a live recording are stored as given, kept when it finishes, refused once
// it has stopped, and a span with a negative offset or length is refused.
func TestRecording_MasksStoredWhileRecording(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	r := &Recording{CompanyID: tn.company.ID, CallID: "abc", Type: TypeDDI, Trigger: TriggerDDI, Direction: DirectionInbound,
		Recorder: "+34911234567", Caller: "+34600111222", Callee: "+34911234567"}
	must(t, db.CreateRecording(ctx, r))
	open := []MaskSpan{{OffsetMS: 1200, Open: true, By: tn.user.ID}}
	must(t, db.SetRecordingMasks(ctx, r.ID, open))
	open[0].OffsetMS = 9 // the caller's slice is not kept by reference
	got, err := db.Recording(ctx, r.ID)
	must(t, err)
	if len(got.Masks) != 1 || got.Masks[0].OffsetMS != 1200 || !got.Masks[0].Open || got.Masks[0].By != tn.user.ID {
		t.Fatalf("masks %+v", got.Masks)
	}
	closed := []MaskSpan{{OffsetMS: 1200, LengthMS: 3000, By: tn.user.ID}}
	must(t, db.SetRecordingMasks(ctx, r.ID, closed))
	wantCode(t, db.SetRecordingMasks(ctx, r.ID, []MaskSpan{{OffsetMS: -1}}), EINVALID, "masks")
	wantCode(t, db.SetRecordingMasks(ctx, "missing", closed), ENOTFOUND, "")
	must(t, db.FinishRecording(ctx, r.ID, clk.t.Add(time.Minute), 60000, "/spool/a.wav"))
	wantCode(t, db.SetRecordingMasks(ctx, r.ID, nil), ECONFLICT, "state")
	got, err = db.Recording(ctx, r.ID)
	must(t, err)
	if len(got.Masks) != 1 || got.Masks[0].LengthMS != 3000 || got.Masks[0].Open {
		t.Fatalf("after finish, masks %+v", got.Masks)
	}
	b, _ := json.Marshal(got)
	if !strings.Contains(string(b), `"masks":[{"offset_ms":1200,"length_ms":3000,"by":"`+tn.user.ID+`"}]`) {
		t.Errorf("JSON %s", b)
	}
}
