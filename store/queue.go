package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

func putJob(tx *bolt.Tx, old, j *Job) error {
	if err := moveEntries(tx, jobEntries(old), jobEntries(j)); err != nil {
		return err
	}
	return putJSON(tx, bJobs, j.ID, j)
}

func deleteJob(tx *bolt.Tx, j *Job) error {
	if err := moveEntries(tx, jobEntries(j), nil); err != nil {
		return err
	}
	return tx.Bucket(bJobs).Delete([]byte(j.ID))
}

// ackRecordingJob removes the queued job of recording id, if any.
func ackRecordingJob(tx *bolt.Tx, recordingID string) error {
	jid := tx.Bucket(ixJobRec).Get([]byte(recordingID))
	if jid == nil {
		return nil
	}
	var j Job
	if err := getJSON(tx, bJobs, string(jid), "job", &j); err != nil {
		return err
	}
	return deleteJob(tx, &j)
}

// ClaimJob leases the oldest job that is due (NotBefore <= now) and not leased (LeaseUntil <=
// now: never leased, released, or its holder crashed) for lease, counting the attempt. The
// audio worker calls it; it must then CompleteRecording, RetryJob or FailRecording+AckJob
// before the lease ends or the job becomes claimable again. Errors: ENOTFOUND when none is ready.
func (db *DB) ClaimJob(ctx context.Context, lease time.Duration) (*Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var claimed *Job
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		now := db.now()
		claimed = nil
		err := forEachJSON(tx, bJobs, func(j *Job) error {
			if j.NotBefore.After(now) || j.LeaseUntil.After(now) {
				return nil
			}
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
		return putJSON(tx, bJobs, claimed.ID, claimed)
	})
	if err != nil {
		return nil, err
	}
	return claimed, nil
}

// RetryJob releases the lease on job jobID, records reason as LastError and makes the job due
// again at notBefore (the worker's back-off). Errors: ENOTFOUND.
func (db *DB) RetryJob(ctx context.Context, jobID string, notBefore time.Time, reason string) error {
	return db.releaseJob(ctx, jobID, notBefore, reason, false)
}

// releaseJob ends the lease on job jobID, due again at notBefore with reason as LastError; with
// giveBack the attempt ClaimJob counted is returned (DeferJob).
func (db *DB) releaseJob(ctx context.Context, jobID string, notBefore time.Time, reason string, giveBack bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		var j Job
		if err := getJSON(tx, bJobs, jobID, "job", &j); err != nil {
			return err
		}
		j.LeaseUntil, j.NotBefore, j.LastError = time.Time{}, notBefore.UTC(), reason
		if giveBack && j.Attempts > 0 {
			j.Attempts--
		}
		return putJSON(tx, bJobs, j.ID, &j)
	})
}

// AckJob removes job jobID from the queue when its recording no longer needs it (the worker
// drops jobs of recordings that left "processing"). A processing recording keeps its job, so
// that no recording is stranded: end it with CompleteRecording, FailRecording or
// DiscardRecording, which ack the job themselves. Errors: ENOTFOUND, ECONFLICT "state" while
// the recording is processing.
func (db *DB) AckJob(ctx context.Context, jobID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		var j Job
		if err := getJSON(tx, bJobs, jobID, "job", &j); err != nil {
			return err
		}
		if r, err := getRecording(tx, j.RecordingID); err == nil && r.State == StateProcessing {
			return Conflict("state", "recording %s is processing; complete, fail or discard it instead", r.ID)
		}
		return deleteJob(tx, &j)
	})
}

// Job returns the queued job with id, or ENOTFOUND.
func (db *DB) Job(ctx context.Context, id string) (*Job, error) {
	var j Job
	if err := db.view(ctx, func(tx *bolt.Tx) error { return getJSON(tx, bJobs, id, "job", &j) }); err != nil {
		return nil, err
	}
	return &j, nil
}

// QueueDepth returns the number of queued jobs (leased or not), for metrics and readiness.
func (db *DB) QueueDepth(ctx context.Context) (int, error) {
	n := 0
	err := db.view(ctx, func(tx *bolt.Tx) error {
		n = tx.Bucket(bJobs).Stats().KeyN
		return nil
	})
	return n, err
}
