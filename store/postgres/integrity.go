package postgres

import (
	"context"
	"errors"
	"fmt"

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

// The hash backfill (library.HashBackfill): its progress is the one row of table hash_backfill
// (migrations/0006), store's meta key hash_backfill_pending, so any instance resumes where the
// last one stopped.

// HashBackfillPending reports whether the hash backfill has rows left to look at, as
// store.DB.HashBackfillPending. Errors: the database's.
func (db *DB) HashBackfillPending(ctx context.Context) (bool, error) {
	var pending bool
	if err := db.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM hash_backfill)").Scan(&pending); err != nil {
		return false, fmt.Errorf("hash backfill: %w", err)
	}
	return pending, nil
}

// HashBackfillBatch returns the ready recordings without SHA256 (and with an MP3) among the
// next scan rows (default 200) by id after the backfill's cursor, and next, the cursor to hand
// to AdvanceHashBackfill once they are hashed (the last id looked at; the cursor itself when
// none was); done is true when the walk has reached the last row, or no backfill is pending
// (then recs is empty), as store.DB.HashBackfillBatch. The reads are of one snapshot. For
// library.HashBackfill only. Errors (EINTERNAL by store.ErrorCode): the database's, a row
// that does not decode.
func (db *DB) HashBackfillBatch(ctx context.Context, scan int) (recs []*store.Recording, next string, done bool, err error) {
	if scan <= 0 {
		scan = 200
	}
	err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		recs, done = nil, false
		if err := tx.QueryRow(ctx, "SELECT after FROM hash_backfill").Scan(&next); errors.Is(err, pgx.ErrNoRows) {
			next, done = "", true
			return nil
		} else if err != nil {
			return err
		}
		// One row more than scan says whether the walk is through.
		rows, err := tx.Query(ctx, `SELECT id, state = $3 AND sha256 = '' AND mp3_path <> '' FROM recordings
			WHERE id > $1 ORDER BY id LIMIT $2`, next, scan+1, store.StateReady)
		if err != nil {
			return err
		}
		var want []string
		seen := 0
		for rows.Next() {
			var id string
			var candidate bool
			if err := rows.Scan(&id, &candidate); err != nil {
				return err
			}
			if seen++; seen > scan {
				break
			}
			next = id
			if candidate {
				want = append(want, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		done = seen <= scan
		if len(want) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, "SELECT "+recordingColumns+" FROM recordings WHERE id = ANY($1) ORDER BY id", want)
		if err != nil {
			return err
		}
		recs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Recording, error) { return scanRecording(row) })
		return err
	})
	if err != nil {
		return nil, "", false, fmt.Errorf("hash backfill: %w", err)
	}
	return recs, next, done, nil
}

// AdvanceHashBackfill records that the backfill has passed every row up to id next, or, with
// done, that it is finished (the row is removed: HashBackfillPending is false on every instance
// from then on), as store.DB.AdvanceHashBackfill; a backfill that is not pending stays so. For
// library.HashBackfill only. Errors: the database's.
func (db *DB) AdvanceHashBackfill(ctx context.Context, next string, done bool) error {
	var err error
	if done {
		_, err = db.pool.Exec(ctx, "DELETE FROM hash_backfill")
	} else {
		_, err = db.pool.Exec(ctx, "UPDATE hash_backfill SET after = $1", next)
	}
	if err != nil {
		return fmt.Errorf("hash backfill: %w", err)
	}
	return nil
}
