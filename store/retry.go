package store

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DeferJob releases the lease on job jobID like RetryJob, but gives back the attempt ClaimJob
// counted: the audio worker calls it when the machine (a full or failing disk, a library it
// may not write), not the recording, stopped the attempt, so that a recording never runs out
// of attempts while the disk is full (issue 12 point 7). Errors: ENOTFOUND.
func (db *DB) DeferJob(ctx context.Context, jobID string, notBefore time.Time, reason string) error {
	return db.releaseJob(ctx, jobID, notBefore, reason, true)
}

// RetryRecording queues the failed recording id for encoding again, with fresh attempts: it
// becomes "processing" (Error cleared) and a new job is due at once, in one transaction. The
// web layer calls it for admins after checking the caller's tenancy (a recording that failed
// while the library was unusable, its WAV kept). Errors: ENOTFOUND; ECONFLICT "state" when
// the recording is not failed; EINVALID "wav_path" when it has no WAV to encode (it failed
// before FreeSWITCH wrote one).
func (db *DB) RetryRecording(ctx context.Context, id string) (*Recording, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := db.now()
	var out *Recording
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		var wav string
		err := updateRecording(tx, id, func(r *Recording) (bool, error) {
			if r.State != StateFailed {
				return false, Conflict("state", "recording is %s, not failed", r.State)
			}
			if r.WAVPath == "" {
				return false, Invalid("wav_path", "the recording has no WAV to encode")
			}
			r.State, r.Error, wav = StateProcessing, "", r.WAVPath
			return true, nil
		})
		if err != nil {
			return err
		}
		if err := ackRecordingJob(tx, id); err != nil { // none is left by FailRecording; be sure
			return err
		}
		if err := putJob(tx, nil, &Job{ID: db.newID(now), RecordingID: id, WAVPath: wav, NotBefore: now}); err != nil {
			return err
		}
		out, err = getRecording(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
