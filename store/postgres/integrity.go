package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// SetRecordingSHA256 stores sum as the SHA-256 of a ready recording that has none, as
// store.DB.SetRecordingSHA256 (a row whose MP3Path changed meanwhile is left alone; storing the
// hash it has is a no-op). Errors: EINVALID "sha256"; ENOTFOUND; ECONFLICT "state" (not ready,
// or another file), ECONFLICT "sha256" (it holds another hash).
func (db *DB) SetRecordingSHA256(ctx context.Context, id, mp3Path, sum string) error {
	if !store.ValidSHA256(sum) {
		return store.Invalid("sha256", "must be 64 lower-case hex digits")
	}
	return db.updateReady(ctx, id, mp3Path, func(tx pgx.Tx, r *store.Recording) error {
		switch {
		case r.SHA256 == sum:
			return nil
		case r.SHA256 != "":
			return store.Conflict("sha256", "recording already has another SHA-256")
		}
		_, err := tx.Exec(ctx, "UPDATE recordings SET sha256 = $2 WHERE id = $1", id, sum)
		return err
	})
}

// SetRecordingIntegrity sets a ready recording's Integrity ("" or store.IntegrityMismatch), as
// store.DB.SetRecordingIntegrity. Errors: EINVALID "integrity"; ENOTFOUND; ECONFLICT "state"
// (not ready, or another file).
func (db *DB) SetRecordingIntegrity(ctx context.Context, id, mp3Path, integrity string) error {
	if integrity != "" && integrity != store.IntegrityMismatch {
		return store.Invalid("integrity", "must be empty or %s", store.IntegrityMismatch)
	}
	return db.updateReady(ctx, id, mp3Path, func(tx pgx.Tx, r *store.Recording) error {
		if r.Integrity == integrity {
			return nil
		}
		_, err := tx.Exec(ctx, "UPDATE recordings SET integrity = $2 WHERE id = $1", id, integrity)
		return err
	})
}

// updateReady locks recording id and runs change on it when it is ready with mp3Path.
func (db *DB) updateReady(ctx context.Context, id, mp3Path string, change func(pgx.Tx, *store.Recording) error) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		r, err := scanRecording(tx.QueryRow(ctx, "SELECT "+recordingColumns+" FROM recordings WHERE id = $1 FOR UPDATE", id))
		if err != nil {
			return notFound(err, "recording not found")
		}
		if r.State != store.StateReady || r.MP3Path != mp3Path {
			return store.Conflict("state", "recording is %s with another file", r.State)
		}
		return change(tx, r)
	})
}

// RetryRecording queues the failed recording id for encoding again with fresh attempts, as
// store.DB.RetryRecording: "processing" (Error cleared) and a new job due at once, in one
// transaction. Errors: ENOTFOUND; ECONFLICT "state" when not failed; EINVALID "wav_path" when
// it has no WAV.
func (db *DB) RetryRecording(ctx context.Context, id string) (*store.Recording, error) {
	var out *store.Recording
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		r, err := scanRecording(tx.QueryRow(ctx, "SELECT "+recordingColumns+" FROM recordings WHERE id = $1 FOR UPDATE", id))
		if err != nil {
			return notFound(err, "recording not found")
		}
		if r.State != store.StateFailed {
			return store.Conflict("state", "recording is %s, not failed", r.State)
		}
		if r.WAVPath == "" {
			return store.Invalid("wav_path", "the recording has no WAV to encode")
		}
		if out, err = scanRecording(tx.QueryRow(ctx, "UPDATE recordings SET state = $2, error = '' WHERE id = $1 RETURNING "+recordingColumns, id, store.StateProcessing)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM jobs WHERE recording_id = $1", id); err != nil {
			return err
		}
		return insertJob(ctx, tx, db, &store.Job{RecordingID: id, WAVPath: r.WAVPath})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
