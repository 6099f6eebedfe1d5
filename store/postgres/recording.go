package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/callrec/callrec/store"
)

const recordingColumns = `id, company_id, call_id, type, trigger, direction, ddi_id, user_id, recorder, caller,
	callee, started_at, ended_at, duration_ms, state, file_name, file_size, mime, error, sha256, integrity,
	masks, consent, wav_path, mp3_path, recorded_leg, requester_leg, encryption_key_id`

// recordingArgs are r's values in recordingColumns order.
func recordingArgs(r *store.Recording) ([]any, error) {
	var masks, consent []byte
	var err error
	if r.Masks != nil {
		if masks, err = json.Marshal(r.Masks); err != nil {
			return nil, err
		}
	}
	if r.Consent != nil {
		if consent, err = json.Marshal(r.Consent); err != nil {
			return nil, err
		}
	}
	return []any{r.ID, r.CompanyID, r.CallID, r.Type, r.Trigger, r.Direction, r.DDIID, r.UserID, r.Recorder,
		r.Caller, r.Callee, r.StartedAt, r.EndedAt, r.DurationMS, r.State, r.FileName, r.FileSize, r.MIME,
		r.Error, r.SHA256, r.Integrity, masks, consent, r.WAVPath, r.MP3Path, r.RecordedLeg, r.RequesterLeg, r.EncryptionKeyID}, nil
}

func scanRecording(row pgx.Row) (*store.Recording, error) {
	var r store.Recording
	var masks, consent []byte
	err := row.Scan(&r.ID, &r.CompanyID, &r.CallID, &r.Type, &r.Trigger, &r.Direction, &r.DDIID, &r.UserID,
		&r.Recorder, &r.Caller, &r.Callee, &r.StartedAt, &r.EndedAt, &r.DurationMS, &r.State, &r.FileName,
		&r.FileSize, &r.MIME, &r.Error, &r.SHA256, &r.Integrity, &masks, &consent, &r.WAVPath, &r.MP3Path,
		&r.RecordedLeg, &r.RequesterLeg, &r.EncryptionKeyID)
	if err != nil {
		return nil, err
	}
	r.StartedAt = r.StartedAt.UTC()
	if r.EndedAt != nil {
		t := r.EndedAt.UTC()
		r.EndedAt = &t
	}
	if masks != nil {
		if err := json.Unmarshal(masks, &r.Masks); err != nil {
			return nil, fmt.Errorf("recording %s masks: %w", r.ID, err)
		}
	}
	if consent != nil {
		r.Consent = new(store.Consent)
		if err := json.Unmarshal(consent, r.Consent); err != nil {
			return nil, fmt.Errorf("recording %s consent: %w", r.ID, err)
		}
	}
	return &r, nil
}

// CreateRecording stores a new recording in state "recording", as store.DB.CreateRecording: it
// fills ID (a ULID whose time part is StartedAt; StartedAt defaults to now), State and
// FileName. Errors: EINVALID (field; "company_id" when the company does not exist).
func (db *DB) CreateRecording(ctx context.Context, r *store.Recording) error {
	if err := db.prepareRecording(r); err != nil {
		return err
	}
	return insertRecording(ctx, db.pool, r)
}

// prepareRecording fills what CreateRecording fills and validates (CreateRecording,
// StartRecording).
func (db *DB) prepareRecording(r *store.Recording) error {
	if r.StartedAt.IsZero() {
		r.StartedAt = db.now()
	}
	r.StartedAt = r.StartedAt.UTC().Truncate(time.Microsecond)
	r.ID = db.newID(r.StartedAt)
	r.State = store.StateRecording
	r.FileName = r.DownloadName()
	return r.Validate()
}

// recordingInsert inserts one row of recordingColumns from recordingArgs.
const recordingInsert = "INSERT INTO recordings (" + recordingColumns + `) VALUES
		($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)`

// insertRecording inserts the prepared r. Errors: EINVALID "company_id" (no such company),
// ECONFLICT "id" (an id collision), the database's.
func insertRecording(ctx context.Context, q execer, r *store.Recording) error {
	args, err := recordingArgs(r)
	if err != nil {
		return fmt.Errorf("create recording: %w", err)
	}
	_, err = q.Exec(ctx, recordingInsert, args...)
	return insertError(err)
}

// insertError maps the error of a recording insert: a missing company is EINVALID
// "company_id", an id already taken ECONFLICT "id", anything else (the database's, the
// network's) is wrapped.
func insertError(err error) error {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && pe.Code == "23503":
		return store.Invalid("company_id", "no such company")
	case errors.As(err, &pe) && pe.Code == "23505":
		return store.Conflict("id", "recording id collision, retry")
	case err != nil:
		return fmt.Errorf("create recording: %w", err)
	}
	return nil
}

// Recording returns the recording with id (WAVPath/MP3Path included), or ENOTFOUND.
func (db *DB) Recording(ctx context.Context, id string) (*store.Recording, error) {
	r, err := scanRecording(db.pool.QueryRow(ctx, "SELECT "+recordingColumns+" FROM recordings WHERE id = $1", id))
	if err != nil {
		return nil, notFound(err, "recording not found")
	}
	return r, nil
}

// FinishRecording moves a recording from "recording" to "processing" with EndedAt, DurationMS
// and WAVPath, and enqueues its encoding job in the same transaction, as
// store.DB.FinishRecording. Idempotent: on any other state it changes nothing. Errors:
// ENOTFOUND, EINVALID ("wav_path" empty, "ended_at" before started_at).
func (db *DB) FinishRecording(ctx context.Context, id string, endedAt time.Time, durationMS int64, wavPath string) error {
	if wavPath == "" {
		return store.Invalid("wav_path", "required")
	}
	if durationMS < 0 {
		return store.Invalid("duration_ms", "must not be negative")
	}
	endedAt = endedAt.UTC().Truncate(time.Microsecond)
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var state string
		var started time.Time
		err := tx.QueryRow(ctx, "SELECT state, started_at FROM recordings WHERE id = $1 FOR UPDATE", id).Scan(&state, &started)
		if err != nil {
			return notFound(err, "recording not found")
		}
		if state != store.StateRecording {
			return nil
		}
		if endedAt.Before(started) {
			return store.Invalid("ended_at", "before started_at")
		}
		if _, err := tx.Exec(ctx, `UPDATE recordings SET state = $2, ended_at = $3, duration_ms = $4, wav_path = $5
			WHERE id = $1`, id, store.StateProcessing, endedAt, durationMS, wavPath); err != nil {
			return err
		}
		return insertJob(ctx, tx, db, &store.Job{RecordingID: id, WAVPath: wavPath})
	})
}

// CompleteRecording records the audio worker's result for job jobID: the recording becomes
// "ready" and the job is acked, in one transaction, as store.DB.CompleteRecording. Errors:
// ENOTFOUND when the job is gone (another instance completed it after this one's lease
// expired, or the recording was deleted: remove the MP3); ECONFLICT "state" when the recording
// left "processing" meanwhile (the job is acked anyway; remove the MP3).
// The recording.ready event is enqueued in the same transaction.
func (db *DB) CompleteRecording(ctx context.Context, jobID string, res store.RecordingResult) error {
	if res.MIME == "" {
		res.MIME = "audio/mpeg"
	}
	if res.SHA256 != "" && !store.ValidSHA256(res.SHA256) {
		return store.Invalid("sha256", "must be 64 lower-case hex digits")
	}
	var late error
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		late = nil
		var recID, state string
		err := tx.QueryRow(ctx, `SELECT r.id, r.state FROM jobs j JOIN recordings r ON r.id = j.recording_id
			WHERE j.id = $1 FOR UPDATE OF j, r`, jobID).Scan(&recID, &state)
		if err != nil {
			return notFound(err, "job not found")
		}
		if state == store.StateProcessing {
			r, err := scanRecording(tx.QueryRow(ctx, `UPDATE recordings SET state = $2, mp3_path = $3, duration_ms = $4, file_size = $5,
				mime = $6, error = '', sha256 = $7, integrity = '', encryption_key_id = $8 WHERE id = $1 RETURNING `+recordingColumns,
				recID, store.StateReady, res.MP3Path, res.DurationMS, res.FileSize, res.MIME, res.SHA256, res.EncryptionKeyID))
			if err != nil {
				return err
			}
			if err := db.enqueueRecordingEvent(ctx, tx, r); err != nil { // with the change (outbox)
				return err
			}
		} else {
			late = store.Conflict("state", "recording is %s, not processing", state)
		}
		_, err = tx.Exec(ctx, "DELETE FROM jobs WHERE id = $1", jobID)
		return err
	})
	if err != nil {
		return err
	}
	return late
}

// FailRecording marks a recording "failed" with reason and acks its queued job, as
// store.DB.FailRecording. Failing a failed recording is a no-op. Errors: ENOTFOUND, ECONFLICT
// "state" for a ready or discarded recording. The recording.failed event goes with the change.
func (db *DB) FailRecording(ctx context.Context, id, reason string) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, "SELECT state FROM recordings WHERE id = $1 FOR UPDATE", id).Scan(&state); err != nil {
			return notFound(err, "recording not found")
		}
		switch state {
		case store.StateFailed:
			return nil
		case store.StateReady, store.StateDiscarded:
			return store.Conflict("state", "recording is %s", state)
		}
		if err := db.setStateAndEnqueue(ctx, tx, id, store.StateFailed, reason); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM jobs WHERE recording_id = $1", id)
		return err
	})
}

// DiscardRecording marks a recording "discarded" (reason kept in Error) and acks its queued
// job, as store.DB.DiscardRecording, with its recording.discarded event. Discarding twice is a
// no-op. Errors: ENOTFOUND.
func (db *DB) DiscardRecording(ctx context.Context, id, reason string) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, "SELECT state FROM recordings WHERE id = $1 FOR UPDATE", id).Scan(&state); err != nil {
			return notFound(err, "recording not found")
		}
		if state == store.StateDiscarded {
			return nil
		}
		if err := db.setStateAndEnqueue(ctx, tx, id, store.StateDiscarded, reason); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM jobs WHERE recording_id = $1", id)
		return err
	})
}

// SetRecordingMasks stores the masked spans of a recording that is still "recording", as
// store.DB.SetRecordingMasks. Errors: ENOTFOUND, ECONFLICT "state" once it has stopped,
// EINVALID "masks" for a negative offset or length.
func (db *DB) SetRecordingMasks(ctx context.Context, id string, masks []store.MaskSpan) error {
	for _, m := range masks {
		if m.OffsetMS < 0 || m.LengthMS < 0 {
			return store.Invalid("masks", "a masked span starts and lasts 0 ms or more")
		}
	}
	b, err := json.Marshal(masks)
	if err != nil {
		return fmt.Errorf("set masks: %w", err)
	}
	if masks == nil {
		b = nil
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var state string
		if err := tx.QueryRow(ctx, "SELECT state FROM recordings WHERE id = $1 FOR UPDATE", id).Scan(&state); err != nil {
			return notFound(err, "recording not found")
		}
		if state != store.StateRecording {
			return store.Conflict("state", "recording is %s", state)
		}
		_, err := tx.Exec(ctx, "UPDATE recordings SET masks = $2 WHERE id = $1", id, b)
		return err
	})
}

// RecordingsInState returns up to limit (<= 0: all) recordings in state, oldest first, as
// store.DB.RecordingsInState (start-up reconcile). With several instances, each sees the
// others' live rows too: the caller must only take over rows whose call it owns. Errors:
// EINVALID "state".
func (db *DB) RecordingsInState(ctx context.Context, state string, limit int) ([]*store.Recording, error) {
	if err := validateFilter(&store.RecordingFilter{State: state}); err != nil || state == "" {
		return nil, store.Invalid("state", "unknown state %q", state)
	}
	q := "SELECT " + recordingColumns + " FROM recordings WHERE state = $1 ORDER BY started_at, id"
	args := []any{state}
	if limit > 0 {
		q += " LIMIT $2"
		args = append(args, limit)
	}
	return db.queryRecordings(ctx, q, args...)
}

// CompanyRecordingsOldestFirst returns up to limit (<= 0: all) recordings of companyID whose
// id sorts after afterID ("" = from the start), in id (start-time) order, as
// store.DB.CompanyRecordingsOldestFirst (the library sweeper's pages). Errors: the database's.
func (db *DB) CompanyRecordingsOldestFirst(ctx context.Context, companyID, afterID string, limit int) ([]*store.Recording, error) {
	return db.companyRecordings(ctx, companyID, afterID, time.Time{}, limit)
}

// CompanyRecordingsStartedBefore is CompanyRecordingsOldestFirst bounded to recordings that
// started before before (the retention pass), as store.DB.CompanyRecordingsStartedBefore.
func (db *DB) CompanyRecordingsStartedBefore(ctx context.Context, companyID, afterID string, before time.Time, limit int) ([]*store.Recording, error) {
	if before.UnixMilli() <= 0 {
		return nil, ctx.Err()
	}
	return db.companyRecordings(ctx, companyID, afterID, before, limit)
}

// companyRecordings pages a company's recordings in id order; ids are ULIDs of StartedAt, so
// the order is store's (its company index is in id order).
func (db *DB) companyRecordings(ctx context.Context, companyID, afterID string, before time.Time, limit int) ([]*store.Recording, error) {
	q := "SELECT " + recordingColumns + " FROM recordings WHERE company_id = $1 AND id > $2"
	args := []any{companyID, afterID}
	if !before.IsZero() {
		args = append(args, before.UTC())
		q += " AND started_at < $3"
	}
	q += " ORDER BY id"
	if limit > 0 {
		args = append(args, limit)
		q += " LIMIT $" + strconv.Itoa(len(args))
	}
	return db.queryRecordings(ctx, q, args...)
}

func (db *DB) queryRecordings(ctx context.Context, q string, args ...any) ([]*store.Recording, error) {
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Recording, error) { return scanRecording(row) })
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	return out, nil
}

// CompanyUsage returns the library usage of companyID, as store.DB.CompanyUsage: the running
// totals every recording write keeps (the trigger of migration 0004), one row read. An unknown
// company has zero usage. Errors: the database's.
func (db *DB) CompanyUsage(ctx context.Context, companyID string) (store.LibraryUsage, error) {
	var u store.LibraryUsage
	err := db.pool.QueryRow(ctx, "SELECT recordings, ready, bytes FROM company_usage WHERE company_id = $1", companyID).Scan(&u.Recordings, &u.Ready, &u.Bytes)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("company usage: %w", err)
	}
	return u, nil
}

// setStateAndEnqueue moves recording id to state with reason in Error and enqueues the
// state's webhook event, in tx.
func (db *DB) setStateAndEnqueue(ctx context.Context, tx pgx.Tx, id, state, reason string) error {
	r, err := scanRecording(tx.QueryRow(ctx, "UPDATE recordings SET state = $2, error = $3 WHERE id = $1 RETURNING "+recordingColumns, id, state, reason))
	if err != nil {
		return err
	}
	return db.enqueueRecordingEvent(ctx, tx, r)
}
