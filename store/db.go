package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket names. Row buckets hold JSON keyed by id; ix* buckets are secondary indexes whose
// keys join parts with sep and whose values are the row id (or empty).
var (
	bMeta       = []byte("meta")
	bBrands     = []byte("brands")
	bCompanies  = []byte("companies")
	bDDIs       = []byte("ddis")
	bUsers      = []byte("users")
	bTokens     = []byte("tokens")
	bRecordings = []byte("recordings")
	bJobs       = []byte("jobs")

	ixBrandDomain  = []byte("ix_brand_domain")  // sip_domain -> brand id (unique)
	ixCompanyBrand = []byte("ix_company_brand") // brand|company -> ""
	ixDDICompany   = []byte("ix_ddi_company")   // company|ddi -> ""
	ixDDINumber    = []byte("ix_ddi_number")    // number -> ddi id (unique)
	ixUserCompany  = []byte("ix_user_company")  // company|user -> ""
	ixUserSIP      = []byte("ix_user_sip")      // brand|sip_user -> user id (unique)
	ixUserExt      = []byte("ix_user_ext")      // company|extension -> user id (unique)
	ixTokenHash    = []byte("ix_token_hash")    // hash -> token id (unique)
	ixRecCompany   = []byte("ix_rec_company")   // company|recording -> ""
	ixRecUser      = []byte("ix_rec_user")      // company|user|recording -> ""
	ixRecDDI       = []byte("ix_rec_ddi")       // company|ddi|recording -> ""
	ixRecState     = []byte("ix_rec_state")     // state|recording -> ""
	ixJobRec       = []byte("ix_job_rec")       // recording -> job id (unique)

	keySchemaVersion = []byte("schema_version")
)

// rowBuckets and indexBuckets are every bucket schema v1 creates.
var (
	rowBuckets   = [][]byte{bBrands, bCompanies, bDDIs, bUsers, bTokens, bRecordings, bJobs}
	indexBuckets = [][]byte{ixBrandDomain, ixCompanyBrand, ixDDICompany, ixDDINumber, ixUserCompany,
		ixUserSIP, ixUserExt, ixTokenHash, ixRecCompany, ixRecUser, ixRecDDI, ixRecState, ixJobRec}
)

const sep = "\x00"

// Options configures Open. The zero value is usable.
type Options struct {
	// DefaultCountry (ISO 3166 alpha-2, e.g. "ES") lets DDI numbers be given in national form.
	DefaultCountry string
	// Now is the clock (default time.Now); tests pin it.
	Now func() time.Time
	// Timeout bounds the wait for the file lock (default 1s).
	Timeout time.Duration
	// NoSync skips fsync (tests and benchmarks only: a machine crash may lose commits).
	NoSync bool
	// MaxBatchDelay is how long a call-path write (CreateRecording, FinishRecording, …) waits
	// for others to share its commit (bbolt's MaxBatchDelay; default 10ms). Lower it to cut the
	// latency of a lone write, raise it to save fsyncs under load.
	MaxBatchDelay time.Duration
}

// DB is callrec's store: open it with Open, share it between goroutines, Close it once.
type DB struct {
	bolt    *bolt.DB
	path    string
	opts    Options
	version int // schema version after migrations

	idMu    sync.Mutex
	entropy *ulid.MonotonicEntropy

	rules   atomic.Pointer[Rules]
	rulesMu sync.Mutex // serialises rebuilds

	changes Notifier // Subscribe's subscribers, woken after each Rules rebuild
}

// migration moves the schema from version-1 to version inside one write transaction.
type migration struct {
	version int
	name    string
	fn      func(tx *bolt.Tx) error
}

// migrations is the schema history; append, never edit.
var migrations = []migration{
	{1, "create buckets", func(tx *bolt.Tx) error {
		for _, b := range append(append([][]byte{}, rowBuckets...), indexBuckets...) {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}},
	{2, "running totals and job-queue indexes", migrateRunningTotals},
	{3, "index recording numbers", migrateNumberIndex}, // rows indexed by buildNumberIndex
	{4, "SHA-256 of every MP3", migrateHashBackfill},   // old rows hashed by library.HashBackfill, in the background
	{5, "legal holds", migrateHolds},
	{6, "audit log", migrateAudit},
	{7, "webhooks and their delivery queue", migrateWebhooks}, // store/webhook.go
	{8, "data keys for encryption at rest", migrateDataKeys},  // store/datakey.go
	{9, "archive link grants", migrateArchiveGrants},          // store/link.go
}

// Open opens (creating it and its directory if needed) the database at path and migrates it
// to the current schema. Called once by cmd/callrec (and by tests). Errors: one wrapping
// ErrLocked when another process holds the file past opts.Timeout, one wrapping ErrCorrupt for
// a file that is not a bbolt database, an ESCHEMA *Error when the file has a newer schema.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	return openWith(ctx, path, opts, migrations)
}

func openWith(ctx context.Context, path string, opts Options, migs []migration) (*DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: opts.Timeout, NoSync: opts.NoSync})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open store %s: %w (waited %s): %w", path, ErrLocked, opts.Timeout, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("open store %s: %w: %w", path, ErrCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if opts.MaxBatchDelay > 0 {
		bdb.MaxBatchDelay = opts.MaxBatchDelay
	}
	db := &DB{bolt: bdb, path: path, opts: opts, entropy: ulid.Monotonic(rand.Reader, 0)}
	if err := db.migrate(migs); err != nil {
		bdb.Close()
		return nil, err
	}
	if err := db.buildNumberIndex(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if _, err := db.replayIntents(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.rules.Store(&Rules{})
	if err := db.refreshRules(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return db, nil
}

func (db *DB) migrate(migs []migration) error {
	migs = slices.SortedStableFunc(slices.Values(migs), func(a, b migration) int { return a.version - b.version })
	latest := 0
	for _, m := range migs {
		latest = max(latest, m.version)
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bMeta)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		cur := 0
		if v := meta.Get(keySchemaVersion); v != nil {
			if cur, err = strconv.Atoi(string(v)); err != nil {
				return fmt.Errorf("migrate: %w: schema_version %q", ErrCorrupt, v)
			}
		}
		if cur > latest {
			return Errorf(ESCHEMA, "database %s has schema version %d but this callrec supports up to version %d; use a newer callrec or restore a backup", db.path, cur, latest)
		}
		for _, m := range migs {
			if m.version <= cur {
				continue
			}
			if err := m.fn(tx); err != nil {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
			cur = m.version
			if err := meta.Put(keySchemaVersion, []byte(strconv.Itoa(cur))); err != nil {
				return fmt.Errorf("migration %d: %w", m.version, err)
			}
		}
		db.version = cur
		return nil
	})
}

// Close closes the file. Call once, after every other user of the DB has stopped.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// SchemaVersion returns the schema version of the open file.
func (db *DB) SchemaVersion() int { return db.version }

// Path returns the file path the DB was opened with.
func (db *DB) Path() string { return db.path }

// Backup writes a consistent copy of the whole database to w while writers carry on (one
// read transaction) and returns the bytes written. Errors are those of w (EINTERNAL).
func (db *DB) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

// newID returns a ULID whose time part is t (ms), monotonic within a millisecond.
func (db *DB) newID(t time.Time) string {
	db.idMu.Lock()
	defer db.idMu.Unlock()
	id, err := ulid.New(ulid.Timestamp(t), db.entropy)
	if err != nil { // monotonic overflow within one ms: fall back to fresh randomness
		id = ulid.MustNew(ulid.Timestamp(t), rand.Reader)
	}
	return id.String()
}

func (db *DB) now() time.Time { return db.opts.Now().UTC() }

// Subscribe returns a channel that receives a value (coalesced, never blocking the writer) after
// each change of the Rules snapshot, and a function that ends the subscription. For fsconf and
// other caches; safe for concurrent use.
func (db *DB) Subscribe() (<-chan struct{}, func()) { return db.changes.Subscribe() }

func (db *DB) notify() { db.changes.Notify() }
