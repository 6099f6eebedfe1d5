package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/callrec/callrec/store"
)

// The audio worker's durable queue, shared by every instance. A job is claimable when its
// claimable_at (the later of not_before and lease_until, store/queue.go's due-index key) has
// passed: due and not leased, or leased by an instance that crashed or stalled past the lease.
// ClaimJob takes the first claimable row with FOR UPDATE SKIP LOCKED, so concurrent claimers
// on any instance never wait on one another's row and never take the same one.
//
// store.DB.ReleaseJobLeases (run at start: every lease in a single-instance file is a dead
// process's) has no counterpart here on purpose: with several instances a starting one would
// release the leases of live ones. A dead instance's jobs come back when their leases end.

const jobColumns = "id, recording_id, wav_path, attempts, not_before, lease_until, last_error"

func scanJob(row pgx.Row) (*store.Job, error) {
	var j store.Job
	var lease *time.Time
	if err := row.Scan(&j.ID, &j.RecordingID, &j.WAVPath, &j.Attempts, &j.NotBefore, &lease, &j.LastError); err != nil {
		return nil, err
	}
	j.NotBefore = j.NotBefore.UTC()
	if lease != nil {
		j.LeaseUntil = lease.UTC()
	}
	return &j, nil
}

// EnqueueJob queues j (store.DB enqueues inside FinishRecording; FinishRecording here does
// too, through the same insert). It fills ID and, when zero, NotBefore (now). Errors: EINVALID
// "recording_id" when the recording does not exist or "wav_path" when empty, ECONFLICT
// "recording_id" when the recording already has a job.
func (db *DB) EnqueueJob(ctx context.Context, j *store.Job) error {
	return insertJob(ctx, db.pool, db, j)
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertJob(ctx context.Context, ex execer, db *DB, j *store.Job) error {
	if j.WAVPath == "" {
		return store.Invalid("wav_path", "required")
	}
	now := db.now()
	j.ID = db.newID(now)
	if j.NotBefore.IsZero() {
		j.NotBefore = now
	}
	j.NotBefore = j.NotBefore.UTC().Truncate(time.Microsecond)
	j.LeaseUntil, j.Attempts = time.Time{}, 0
	_, err := ex.Exec(ctx, `INSERT INTO jobs (id, recording_id, wav_path, attempts, not_before, last_error)
		VALUES ($1, $2, $3, 0, $4, $5)`, j.ID, j.RecordingID, j.WAVPath, j.NotBefore, j.LastError)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23503": // foreign_key_violation
		return store.Invalid("recording_id", "no such recording")
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		return store.Conflict("recording_id", "recording %s already has a job", j.RecordingID)
	case err != nil:
		return fmt.Errorf("enqueue job: %w", err)
	}
	return nil
}

// ClaimJob leases the job that has been claimable longest (ties in id order), for lease,
// counting the attempt, as store.DB.ClaimJob. Any instance's worker calls it; it must then
// CompleteRecording, RetryJob, DeferJob or FailRecording before the lease ends or the job
// becomes claimable again (by any instance). Errors: ENOTFOUND when none is claimable.
func (db *DB) ClaimJob(ctx context.Context, lease time.Duration) (*store.Job, error) {
	now := db.now()
	// SKIP LOCKED: a row another claimer has locked (and is leasing) is passed over, not waited
	// for; the WHERE is re-checked on the locked row, so a job leased meanwhile is never taken.
	row := db.pool.QueryRow(ctx, `UPDATE jobs SET lease_until = $2, attempts = attempts + 1
		WHERE id = (SELECT id FROM jobs WHERE claimable_at <= $1 ORDER BY claimable_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING `+jobColumns, now, now.Add(lease))
	j, err := scanJob(row)
	if err != nil {
		return nil, notFound(err, "no job ready")
	}
	return j, nil
}

// ExtendJobLease moves the lease of job jobID to now+lease, as store.DB.ExtendJobLease (a
// worker on a long encode). Errors: ENOTFOUND.
func (db *DB) ExtendJobLease(ctx context.Context, jobID string, lease time.Duration) error {
	tag, err := db.pool.Exec(ctx, "UPDATE jobs SET lease_until = $2 WHERE id = $1", jobID, db.now().Add(lease))
	if err != nil {
		return fmt.Errorf("extend job lease: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.NotFound("job %s not found", jobID)
	}
	return nil
}

// RetryJob releases the lease on job jobID, records reason as LastError and makes the job due
// again at notBefore (the worker's back-off), as store.DB.RetryJob. Errors: ENOTFOUND.
func (db *DB) RetryJob(ctx context.Context, jobID string, notBefore time.Time, reason string) error {
	return db.releaseJob(ctx, jobID, notBefore, reason, 0)
}

// DeferJob is RetryJob giving back the attempt ClaimJob counted, as store.DB.DeferJob (the
// machine, not the recording, stopped the attempt). Errors: ENOTFOUND.
func (db *DB) DeferJob(ctx context.Context, jobID string, notBefore time.Time, reason string) error {
	return db.releaseJob(ctx, jobID, notBefore, reason, 1)
}

func (db *DB) releaseJob(ctx context.Context, jobID string, notBefore time.Time, reason string, giveBack int) error {
	tag, err := db.pool.Exec(ctx, `UPDATE jobs SET lease_until = NULL, not_before = $2, last_error = $3,
		attempts = greatest(attempts - $4, 0) WHERE id = $1`, jobID, notBefore.UTC(), reason, giveBack)
	if err != nil {
		return fmt.Errorf("release job: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return store.NotFound("job %s not found", jobID)
	}
	return nil
}

// AckJob removes job jobID when its recording no longer needs it, as store.DB.AckJob.
// Errors: ENOTFOUND, ECONFLICT "state" while the recording is processing.
func (db *DB) AckJob(ctx context.Context, jobID string) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `SELECT r.state FROM jobs j JOIN recordings r ON r.id = j.recording_id
			WHERE j.id = $1 FOR UPDATE OF j, r`, jobID).Scan(&state)
		if err != nil {
			return notFound(err, "job not found")
		}
		if state == store.StateProcessing {
			return store.Conflict("state", "the recording of job %s is processing; complete, fail or discard it instead", jobID)
		}
		_, err = tx.Exec(ctx, "DELETE FROM jobs WHERE id = $1", jobID)
		return err
	})
}

// Job returns the queued job with id, or ENOTFOUND.
func (db *DB) Job(ctx context.Context, id string) (*store.Job, error) {
	j, err := scanJob(db.pool.QueryRow(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "job not found")
	}
	return j, nil
}

// QueueDepth returns the number of queued jobs (leased or not), for metrics and readiness.
func (db *DB) QueueDepth(ctx context.Context) (int, error) {
	var n int
	if err := db.pool.QueryRow(ctx, "SELECT count(*) FROM jobs").Scan(&n); err != nil {
		return 0, fmt.Errorf("queue depth: %w", err)
	}
	return n, nil
}
