package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/callrec/callrec/store"
)

// Recording intents (store/intent.go): the call path must not wait for a round trip to the
// database before FreeSWITCH records. With Options.IntentsDir set, StartRecording writes the
// row into a small intent file there (store.Intents: the same files the bbolt store writes, no
// fsync), returns, and inserts the row in the background; the intent is removed once the
// insert's outcome is known for good. Open replays the intents a dead process left behind
// before it returns, so the start-up reconcile and the re-adoption of live calls find their
// rows. Each instance has its own IntentsDir (its local data directory): the intents are the
// instance's, the rows everyone's.

// firstCommitTimeout bounds StartRecording's first insert: the outcome the call path waits for
// (a recording that stops right after it started waits for it). A database that does not
// answer within it makes the commit store.ErrCommitPending, and the insert is retried in the
// background (commitRetry) with commitTimeout per try.
const (
	firstCommitTimeout = 5 * time.Second
	commitTimeout      = 30 * time.Second
)

// commitRetry is the backoff between background tries of a pending insert: from First,
// doubling, at most Max.
var commitRetry = struct{ First, Max time.Duration }{First: 250 * time.Millisecond, Max: 5 * time.Second}

// StartRecording is CreateRecording for the call path, as store.DB.StartRecording: it fills r
// as CreateRecording does and returns as soon as the row's intent is written to
// Options.IntentsDir, before the row is inserted. commit waits for the first insert (at most
// firstCommitTimeout) and returns its outcome, the same each time it is called; the caller must
// not change r before commit returns. A refusal (*store.Error: EINVALID "company_id" when the
// company does not exist any more) is final: the intent is removed. A failure of the database
// or the network is not: commit returns store.ErrCommitPending (wrapping the cause), the intent
// stays, and the insert is tried again in the background, backing off, until it is stored or
// refused or the DB is closed (then the next Open replays the intent). Without an IntentsDir
// the row is inserted before StartRecording returns (the call path then waits for the
// database) and commit returns that insert's error. Errors (then nothing is stored): ctx's,
// EINVALID (field) as CreateRecording, the intent's write (the IntentsDir's disk).
func (db *DB) StartRecording(ctx context.Context, r *store.Recording) (commit func() error, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := db.prepareRecording(r); err != nil {
		return nil, err
	}
	if db.opts.IntentsDir == "" {
		err := insertRecording(ctx, db.pool, r)
		return func() error { return err }, nil
	}
	in := store.Intents{Dir: db.opts.IntentsDir}
	if err := in.Write(r); err != nil {
		return nil, fmt.Errorf("recording intent: %w", err)
	}
	done := make(chan error, 1)
	db.background.Add(1)
	go func() {
		defer db.background.Done()
		settled := func(err error) bool {
			var refused *store.Error
			if err == nil || errors.As(err, &refused) { // durable, or refused for good
				in.Remove(r.ID)
				return true
			}
			return false
		}
		err := db.tryInsert(ctx, r, firstCommitTimeout)
		if settled(err) {
			done <- err
			return
		}
		done <- fmt.Errorf("%w: %w", store.ErrCommitPending, err)
		// The call's decision (record_row_pending) is the Session's to log; this is the store's retry.
		db.log.Warn().Err(err).Str("recording", r.ID).Str("company", r.CompanyID).
			Msg("recording row not stored: the database does not answer; trying again until it does")
		for wait := commitRetry.First; ; wait = min(2*wait, commitRetry.Max) {
			select {
			case <-db.closing.Done():
				return // the intent stays: the next Open stores the row
			case <-time.After(wait):
			}
			err := db.tryInsert(ctx, r, commitTimeout)
			if settled(err) {
				db.log.Info().AnErr("refused", err).Str("recording", r.ID).Str("company", r.CompanyID).
					Msg("pending recording row settled with the database")
				return
			}
		}
	}()
	return sync.OnceValue(func() error { return <-done }), nil
}

// tryInsert is one insert of r's row for StartRecording, bounded by timeout and by Close. A row
// that is there already (an earlier try whose answer was lost) counts as stored.
func (db *DB) tryInsert(ctx context.Context, r *store.Recording, timeout time.Duration) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	stop := context.AfterFunc(db.closing, cancel)
	defer stop()
	args, err := recordingArgs(r)
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(cctx, recordingInsert+" ON CONFLICT (id) DO NOTHING", args...)
	return insertError(err)
}

// replayIntents inserts the row of every intent left in Options.IntentsDir by a process that
// died between the intent and the insert (nothing to do without an IntentsDir), and removes
// the intents: a row that exists already (the insert had happened: ON CONFLICT DO NOTHING), a
// company that is gone, or an intent that does not decode (store.Intents.Replay) leaves no
// row. One transaction for them all. Called by Open before the store is shared; returns how
// many rows it inserted. Errors: reading the intents, the database's (then every intent stays).
func (db *DB) replayIntents(ctx context.Context) (int, error) {
	if db.opts.IntentsDir == "" {
		return 0, nil
	}
	stored := 0
	err := store.Intents{Dir: db.opts.IntentsDir}.Replay(func(rs []*store.Recording) error {
		return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			stored = 0
			for _, r := range rs {
				args, err := recordingArgs(r)
				if err != nil {
					return err
				}
				// A savepoint per row: a company deleted meanwhile fails only its own insert.
				var tag pgconn.CommandTag
				err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
					tag, err = sp.Exec(ctx, recordingInsert+" ON CONFLICT (id) DO NOTHING", args...)
					return err
				})
				var pe *pgconn.PgError
				switch {
				case errors.As(err, &pe) && pe.Code == "23503": // foreign key: no such company
					continue
				case err != nil:
					return err
				}
				stored += int(tag.RowsAffected())
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("replay recording intents: %w", err)
	}
	return stored, nil
}
