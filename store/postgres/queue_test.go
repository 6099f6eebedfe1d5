package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// clock is a settable clock shared by the instances of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// mustProcessing creates n recordings of tn and finishes them, so each has a queued job.
func mustProcessing(t testing.TB, db *DB, tn tenant, n int) []*store.Recording {
	t.Helper()
	ctx := context.Background()
	out := make([]*store.Recording, 0, n)
	for i := range n {
		r := &store.Recording{CompanyID: tn.companyID, Type: store.TypeOnDemand, Trigger: store.TriggerKey,
			Direction: store.DirectionInbound, Caller: fmt.Sprintf("+3460000%04d", i), StartedAt: db.now().Add(-time.Minute)}
		must(t, db.CreateRecording(ctx, r))
		must(t, db.FinishRecording(ctx, r.ID, db.now(), 60_000, "/spool/"+r.ID+".wav"))
		out = append(out, r)
	}
	return out
}

// TestClaimJob_ConcurrentInstancesClaimEveryJobExactlyOnce: claimers on separate pools (as
// separate instances) racing over M jobs claim each exactly once.
func TestClaimJob_ConcurrentInstancesClaimEveryJobExactlyOnce(t *testing.T) {
	db, dsn := mustOpen(t, Options{})
	const claimers, jobs = 6, 300
	mustProcessing(t, db, mustTenant(t, db, "1"), jobs)
	instances := make([]*DB, claimers)
	for i := range instances {
		instances[i] = mustOpenDSN(t, dsn, Options{})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	claimed := map[string]int{}
	total := 0
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, in := range instances {
		wg.Go(func() {
			<-start
			for ctx.Err() == nil {
				mu.Lock()
				done := total >= jobs
				mu.Unlock()
				if done {
					return
				}
				j, err := in.ClaimJob(ctx, time.Hour) // never expires here: a second claim is a duplicate
				if store.ErrorCode(err) == store.ENOTFOUND {
					continue // every unleased row locked by another claimer this instant
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				claimed[j.ID]++
				total++
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(claimed) != jobs || total != jobs {
		t.Errorf("%d claims of %d distinct jobs, want %d of %d", total, len(claimed), jobs, jobs)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("job %s claimed %d times", id, n)
		}
	}
	var maxAttempts int
	must(t, db.pool.QueryRow(ctx, "SELECT max(attempts) FROM jobs").Scan(&maxAttempts))
	if maxAttempts != 1 {
		t.Errorf("a job has %d attempts, want 1", maxAttempts)
	}
}

// TestClaimJob_SkipsARowAnotherClaimerHasLocked: a claimer never waits for the row another
// instance is claiming (SKIP LOCKED): with the first job locked in an open transaction, the
// next job is claimed at once.
func TestClaimJob_SkipsARowAnotherClaimerHasLocked(t *testing.T) {
	clk := newClock()
	db, _ := mustOpen(t, Options{Now: clk.Now})
	recs := mustProcessing(t, db, mustTenant(t, db, "1"), 2)
	ctx := context.Background()
	tx, err := db.pool.Begin(ctx)
	must(t, err)
	defer tx.Rollback(ctx)
	var first, firstRec string // the job ClaimJob would take first
	must(t, tx.QueryRow(ctx, "SELECT id, recording_id FROM jobs ORDER BY claimable_at, id LIMIT 1 FOR UPDATE").Scan(&first, &firstRec))
	other := recs[0].ID
	if firstRec == other {
		other = recs[1].ID
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second) // a claim that waits on the lock never returns before this
	defer cancel()
	j, err := db.ClaimJob(cctx, time.Minute)
	if err != nil {
		t.Fatalf("claim beside a locked row: %v", err)
	}
	if j.ID == first || j.RecordingID != other {
		t.Errorf("claimed job %s of %s, want the other recording's (%s)", j.ID, j.RecordingID, other)
	}
}

// TestClaimJob_ExpiredLeaseIsClaimedAgain: the job of an instance that crashed holding it is
// claimable by another once the lease ends, and not before.
func TestClaimJob_ExpiredLeaseIsClaimedAgain(t *testing.T) {
	clk := newClock()
	a, dsn := mustOpen(t, Options{Now: clk.Now})
	b := mustOpenDSN(t, dsn, Options{Now: clk.Now})
	mustProcessing(t, a, mustTenant(t, a, "1"), 1)
	ctx := context.Background()
	first, err := a.ClaimJob(ctx, time.Minute) // a then "crashes": it never completes
	must(t, err)
	steps := []struct {
		advance time.Duration
		want    string // "" none claimable
	}{
		{0, ""},
		{59 * time.Second, ""},
		{time.Second, first.ID}, // lease_until <= now: claimable
	}
	for _, s := range steps {
		clk.Add(s.advance)
		j, err := b.ClaimJob(ctx, time.Minute)
		switch {
		case s.want == "" && store.ErrorCode(err) != store.ENOTFOUND:
			t.Fatalf("at lease+%s: claim = %v, %v; want ENOTFOUND", clk.Now().Sub(first.LeaseUntil), j, err)
		case s.want != "" && err != nil:
			t.Fatalf("after the lease: %v", err)
		case s.want != "" && (j.ID != s.want || j.Attempts != 2 || !j.LeaseUntil.Equal(clk.Now().Add(time.Minute))):
			t.Fatalf("re-claimed %+v, want job %s, attempt 2, leased a minute", j, s.want)
		}
	}
}

// TestCompleteRecording_CompletedJobIsNeverClaimedAgain: a completed job is gone for every
// instance, its lease long past; the crashed instance's late completion finds it gone.
func TestCompleteRecording_CompletedJobIsNeverClaimedAgain(t *testing.T) {
	clk := newClock()
	a, dsn := mustOpen(t, Options{Now: clk.Now})
	b := mustOpenDSN(t, dsn, Options{Now: clk.Now})
	recs := mustProcessing(t, a, mustTenant(t, a, "1"), 1)
	ctx := context.Background()
	j, err := a.ClaimJob(ctx, time.Minute)
	must(t, err)
	clk.Add(2 * time.Minute) // a stalled; b takes the job over and finishes it
	j2, err := b.ClaimJob(ctx, time.Minute)
	must(t, err)
	sum := "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
	must(t, b.CompleteRecording(ctx, j2.ID, store.RecordingResult{MP3Path: "/lib/x.mp3", DurationMS: 60_000, FileSize: 1000, SHA256: sum}))
	clk.Add(time.Hour)
	for _, in := range []*DB{a, b} {
		if got, err := in.ClaimJob(ctx, time.Minute); store.ErrorCode(err) != store.ENOTFOUND {
			t.Fatalf("claim after completion: %+v, %v; want ENOTFOUND", got, err)
		}
	}
	if err := a.CompleteRecording(ctx, j.ID, store.RecordingResult{MP3Path: "/lib/y.mp3"}); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("late completion by the stalled instance: %v, want ENOTFOUND", err)
	}
	r, err := a.Recording(ctx, recs[0].ID)
	must(t, err)
	if r.State != store.StateReady || r.MP3Path != "/lib/x.mp3" || r.SHA256 != sum || r.MIME != "audio/mpeg" {
		t.Errorf("recording after completion: %+v", r)
	}
	if n, err := a.QueueDepth(ctx); err != nil || n != 0 {
		t.Errorf("queue depth %d, %v; want 0", n, err)
	}
}

// TestRetryJob_BackOff: a failed attempt is due again at the worker's notBefore, not before,
// keeping its attempt count (RetryJob) or giving it back (DeferJob), with the reason kept.
func TestRetryJob_BackOff(t *testing.T) {
	for _, c := range []struct {
		name         string
		release      func(db *DB) func(context.Context, string, time.Time, string) error
		wantAttempts int
	}{
		{"retry", func(db *DB) func(context.Context, string, time.Time, string) error { return db.RetryJob }, 2},
		{"defer", func(db *DB) func(context.Context, string, time.Time, string) error { return db.DeferJob }, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			db, _ := mustOpen(t, Options{Now: clk.Now})
			mustProcessing(t, db, mustTenant(t, db, "1"), 1)
			ctx := context.Background()
			j, err := db.ClaimJob(ctx, time.Minute)
			must(t, err)
			must(t, c.release(db)(ctx, j.ID, clk.Now().Add(30*time.Second), "lame: exit 1"))
			if _, err := db.ClaimJob(ctx, time.Minute); store.ErrorCode(err) != store.ENOTFOUND {
				t.Fatalf("claim during the back-off: %v, want ENOTFOUND", err)
			}
			clk.Add(30 * time.Second)
			again, err := db.ClaimJob(ctx, time.Minute)
			must(t, err)
			if again.ID != j.ID || again.Attempts != c.wantAttempts || again.LastError != "lame: exit 1" {
				t.Errorf("after the back-off: %+v, want job %s with %d attempts and the reason", again, j.ID, c.wantAttempts)
			}
		})
	}
}

// TestClaimJob_OldestClaimableFirst: jobs go in claimable order, so a retried job waits behind
// jobs due before its back-off ended.
func TestClaimJob_OldestClaimableFirst(t *testing.T) {
	clk := newClock()
	db, _ := mustOpen(t, Options{Now: clk.Now})
	tn := mustTenant(t, db, "1")
	ctx := context.Background()
	var order []string
	for range 3 {
		r := mustProcessing(t, db, tn, 1)[0]
		order = append(order, r.ID)
		clk.Add(time.Second)
	}
	j, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	must(t, db.RetryJob(ctx, j.ID, clk.Now().Add(time.Second), "x")) // due after the other two
	clk.Add(2 * time.Second)
	want := []string{order[1], order[2], order[0]}
	for i, w := range want {
		j, err := db.ClaimJob(ctx, time.Minute)
		must(t, err)
		if j.RecordingID != w {
			t.Errorf("claim %d: recording %s, want %s", i, j.RecordingID, w)
		}
	}
}

// TestAckJob_ProcessingRecordingKeepsItsJob: as store, a processing recording's job is only
// ended with it; FailRecording acks it.
func TestAckJob_ProcessingRecordingKeepsItsJob(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	rec := mustProcessing(t, db, mustTenant(t, db, "1"), 1)[0]
	ctx := context.Background()
	j, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	if err := db.AckJob(ctx, j.ID); store.ErrorCode(err) != store.ECONFLICT {
		t.Fatalf("ack of a processing recording's job: %v, want ECONFLICT", err)
	}
	must(t, db.FailRecording(ctx, rec.ID, "no audio"))
	if _, err := db.Job(ctx, j.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("job after FailRecording: %v, want ENOTFOUND", err)
	}
	if err := db.AckJob(ctx, j.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("ack of a gone job: %v, want ENOTFOUND", err)
	}
	r, err := db.Recording(ctx, rec.ID)
	must(t, err)
	if r.State != store.StateFailed || r.Error != "no audio" {
		t.Errorf("recording: state %s error %q", r.State, r.Error)
	}
}

// TestFinishRecording_EnqueuesOnceAndIsIdempotent: finishing twice queues one job.
func TestFinishRecording_EnqueuesOnceAndIsIdempotent(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	rec := mustProcessing(t, db, mustTenant(t, db, "1"), 1)[0]
	ctx := context.Background()
	must(t, db.FinishRecording(ctx, rec.ID, db.now(), 1, "/spool/other.wav"))
	if n, err := db.QueueDepth(ctx); err != nil || n != 1 {
		t.Errorf("queue depth after a second finish: %d, %v; want 1", n, err)
	}
	if err := db.FinishRecording(ctx, "nope", db.now(), 1, "/x.wav"); store.ErrorCode(err) != store.ENOTFOUND {
		t.Errorf("finish of a missing recording: %v", err)
	}
	if err := db.EnqueueJob(ctx, &store.Job{RecordingID: rec.ID, WAVPath: "/x.wav"}); store.ErrorCode(err) != store.ECONFLICT {
		t.Errorf("second job for one recording: %v, want ECONFLICT", err)
	}
}
