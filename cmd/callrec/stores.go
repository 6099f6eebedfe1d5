package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/health"
	"github.com/callrec/callrec/library"
	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/store/postgres"
	"github.com/callrec/callrec/web"
)

// sharedStore is serve's store with what only a store several instances share has: nil
// shared on the embedded store (one process owns it: it leads every duty alone).
type sharedStore struct {
	store.Store
	shared *postgres.DB     // store.backend postgres
	duties *postgres.Leader // the sweeps, the reconcile, the hash backfill and the re-adoption of other instances' calls
	// instance is this process's id among the instances (the owner mark on the calls it
	// takes), alive while self holds its lock.
	instance string
	self     *postgres.Leader
}

// dutyLeader names the advisory lock of the duties one instance at a time does.
const dutyLeader = "duties"

// openStore opens the configured store: the bbolt file in data_dir, or the PostgreSQL
// database of store.postgres.dsn (migrated by whichever instance gets there first). Errors
// name the store; the caller exits 3.
func openStore(ctx context.Context, cfg Config, log zerolog.Logger) (*sharedStore, error) {
	if cfg.Store.Backend != StorePostgres {
		db, err := store.Open(ctx, cfg.dbPath(), store.Options{DefaultCountry: cfg.DefaultCountry})
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", cfg.dbPath(), err)
		}
		return &sharedStore{Store: db}, nil
	}
	// A first connection that does not answer within a minute is a configuration to fix, not a
	// wait: the supervisor restarts callrec, which tries again.
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	db, err := postgres.Open(octx, cfg.Store.Postgres.DSN, postgres.Options{DefaultCountry: cfg.DefaultCountry, Log: &log,
		// Calls' rows are written before they are durable (the call path never waits on the
		// network); what a killed process left is stored when it starts again on this data_dir.
		IntentsDir: filepath.Join(cfg.DataDir, "postgres.intents")})
	if err != nil {
		return nil, fmt.Errorf("open store postgres: %w", err)
	}
	id := "i" + strings.ToLower(ulid.Make().String())
	log.Info().Str("decision", "store_backend").Str("backend", StorePostgres).Int("schema", db.SchemaVersion()).Str("instance", id).
		Msg("store of record is PostgreSQL, shared with every instance of this deployment")
	return &sharedStore{Store: db, shared: db, duties: db.NewLeader(dutyLeader, postgres.LeaderOptions{}),
		instance: id, self: db.NewLeader(postgres.InstanceDuty(id), postgres.LeaderOptions{Retry: 500 * time.Millisecond})}, nil
}

// runInstance holds this instance's liveness lock until ctx ends, and waits (up to 30 s) until
// it holds it: the calls it takes are marked with its id, and another instance must never find
// that id gone while this one runs. Nothing to do on the embedded store. Error: the lock not
// held in time (the database does not answer).
func (s *sharedStore) runInstance(ctx context.Context, wg *sync.WaitGroup) error {
	if s.self == nil {
		return nil
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = s.self.Run(ctx) }()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for !s.self.Leading() {
		if sleepCtx(wctx, 50*time.Millisecond) != nil {
			return fmt.Errorf("instance %s: liveness lock not held within 30 s: %w", s.instance, context.Cause(wctx))
		}
	}
	return nil
}

// Alive is esl.Peers: whether another instance runs.
func (s *sharedStore) Alive(ctx context.Context, id string) (bool, error) {
	return s.shared.InstanceAlive(ctx, id)
}

// Adopting is esl.Peers: the duty leader takes over the calls of instances that are gone.
func (s *sharedStore) Adopting() bool { return s.leading() }

// sleepCtx waits d or until ctx ends (then its error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// leading reports whether this instance does the one-at-a-time duties now: always on the
// embedded store, while it holds the duty lock on a shared one.
func (s *sharedStore) leading() bool { return s.duties == nil || s.duties.Leading() }

// exclusive runs fn alone among the instances (the bootstrap token): directly on the embedded
// store, under an advisory lock on a shared one.
func (s *sharedStore) exclusive(ctx context.Context, name string, fn func() error) error {
	if s.shared == nil {
		return fn()
	}
	return s.shared.Exclusive(ctx, name, fn)
}

// signingKey is the archive signing key: the data directory's file on the embedded store, the
// deployment's seed in a shared store (so an archive made by any instance verifies against the
// one public key every instance publishes).
func (s *sharedStore) signingKey(ctx context.Context, cfg Config, log zerolog.Logger) (*web.SigningKey, error) {
	if s.shared == nil {
		return loadSigningKey(cfg, log)
	}
	seed, err := s.shared.SharedSecret(ctx, "archive_signing_key", 32)
	if err != nil {
		return nil, err
	}
	key, err := web.SigningKeyFromSeed(seed)
	if err != nil {
		return nil, err
	}
	log.Info().Str("key_id", key.ID()).Str("decision", "signing_key").
		Msg("archive signing key loaded from the shared store (its public key is GET /api/v1/signing-key)")
	return key, nil
}

// errOtherMasterKey is serve's refusal on a shared store when the master key file is not the
// deployment's.
var errOtherMasterKey = errors.New("the master key file is not this deployment's")

// masterKey loads the master key file (loadMasterKey). On a shared store every instance must
// hold the same file: the first instance records its master key id in the store, and an
// instance whose file lacks that key (it made a new one, or was given another) refuses to
// start, removing a file it just made, so the operator copies the first instance's file.
func (s *sharedStore) masterKey(ctx context.Context, cfg Config, log zerolog.Logger) (*library.Keys, error) {
	keys, created, err := library.LoadKeys(ctx, s.Store, cfg.MasterKeyFile)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	if s.shared != nil {
		first, err := s.shared.SharedValue(ctx, "master_key_id", []byte(keys.MasterKeyID()))
		if err != nil {
			return nil, fmt.Errorf("master key: %w", err)
		}
		if !keys.Has(string(first)) {
			if created {
				removeCreated(cfg.MasterKeyFile, log)
			}
			return nil, fmt.Errorf("master key: %w: %s does not hold master key %s, which the first instance made: copy that instance's master key file to %s on every instance",
				errOtherMasterKey, cfg.MasterKeyFile, first, cfg.MasterKeyFile)
		}
	}
	ev := log.Info()
	if created {
		ev = log.Warn() // once per installation: the file to back up, apart from the store
	}
	ev.Str("master_key_id", keys.MasterKeyID()).Str("path", cfg.MasterKeyFile).Bool("created", created).Str("decision", "master_key").
		Msg("master key loaded (it unwraps the data keys of companies that encrypt at rest: back it up, apart from the store)")
	return keys, nil
}

// removeCreated removes a key file serve made moments ago and refuses to use.
func removeCreated(path string, log zerolog.Logger) {
	if err := os.Remove(path); err != nil {
		log.Warn().Err(err).Str("path", path).Msg("cannot remove the master key file just made")
	}
}

// waitLeading waits until leading answers true (checked every 2 s) or ctx ends (false).
func waitLeading(ctx context.Context, leading func() bool) bool {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for !leading() {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// watch reports a shared store on /readyz (part health.Store) every second until ctx ends: down
// while the rule-change listener is not connected (this instance may act on stale rules) or
// while this instance does not hold its liveness lock (the others may take its calls over).
// Nothing to watch on the embedded store.
func (s *sharedStore) watch(ctx context.Context, parts *health.Registry) {
	if s.shared == nil {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		switch {
		case !s.shared.RulesListening():
			parts.Down(health.Store, errors.New("postgres: rule-change listener not connected: admin changes may not be seen"))
		case !s.self.Leading():
			parts.Down(health.Store, fmt.Errorf("postgres: instance %s does not hold its liveness lock: the other instances may take its calls over", s.instance))
		default:
			parts.Up(health.Store)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
