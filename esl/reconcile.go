package esl

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/store"
)

// Reconciler settles, at start-up, the recordings a previous run left in state `recording`: a
// recording whose WAV has not changed for Quiet is finished (duration from the WAV itself), one
// whose call still runs (its WAV still grows) is left to the node connections, and one without a
// WAV where callrec expects it is failed, naming the path.
type Reconciler struct {
	DB       store.Store
	SpoolDir string
	Logger   zerolog.Logger
	Quiet    time.Duration // default 30 s
	Now      func() time.Time
}

// ReconcileResult counts what Run did.
type ReconcileResult struct{ Finished, Failed, StillRecording int }

// Run settles every row in state recording once. Errors are those of the store, and an empty
// SpoolDir or one that cannot be made absolute.
func (r *Reconciler) Run(ctx context.Context) (ReconcileResult, error) {
	var res ReconcileResult
	spool, err := absPath("Reconciler.SpoolDir", r.SpoolDir, true)
	if err != nil {
		return res, err
	}
	if r.Quiet <= 0 {
		r.Quiet = 30 * time.Second
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	recs, err := r.DB.RecordingsInState(ctx, store.StateRecording, 0)
	if err != nil {
		return res, fmt.Errorf("reconcile: %w", err)
	}
	for _, rec := range recs {
		path := rec.WAVPath
		if path == "" {
			path = filepath.Join(spool, rec.ID+".wav")
		}
		log := r.Logger.With().Str("recording", rec.ID).Str("company", rec.CompanyID).Str("call_id", rec.CallID).Logger()
		st, err := os.Stat(path)
		switch {
		case err != nil:
			if now().Sub(rec.StartedAt) < r.Quiet {
				res.StillRecording++ // FreeSWITCH may not have created it yet
				continue
			}
			// Nobody saw FreeSWITCH discard it (its RECORD_STOP was missed): the WAV is simply not
			// where callrec expected it, which an admin must see. Tenants see the reason; the path
			// goes to the log only (issue 12 point 14).
			reason := "the recording file was not found after a restart (FreeSWITCH's RECORD_STOP was not seen)"
			if err := r.DB.FailRecording(ctx, rec.ID, reason); err != nil {
				return res, err
			}
			res.Failed++
			log.Warn().Err(err).Str("path", path).Str("decision", "reconcile_failed").Msg("recording left by a previous run has no WAV")
		case now().Sub(st.ModTime()) < r.Quiet:
			res.StillRecording++
			log.Info().Str("decision", "reconcile_still_recording").Msg("WAV still growing; the node connection will finish it")
		default:
			ms := now().Sub(rec.StartedAt).Milliseconds()
			if f, err := openRegular(path, st); err == nil {
				if info, err := audio.ReadWAVInfo(f); err == nil {
					ms = info.Duration.Milliseconds()
				}
				f.Close()
			}
			if err := r.DB.FinishRecording(ctx, rec.ID, st.ModTime().UTC(), ms, path); err != nil {
				return res, err
			}
			res.Finished++
			log.Info().Int64("duration_ms", ms).Str("decision", "reconcile_finished").Msg("recording left by a previous run finished")
		}
	}
	return res, nil
}
