package library

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/callrec/callrec/store"
)

// recover settles what a previous run left behind before any job is claimed: the leases it
// held are cleared, partial MP3s in .tmp are removed, and every in-flight marker is resolved
// against the store (see the package doc).
func (w *Worker) recover(ctx context.Context, c runConfig) error {
	for _, d := range []string{c.lib, filepath.Join(c.lib, tmpDirName), filepath.Join(c.lib, inflightDirName)} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("library: %w", err)
		}
	}
	if rl, ok := w.DB.(leaseReleaser); ok {
		n, err := rl.ReleaseJobLeases(ctx)
		if err != nil {
			return fmt.Errorf("library: release leases: %w", err)
		}
		if n > 0 {
			w.Logger.Info().Int("jobs", n).Str("decision", "redo").Msg("library: jobs a previous run held are claimable again")
		}
	}
	if err := clearDir(filepath.Join(c.lib, tmpDirName)); err != nil {
		return fmt.Errorf("library: clear partial MP3s: %w", err)
	}
	dir := filepath.Join(c.lib, inflightDirName)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("library: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") || !strings.HasSuffix(e.Name(), ".json") {
			_ = removeFile(p) // a marker cut short before its rename
			continue
		}
		m, err := readMarker(p)
		if err != nil {
			w.Logger.Warn().Err(err).Str("marker", p).Msg("library: unreadable in-flight marker removed")
			_ = removeFile(p)
			continue
		}
		if err := w.settleMarker(ctx, c, m); err != nil {
			return fmt.Errorf("library: settle %s: %w", p, err)
		}
		if err := removeFile(p); err != nil {
			return fmt.Errorf("library: %w", err)
		}
	}
	return nil
}

// settleMarker finishes the file work of a job a previous run left between rename and WAV
// removal.
func (w *Worker) settleMarker(ctx context.Context, c runConfig, m marker) error {
	rec, err := w.DB.Recording(ctx, m.RecordingID)
	if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		return err
	}
	switch {
	case err == nil && rec.State == store.StateReady && rec.MP3Path == m.MP3Path:
		if err := c.removeSpoolWAV(ctx, m.WAVPath); errors.Is(err, errOutsideSpool) || errors.Is(err, errNotRegular) {
			// A marker naming a WAV outside the spool is not followed; the row is ready.
			w.Logger.Warn().Err(err).Str("recording_id", rec.ID).Str("wav", m.WAVPath).Msg("library: WAV of a ready recording not removed")
			return nil
		} else if err != nil {
			return err
		}
		w.log(rec, "wav_removed", "previous run stopped between marking ready and removing the WAV")
	case err == nil && rec.State == store.StateProcessing:
		// Not committed: the job is still queued and will be redone, overwriting the MP3.
	case err == nil && rec.State == store.StateReady:
		// Ready with another MP3: leave both files alone.
	default:
		// Deleted, failed or discarded meanwhile: the MP3 is referenced by no row.
		if _, ok := ObjectKey(m.MP3Path); ok && w.Objects == nil {
			w.Logger.Warn().Str("recording_id", m.RecordingID).Str("mp3", m.MP3Path).Str("decision", "orphan_kept").
				Msg("library: an orphaned object is left in the bucket: library.backend is no longer s3")
			return nil
		}
		if err := w.removeMP3(ctx, c, m.MP3Path); err != nil {
			return err
		}
		w.Logger.Info().Str("recording_id", m.RecordingID).Str("decision", "orphan_removed").
			Str("reason", "recording gone or no longer processing").Msg("library decision")
	}
	return nil
}

// clearDir removes every entry of dir (it holds only files this package writes).
func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
