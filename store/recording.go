package store

import (
	"context"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CreateRecording stores a new recording in state "recording" through a batched write (the
// call path creates the row before uuid_record starts, DESIGN.md "Rules"). It fills ID (a ULID
// whose time part is StartedAt, so ids sort by start time; StartedAt defaults to now), State
// and FileName. Errors: EINVALID (field; "company_id" when the company does not exist).
func (db *DB) CreateRecording(ctx context.Context, r *Recording) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.prepareRecording(r); err != nil {
		return err
	}
	return db.bolt.Batch(func(tx *bolt.Tx) error { return insertRecording(tx, r) })
}

// prepareRecording fills what CreateRecording fills and validates.
func (db *DB) prepareRecording(r *Recording) error {
	if r.StartedAt.IsZero() {
		r.StartedAt = db.now()
	}
	r.StartedAt = r.StartedAt.UTC()
	r.ID = db.newID(r.StartedAt)
	r.State = StateRecording
	r.FileName = r.DownloadName()
	return r.Validate()
}

func insertRecording(tx *bolt.Tx, r *Recording) error {
	if tx.Bucket(bCompanies).Get([]byte(r.CompanyID)) == nil {
		return Invalid("company_id", "no such company")
	}
	if tx.Bucket(bRecordings).Get([]byte(r.ID)) != nil {
		return Conflict("id", "recording id collision, retry")
	}
	return putRecording(tx, nil, r)
}

func putRecording(tx *bolt.Tx, old, r *Recording) error {
	if err := moveEntries(tx, recordingEntries(old), recordingEntries(r)); err != nil {
		return err
	}
	if err := moveUsage(tx, old, r); err != nil { // the company's running totals (totals.go)
		return err
	}
	return putRow(tx, bRecordings, r.ID, r, encodeRecording)
}

func getRecording(tx *bolt.Tx, id string) (*Recording, error) {
	return getRow(tx, bRecordings, id, "recording", decodeRecording)
}

// updateRecording loads recording id, lets change modify a copy, and stores it with its
// index entries moved. change returning (false, nil) leaves the row untouched.
func updateRecording(tx *bolt.Tx, id string, change func(r *Recording) (bool, error)) error {
	old, err := getRecording(tx, id)
	if err != nil {
		return err
	}
	r := *old
	ok, err := change(&r)
	if err != nil || !ok {
		return err
	}
	return putRecording(tx, old, &r)
}

// FinishRecording moves a recording from "recording" to "processing", sets EndedAt, DurationMS
// and WAVPath, and enqueues the encoding Job in the same (batched) transaction, so a crash can
// never leave a finished recording without its job. Idempotent: on a recording in any other
// state it changes nothing and returns nil. Errors: ENOTFOUND, EINVALID ("wav_path" empty,
// "ended_at" before started_at).
func (db *DB) FinishRecording(ctx context.Context, id string, endedAt time.Time, durationMS int64, wavPath string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if wavPath == "" {
		return Invalid("wav_path", "required")
	}
	now := db.now()
	endedAt = endedAt.UTC()
	job := &Job{ID: db.newID(now), RecordingID: id, WAVPath: wavPath, NotBefore: now}
	return db.bolt.Batch(func(tx *bolt.Tx) error {
		enqueue := false
		err := updateRecording(tx, id, func(r *Recording) (bool, error) {
			if r.State != StateRecording {
				return false, nil
			}
			r.State, r.EndedAt, r.DurationMS, r.WAVPath = StateProcessing, &endedAt, durationMS, wavPath
			enqueue = true
			return true, r.Validate()
		})
		if err != nil || !enqueue {
			return err
		}
		return putJob(tx, nil, job)
	})
}

// SetRecordingMasks stores the masked spans of a recording that is still `recording` (esl
// calls it at each mask and unmask, so the spans survive a restart of callrec mid-call).
// Errors: ENOTFOUND, ECONFLICT "state" once the recording has stopped, EINVALID "masks" for a
// span with a negative offset or length.
func (db *DB) SetRecordingMasks(ctx context.Context, id string, masks []MaskSpan) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, m := range masks {
		if m.OffsetMS < 0 || m.LengthMS < 0 {
			return Invalid("masks", "a masked span starts and lasts 0 ms or more")
		}
	}
	masks = slices.Clone(masks)
	return db.bolt.Batch(func(tx *bolt.Tx) error {
		return updateRecording(tx, id, func(r *Recording) (bool, error) {
			if r.State != StateRecording {
				return false, Conflict("state", "recording is %s", r.State)
			}
			r.Masks = masks
			return true, nil
		})
	})
}

// FailRecording marks a recording "failed" with reason (kept in Error) and acks its queued job.
// The audio worker calls it when retries are exhausted; esl when recording could not start.
// Failing a failed recording is a no-op. Errors: ENOTFOUND, ECONFLICT "state" for a ready or
// discarded recording.
func (db *DB) FailRecording(ctx context.Context, id, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Batch(func(tx *bolt.Tx) error {
		var changed *Recording
		err := updateRecording(tx, id, func(r *Recording) (bool, error) {
			switch r.State {
			case StateFailed:
				return false, nil
			case StateReady, StateDiscarded:
				return false, Conflict("state", "recording is %s", r.State)
			}
			r.State, r.Error = StateFailed, reason
			changed = r
			return true, nil
		})
		if err != nil {
			return err
		}
		if changed != nil { // the event is enqueued with the change (store/webhook.go)
			if err := db.enqueueRecordingEvent(tx, changed); err != nil {
				return err
			}
		}
		return ackRecordingJob(tx, id)
	})
}

// DiscardRecording marks a recording "discarded" (reason kept in Error; hidden from listings
// unless asked for) and acks its queued job. Discarding twice is a no-op. Errors: ENOTFOUND.
func (db *DB) DiscardRecording(ctx context.Context, id, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Batch(func(tx *bolt.Tx) error {
		var changed *Recording
		err := updateRecording(tx, id, func(r *Recording) (bool, error) {
			if r.State == StateDiscarded {
				return false, nil
			}
			r.State, r.Error = StateDiscarded, reason
			changed = r
			return true, nil
		})
		if err != nil {
			return err
		}
		if changed != nil { // the event is enqueued with the change (store/webhook.go)
			if err := db.enqueueRecordingEvent(tx, changed); err != nil {
				return err
			}
		}
		return ackRecordingJob(tx, id)
	})
}

// CompleteRecording records the audio worker's result for job jobID: the recording becomes
// "ready" with MP3Path, DurationMS, FileSize, MIME (default "audio/mpeg") and SHA256 and the job is
// acked, in one transaction. Errors: ENOTFOUND when the job is gone (its recording was
// deleted: remove the MP3); ECONFLICT "state" when the recording left "processing" meanwhile
// (discarded or failed): the job is acked anyway and the caller should remove the MP3.
func (db *DB) CompleteRecording(ctx context.Context, jobID string, res RecordingResult) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if res.MIME == "" {
		res.MIME = "audio/mpeg"
	}
	var late error
	err := db.bolt.Batch(func(tx *bolt.Tx) error {
		late = nil
		var ready *Recording
		var j Job
		if err := getJSON(tx, bJobs, jobID, "job", &j); err != nil {
			return err
		}
		err := updateRecording(tx, j.RecordingID, func(r *Recording) (bool, error) {
			if r.State != StateProcessing {
				late = Conflict("state", "recording is %s, not processing", r.State)
				return false, nil
			}
			r.State, r.MP3Path, r.DurationMS, r.FileSize, r.MIME, r.Error = StateReady, res.MP3Path, res.DurationMS, res.FileSize, res.MIME, ""
			r.SHA256, r.Integrity, r.EncryptionKeyID = res.SHA256, "", res.EncryptionKeyID
			ready = r
			return true, r.Validate()
		})
		if err != nil && ErrorCode(err) != ENOTFOUND {
			return err
		}
		if err == nil && ready != nil { // the event is enqueued with the change (store/webhook.go)
			if err := db.enqueueRecordingEvent(tx, ready); err != nil {
				return err
			}
		}
		return deleteJob(tx, &j)
	})
	if err != nil {
		return err
	}
	return late
}

// Recording returns the recording with id (WAVPath/MP3Path included), or ENOTFOUND. The web
// layer checks the caller's tenancy.
func (db *DB) Recording(ctx context.Context, id string) (*Recording, error) {
	var r *Recording
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		r, err = getRecording(tx, id)
		return err
	})
	return r, err
}

// DeleteRecording removes the recording, its index entries and its queued job in one
// transaction and returns the deleted row so the caller can remove its files. Errors: ENOTFOUND,
// ECONFLICT "hold" while a legal hold covers it (the message names the hold).
func (db *DB) DeleteRecording(ctx context.Context, id string) (*Recording, error) {
	return db.DeleteRecordingAudited(ctx, id, nil)
}

// DeleteRecordingAudited is DeleteRecording with the audit entry that audit makes of the row
// being deleted appended in the same transaction: the deletion and its entry are both stored or
// neither is (nil audit: no entry). Callers: the API's deletions and erasures, the sweeper's
// removals. Errors: DeleteRecording's, the audit log's.
func (db *DB) DeleteRecordingAudited(ctx context.Context, id string, audit func(old *Recording) *AuditEntry) (*Recording, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var old *Recording
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		var err error
		if old, err = getRecording(tx, id); err != nil {
			return err
		}
		if h, err := holdOn(tx, old); err != nil {
			return err
		} else if h != nil {
			return HeldConflict(h)
		}
		if err := moveEntries(tx, recordingEntries(old), nil); err != nil {
			return err
		}
		if err := moveUsage(tx, old, nil); err != nil {
			return err
		}
		if err := ackRecordingJob(tx, id); err != nil {
			return err
		}
		if audit != nil {
			if e := audit(old); e != nil {
				if err := appendAudit(tx, e, db.now().UTC()); err != nil {
					return err
				}
			}
		}
		return tx.Bucket(bRecordings).Delete([]byte(id))
	})
	if err != nil {
		return nil, err
	}
	return old, nil
}

// RecordingsInState returns up to limit (<= 0: all) recordings in state, oldest first, by an
// index walk. Used at start-up to reconcile rows left in "recording" or "processing".
// Errors: EINVALID "state".
func (db *DB) RecordingsInState(ctx context.Context, state string, limit int) ([]*Recording, error) {
	if !validState(state) {
		return nil, Invalid("state", "unknown state %q", state)
	}
	var out []*Recording
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return walkChildren(tx, ixRecState, state, func(id string) error {
			if limit > 0 && len(out) >= limit {
				return errStop
			}
			r, err := getRecording(tx, id)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err == errStop {
		err = nil
	}
	return out, err
}

var errStop = Errorf(EINTERNAL, "stop")
