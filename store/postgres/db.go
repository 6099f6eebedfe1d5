// Package postgres is callrec's store on PostgreSQL (issue 16 item 2), for deployments of
// several callrec instances sharing one database: the entities of package store in tables
// (migrations/), the audio worker's durable queue claimed with FOR UPDATE SKIP LOCKED and
// leases (queue.go), leader election for the sweeps on a session advisory lock (leader.go),
// rule changes seen by every instance through LISTEN/NOTIFY (notify.go) and keyset pages of
// recordings (list.go). Package store (bbolt) stays the reference: the types and the error
// vocabulary are store's, and each method here says which store.DB method it mirrors.
//
// *DB implements store.Store, and the conformance suite (store/storetest) holds it to the
// same contract as the bbolt store. What differs, on purpose: usage totals are summed per call
// (no running totals), the number search uses a trigram index over the party digits
// (migrations/0006), recording intents are replayed with ON CONFLICT DO NOTHING (intent.go), and
// there is no Backup (pg_dump and base backups are the database's own) nor a lease release at
// start (a shared store's leases belong to live instances; a dead one's expire).
//
// Instances must keep their clocks in step (NTP): leases and due times are written with the
// instance's clock, as store does, so a skew eats into the lease.
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

var _ store.Store = (*DB)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options configures Open. The zero value is usable.
type Options struct {
	// DefaultCountry (ISO 3166 alpha-2) reads numbers given in national form (holds), as
	// store.Options.DefaultCountry.
	DefaultCountry string
	// Now is the clock (default time.Now); tests pin it.
	Now func() time.Time
	// Log receives one event per decision (migrations applied, a listener reconnecting);
	// default: none.
	Log *zerolog.Logger
	// IntentsDir is this instance's own local directory for recording intents (intent.go):
	// StartRecording writes the row there and returns before the database has it, and Open
	// inserts the rows of the intents a dead process left. Empty: StartRecording inserts the
	// row before it returns (the call path waits for the database).
	IntentsDir string
}

// DB is the PostgreSQL store: open it with Open, share it between goroutines, Close it once.
type DB struct {
	pool    *pgxpool.Pool
	opts    Options
	log     zerolog.Logger
	version int

	idMu    sync.Mutex
	entropy *ulid.MonotonicEntropy

	changes store.Notifier // Subscribe's subscribers, woken by the rule-change listener
	rules   rulesSnapshot  // Rules(), rebuilt before the subscribers are woken

	// closing ends with Close: background work (the retries of pending recording rows,
	// intent.go) stops, and background waits for it.
	closing    context.Context
	stopAll    context.CancelFunc
	background sync.WaitGroup

	stopListen context.CancelFunc
	listenDone chan struct{}
	listening  atomic.Bool
	listenPID  atomic.Uint32 // the listener's backend, 0 when none (tests)
}

// Open connects to dsn (a libpq connection string or URL), applies the pending migrations
// embedded from migrations/ (each in its own transaction, all under an advisory lock, so that
// instances starting together migrate exactly once), inserts the rows of the recording intents
// a dead process left in opts.IntentsDir (intent.go), starts the rule-change listener
// (notify.go) and returns the store. Called once per
// process by cmd/callrec. Errors: the connection's, an ESCHEMA *store.Error when the database
// has a newer schema than this callrec knows, a failed migration's (wrapped, naming it), the
// intents' replay's.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	return openWith(ctx, dsn, opts, migrationFiles, false)
}

// openWith opens with the migrations of files. schemaOnly (tests of the migrations, with a
// set that stops short of the package's) only migrates: no intents replayed, no rules
// snapshot, no listener, as those need the whole schema.
func openWith(ctx context.Context, dsn string, opts Options, files fs.FS, schemaOnly bool) (*DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := zerolog.Nop()
	if opts.Log != nil {
		log = *opts.Log
	}
	migs, err := loadMigrations(files)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 { // libpq's connect_timeout, when the DSN has none
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	cfg.ConnConfig.DialFunc = dialer(cfg.ConnConfig.ConnectTimeout).DialContext // dial.go
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	db := &DB{pool: pool, opts: opts, log: log, entropy: ulid.Monotonic(rand.Reader, 0)}
	db.closing, db.stopAll = context.WithCancel(context.Background())
	if db.version, err = db.migrate(ctx, migs); err != nil {
		pool.Close()
		return nil, err
	}
	if schemaOnly {
		db.stopListen, db.listenDone = func() {}, make(chan struct{})
		close(db.listenDone)
		return db, nil
	}
	if _, err := db.replayIntents(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := db.reloadRules(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	db.stopListen, db.listenDone = cancel, make(chan struct{})
	go func() { defer close(db.listenDone); db.listen(lctx) }()
	return db, nil
}

// defaultConnectTimeout bounds each new connection when the DSN sets no connect_timeout: a
// database host that is down without refusing (no TCP reset) fails a connection in seconds, not
// after the kernel's SYN retries (~2 minutes), so pending rows and the locks' checks retry soon.
const defaultConnectTimeout = 10 * time.Second

// Close stops the background retries of pending recording rows (their intents stay, for the
// next Open), the rule-change listener, and closes the pool. Call once, after every other user
// of the DB has stopped. The error is always nil (store.Store's Close returns one).
func (db *DB) Close() error {
	db.stopAll()
	db.background.Wait()
	db.stopListen()
	<-db.listenDone
	db.pool.Close()
	return nil
}

// SchemaVersion returns the schema version after Open's migrations.
func (db *DB) SchemaVersion() int { return db.version }

// migration is one file of migrations/: NNNN_name.sql moves the schema to version NNNN.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads migrations/*.sql in version order. Errors: a file not named
// NNNN_name.sql, two files with one version.
func loadMigrations(files fs.FS) ([]migration, error) {
	names, err := fs.Glob(files, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var migs []migration
	seen := map[int]string{}
	for _, n := range names {
		base := path.Base(n)
		num, rest, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migrations: %s is not named NNNN_name.sql", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations: %s and %s have one version", other, base)
		}
		seen[v] = base
		b, err := fs.ReadFile(files, n)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		migs = append(migs, migration{version: v, name: strings.TrimSuffix(rest, ".sql"), sql: string(b)})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	return migs, nil
}

// lockKey is the advisory-lock key of name: callrec's locks are named, the key a hash.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("callrec:" + name))
	return int64(h.Sum64())
}

// migrate applies every migration newer than the database's, on one connection holding the
// "migrate" advisory lock (a second instance waits for it, then finds nothing to do). Returns
// the version reached.
func (db *DB) migrate(ctx context.Context, migs []migration) (int, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	// Session-level, so it spans the per-migration transactions; released below (and by the
	// server if this process dies).
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey("migrate")); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey("migrate")); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // a connection that may still hold the lock is not given back
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	var cur int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&cur); err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	latest := 0
	if len(migs) > 0 {
		latest = migs[len(migs)-1].version
	}
	if cur > latest {
		return 0, store.Errorf(store.ESCHEMA, "database has schema version %d but this callrec supports up to version %d; use a newer callrec", cur, latest)
	}
	for _, m := range migs {
		if m.version <= cur {
			continue
		}
		if err := applyMigration(ctx, conn.Conn(), m); err != nil {
			return 0, err
		}
		db.log.Info().Int("version", m.version).Str("migration", m.name).Str("decision", "migrated").Msg("schema migration applied")
		cur = m.version
	}
	return cur, nil
}

// applyMigration runs m and records it in one transaction: a failed migration leaves nothing.
func applyMigration(ctx context.Context, conn *pgx.Conn, m migration) error {
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
		return err
	})
	if err != nil {
		return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
	}
	return nil
}

// newID returns a ULID whose time part is t (ms), monotonic within a millisecond, as store does.
func (db *DB) newID(t time.Time) string {
	db.idMu.Lock()
	defer db.idMu.Unlock()
	id, err := ulid.New(ulid.Timestamp(t), db.entropy)
	if err != nil {
		id = ulid.MustNew(ulid.Timestamp(t), rand.Reader)
	}
	return id.String()
}

// now is the instance's clock, truncated to PostgreSQL's microseconds so a value read back
// equals the one written.
func (db *DB) now() time.Time { return db.opts.Now().UTC().Truncate(time.Microsecond) }

// notFound maps pgx.ErrNoRows to store's ENOTFOUND with msg.
func notFound(err error, msg string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.NotFound("%s", msg)
	}
	return err
}
