package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// putJob stores j (old is its stored form, nil for a new job) with its index entries moved and,
// for a new job, the queued-jobs counter raised. Every write of a job goes through it.
func putJob(tx *bolt.Tx, old, j *Job) error {
	if err := moveEntries(tx, allJobEntries(old), allJobEntries(j)); err != nil {
		return err
	}
	if old == nil {
		if err := addJobCount(tx, 1); err != nil {
			return err
		}
	}
	return putJSON(tx, bJobs, j.ID, j)
}

func deleteJob(tx *bolt.Tx, j *Job) error {
	if err := moveEntries(tx, allJobEntries(j), nil); err != nil {
		return err
	}
	if err := addJobCount(tx, -1); err != nil {
		return err
	}
	return tx.Bucket(bJobs).Delete([]byte(j.ID))
}

func allJobEntries(j *Job) []entry { return append(jobEntries(j), jobQueueEntries(j)...) }

// jobQueueEntries are the queue's own index entries: the due index, keyed by the time the job
// becomes claimable (the later of NotBefore and LeaseUntil; ClaimJob's condition) so that the
// first due job is one seek, and the leased set ReleaseJobLeases walks.
func jobQueueEntries(j *Job) []entry {
	if j == nil {
		return nil
	}
	es := []entry{{ixJobDue, string(timeKey(claimableAt(j))) + j.ID, "", ""}}
	if !j.LeaseUntil.IsZero() {
		es = append(es, entry{ixJobLeased, j.ID, "", ""})
	}
	return es
}

// claimableAt is when j may be claimed: not before NotBefore, and not while leased.
func claimableAt(j *Job) time.Time {
	if j.LeaseUntil.After(j.NotBefore) {
		return j.LeaseUntil
	}
	return j.NotBefore
}

// timeKeyLen is the length of timeKey's output.
const timeKeyLen = 12

// timeKey encodes t so that byte order is time order for every time.Time (the zero time
// included): seconds since 1970 with the sign bit flipped, then nanoseconds, big-endian.
func timeKey(t time.Time) []byte {
	b := make([]byte, timeKeyLen)
	binary.BigEndian.PutUint64(b, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
	return b
}

// firstDue returns the due-index key of the job claimable soonest if it is claimable at now,
// else nil: when the first key is not due, none is.
func firstDue(tx *bolt.Tx, now time.Time) []byte {
	k, _ := tx.Bucket(ixJobDue).Cursor().First()
	if len(k) <= timeKeyLen || bytes.Compare(k[:timeKeyLen], timeKey(now)) > 0 {
		return nil
	}
	return k
}

// getJob decodes job id for an update.
func getJob(tx *bolt.Tx, id string) (*Job, error) {
	var j Job
	if err := getJSON(tx, bJobs, id, "job", &j); err != nil {
		return nil, err
	}
	return &j, nil
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

// ClaimJob leases the job that has been claimable longest, due (NotBefore <= now) and not
// leased (LeaseUntil <= now: never leased, released, or its holder crashed), for lease, counting
// the attempt; jobs claimable at the same instant go in id order, so jobs never retried are
// claimed oldest first. It costs one index seek whatever the queue holds, and an idle poll
// (nothing due) takes no write transaction, so it never holds up the call path's batches. The
// audio worker calls it; it must then CompleteRecording, RetryJob or FailRecording+AckJob
// before the lease ends or the job becomes claimable again. Errors: ENOTFOUND when none is ready.
func (db *DB) ClaimJob(ctx context.Context, lease time.Duration) (*Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	due := false
	if err := db.bolt.View(func(tx *bolt.Tx) error { due = firstDue(tx, db.now()) != nil; return nil }); err != nil {
		return nil, err
	}
	if !due {
		return nil, NotFound("no job ready")
	}
	var claimed *Job
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		now := db.now()
		claimed = nil
		k := firstDue(tx, now)
		if k == nil { // claimed by another worker since the look
			return NotFound("no job ready")
		}
		old, err := getJob(tx, string(k[timeKeyLen:]))
		if err != nil {
			return err
		}
		if old.NotBefore.After(now) || old.LeaseUntil.After(now) { // the index and the row disagree
			return fmt.Errorf("claim job %s: %w: due index says claimable at %x, row says not before %s, leased until %s",
				old.ID, ErrCorrupt, k[:timeKeyLen], old.NotBefore, old.LeaseUntil)
		}
		j := *old
		j.LeaseUntil = now.Add(lease)
		j.Attempts++
		claimed = &j
		return putJob(tx, old, &j)
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
		old, err := getJob(tx, jobID)
		if err != nil {
			return err
		}
		j := *old
		j.LeaseUntil, j.NotBefore, j.LastError = time.Time{}, notBefore.UTC(), reason
		if giveBack && j.Attempts > 0 {
			j.Attempts--
		}
		return putJob(tx, old, &j)
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

// QueueDepth returns the number of queued jobs (leased or not), for metrics and readiness: a
// counter kept with the queue, one key read. Errors: ErrCorrupt (a damaged counter).
func (db *DB) QueueDepth(ctx context.Context) (int, error) {
	n := 0
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = jobCount(tx)
		return err
	})
	return n, err
}
