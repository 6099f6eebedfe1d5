package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func queueCases() []suiteCase {
	return []suiteCase{
		{"Queue/LeasesRetriesAndExpiry", testQueueLeases},
		{"Queue/DeferGivesTheAttemptBack", testQueueDefer},
		{"Queue/ExtendJobLease", testQueueExtend},
		{"Queue/ConcurrentClaimsTakeEachJobOnce", testQueueConcurrentClaims},
	}
}

// Jobs are claimed oldest first; a leased job is not claimed again before its lease ends; a
// retried one not before its notBefore; an expired lease makes the job claimable again.
func testQueueLeases(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	_, err := e.s.ClaimJob(e.ctx, time.Minute)
	checkCode(t, "ClaimJob of an empty queue", err, store.ENOTFOUND, "")
	r1 := e.processing(t, tn.company.ID)
	e.clk.Advance(time.Millisecond)
	r2 := e.processing(t, tn.company.ID)
	if n, err := e.s.QueueDepth(e.ctx); err != nil || n != 2 {
		t.Fatalf("QueueDepth = %d, %v; want 2", n, err)
	}

	j1 := e.claim(t, 30*time.Second, r1.ID)
	j2 := e.claim(t, 30*time.Second, r2.ID)
	if j1.Attempts != 1 || !j1.LeaseUntil.Equal(e.clk.Now().Add(30*time.Second)) {
		t.Fatalf("claimed job %+v: want attempt 1, leased for 30s", j1)
	}
	_, err = e.s.ClaimJob(e.ctx, 30*time.Second)
	checkCode(t, "ClaimJob with both jobs leased", err, store.ENOTFOUND, "")
	if n, _ := e.s.QueueDepth(e.ctx); n != 2 {
		t.Fatalf("QueueDepth = %d with two leased jobs, want 2 (leased ones count)", n)
	}

	must(t, e.s.RetryJob(e.ctx, j1.ID, e.clk.Now().Add(10*time.Second), "disk full"))
	_, err = e.s.ClaimJob(e.ctx, 30*time.Second)
	checkCode(t, "ClaimJob before the retry's notBefore", err, store.ENOTFOUND, "")
	e.clk.Advance(9 * time.Second)
	_, err = e.s.ClaimJob(e.ctx, 30*time.Second)
	checkCode(t, "ClaimJob 1s before the retry's notBefore", err, store.ENOTFOUND, "")

	e.clk.Advance(time.Second)
	again := e.claim(t, 30*time.Second, r1.ID)
	if again.ID != j1.ID || again.Attempts != 2 || again.LastError != "disk full" {
		t.Fatalf("the retried job %+v: want %s, attempt 2, last error kept", again, j1.ID)
	}
	// j2's holder crashed: its lease (30s from the start) ends and the job comes back.
	e.clk.Advance(19 * time.Second)
	_, err = e.s.ClaimJob(e.ctx, 30*time.Second)
	checkCode(t, "ClaimJob 1s before j2's lease ends", err, store.ENOTFOUND, "")
	e.clk.Advance(time.Second)
	back := e.claim(t, 30*time.Second, r2.ID)
	if back.ID != j2.ID || back.Attempts != 2 {
		t.Fatalf("the expired job %+v: want %s at attempt 2", back, j2.ID)
	}
	got, err := e.s.Job(e.ctx, j2.ID)
	must(t, err)
	if !got.LeaseUntil.Equal(e.clk.Now().Add(30*time.Second)) || got.RecordingID != r2.ID {
		t.Fatalf("Job(j2) = %+v, want leased until %v", got, e.clk.Now().Add(30*time.Second))
	}

	checkCode(t, "AckJob of a processing recording's job", e.s.AckJob(e.ctx, j1.ID), store.ECONFLICT, "state")
	must(t, e.s.FailRecording(e.ctx, r1.ID, "gave up")) // acks j1
	checkCode(t, "AckJob after FailRecording acked it", e.s.AckJob(e.ctx, j1.ID), store.ENOTFOUND, "")
	checkCode(t, "RetryJob of a gone job", e.s.RetryJob(e.ctx, j1.ID, e.clk.Now(), "x"), store.ENOTFOUND, "")
	checkCode(t, "DeferJob of a gone job", e.s.DeferJob(e.ctx, j1.ID, e.clk.Now(), "x"), store.ENOTFOUND, "")
	if n, _ := e.s.QueueDepth(e.ctx); n != 1 {
		t.Fatalf("QueueDepth = %d, want 1", n)
	}
}

// DeferJob releases like RetryJob but gives back the attempt ClaimJob counted.
func testQueueDefer(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	r := e.processing(t, tn.company.ID)
	j := e.claim(t, time.Minute, r.ID)
	must(t, e.s.DeferJob(e.ctx, j.ID, e.clk.Now().Add(5*time.Second), "library full"))
	_, err := e.s.ClaimJob(e.ctx, time.Minute)
	checkCode(t, "ClaimJob before the defer's notBefore", err, store.ENOTFOUND, "")
	e.clk.Advance(5 * time.Second)
	j = e.claim(t, time.Minute, r.ID)
	if j.Attempts != 1 || j.LastError != "library full" {
		t.Fatalf("after DeferJob the job is at attempt %d (last error %q), want 1", j.Attempts, j.LastError)
	}
	must(t, e.s.RetryJob(e.ctx, j.ID, e.clk.Now(), "encoder"))
	j = e.claim(t, time.Minute, r.ID)
	if j.Attempts != 2 {
		t.Fatalf("after RetryJob the job is at attempt %d, want 2", j.Attempts)
	}
}

// ExtendJobLease keeps a long encode's job from being claimed again.
func testQueueExtend(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	r := e.processing(t, tn.company.ID)
	j := e.claim(t, 30*time.Second, r.ID)
	e.clk.Advance(20 * time.Second)
	must(t, e.s.ExtendJobLease(e.ctx, j.ID, 30*time.Second))
	e.clk.Advance(20 * time.Second) // past the first lease, inside the extended one
	_, err := e.s.ClaimJob(e.ctx, time.Minute)
	checkCode(t, "ClaimJob inside an extended lease", err, store.ENOTFOUND, "")
	e.clk.Advance(10 * time.Second)
	if got := e.claim(t, time.Minute, r.ID); got.ID != j.ID || got.Attempts != 2 {
		t.Fatalf("after the extended lease ended: %+v", got)
	}
	checkCode(t, "ExtendJobLease of a missing job", e.s.ExtendJobLease(e.ctx, "no-such-job", time.Minute), store.ENOTFOUND, "")
}

// Concurrent claimers never take the same job.
func testQueueConcurrentClaims(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	const n = 12
	want := map[string]bool{}
	for range n {
		want[e.processing(t, tn.company.ID).ID] = true
	}
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, err := e.s.ClaimJob(e.ctx, time.Minute)
				if store.ErrorCode(err) == store.ENOTFOUND {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[j.RecordingID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("%d distinct jobs claimed, want %d", len(got), n)
	}
	for id, k := range got {
		if k != 1 || !want[id] {
			t.Errorf("the job of recording %s claimed %d times", id, k)
		}
	}
}
