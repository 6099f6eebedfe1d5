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

// commitTimeout bounds one background insert of StartRecording: a database that does not answer
// within it fails the commit (the intent stays, for the next Open).
const commitTimeout = 30 * time.Second

// StartRecording is CreateRecording for the call path, as store.DB.StartRecording: it fills r
// as CreateRecording does and returns as soon as the row's intent is written to
// Options.IntentsDir, before the row is inserted. commit waits for the insert and returns its
// error (EINVALID "company_id" when the company does not exist any more), the same each time it
// is called; the caller must not change r before commit returns. Without an IntentsDir the
// row is inserted before StartRecording returns (the call path then waits for the database)
// and commit returns that insert's error. Unlike store, a commit that failed in the database
// or on the network, not by a refusal (*store.Error), leaves its intent: the row may or may
// not be in (the answer was lost), and the next Open settles it (inserting it if it is not).
// Errors (then nothing is stored): ctx's, EINVALID (field) as CreateRecording, the intent's
// write (the IntentsDir's disk).
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
	go func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
		defer cancel()
		err := insertRecording(cctx, db.pool, r)
		var refused *store.Error
		if err == nil || errors.As(err, &refused) { // durable, or refused for good
			in.Remove(r.ID)
		}
		done <- err
	}()
	return sync.OnceValue(func() error { return <-done }), nil
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
