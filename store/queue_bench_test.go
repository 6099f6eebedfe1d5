package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// oldClaimJob is ClaimJob as it was before schema v2 (issue 13), kept only to compare in the
// same run: it decodes the jobs bucket from its first key until a due, unleased job. It writes
// through putJob so that the indexes the new code reads stay right.
func oldClaimJob(db *DB, lease time.Duration) (*Job, error) {
	var claimed *Job
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		now := db.now()
		claimed = nil
		var old Job
		err := forEachJSON(tx, bJobs, func(j *Job) error {
			if j.NotBefore.After(now) || j.LeaseUntil.After(now) {
				return nil
			}
			old = *j
			j.LeaseUntil = now.Add(lease)
			j.Attempts++
			claimed = j
			return errStop
		})
		if err != errStop {
			if err == nil {
				return NotFound("no job ready")
			}
			return err
		}
		return putJob(tx, &old, claimed)
	})
	return claimed, err
}

// oldQueueDepth is QueueDepth before schema v2: bucket statistics, which walk every page.
func oldQueueDepth(db *DB) int {
	n := 0
	_ = db.bolt.View(func(tx *bolt.Tx) error { n = tx.Bucket(bJobs).Stats().KeyN; return nil })
	return n
}

// benchQueue opens a store holding n queued jobs that back off for an hour (a full disk: every
// job deferred) and, when oneDue, one more job that is due, queued last. Built with NoSync in
// transactions of 10,000.
func benchQueue(b *testing.B, n int, oneDue bool) (*DB, *Job) {
	b.Helper()
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	db, err := Open(ctx, filepath.Join(b.TempDir(), "q.db"), Options{NoSync: true, Now: func() time.Time { return now }})
	must(b, err)
	b.Cleanup(func() { db.Close() })
	tn := mustTenant(b, db, "1")
	var due *Job
	queued := 0
	add := func(tx *bolt.Tx, notBefore time.Time) *Job {
		queued++ // ids in queueing order, one millisecond apart, the due job last
		at := now.Add(time.Duration(queued-n-1) * time.Millisecond)
		r := newRecording(tn.company.ID, now.Add(-time.Hour))
		must(b, db.prepareRecording(r))
		r.State, r.WAVPath = StateProcessing, "/spool/"+r.ID+".wav"
		must(b, insertRecording(tx, r))
		j := &Job{ID: db.newID(at), RecordingID: r.ID, WAVPath: r.WAVPath, NotBefore: notBefore, Attempts: 1, LastError: "disk full"}
		must(b, putJob(tx, nil, j))
		return j
	}
	for done := 0; done < n; {
		must(b, db.bolt.Update(func(tx *bolt.Tx) error {
			for i := 0; i < 10000 && done < n; i, done = i+1, done+1 {
				add(tx, now.Add(time.Hour))
			}
			return nil
		}))
	}
	if oneDue {
		must(b, db.bolt.Update(func(tx *bolt.Tx) error { due = add(tx, now); return nil }))
	}
	return db, due
}

// BenchmarkClaimJob compares the claim before (old: decode from the first job) and after (new:
// one seek in the due index) with 1, 1k and 100k queued jobs, all backing off:
//   - "idle poll": no job is due (the worker's poll while the disk is full): ENOTFOUND.
//   - "due behind": one due job behind them, claimed and given back (RetryJob) each time.
//
// and QueueDepth (old: bucket statistics; new: the counter).
//
//	go test -run '^$' -bench 'ClaimJob|QueueDepth' -benchtime 200x ./store
func BenchmarkClaimJob(b *testing.B) {
	ctx := context.Background()
	claims := []struct {
		name  string
		claim func(db *DB) (*Job, error)
	}{
		{"old", func(db *DB) (*Job, error) { return oldClaimJob(db, time.Minute) }},
		{"new", func(db *DB) (*Job, error) { return db.ClaimJob(ctx, time.Minute) }},
	}
	for _, n := range []int{1, 1000, 100000} {
		for _, shape := range []string{"idle poll", "due behind"} {
			db, due := benchQueue(b, n, shape == "due behind")
			for _, c := range claims { // old and new on the same file, one after the other
				b.Run(fmt.Sprintf("%s/jobs=%d/%s", shape, n, c.name), func(b *testing.B) {
					var inClaim time.Duration
					defer func() { b.ReportMetric(float64(inClaim.Nanoseconds())/float64(b.N), "claim-ns/op") }()
					for i := 0; i < b.N; i++ {
						t0 := time.Now()
						j, err := c.claim(db)
						inClaim += time.Since(t0)
						if due == nil {
							if ErrorCode(err) != ENOTFOUND {
								b.Fatalf("claimed %v, %v with nothing due", j, err)
							}
							continue
						}
						if err != nil || j.ID != due.ID {
							b.Fatalf("claimed %v, %v, want %s", j, err, due.ID)
						}
						must(b, db.RetryJob(ctx, j.ID, j.NotBefore, j.LastError))
					}
				})
			}
		}
	}
}

// BenchmarkQueueDepth: old (bucket statistics, every page) and new (the counter) at 100k jobs.
func BenchmarkQueueDepth(b *testing.B) {
	ctx := context.Background()
	db, _ := benchQueue(b, 100000, false)
	b.Run("jobs=100000/old", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if oldQueueDepth(db) != 100000 {
				b.Fatal("depth")
			}
		}
	})
	b.Run("jobs=100000/new", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if n, err := db.QueueDepth(ctx); err != nil || n != 100000 {
				b.Fatal("depth", n, err)
			}
		}
	})
}
