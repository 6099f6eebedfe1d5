package store

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// queuedJob creates a recording of companyID, finishes it (which queues its job) and returns
// the job.
func queuedJob(t *testing.T, db *DB, companyID string, at time.Time) *Job {
	t.Helper()
	ctx := context.Background()
	r := newRecording(companyID, at)
	must(t, db.CreateRecording(ctx, r))
	must(t, db.FinishRecording(ctx, r.ID, at, 1, "/"+r.ID+".wav"))
	var j *Job
	must(t, db.bolt.View(func(tx *bolt.Tx) error {
		id := tx.Bucket(ixJobRec).Get([]byte(r.ID))
		var got Job
		if err := getJSON(tx, bJobs, string(id), "job", &got); err != nil {
			return err
		}
		j = &got
		return nil
	}))
	return j
}

// TestClaimJob_NeverReadsJobsThatAreNotDue: a claim finds the first due job without decoding
// the jobs queued ahead of it that back off or are leased (issue 13: the claim decoded the
// queue from its first key, O(queue) under bbolt's writer lock). The job ahead is made
// undecodable, so a claim that reads it fails.
func TestClaimJob_NeverReadsJobsThatAreNotDue(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	backingOff := queuedJob(t, db, tn.company.ID, clk.t)
	leased := queuedJob(t, db, tn.company.ID, clk.t)
	due := queuedJob(t, db, tn.company.ID, clk.t)
	for _, want := range []string{backingOff.ID, leased.ID} {
		j, err := db.ClaimJob(ctx, time.Hour)
		must(t, err)
		if j.ID != want {
			t.Fatalf("claimed %s, want %s", j.ID, want)
		}
	}
	must(t, db.RetryJob(ctx, backingOff.ID, clk.t.Add(time.Hour), "disk full"))

	var saved []byte
	must(t, db.bolt.Update(func(tx *bolt.Tx) error {
		saved = append([]byte(nil), tx.Bucket(bJobs).Get([]byte(backingOff.ID))...)
		return tx.Bucket(bJobs).Put([]byte(backingOff.ID), []byte("not json"))
	}))
	j, err := db.ClaimJob(ctx, time.Hour)
	if err != nil {
		t.Fatalf("claim read a job that is not due: %v", err)
	}
	if j.ID != due.ID || j.Attempts != 1 {
		t.Fatalf("claimed %+v, want %s", j, due.ID)
	}
	_, err = db.ClaimJob(ctx, time.Hour)
	wantCode(t, err, ENOTFOUND, "")
	must(t, db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bJobs).Put([]byte(backingOff.ID), saved) }))
}

// TestClaimJob_OrderAndDueness: a claim takes only a job that is due (NotBefore <= now) and not
// leased (LeaseUntil <= now), the one claimable longest first, ties in id order (jobs never retried
// are claimed oldest first); a lease or back-off ending exactly now is claimable. Each case sets its jobs'
// times, claims until none is ready and compares the order.
func TestClaimJob_OrderAndDueness(t *testing.T) {
	ctx := context.Background()
	ms := time.Millisecond
	type times struct {
		notBefore, leaseUntil time.Duration // offsets from now
		leased                bool          // LeaseUntil set (else zero: never leased or released)
	}
	free := func(nb time.Duration) times { return times{notBefore: nb} }
	held := func(nb, lu time.Duration) times { return times{nb, lu, true} }
	for _, tc := range []struct {
		name  string
		jobs  []times // in queueing order
		want  []int   // indexes into jobs, in claim order
		after time.Duration
	}{
		{"fresh jobs oldest first", []times{free(-3 * ms), free(-2 * ms), free(-ms)}, []int{0, 1, 2}, 0},
		{"same due instant in id order", []times{free(-ms), free(-ms), free(-ms)}, nil, 0},
		{"due exactly now", []times{free(0)}, []int{0}, 0},
		{"not yet due is skipped", []times{free(time.Nanosecond), free(0)}, []int{1}, 0},
		{"leased is skipped", []times{held(-time.Hour, time.Nanosecond), free(-ms)}, []int{1}, 0},
		{"lease ending exactly now is claimable, after those due before", []times{held(-time.Hour, 0), free(-ms)}, []int{1, 0}, 0},
		{"expired lease (crashed holder) comes back in its due order", []times{held(-time.Hour, -time.Minute), free(-ms)}, []int{0, 1}, 0},
		{"back-off ended comes in its due order", []times{free(-ms), free(-5 * ms)}, []int{1, 0}, 0},
		{"lease outlasting the back-off holds the job", []times{held(-time.Hour, time.Minute), free(time.Second)}, []int{1, 0}, 2 * time.Minute},
		{"nothing due", []times{free(time.Hour), held(-time.Hour, time.Minute)}, nil, 0},
		{"later, the backed-off and the lease-expired are due", []times{free(time.Hour), held(-time.Hour, time.Minute)}, []int{1, 0}, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := openWithClock(t)
			tn := mustTenant(t, db, "1")
			now := clk.t
			var jobs []*Job
			for _, tm := range tc.jobs {
				j := queuedJob(t, db, tn.company.ID, now.Add(-time.Hour))
				nj := *j
				nj.NotBefore = now.Add(tm.notBefore)
				if tm.leased {
					nj.LeaseUntil = now.Add(tm.leaseUntil)
				}
				must(t, db.bolt.Update(func(tx *bolt.Tx) error { return putJob(tx, j, &nj) }))
				jobs = append(jobs, &nj)
			}
			clk.t = now.Add(tc.after)
			var got []int
			for {
				c, err := db.ClaimJob(ctx, time.Hour)
				if ErrorCode(err) == ENOTFOUND {
					break
				}
				must(t, err)
				i := -1
				for k, j := range jobs {
					if j.ID == c.ID {
						i = k
					}
				}
				if c.Attempts != jobs[i].Attempts+1 || !c.LeaseUntil.Equal(clk.t.Add(time.Hour)) {
					t.Fatalf("claimed %+v: attempts or lease wrong", c)
				}
				got = append(got, i)
				if len(got) > len(jobs) {
					t.Fatal("a leased job was claimed again")
				}
			}
			if tc.name == "same due instant in id order" { // ids of one millisecond need not follow queueing order
				if len(got) != 3 || !(jobs[got[0]].ID < jobs[got[1]].ID && jobs[got[1]].ID < jobs[got[2]].ID) {
					t.Fatalf("claimed %v, not in id order", got)
				}
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("claimed %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("claimed %v, want %v", got, tc.want)
				}
			}
		})
	}
}
