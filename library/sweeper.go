package library

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/objstore"
	"github.com/callrec/callrec/store"
)

// DefaultSweepInterval is how often Sweeper.Run sweeps when Interval is zero.
const DefaultSweepInterval = time.Hour

// BytesPerQuotaMB is what one unit of Company.QuotaMB holds: a mebibyte (1,048,576 bytes), the
// unit `du -m` and most file managers on the library's host show.
const BytesPerQuotaMB = 1 << 20

// sweepPage is how many recordings one read transaction of the sweeper returns.
const sweepPage = 256

// Sweeper keeps each company's library within its retention_days and quota_mb (SPEC.md §3.3):
// recordings that started more than retention_days ago are removed, then, while the company's
// ready MP3s add up to more than quota_mb, its oldest ready recordings. A removal takes the row,
// its index entries and queued job (one store transaction) and then its files (MP3, and the WAV
// a failed recording kept); each is logged with its reason. Recordings still recording or
// processing are never removed. cmd/callrec runs one Sweeper; tests call SweepOnce with a fake
// clock.
type Sweeper struct {
	DB         store.Store
	LibraryDir string // MP3s are removed only inside it
	// SpoolDirs are where WAVs may be removed (spool_dir and freeswitch.record_path): a WAV path
	// elsewhere, or anything but a regular file, is left alone and logged. Empty: no WAV is
	// removed.
	SpoolDirs []string
	Interval  time.Duration // between sweeps; default DefaultSweepInterval
	Logger    zerolog.Logger
	Metrics   *Metrics // also receives bytes stored per company after each sweep
	Now       func() time.Time
	// Objects is the object store of rows whose MP3 is an object (library.backend s3); nil
	// leaves such MP3s in place, logged.
	Objects objstore.Store
	// Leading, when set, tells whether this instance holds the sweep duty now (several
	// instances on one shared store: store/postgres.Leader.Leading). It is asked before each
	// company, so an instance that lost the duty mid-sweep stops within one company. Nil: this
	// instance always sweeps (one instance, the embedded store).
	Leading func() bool
}

// Run sweeps at once and then every Interval until ctx ends, and returns nil then. A failed
// sweep is logged and tried again at the next interval. Errors: a missing DB or LibraryDir.
func (s *Sweeper) Run(ctx context.Context) error {
	if s.DB == nil || s.LibraryDir == "" {
		return errors.New("library sweeper: DB and LibraryDir are required")
	}
	every := s.Interval
	if every <= 0 {
		every = DefaultSweepInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.SweepOnce(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error().Err(err).Int("removed", n).Msg("library: sweep failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// SweepOnce applies retention and quota to every company once and returns how many recordings
// it removed. It goes on with the next company when one fails and returns the errors joined.
// Any caller may use it (cmd/callrec through Run, an admin command, tests). Errors: store errors
// (EINTERNAL), ctx.Err(), a file that could not be removed (its row is gone already: the file
// is an orphan, logged).
func (s *Sweeper) SweepOnce(ctx context.Context) (removed int, err error) {
	if s.DB == nil || s.LibraryDir == "" {
		return 0, errors.New("library sweeper: DB and LibraryDir are required")
	}
	lib, err := filepath.Abs(s.LibraryDir)
	if err != nil {
		return 0, fmt.Errorf("library sweeper: %w", err)
	}
	companies, err := s.DB.Companies(ctx, "")
	if err != nil {
		return 0, fmt.Errorf("library sweeper: companies: %w", err)
	}
	var errs []error
	for _, c := range companies {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if s.Leading != nil && !s.Leading() {
			s.Logger.Info().Int("removed", removed).Str("decision", "sweep_yielded").Msg("library: not the sweep leader: this sweep stops")
			break
		}
		n, err := s.sweepCompany(ctx, lib, c)
		removed += n
		if err != nil {
			errs = append(errs, fmt.Errorf("company %s: %w", c.ID, err))
		}
	}
	return removed, errors.Join(errs...)
}

func (s *Sweeper) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// sweepCompany applies c's retention, then its quota, then publishes its bytes stored. Its cost
// follows its work: the usage comes from the store's running totals, retention walks by age
// only up to the cut-off, quota walks oldest first only while over the limit, and a company
// with neither reads none of its rows.
func (s *Sweeper) sweepCompany(ctx context.Context, lib string, c *store.Company) (int, error) {
	removed := 0
	var errs []error
	if c.RetentionDays > 0 {
		// AddDate cannot overflow the way days*24h does (store also bounds retention_days).
		cutoff := s.now().AddDate(0, 0, -c.RetentionDays)
		n, err := s.walkOldest(ctx, func(after string) ([]*store.Recording, error) {
			return s.DB.CompanyRecordingsStartedBefore(ctx, c.ID, after, cutoff, sweepPage)
		}, func(r *store.Recording) (bool, string) {
			if !settled(r) || s.held(ctx, r) {
				return true, ""
			}
			return true, fmt.Sprintf("retention: started %s, more than %d days before %s", r.StartedAt.Format(time.RFC3339), c.RetentionDays, s.now().Format(time.RFC3339))
		}, lib, "retention")
		removed += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	u, err := s.DB.CompanyUsage(ctx, c.ID)
	if err != nil {
		return removed, errors.Join(append(errs, err)...)
	}
	if limit, ok := quotaBytes(c); ok && u.Bytes > limit {
		total := u.Bytes
		n, err := s.walkOldest(ctx, func(after string) ([]*store.Recording, error) {
			return s.DB.CompanyRecordingsOldestFirst(ctx, c.ID, after, sweepPage)
		}, func(r *store.Recording) (bool, string) {
			if total <= limit {
				return false, ""
			}
			if r.State != store.StateReady || s.held(ctx, r) {
				return true, "" // a held recording stays, and still counts against the quota
			}
			reason := fmt.Sprintf("quota: company keeps %d bytes, more than its %d MB (%d bytes); oldest removed first", total, c.QuotaMB, limit)
			total -= r.FileSize
			return true, reason
		}, lib, "quota")
		removed += n
		if err != nil {
			errs = append(errs, err)
		}
		u.Bytes = total
	}
	s.Metrics.setBytes(c.ID, u.Bytes)
	return removed, errors.Join(errs...)
}

// held reports whether a legal hold covers r (store.HoldOn): retention and quota pass it by.
// A hold that cannot be read counts as a hold: nothing is removed on a doubt.
func (s *Sweeper) held(ctx context.Context, r *store.Recording) bool {
	h, err := s.DB.HoldOn(ctx, r)
	if err != nil {
		s.Logger.Error().Err(err).Str("recording_id", r.ID).Msg("library: legal holds not read; the recording is kept")
		return true
	}
	if h != nil {
		s.Logger.Debug().Str("recording_id", r.ID).Str("company_id", r.CompanyID).Str("hold", h.ID).Str("decision", "kept_on_hold").Msg("recording on legal hold kept")
	}
	return h != nil
}

// quotaBytes is c's quota in bytes; ok is false when c has none (or one too large to count).
func quotaBytes(c *store.Company) (limit int64, ok bool) {
	if c.QuotaMB <= 0 || int64(c.QuotaMB) > math.MaxInt64/BytesPerQuotaMB {
		return 0, false
	}
	return int64(c.QuotaMB) * BytesPerQuotaMB, true
}

// settled reports whether r has reached a state the worker no longer changes.
func settled(r *store.Recording) bool {
	switch r.State {
	case store.StateReady, store.StateFailed, store.StateDiscarded:
		return true
	}
	return false
}

// walkOldest pages through a company's recordings oldest first with next (the page after the
// given id, "" for the first); decide returns whether to go on and, when non-empty, why r must be
// removed.
func (s *Sweeper) walkOldest(ctx context.Context, next func(after string) ([]*store.Recording, error), decide func(r *store.Recording) (bool, string), lib, kind string) (int, error) {
	removed := 0
	after := ""
	var errs []error
	for {
		page, err := next(after)
		if err != nil {
			return removed, errors.Join(append(errs, err)...)
		}
		for _, r := range page {
			more, reason := decide(r)
			if !more {
				return removed, errors.Join(errs...)
			}
			if reason == "" {
				continue
			}
			ok, err := s.remove(ctx, lib, r, kind, reason)
			if ok {
				removed++
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(page) < sweepPage {
			return removed, errors.Join(errs...)
		}
		after = page[len(page)-1].ID
	}
}

// removeWAV removes the WAV a removed row kept, only inside the spool directories (issue 12
// point 5); a path outside them is logged and left alone.
func (s *Sweeper) removeWAV(ctx context.Context, old *store.Recording) error {
	if old.WAVPath == "" {
		return nil
	}
	c := runConfig{fileTimeout: DefaultFileTimeout}
	for _, d := range s.SpoolDirs {
		if abs, err := filepath.Abs(d); err == nil && d != "" {
			c.spools = append(c.spools, abs)
		}
	}
	err := c.removeSpoolWAV(ctx, old.WAVPath)
	if errors.Is(err, errOutsideSpool) || errors.Is(err, errNotRegular) {
		s.Logger.Error().Err(err).Str("recording_id", old.ID).Str("path", old.WAVPath).Msg("library: WAV outside the spool directories not removed")
		return nil
	}
	return err
}

// RemoveFiles removes the files of a recording whose row is already deleted: its MP3 only inside
// LibraryDir, its WAV only inside SpoolDirs (issue 12 point 5: a stored path is never trusted to
// stay inside them); a path outside is logged and left alone. The API's DELETE calls it. Errors:
// a file that could not be removed.
func (s *Sweeper) RemoveFiles(ctx context.Context, old *store.Recording) error {
	lib, err := filepath.Abs(s.LibraryDir)
	if err != nil || s.LibraryDir == "" {
		return fmt.Errorf("library sweeper: LibraryDir %q: %w", s.LibraryDir, err)
	}
	return s.removeFiles(ctx, lib, old)
}

func (s *Sweeper) removeFiles(ctx context.Context, lib string, old *store.Recording) error {
	var errs []error
	if _, ok := ObjectKey(old.MP3Path); ok {
		if err := removeObject(ctx, s.Objects, old.MP3Path); err != nil {
			errs = append(errs, err)
		}
	} else if old.MP3Path != "" {
		if inside(lib, old.MP3Path) {
			if err := removeFile(old.MP3Path); err != nil {
				errs = append(errs, err)
			}
		} else {
			s.Logger.Error().Str("recording_id", old.ID).Str("path", old.MP3Path).Msg("library: MP3 outside library_dir not removed")
		}
	}
	if err := s.removeWAV(ctx, old); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// remove deletes r's row (with its index entries and any job) and then its files, and logs the
// decision. It reports whether the row was removed by this call.
func (s *Sweeper) remove(ctx context.Context, lib string, r *store.Recording, kind, reason string) (bool, error) {
	action := store.AuditRetentionRemoval
	if kind == "quota" {
		action = store.AuditQuotaRemoval
	}
	// The removal's audit entry is stored in the deletion's transaction.
	old, err := s.DB.DeleteRecordingAudited(ctx, r.ID, func(old *store.Recording) *store.AuditEntry {
		return &store.AuditEntry{Action: action, CompanyID: old.CompanyID, RecordingID: old.ID, Role: "callrec", Detail: reason}
	})
	if store.ErrorCode(err) == store.ENOTFOUND {
		return false, nil // removed by someone else meanwhile
	}
	if err != nil {
		return false, fmt.Errorf("delete recording %s: %w", r.ID, err)
	}
	err = s.removeFiles(ctx, lib, old)
	s.Metrics.removed(kind)
	ev := s.Logger.Info()
	if err != nil {
		ev = s.Logger.Error().Err(err)
	}
	ev.Str("recording_id", old.ID).Str("company_id", old.CompanyID).Str("decision", "removed").Str("reason", reason).
		Str("state", old.State).Time("started_at", old.StartedAt).Int64("file_size", old.FileSize).Msg("recording removed from the library")
	return true, err
}
