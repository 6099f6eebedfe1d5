package store

import (
	"context"

	bolt "go.etcd.io/bbolt"
)

// keyHashBackfill in the meta bucket marks the hash backfill as pending: "\x00" followed by the
// id of the last recording it has passed (empty at the start). Absent: nothing to backfill.
var keyHashBackfill = []byte("hash_backfill_pending")

// migrateHashBackfill is schema version 4: recordings carry the SHA-256 of their MP3. Rows made
// ready before it have none; the migration only marks the backfill pending (constant time:
// the open of a large store must not hash or even walk its rows, the lesson of the number
// index). library.HashBackfill walks them in the background (HashBackfillBatch).
func migrateHashBackfill(tx *bolt.Tx) error {
	return tx.Bucket(bMeta).Put(keyHashBackfill, []byte{0})
}

// HashBackfillBatch returns the ready recordings without SHA256 among the next scan rows (by
// id) after the backfill's cursor, and next, the cursor to hand to AdvanceHashBackfill once
// they are hashed; done is true when the walk has reached the last row (or no backfill is
// pending: then recs is empty). For library.HashBackfill only; errors are EINTERNAL.
func (db *DB) HashBackfillBatch(ctx context.Context, scan int) (recs []*Recording, next string, done bool, err error) {
	if scan <= 0 {
		scan = 200
	}
	err = db.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bMeta).Get(keyHashBackfill)
		if v == nil {
			done = true
			return nil
		}
		after := string(v[1:])
		next = after
		c := tx.Bucket(bRecordings).Cursor()
		k, raw := c.Seek([]byte(after))
		if after != "" && k != nil && string(k) == after {
			k, raw = c.Next()
		}
		for n := 0; n < scan; n++ {
			if k == nil {
				done = true
				return nil
			}
			r, err := decodeRecording(raw)
			if err != nil {
				return Errorf(EINTERNAL, "hash backfill: decode recording %s: %v", k, err)
			}
			if r.State == StateReady && r.SHA256 == "" && r.MP3Path != "" {
				recs = append(recs, r)
			}
			next = string(k)
			k, raw = c.Next()
		}
		done = k == nil
		return nil
	})
	return recs, next, done, err
}

// AdvanceHashBackfill records that the backfill has passed every row up to id next, or, with
// done, that it is finished (the marker is removed: later opens do nothing). For
// library.HashBackfill only.
func (db *DB) AdvanceHashBackfill(ctx context.Context, next string, done bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if meta.Get(keyHashBackfill) == nil {
			return nil
		}
		if done {
			return meta.Delete(keyHashBackfill)
		}
		return meta.Put(keyHashBackfill, []byte("\x00"+next))
	})
}

// HashBackfillPending reports whether the hash backfill has rows left to look at.
func (db *DB) HashBackfillPending(ctx context.Context) (bool, error) {
	pending := false
	err := db.view(ctx, func(tx *bolt.Tx) error {
		pending = tx.Bucket(bMeta).Get(keyHashBackfill) != nil
		return nil
	})
	return pending, err
}

// SetRecordingSHA256 stores sum (lower-case hex) as the SHA-256 of a ready recording that has
// none, for a file hashed after the fact (the backfill, or the first full serve of a row made
// ready before schema 4). mp3Path is the file that was hashed: a row whose MP3Path changed
// meanwhile is left alone. Storing the hash it already has is a no-op. Errors: EINVALID
// "sha256"; ENOTFOUND; ECONFLICT "state" (not ready, or another file), ECONFLICT "sha256"
// (the row already holds a different hash: the file changed, see SetRecordingIntegrity).
func (db *DB) SetRecordingSHA256(ctx context.Context, id, mp3Path, sum string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ValidSHA256(sum) {
		return Invalid("sha256", "must be 64 lower-case hex digits")
	}
	return db.bolt.Batch(func(tx *bolt.Tx) error {
		return updateRecording(tx, id, func(r *Recording) (bool, error) {
			switch {
			case r.State != StateReady || r.MP3Path != mp3Path:
				return false, Conflict("state", "recording is %s with another file", r.State)
			case r.SHA256 == sum:
				return false, nil
			case r.SHA256 != "":
				return false, Conflict("sha256", "recording already has another SHA-256")
			}
			r.SHA256 = sum
			return true, nil
		})
	})
}

// SetRecordingIntegrity sets a ready recording's Integrity (IntegrityMismatch when its file at
// mp3Path no longer matches SHA256, "" when it matches again, e.g. after an operator restored
// it). The web layer calls it when a served file was checked. Setting the value it has is a
// no-op. Errors: EINVALID "integrity"; ENOTFOUND; ECONFLICT "state" (not ready, or another file).
func (db *DB) SetRecordingIntegrity(ctx context.Context, id, mp3Path, integrity string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if integrity != "" && integrity != IntegrityMismatch {
		return Invalid("integrity", "must be empty or %s", IntegrityMismatch)
	}
	return db.bolt.Batch(func(tx *bolt.Tx) error {
		return updateRecording(tx, id, func(r *Recording) (bool, error) {
			if r.State != StateReady || r.MP3Path != mp3Path {
				return false, Conflict("state", "recording is %s with another file", r.State)
			}
			if r.Integrity == integrity {
				return false, nil
			}
			r.Integrity = integrity
			return true, nil
		})
	})
}
