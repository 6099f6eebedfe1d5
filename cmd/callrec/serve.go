package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/spf13/pflag"

	"github.com/callrec/callrec/atomicfile"
	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/esl"
	"github.com/callrec/callrec/health"
	"github.com/callrec/callrec/library"
	"github.com/callrec/callrec/objstore"
	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/web"
	"github.com/callrec/callrec/webhook"
)

// serve runs callrec until ctx is cancelled (SIGINT/SIGTERM), then stops taking new calls,
// leaves live calls running (they fail open), persists queued work and closes the store.
func serve(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	return serveNotify(ctx, args, environ, stdout, stderr, nil)
}

// serveNotify is serve; serving, when not nil, is called once with the bound HTTP base URL and
// ESL listener address as soon as both listen (demo wires its FreeSWITCH stand-in to them).
//
// Once its logger exists, the last line serve logs is "callrec stopped" with the reason and the
// exit code (logStopped).
func serveNotify(ctx context.Context, args, environ []string, stdout, stderr io.Writer, serving func(httpURL, eslAddr string)) (err error) {
	cfg, err := loadConfig(pflag.NewFlagSet("serve", pflag.ContinueOnError), args, environ)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	defer func() { logStopped(ctx, log, err) }()
	for _, w := range cfg.Warnings {
		log.Warn().Msg(w)
	}
	raiseFileLimit(log)
	parts := health.New()
	warnings, err := prepareDirs(cfg)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	for _, w := range warnings {
		log.Warn().Str("decision", "directory_check").Msg(w)
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return &exitError{code: 3, err: err}
	}
	// Consumers get the store itself: they type-assert for what only an owned store has (the
	// worker's and dispatcher's lease release at start).
	db := st.Store
	defer func() {
		if err := db.Close(); err != nil {
			log.Error().Err(err).Msg("close store")
		}
	}()
	signingKey, err := st.signingKey(ctx, cfg, log)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	// Of instances starting together on a fresh shared store, one makes (and prints) the token.
	if err := st.exclusive(ctx, "bootstrap", func() error {
		return ensureBootstrapToken(ctx, db, cfg.BootstrapToken, stdout, log)
	}); err != nil {
		return err
	}
	keys, err := st.masterKey(ctx, cfg, log)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	objects, err := openObjects(ctx, cfg, log)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	warnInvalidAnnouncements(ctx, db, log)

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	eslMetrics, err := esl.NewMetrics(registry)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	httpMetrics, err := web.NewHTTPMetrics(registry)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	nodeUp, err := newNodeUpGauge(registry)
	if err != nil {
		return err
	}
	if err := registerBuildInfo(registry, version); err != nil {
		return err
	}
	integrityMetrics, err := web.NewIntegrityMetrics(registry)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}

	// Rows a previous run left recording are settled before new calls arrive. On a shared store
	// the rows recording are mostly other instances' live calls: the duty leader reconciles,
	// every minute below, never an instance as it starts.
	rec := &esl.Reconciler{DB: db, SpoolDir: cfg.SpoolDir, Logger: log}
	if st.shared == nil {
		if res, err := rec.Run(ctx); err != nil {
			log.Error().Err(err).Msg("reconcile")
		} else if res != (esl.ReconcileResult{}) {
			log.Info().Int("finished", res.Finished).Int("failed", res.Failed).Int("still_recording", res.StillRecording).Msg("reconciled recordings of a previous run")
		}
	}

	calls := &esl.Server{
		Addr: cfg.ESL.Listen, DB: db, Logger: log, Metrics: eslMetrics,
		SpoolDir: cfg.SpoolDir, OnDemandPath: cfg.FreeSWITCH.RecordPath,
		RouteContext: cfg.ESL.RouteContext, TransferContext: cfg.ESL.TransferContext,
		UserContext:    cfg.FreeSWITCH.UserContexts[0],
		DefaultCountry: cfg.DefaultCountry, Tone: cfg.ESL.Tone,
		CommandTimeout: cfg.ESL.CommandTimeout, PlanDeadline: cfg.ESL.PlanDeadline,
		MaxConns: cfg.ESL.MaxConns, Health: parts,
		// With several instances in the dialplan, a call taken is marked so the next ones
		// (reached after this one closed on purpose) do not decide it again.
		MarkTaken: len(cfg.ESL.Instances) > 1,
	}
	if st.shared != nil {
		// Several instances on one store: the calls this one takes carry its id, and the duty
		// leader's node connections take over, every 10 s, the calls of an instance that is gone.
		calls.Instance, calls.Peers, calls.ReadoptEvery = st.instance, st, 10*time.Second
	}
	background, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	var wg sync.WaitGroup
	// Every return from here on stops the background goroutines and waits for them before the
	// store closes (deferred earlier, so it runs after this).
	defer func() { stopBackground(); wg.Wait() }()
	if err := st.runInstance(background, &wg); err != nil {
		return &exitError{code: 3, err: err}
	}
	wg.Add(1)
	go func() { defer wg.Done(); st.watch(background, parts) }()
	if err := calls.Open(); err != nil {
		return &exitError{code: 1, err: err}
	}
	if st.duties != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = st.duties.Run(background) }()
	}
	// Reconcile also runs every minute: a recording whose leg outlived its session (and missed by
	// the node connections, or with none configured) is finished once its WAV is quiet.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		for {
			select {
			case <-background.Done():
				return
			case <-tick.C:
				if !st.leading() {
					continue
				}
				if res, err := rec.Run(background); err != nil {
					log.Error().Err(err).Msg("reconcile")
				} else if res.Finished+res.Failed > 0 {
					log.Info().Int("finished", res.Finished).Int("failed", res.Failed).Msg("reconciled recordings left by their sessions")
				}
			}
		}
	}()
	for _, n := range cfg.FreeSWITCH.Nodes {
		// Calls: the node re-adopts the calls of a previous run and lends itself to a Session
		// whose own connection is lost (reload mod_event_socket), so control outlives both.
		node := &esl.Node{Addr: n.Addr, Password: n.Password, DB: db, Logger: log, SpoolDir: cfg.SpoolDir,
			OnDemandPath: cfg.FreeSWITCH.RecordPath, CommandTimeout: cfg.ESL.CommandTimeout, Calls: calls,
			Health: nodeState{HealthReporter: parts, up: nodeUp.WithLabelValues(n.Addr)}}
		nodeUp.WithLabelValues(n.Addr).Set(0) // down until its first connect
		wg.Add(1)
		go func() { defer wg.Done(); node.Run(background) }()
	}

	libMetrics, err := library.NewMetrics(registry)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	worker := &library.Worker{
		DB: db, Encoder: audio.NewShineEncoder(cfg.Audio.BitrateKbps), LibraryDir: cfg.LibraryDir,
		SpoolDirs:   []string{cfg.SpoolDir, cfg.FreeSWITCH.RecordPath},
		Concurrency: cfg.Audio.Workers, MaxAttempts: cfg.Audio.MaxAttempts, Logger: log, Metrics: libMetrics, Keys: keys, Objects: objects,
		// A machine fault (library disk full, read-only, EIO) puts the audio worker down on
		// /readyz until encoding works again; the recordings wait, their attempts kept.
		Health: func(err error) {
			if err != nil {
				parts.Down(health.AudioWorker, err)
			} else {
				parts.Up(health.AudioWorker)
			}
		},
	}
	calls.OnFinished = worker.Notify
	sweeper := &library.Sweeper{DB: db, LibraryDir: cfg.LibraryDir, SpoolDirs: worker.SpoolDirs, Logger: log, Metrics: libMetrics, Objects: objects}
	if st.duties != nil {
		sweeper.Leading = st.leading
	}
	wg.Add(2)
	parts.Up(health.AudioWorker)
	go func() {
		defer wg.Done()
		if err := worker.Run(background); err != nil && background.Err() == nil {
			log.Error().Err(err).Msg("audio worker stopped")
			parts.Fatal(health.AudioWorker, err)
		}
	}()
	go func() { defer wg.Done(); sweeper.Run(background) }()
	// Recordings made ready before SHA-256s were stored get theirs in the background (the store's
	// open never waits for it; progress in the log, resumed after a restart).
	backfill := &library.HashBackfill{DB: db, LibraryDir: cfg.LibraryDir, Logger: log}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if !waitLeading(background, st.leading) {
			return
		}
		if err := backfill.Run(background); err != nil && background.Err() == nil {
			log.Error().Err(err).Str("decision", "hash_backfill").Msg("hash backfill stopped; it resumes at the next start")
		}
	}()

	// Webhooks: the deliveries the store enqueued with each recording's change (and the
	// recording.missing reports of esl) go out from the durable queue; a failing receiver is
	// retried, only a dispatcher that cannot read its queue is down on /readyz.
	dispatcher := &webhook.Dispatcher{DB: db, Logger: log, Workers: cfg.Webhooks.Workers, Timeout: cfg.Webhooks.Timeout,
		MaxAttempts: cfg.Webhooks.MaxAttempts, BackoffBase: cfg.Webhooks.BackoffBase, BackoffMax: cfg.Webhooks.BackoffMax,
		AllowPrivateNetworks: cfg.Webhooks.AllowPrivateNetworks,
		Health: func(err error) {
			if err != nil {
				parts.Down(webhook.HealthPart, err)
			} else {
				parts.Up(webhook.HealthPart)
			}
		}}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := dispatcher.Run(background); err != nil {
			log.Error().Err(err).Msg("webhook dispatcher stopped")
			parts.Fatal(webhook.HealthPart, err)
		}
	}()

	if cfg.Debug.PprofListen != "" {
		if _, err := startDebug(background, cfg.Debug.PprofListen, log); err != nil {
			calls.Close(context.Background())
			return &exitError{code: 1, err: err}
		}
	}
	httpServer := &web.Server{Addr: cfg.HTTP.Listen, DB: db, Logger: log,
		Metrics: registry, MetricsToken: cfg.HTTP.MetricsToken, HTTPMetrics: httpMetrics,
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout, ReadTimeout: cfg.HTTP.ReadTimeout, IdleTimeout: cfg.HTTP.IdleTimeout,
		MaxConns: cfg.HTTP.MaxConns, MaxConnsPerIP: cfg.HTTP.MaxConnsPerIP, AuthFailLimit: cfg.HTTP.AuthFailures,
		Health: parts, RemoveFiles: sweeper.RemoveFiles, SigningKey: signingKey, Keys: keys, Objects: objects, PresignAudio: cfg.Library.PresignTTL, IntegrityMetrics: integrityMetrics, Calls: calls,
		WebhookAllowHTTP: cfg.Webhooks.AllowHTTP, WebhookAllowPrivateNetworks: cfg.Webhooks.AllowPrivateNetworks}
	if err := httpServer.Open(); err != nil {
		calls.Close(context.Background())
		return &exitError{code: 1, err: fmt.Errorf("http: %w", err)}
	}
	parts.Up(health.HTTP)
	log.Info().Str("http", httpServer.URL()).Str("esl", calls.BoundAddr()).Str("data_dir", cfg.DataDir).Msg("callrec serving")
	if serving != nil {
		serving(httpServer.URL(), calls.BoundAddr())
	}

	// A part that cannot be restored ends the process (exit code 4, README "Exit codes") so its
	// supervisor restarts callrec; a part that is only down is reported on /readyz meanwhile.
	var fatal error
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down: no new calls, live calls continue on FreeSWITCH")
	case err := <-calls.Failed():
		parts.Fatal(health.ESLListener, err)
		fatal = <-parts.Failed()
	case fatal = <-parts.Failed():
	}
	if fatal != nil {
		log.Error().Err(fatal).Str("decision", "exit_for_restart").Msg("a part of callrec cannot be restored: stopping so the supervisor restarts it")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	var errs []error
	calls.Drain()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := calls.Close(shutdownCtx); err != nil {
		errs = append(errs, err)
	}
	stopBackground()
	wg.Wait()
	if fatal != nil {
		return &exitError{code: exitPartFailed, err: errors.Join(append([]error{fatal}, errs...)...)}
	}
	return errors.Join(errs...)
}

// logStopped writes serve's last log line: "callrec stopped", why (the signal, or the error) and
// the exit code main ends the process with.
func logStopped(ctx context.Context, log zerolog.Logger, err error) {
	code, reason := 0, ""
	switch {
	case err != nil:
		code, reason = 1, err.Error()
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
	case ctx.Err() != nil:
		reason = context.Cause(ctx).Error() // signal.NotifyContext's cause names the signal
	}
	ev := log.Info()
	if code != 0 {
		ev = log.Error()
	}
	ev.Str("reason", reason).Int("exit_code", code).Msg("callrec stopped")
}

// exitPartFailed is serve's exit code when a part (the ESL listener, HTTP, the audio worker)
// failed for good: systemd's Restart=on-failure / Kubernetes restart the process.
const exitPartFailed = 4

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit: every call holds descriptors
// (its ESL connection, its WAV), and the usual soft default of 1024 runs out first.
func raiseFileLimit(log zerolog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn().Err(err).Msg("cannot read RLIMIT_NOFILE")
		return
	}
	if lim.Cur < lim.Max {
		was := lim.Cur
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn().Err(err).Uint64("soft", was).Uint64("hard", lim.Max).Msg("cannot raise RLIMIT_NOFILE")
			return
		}
	}
	log.Info().Uint64("nofile", lim.Cur).Msg("open file limit")
}

// ensureBootstrapToken makes sure a platform admin can sign in. With bootstrap_token configured,
// that secret is stored (hashed) if it is not already; otherwise, on a store without any platform
// token, a new one is generated, stored hashed and printed once on stdout.
func ensureBootstrapToken(ctx context.Context, db store.Store, configured string, stdout io.Writer, log zerolog.Logger) error {
	if configured != "" {
		hash := store.HashToken(configured)
		if _, err := db.TokenByHash(ctx, hash); err == nil {
			return nil
		} else if store.ErrorCode(err) != store.ENOTFOUND {
			return fmt.Errorf("bootstrap token: %w", err)
		}
		tok := &store.Token{Name: "bootstrap (configured)", Role: store.RolePlatform, Hash: hash}
		if err := db.CreateToken(ctx, tok); err != nil {
			return fmt.Errorf("bootstrap token: %w", err)
		}
		log.Info().Str("token_id", tok.ID).Msg("configured bootstrap token stored")
		return nil
	}
	has, err := db.HasPlatformToken(ctx)
	if err != nil || has {
		return err
	}
	secret, hash, err := store.NewTokenSecret()
	if err != nil {
		return fmt.Errorf("bootstrap token: %w", err)
	}
	tok := &store.Token{Name: "bootstrap", Role: store.RolePlatform, Hash: hash, CreatedAt: time.Now().UTC()}
	if err := db.CreateToken(ctx, tok); err != nil {
		return fmt.Errorf("bootstrap token: %w", err)
	}
	fmt.Fprintf(stdout, "callrec: platform admin token (shown once, store it now): %s\n", secret)
	log.Warn().Str("token_id", tok.ID).Msg("generated bootstrap platform token; printed once on stdout")
	return nil
}

// backup writes a consistent copy of the store while callrec is stopped. An existing FILE is
// refused (exit 2, FILE untouched) unless --force is given; the copy is written to a temporary
// file in FILE's directory, fsynced, renamed over FILE and the directory fsynced, so FILE is at
// every moment the old copy or the whole new one.
func backup(ctx context.Context, args, environ []string, stdout io.Writer) error {
	fs := pflag.NewFlagSet("backup", pflag.ContinueOnError)
	force := fs.Bool("force", false, "replace FILE when it exists")
	cfg, err := loadConfig(fs, args, environ)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() != 1 {
		return &exitError{code: 2, err: errors.New("usage: callrec backup [--force] FILE")}
	}
	if cfg.Store.Backend == StorePostgres {
		return &exitError{code: 2, err: errors.New("backup: store.backend is postgres: back the database up with pg_dump or its base backups (callrec backup copies the embedded store only)")}
	}
	target := fs.Arg(0)
	if _, err := os.Lstat(target); err == nil && !*force {
		return &exitError{code: 2, err: fmt.Errorf("backup: %s exists: left untouched (--force replaces it)", target)}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	db, err := store.Open(ctx, cfg.dbPath(), store.Options{DefaultCountry: cfg.DefaultCountry, Timeout: 2 * time.Second})
	if err != nil {
		return &exitError{code: 3, err: fmt.Errorf("open store %s: %w (a running callrec holds the store: stop it, or back up through GET /api/v1/backup with a platform token)", cfg.dbPath(), err)}
	}
	defer db.Close()
	n, err := writeAtomically(target, func(w io.Writer) (int64, error) { return db.Backup(ctx, w) })
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "callrec: wrote %d bytes to %s\n", n, target)
	return nil
}

// writeAtomically replaces target with what write produces: a temporary file in target's
// directory (so the rename stays on one file system), fsynced, renamed over target, then the
// directory fsynced so the rename survives a crash. On an error target is unchanged and the
// temporary file removed.
func writeAtomically(target string, write func(io.Writer) (int64, error)) (int64, error) {
	var n int64
	err := atomicfile.Write(target, 0o600, true, func(w io.Writer) (err error) {
		n, err = write(w)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// warnInvalidAnnouncements names every stored DDI whose announcement the call path refuses (an
// older version accepted it): its calls are not recorded until an admin sets a valid one.
func warnInvalidAnnouncements(ctx context.Context, db store.Store, log zerolog.Logger) {
	bad, err := db.DDIsWithInvalidAnnouncements(ctx)
	if err != nil {
		log.Error().Err(err).Msg("check DDI announcements")
		return
	}
	for _, d := range bad {
		log.Warn().Str("company", d.CompanyID).Str("ddi", d.ID).Str("number", d.Number).Str("decision", "invalid_announcement").
			Msg("this DDI's announcement cannot be played safely, so its calls are not recorded: set a valid announcement (see README, Announcements)")
	}
}

// openObjects opens the object store of library.backend s3 (nil for dir: MP3s stay in
// library_dir) and checks that its bucket answers, so a wrong endpoint, bucket or key stops
// the start (exit 1) instead of failing every recording later.
func openObjects(ctx context.Context, cfg Config, log zerolog.Logger) (objstore.Store, error) {
	if cfg.Library.Backend == "" || cfg.Library.Backend == objstore.BackendDir {
		return nil, nil
	}
	objects, err := objstore.New(ctx, cfg.Library, cfg.LibraryDir)
	if err != nil {
		return nil, err
	}
	probe, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := objects.List(probe, "", func(objstore.Info) error { return errStopListing }); err != nil && !errors.Is(err, errStopListing) {
		return nil, fmt.Errorf("library.backend s3: bucket %q at %q does not answer: %w", cfg.Library.S3.Bucket, cfg.Library.S3.Endpoint, err)
	}
	log.Info().Str("decision", "library_backend").Str("backend", cfg.Library.Backend).Str("bucket", cfg.Library.S3.Bucket).
		Str("endpoint", cfg.Library.S3.Endpoint).Str("prefix", cfg.Library.S3.Prefix).Msg("finished MP3s go to object storage")
	return objects, nil
}

// errStopListing ends openObjects' probe at the first object.
var errStopListing = errors.New("stop")

// signingKeyPath is where the archive signing key lives: next to the store.
func (c Config) signingKeyPath() string {
	return filepath.Join(filepath.Dir(c.dbPath()), "signing.key")
}

// loadSigningKey loads the archive signing key, creating it at the first start. A key file that
// exists but cannot be used is an error: callrec never replaces a signing key.
func loadSigningKey(cfg Config, log zerolog.Logger) (*web.SigningKey, error) {
	path := cfg.signingKeyPath()
	key, created, err := web.LoadSigningKey(path)
	if err != nil {
		return nil, err
	}
	ev := log.Info()
	if created {
		ev = log.Warn() // once per installation: the key to back up with the store
	}
	ev.Str("key_id", key.ID()).Str("path", path).Bool("created", created).Str("decision", "signing_key").
		Msg("archive signing key loaded (back it up with the store; its public key is GET /api/v1/signing-key)")
	return key, nil
}
