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
