package library

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// Defaults of the HashBackfill settings left zero.
const (
	DefaultBackfillBatch = 200
	DefaultBackfillPause = 100 * time.Millisecond
)

// HashBackfill gives the recordings made ready before schema 4 (store migration 4: no SHA-256
// on the row) the SHA-256 of their MP3, in the background: the store's open never waits for
// it (a library of a million files takes a while to read). It walks the rows in id order from
// a cursor the store keeps, so a restart resumes where it stopped, logs its progress after
// every batch, and ends for good once the walk is through. What it hashes is the file as it is
// on disk today: tampering before the backfill cannot be detected. A row served before the
// backfill reaches it gets its hash on that full read (web). cmd/callrec runs one, beside the
// audio worker.
type HashBackfill struct {
	DB         store.Store
	LibraryDir string // only MP3s inside it are read
	Logger     zerolog.Logger
	Batch      int           // rows looked at per store read; default DefaultBackfillBatch
	Pause      time.Duration // between batches, leaving the disk to the calls; default DefaultBackfillPause
}

// Run hashes until no row is left (nil), or ctx ends (nil: the next run resumes), or the store
// fails (the error; the next run resumes too). A file that is missing or unreadable is logged
// and passed over: its row stays without a hash.
func (b *HashBackfill) Run(ctx context.Context) error {
	if b.DB == nil || b.LibraryDir == "" {
		return errors.New("hash backfill: DB and LibraryDir are required")
	}
	lib, err := filepath.Abs(b.LibraryDir)
	if err != nil {
		return fmt.Errorf("hash backfill: %w", err)
	}
	pending, err := b.DB.HashBackfillPending(ctx)
	if err != nil || !pending {
		return err
	}
	batch, pause := b.Batch, b.Pause
	if batch <= 0 {
		batch = DefaultBackfillBatch
	}
	if pause <= 0 {
		pause = DefaultBackfillPause
	}
	b.Logger.Info().Str("decision", "hash_backfill").Msg("library: hashing the MP3s of recordings made ready before SHA-256s were stored")
	hashed, skipped := 0, 0
	for {
		recs, next, done, err := b.DB.HashBackfillBatch(ctx, batch)
		if err != nil {
			return fmt.Errorf("hash backfill: %w", err)
		}
		for _, r := range recs {
			if ctx.Err() != nil {
				return nil // the cursor is not advanced: this batch is looked at again
			}
			if b.hashOne(ctx, lib, r) {
				hashed++
			} else {
				skipped++
			}
		}
		if err := b.DB.AdvanceHashBackfill(ctx, next, done); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("hash backfill: %w", err)
		}
		b.Logger.Info().Str("decision", "hash_backfill").Int("hashed", hashed).Int("skipped", skipped).
			Str("after", next).Bool("done", done).Msg("library: hash backfill progress")
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
	}
}

// hashOne hashes r's MP3 and stores the sum; false when r is passed over (logged).
func (b *HashBackfill) hashOne(ctx context.Context, lib string, r *store.Recording) bool {
	ev := func(decision, reason string, err error) {
		b.Logger.Warn().Err(err).Str("recording_id", r.ID).Str("company_id", r.CompanyID).
			Str("decision", decision).Str("reason", reason).Msg("library: MP3 not hashed")
	}
	if !inside(lib, r.MP3Path) {
		ev("hash_skipped", "the MP3 path is outside library_dir", nil)
		return false
	}
	sum, err := fileSHA256(r.MP3Path)
	if err != nil {
		ev("hash_skipped", "the MP3 cannot be read", err)
		return false
	}
	err = b.DB.SetRecordingSHA256(ctx, r.ID, r.MP3Path, sum)
	switch store.ErrorCode(err) {
	case "":
		return true
	case store.ENOTFOUND, store.ECONFLICT:
		return false // deleted, or given a hash (a full serve) meanwhile
	}
	ev("hash_skipped", "the store refused the hash", err)
	return false
}

// fileSHA256 is the lower-case hex SHA-256 of the file at path.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
