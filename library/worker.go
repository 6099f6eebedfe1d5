package library

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/envelope"
	"github.com/callrec/callrec/objstore"
	"github.com/callrec/callrec/store"
)

// Defaults of the Worker settings left zero.
const (
	DefaultMaxAttempts     = 5
	DefaultLease           = 5 * time.Minute
	DefaultMissingWAVGrace = 2 * time.Minute
	DefaultPoll            = 500 * time.Millisecond
	DefaultMachineRetry    = 15 * time.Second
	backoffBase            = 2 * time.Second
	backoffCap             = 10 * time.Minute
)

// DefaultBackoff is the wait before attempt+1 after attempt failed: 2 s doubled per attempt
// (2 s, 4 s, 8 s, …), capped at 10 minutes.
func DefaultBackoff(attempt int) time.Duration {
	d := backoffBase
	for i := 1; i < attempt; i++ {
		d *= 2
		if d >= backoffCap {
			return backoffCap
		}
	}
	return d
}

// Queue is what the audio worker needs of the store: the durable job queue and the recordings
// it settles. *store.DB (the embedded store, one process) and *postgres.DB (one database shared
// by several callrec instances, claims with FOR UPDATE SKIP LOCKED) both satisfy it.
type Queue interface {
	ClaimJob(ctx context.Context, lease time.Duration) (*store.Job, error)
	ExtendJobLease(ctx context.Context, jobID string, lease time.Duration) error
	AckJob(ctx context.Context, jobID string) error
	RetryJob(ctx context.Context, jobID string, notBefore time.Time, reason string) error
	DeferJob(ctx context.Context, jobID string, notBefore time.Time, reason string) error
	QueueDepth(ctx context.Context) (int, error)
	Recording(ctx context.Context, id string) (*store.Recording, error)
	Company(ctx context.Context, id string) (*store.Company, error)
	CompleteRecording(ctx context.Context, jobID string, res store.RecordingResult) error
	FailRecording(ctx context.Context, id, reason string) error
	DiscardRecording(ctx context.Context, id, reason string) error
}

// leaseReleaser is a store one process owns (the embedded store): every lease it holds at the
// worker's start is a dead process's, so they are released at once. A shared store has no such
// call: its leases belong to live instances too, and a dead one's expire.
type leaseReleaser interface {
	ReleaseJobLeases(ctx context.Context) (int, error)
}

// Worker encodes the recordings queued in the store into the library. Configure the fields,
// then call Run once (cmd/callrec runs one Worker per process: on a store that process owns, Run
// assumes that every lease in the queue at its start belongs to a dead process; on a shared one
// a dead instance's leases expire). Zero fields take the defaults noted.
type Worker struct {
	DB         Queue
	Encoder    audio.Encoder // default audio.NewShineEncoder(0)
	LibraryDir string        // required; MP3s are written only inside it
	// SpoolDirs are the directories FreeSWITCH writes WAVs into (spool_dir and
	// freeswitch.record_path); required. The worker opens and removes only regular files inside
	// them: a job whose WAV path lies elsewhere fails without its file being touched.
	SpoolDirs []string
	// FileTimeout bounds how long a job's file work (opening, reading, writing, removing) may
	// make no progress before the job is released and the worker goes on (a hung mount);
	// default DefaultFileTimeout.
	FileTimeout time.Duration
	// MachineRetry is the wait before a job stopped by the machine (disk full or failing,
	// library not writable) is tried again, without spending its attempts; default 15 s.
	MachineRetry time.Duration
	// Health, when set, is told of the machine's state as the worker sees it: the error when a
	// machine fault stops encoding, nil on the first encode that succeeds afterwards. It is
	// called from the worker's goroutines and must not block (cmd wires it to the readiness
	// registry's "audio_worker" part).
	Health      func(err error)
	Concurrency int // jobs encoded at once; default runtime.NumCPU()
	MaxAttempts int // attempts before a recording ends failed; default 5
	// Lease is how long a claimed job stays with this worker without news; it is renewed every
	// third of itself while the job is encoded, so it only bounds how long a hung or dead
	// holder keeps a job from the others (a restart frees them at once); default 5 minutes.
	Lease time.Duration
	// Backoff gives the wait after failed attempt number attempt (1-based); default DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// MissingWAVGrace is how long after the job was queued a missing (or audio-less) WAV is
	// waited for before the recording is discarded; default 2 minutes (see the package doc).
	MissingWAVGrace time.Duration
	// Poll is the idle interval between looks at the queue; default 500 ms. Notify wakes the
	// worker sooner.
	Poll    time.Duration
	Logger  zerolog.Logger
	Metrics *Metrics
	Now     func() time.Time // default time.Now; give the store the same clock
	// Keys seals the MP3s of companies with EncryptAtRest (nil: such a company's jobs are
	// retried, never written in the clear, until callrec runs with its master key).
	Keys *Keys
	// Objects, when set (library.backend s3), is where finished MP3s go: each is written in
	// LibraryDir's .tmp first, then put into Objects, durable before its row is committed
	// (objects.go). Nil: they are renamed into LibraryDir.
	Objects objstore.Store

	wakeOnce sync.Once
	wake     chan struct{}
	faulty   atomic.Bool // a machine fault was reported and not yet cleared

	// hook, when set (tests only), is called at each step of a job that a crash may interrupt.
	hook func(step string)
}

// Notify tells the worker a job was just enqueued, so an idle worker claims it without waiting
// for its next poll. Anyone may call it, before or during Run; it never blocks.
func (w *Worker) Notify() {
	ch := w.wakeChan()
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (w *Worker) wakeChan() chan struct{} {
	w.wakeOnce.Do(func() { w.wake = make(chan struct{}, 1) })
	return w.wake
}

// runConfig is a Worker's settings with the defaults filled in.
type runConfig struct {
	enc         audio.Encoder
	lib         string
	spools      []string // absolute and clean
	fileTimeout time.Duration
	machineWait time.Duration
	concurrency int
	maxAttempts int
	lease       time.Duration
	backoff     func(int) time.Duration
	grace       time.Duration
	poll        time.Duration
	now         func() time.Time
}

func (w *Worker) config() (runConfig, error) {
	c := runConfig{enc: w.Encoder, concurrency: w.Concurrency, maxAttempts: w.MaxAttempts, lease: w.Lease,
		backoff: w.Backoff, grace: w.MissingWAVGrace, poll: w.Poll, now: w.Now}
	if w.DB == nil {
		return c, errors.New("library worker: DB is required")
	}
	if w.LibraryDir == "" {
		return c, errors.New("library worker: LibraryDir is required")
	}
	lib, err := filepath.Abs(w.LibraryDir)
	if err != nil {
		return c, fmt.Errorf("library worker: %w", err)
	}
	c.lib = lib
	if len(w.SpoolDirs) == 0 {
		return c, errors.New("library worker: SpoolDirs is required")
	}
	for _, d := range w.SpoolDirs {
		if d == "" {
			return c, errors.New("library worker: empty SpoolDirs entry")
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return c, fmt.Errorf("library worker: %w", err)
		}
		c.spools = append(c.spools, abs)
	}
	c.fileTimeout, c.machineWait = w.FileTimeout, w.MachineRetry
	if c.fileTimeout <= 0 {
		c.fileTimeout = DefaultFileTimeout
	}
	if c.machineWait <= 0 {
		c.machineWait = DefaultMachineRetry
	}
	if c.enc == nil {
		c.enc = audio.NewShineEncoder(0)
	}
	if c.concurrency <= 0 {
		c.concurrency = runtime.NumCPU()
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = DefaultMaxAttempts
	}
	if c.lease <= 0 {
		c.lease = DefaultLease
	}
	if c.backoff == nil {
		c.backoff = DefaultBackoff
	}
	if c.grace <= 0 {
		c.grace = DefaultMissingWAVGrace
	}
	if c.poll <= 0 {
		c.poll = DefaultPoll
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Run settles what a previous run left (start-up recovery, see the package doc), then encodes
// queued recordings with Concurrency goroutines until ctx ends. On cancellation an encode in
// progress stops, its job is released for the next run (its files are cleaned up) and Run
// returns nil once every goroutine has stopped. Errors: a missing DB or LibraryDir, or a
// failure of the start-up recovery (store or library_dir unusable); errors while working are
// logged and retried, never returned.
func (w *Worker) Run(ctx context.Context) error {
	c, err := w.config()
	if err != nil {
		return err
	}
	if err := w.recover(ctx, c); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Go(func() { w.loop(ctx, c) })
	}
	wg.Wait()
	return nil
}

// loop claims and processes jobs until ctx ends, sleeping Poll (or until Notify) when idle.
func (w *Worker) loop(ctx context.Context, c runConfig) {
	timer := time.NewTimer(c.poll)
	defer timer.Stop()
	wake := w.wakeChan()
	var measured time.Time
	for ctx.Err() == nil {
		did, err := w.step(ctx, c)
		if w.Metrics != nil && (!did || time.Since(measured) >= c.poll) {
			// At most once per poll while busy (QueueDepth reads a counter, but the metric need not be fresher).
			if n, err := w.DB.QueueDepth(ctx); err == nil {
				w.Metrics.queueDepth(n)
			}
			measured = time.Now()
		}
		if did && err == nil {
			// There may be more work: wake one idle goroutine to look too. A goroutine that
			// finds the queue empty does not pass the wake-up on, so the chain ends there
			// (passing it on unconditionally made an idle worker hand the token to itself for
			// ever, issue 12 point 3).
			w.Notify()
			continue
		}
		if err != nil && ctx.Err() == nil {
			w.Logger.Error().Err(err).Msg("library: claiming a job failed")
		}
		timer.Reset(c.poll)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-timer.C:
		}
	}
}

// step claims one job and processes it. It reports whether a job was claimed; the error is
// the claim's (processing errors are handled and logged inside).
func (w *Worker) step(ctx context.Context, c runConfig) (bool, error) {
	job, err := w.DB.ClaimJob(ctx, c.lease)
	if store.ErrorCode(err) == store.ENOTFOUND {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	w.process(ctx, c, job)
	return true, nil
}

// process takes one claimed job to its end: ready, retried, failed, discarded or dropped.
func (w *Worker) process(ctx context.Context, c runConfig, job *store.Job) {
	w.at("claimed")
	bg := context.WithoutCancel(ctx) // settle the job even when shutdown starts meanwhile
	rec, err := w.DB.Recording(ctx, job.RecordingID)
	switch {
	case store.ErrorCode(err) == store.ENOTFOUND:
		w.drop(bg, job, nil, "recording no longer exists")
		return
	case err != nil:
		w.retry(bg, c, job, nil, fmt.Errorf("load recording: %w", err))
		return
	case rec.State != store.StateProcessing:
		w.drop(bg, job, rec, "recording is "+rec.State)
		return
	}
	dst, err := w.destination(c, rec)
	if err != nil {
		w.fail(bg, job, rec, err)
		return
	}
	seal, err := w.sealing(ctx, rec)
	if err != nil {
		w.retry(bg, c, job, rec, err)
		return
	}
	stopRenew := w.renewLease(ctx, c, job)
	res, size, sum, err := w.encode(ctx, c, job, rec, dst, seal)
	stopRenew()
	if err != nil {
		_ = removeFile(markerPath(c.lib, rec.ID))
		w.encodeFailed(ctx, c, job, rec, err)
		return
	}
	err = w.DB.CompleteRecording(bg, job.ID, store.RecordingResult{MP3Path: dst, DurationMS: res.DurationMS, FileSize: size, MIME: res.MIME, SHA256: sum, EncryptionKeyID: seal.keyID})
	switch store.ErrorCode(err) {
	case "":
	case store.ENOTFOUND, store.ECONFLICT:
		// Deleted, discarded or failed while encoding (or another holder finished first).
		if cur, gerr := w.DB.Recording(bg, rec.ID); gerr == nil && cur.State == store.StateReady && cur.MP3Path == dst {
			w.log(rec, "dropped", "another attempt already made it ready")
		} else {
			_ = w.removeMP3(bg, c, dst)
			w.log(rec, "dropped", "recording changed while encoding: "+err.Error())
		}
		_ = removeFile(markerPath(c.lib, rec.ID))
		w.Metrics.job("dropped")
		return
	default:
		w.retry(bg, c, job, rec, fmt.Errorf("mark ready: %w", err))
		return
	}
	w.at("committed")
	w.machineUp()
	if err := c.removeSpoolWAV(bg, job.WAVPath); err != nil {
		// The marker stays: the next start-up removes the WAV.
		w.Logger.Error().Err(err).Str("recording_id", rec.ID).Str("company_id", rec.CompanyID).Msg("library: WAV not removed")
	} else {
		w.at("wav_removed")
		_ = removeFile(markerPath(c.lib, rec.ID))
	}
	w.Metrics.job("ready")
	w.Metrics.addBytes(rec.CompanyID, size)
	w.Logger.Info().Str("recording_id", rec.ID).Str("company_id", rec.CompanyID).Str("decision", "ready").
		Int64("duration_ms", res.DurationMS).Int64("file_size", size).Str("sha256", sum).Str("encoder", res.Encoder).Msg("recording ready")
}

// renewLease extends job's lease every third of the lease while the job is being encoded (an
// encode may outlast a lease: ten hours of audio take minutes) and returns the function that
// stops it.
func (w *Worker) renewLease(ctx context.Context, c runConfig, job *store.Job) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(c.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := w.DB.ExtendJobLease(ctx, job.ID, c.lease); err != nil {
					if ctx.Err() == nil {
						w.Logger.Warn().Err(err).Str("job_id", job.ID).Msg("library: lease not extended")
					}
				} else {
					w.at("lease_renewed")
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// destination is where rec's MP3 goes: its path in library_dir, or "s3:" and its key.
func (w *Worker) destination(c runConfig, rec *store.Recording) (string, error) {
	if w.Objects == nil {
		return MP3Path(c.lib, rec)
	}
	key, err := objectKeyOf(rec)
	if err != nil {
		return "", err
	}
	return objectScheme + key, nil
}

// removeMP3 removes an MP3 this worker placed at dst (a file in library_dir or an object).
func (w *Worker) removeMP3(ctx context.Context, c runConfig, dst string) error {
	if _, ok := ObjectKey(dst); ok {
		return removeObject(ctx, w.Objects, dst)
	}
	if inside(c.lib, dst) {
		return removeFile(dst)
	}
	return nil
}

// sealWith is the data key an MP3 is sealed with; the zero value writes it in the clear.
type sealWith struct {
	keyID string
	key   []byte
}

// sealing decides whether rec's MP3 is sealed: when its company has EncryptAtRest, with the
// company's current data key. Errors (the job is retried): the store's, no Keys configured.
func (w *Worker) sealing(ctx context.Context, rec *store.Recording) (sealWith, error) {
	co, err := w.DB.Company(ctx, rec.CompanyID)
	if err != nil || !co.EncryptAtRest {
		// A company gone since is the recording's problem, not the seal's: CompleteRecording
		// settles it.
		if store.ErrorCode(err) == store.ENOTFOUND {
			err = nil
		}
		return sealWith{}, err
	}
	if w.Keys == nil {
		return sealWith{}, fmt.Errorf("company %s encrypts at rest and this worker has no master key", rec.CompanyID)
	}
	id, key, err := w.Keys.SealingKey(ctx, rec.CompanyID)
	if err != nil {
		return sealWith{}, fmt.Errorf("data key: %w", err)
	}
	return sealWith{keyID: id, key: key}, nil
}

// errMissingWAV marks a WAV that is absent or holds no audio yet.
var errMissingWAV = errors.New("WAV missing or without audio")

// encode writes the MP3 of job's WAV to dst atomically: encode into .tmp, write the marker,
// rename, fsync the directory. It returns the encoder's result, the final file size and the
// hex SHA-256 of the bytes written (hashed as they are written: the MP3 is never read back). The
// file work runs under a watchdog: when it makes no progress for the file timeout (a hung
// mount, issue 12 point 6) encode returns errFileTimeout and leaves the stuck goroutine behind,
// so one job cannot hold the worker (what that goroutine may still do later is harmless: its
// MP3 is complete or in .tmp, and a marker settles it at the next start-up). With seal set
// the file is sealed (package envelope) and the size and hash are of the MP3 inside.
func (w *Worker) encode(ctx context.Context, c runConfig, job *store.Job, rec *store.Recording, dst string, seal sealWith) (audio.Result, int64, string, error) {
	wav, err := c.spoolPath(job.WAVPath)
	if err != nil {
		return audio.Result{}, 0, "", fmt.Errorf("WAV %q: %w", job.WAVPath, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type outcome struct {
		res  audio.Result
		size int64
		sum  string
		err  error
	}
	p := &progress{}
	p.touch()
	done := make(chan outcome, 1)
	go func() {
		res, size, sum, err := w.encodeFile(ctx, c, p, job, rec, wav, dst, seal)
		done <- outcome{res, size, sum, err}
	}()
	tick := time.NewTicker(max(min(c.fileTimeout/4, time.Second), time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case o := <-done:
			return o.res, o.size, o.sum, o.err
		case <-tick.C:
			if p.since() > c.fileTimeout {
				return audio.Result{}, 0, "", fmt.Errorf("WAV %s: %w: no progress for %v", wav, errFileTimeout, c.fileTimeout)
			}
		}
	}
}

// encodeFile is encode's file work on the spool-contained WAV path wav, touching p as it goes;
// it returns what encode returns.
func (w *Worker) encodeFile(ctx context.Context, c runConfig, p *progress, job *store.Job, rec *store.Recording, wav, dst string, seal sealWith) (audio.Result, int64, string, error) {
	f, err := c.openSpoolWAV(wav)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return audio.Result{}, 0, "", fmt.Errorf("%w: %s", errMissingWAV, wav)
		}
		return audio.Result{}, 0, "", fmt.Errorf("open WAV %s: %w", wav, err)
	}
	defer f.Close()
	p.touch()
	src, err := audio.NewWAV(progressReader{f, p})
	if err != nil {
		return audio.Result{}, 0, "", fmt.Errorf("%s: %w", wav, err)
	}
	start := time.Now()
	tf, err := os.CreateTemp(filepath.Join(c.lib, tmpDirName), rec.ID+".*.mp3")
	if err != nil {
		return audio.Result{}, 0, "", libraryErr(fmt.Errorf("library temp file: %w", err))
	}
	tmp := tf.Name()
	p.touch()
	h := sha256.New() // hashed on the way to the file, so the MP3 is not read a second time
	var out io.Writer = tf
	var sealed *envelope.Writer
	if seal.keyID != "" {
		if sealed, err = envelope.NewWriter(tf, seal.keyID, seal.key); err != nil {
			_ = tf.Close()
			_ = removeFile(tmp)
			return audio.Result{}, 0, "", libraryErr(err)
		}
		out = sealed
	}
	res, err := c.enc.Encode(ctx, progressWriter{io.MultiWriter(out, h), p}, src)
	if err == nil && sealed != nil {
		err = libraryErr(sealed.Close())
	}
	if err == nil {
		err = libraryErr(tf.Sync())
	}
	if cerr := tf.Close(); err == nil {
		err = libraryErr(cerr)
	}
	if err != nil {
		_ = removeFile(tmp)
		if errors.Is(err, audio.ErrNoAudio) {
			return res, 0, "", fmt.Errorf("%w: %s: %w", errMissingWAV, wav, err)
		}
		return res, 0, "", fmt.Errorf("encode %s with %s: %w", wav, c.enc.Name(), err)
	}
	w.at("encoded")
	p.touch()
	fi, err := os.Stat(tmp)
	if key, ok := ObjectKey(dst); ok {
		// The marker first: a crash after the put leaves an object no row names, which the
		// next start deletes (settleMarker).
		if err == nil {
			err = writeMarker(c.lib, marker{RecordingID: rec.ID, JobID: job.ID, WAVPath: wav, MP3Path: dst})
		}
		if err == nil {
			err = putObject(ctx, w.Objects, key, tmp, p)
		}
		_ = removeFile(tmp)
		if err != nil {
			return res, 0, "", libraryErr(fmt.Errorf("place MP3: %w", err))
		}
		w.at("renamed")
	} else {
		if err == nil {
			err = mkdirAllSynced(c.lib, filepath.Dir(dst))
		}
		if err == nil {
			err = writeMarker(c.lib, marker{RecordingID: rec.ID, JobID: job.ID, WAVPath: wav, MP3Path: dst})
		}
		if err == nil {
			err = os.Rename(tmp, dst)
		}
		if err != nil {
			_ = removeFile(tmp)
			return res, 0, "", libraryErr(fmt.Errorf("place MP3: %w", err))
		}
		w.at("renamed")
		p.touch()
		if err := syncDir(filepath.Dir(dst)); err != nil {
			return res, 0, "", libraryErr(err)
		}
	}
	w.Metrics.encoded(time.Since(start))
	size := fi.Size()
	if sealed != nil {
		size = sealed.Plaintext()
	}
	return res, size, hex.EncodeToString(h.Sum(nil)), nil
}

// encodeFailed decides what an encoding error means for the job.
func (w *Worker) encodeFailed(ctx context.Context, c runConfig, job *store.Job, rec *store.Recording, err error) {
	bg := context.WithoutCancel(ctx)
	switch {
	case ctx.Err() != nil:
		// Shutdown, not a failure of the recording: due again at once on the next run.
		if rerr := w.DB.RetryJob(bg, job.ID, c.now(), "interrupted by shutdown"); rerr != nil {
			w.Logger.Error().Err(rerr).Str("recording_id", rec.ID).Msg("library: job not released")
		}
		w.log(rec, "released", "shutdown while encoding")
	case machineFault(err):
		w.machineDown(bg, c, job, rec, err)
	case errors.Is(err, errMissingWAV):
		w.missingWAV(bg, c, job, rec, err)
	case errors.Is(err, errOutsideSpool), errors.Is(err, errNotRegular):
		// Never touched, never retried: the path or the file is not what FreeSWITCH writes.
		w.fail(bg, job, rec, err)
	case errors.Is(err, audio.ErrUnsupported), errors.Is(err, audio.ErrNotWAV) && job.Attempts >= 2:
		// No retry will change the file's format; a file still not a WAV on the second look is damaged.
		w.fail(bg, job, rec, err)
	default:
		w.retry(bg, c, job, rec, err)
	}
}

// missingWAV waits for a WAV that is not there (yet) until the grace period since the job was
// queued has passed; then a WAV that never appeared fails the recording (naming the path) and
// one without audio is discarded.
func (w *Worker) missingWAV(ctx context.Context, c runConfig, job *store.Job, rec *store.Recording, err error) {
	queued := jobQueuedAt(job, rec)
	deadline := queued.Add(c.grace)
	now := c.now()
	if now.Before(deadline) {
		next := now.Add(c.backoff(job.Attempts))
		if next.After(deadline) {
			next = deadline
		}
		if rerr := w.DB.RetryJob(ctx, job.ID, next, err.Error()); rerr != nil {
			w.Logger.Error().Err(rerr).Str("recording_id", rec.ID).Msg("library: job not released")
		}
		w.Logger.Info().Str("recording_id", rec.ID).Str("company_id", rec.CompanyID).Str("decision", "wait_wav").
			Str("reason", err.Error()).Time("until", deadline).Msg("WAV not in the spool yet")
		return
	}
	// Say what callrec saw, not what it guesses: FreeSWITCH's own discards (too short, empty)
	// are booked from RECORD_STOP (RECORD_DISCARDED) before a job exists.
	if errors.Is(err, audio.ErrNoAudio) {
		reason := fmt.Sprintf("the recording file holds no audio %s after the recording ended", c.grace)
		if derr := w.DB.DiscardRecording(ctx, rec.ID, reason); derr != nil {
			w.Logger.Error().Err(derr).Str("recording_id", rec.ID).Msg("library: recording not discarded")
			return
		}
		_ = c.removeSpoolWAV(ctx, job.WAVPath) // a header-only WAV holds nothing worth keeping
		w.Metrics.job("discarded")
		w.log(rec, "discarded", reason+": "+err.Error())
		return
	}
	w.fail(ctx, job, rec, fmt.Errorf("%w %s after the recording ended (is the spool shared with FreeSWITCH and writable by it?)", err, c.grace))
}

// jobQueuedAt is when job entered the queue: the time of its ULID (store clock), else the
// recording's end.
func jobQueuedAt(job *store.Job, rec *store.Recording) time.Time {
	if id, err := ulid.ParseStrict(job.ID); err == nil {
		return ulid.Time(id.Time())
	}
	if rec.EndedAt != nil {
		return *rec.EndedAt
	}
	return rec.StartedAt
}

// retry releases the job for another attempt after the back-off, or fails the recording when
// the attempts are spent.
func (w *Worker) retry(ctx context.Context, c runConfig, job *store.Job, rec *store.Recording, err error) {
	if rec != nil && job.Attempts >= c.maxAttempts {
		w.fail(ctx, job, rec, fmt.Errorf("after %d attempts: %w", job.Attempts, err))
		return
	}
	wait := c.backoff(job.Attempts)
	if rerr := w.DB.RetryJob(ctx, job.ID, c.now().Add(wait), err.Error()); rerr != nil {
		w.Logger.Error().Err(rerr).Str("job_id", job.ID).Msg("library: job not released (its lease will expire)")
	}
	w.Metrics.failure("retry")
	ev := w.Logger.Warn().Str("job_id", job.ID).Str("decision", "retry").Str("reason", err.Error()).
		Int("attempt", job.Attempts).Dur("backoff", wait)
	if rec != nil {
		ev = ev.Str("recording_id", rec.ID).Str("company_id", rec.CompanyID)
	}
	ev.Msg("encoding attempt failed")
}

// fail ends the recording failed with err's plain reason (publicReason: tenants see it; err
// itself, with paths and details, goes to the log); the WAV is kept.
func (w *Worker) fail(ctx context.Context, job *store.Job, rec *store.Recording, err error) {
	if ferr := w.DB.FailRecording(ctx, rec.ID, publicReason(err)); ferr != nil {
		w.Logger.Error().Err(ferr).Str("recording_id", rec.ID).Msg("library: recording not marked failed")
		return
	}
	w.Metrics.failure("final")
	w.Metrics.job("failed")
	w.Logger.Error().Str("recording_id", rec.ID).Str("company_id", rec.CompanyID).Str("decision", "failed").
		Str("reason", err.Error()).Str("wav", job.WAVPath).Int("attempts", job.Attempts).Msg("recording failed; WAV kept")
}

// machineDown releases a job the machine stopped (disk full or failing, library not writable,
// a hung mount) for another try after MachineRetry without spending its attempt, and reports
// the fault once until an encode succeeds again (issue 12 point 7).
func (w *Worker) machineDown(ctx context.Context, c runConfig, job *store.Job, rec *store.Recording, err error) {
	if derr := w.DB.DeferJob(ctx, job.ID, c.now().Add(c.machineWait), err.Error()); derr != nil {
		w.Logger.Error().Err(derr).Str("job_id", job.ID).Msg("library: job not released (its lease will expire)")
	}
	w.Metrics.failure("machine")
	first := w.faulty.CompareAndSwap(false, true)
	if first {
		w.Metrics.machineFault(true)
		if w.Health != nil {
			w.Health(fmt.Errorf("library: %w", err))
		}
	}
	w.Logger.Warn().Str("recording_id", rec.ID).Str("company_id", rec.CompanyID).Str("job_id", job.ID).
		Str("decision", "machine_retry").Str("reason", err.Error()).Bool("first", first).Dur("backoff", c.machineWait).
		Msg("encoding stopped by the machine, not the recording: retried without spending an attempt")
}

// machineUp clears a reported machine fault after an encode succeeded.
func (w *Worker) machineUp() {
	if w.faulty.CompareAndSwap(true, false) {
		w.Metrics.machineFault(false)
		if w.Health != nil {
			w.Health(nil)
		}
		w.Logger.Info().Str("decision", "machine_ok").Msg("library: encoding works again")
	}
}

// drop acks a job whose recording no longer needs it.
func (w *Worker) drop(ctx context.Context, job *store.Job, rec *store.Recording, reason string) {
	if err := w.DB.AckJob(ctx, job.ID); err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		w.Logger.Error().Err(err).Str("job_id", job.ID).Msg("library: job not acked")
		return
	}
	w.Metrics.job("dropped")
	if rec == nil {
		w.Logger.Info().Str("job_id", job.ID).Str("recording_id", job.RecordingID).Str("decision", "dropped").Str("reason", reason).Msg("job dropped")
		return
	}
	w.log(rec, "dropped", reason)
}

func (w *Worker) log(rec *store.Recording, decision, reason string) {
	w.Logger.Info().Str("recording_id", rec.ID).Str("company_id", rec.CompanyID).Str("decision", decision).Str("reason", reason).Msg("library decision")
}

func (w *Worker) at(step string) {
	if w.hook != nil {
		w.hook(step)
	}
}
