package store

import (
	"context"
	"testing"
	"time"
)

// TestDeferJob_GivesTheAttemptBack and RetryRecording: a job the machine stopped keeps its
// attempts; a failed recording can be queued again with fresh attempts, once (issue 12 point 7).
func TestDeferJob_GivesTheAttemptBackAndRetryRecordingRequeues(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	r := &Recording{CompanyID: tn.company.ID, CallID: "abc", Type: TypeOnDemand, Trigger: TriggerKey, Direction: DirectionInternal,
		UserID: tn.user.ID, Recorder: "101", Caller: "101", Callee: "102"}
	must(t, db.CreateRecording(ctx, r))
	wantCode(t, func() error { _, err := db.RetryRecording(ctx, r.ID); return err }(), ECONFLICT, "state")
	must(t, db.FinishRecording(ctx, r.ID, clk.t, 1000, "/spool/a.wav"))

	j, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	must(t, db.DeferJob(ctx, j.ID, clk.t.Add(time.Minute), "disk full"))
	got, err := db.Job(ctx, j.ID)
	must(t, err)
	if got.Attempts != 0 || !got.LeaseUntil.IsZero() || !got.NotBefore.Equal(clk.t.Add(time.Minute)) || got.LastError != "disk full" {
		t.Fatalf("deferred job %+v, want the attempt given back, unleased, due in a minute", got)
	}
	wantCode(t, db.DeferJob(ctx, "missing", clk.t, ""), ENOTFOUND, "")

	must(t, db.FailRecording(ctx, r.ID, "the library storage is unavailable"))
	if n, _ := db.QueueDepth(ctx); n != 0 {
		t.Fatalf("queue depth %d after failing", n)
	}
	out, err := db.RetryRecording(ctx, r.ID)
	must(t, err)
	if out.State != StateProcessing || out.Error != "" || out.WAVPath != "/spool/a.wav" {
		t.Fatalf("retried recording %+v", out)
	}
	j, err = db.ClaimJob(ctx, time.Minute)
	must(t, err)
	if j.RecordingID != r.ID || j.Attempts != 1 || j.WAVPath != "/spool/a.wav" {
		t.Fatalf("new job %+v, want a fresh one for the recording's WAV", j)
	}
	wantCode(t, func() error { _, err := db.RetryRecording(ctx, r.ID); return err }(), ECONFLICT, "state")
	wantCode(t, func() error { _, err := db.RetryRecording(ctx, "missing"); return err }(), ENOTFOUND, "")

	// A recording that failed before FreeSWITCH wrote a WAV has nothing to encode.
	r2 := &Recording{CompanyID: tn.company.ID, CallID: "abd", Type: TypeOnDemand, Trigger: TriggerKey, Direction: DirectionInternal,
		UserID: tn.user.ID, Recorder: "101", Caller: "101", Callee: "102"}
	must(t, db.CreateRecording(ctx, r2))
	must(t, db.FailRecording(ctx, r2.ID, "FreeSWITCH did not start the recording"))
	wantCode(t, func() error { _, err := db.RetryRecording(ctx, r2.ID); return err }(), EINVALID, "wav_path")
}
