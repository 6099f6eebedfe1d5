package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Recording intents: the recording starts before its row is durable.
//
// The call path must not make FreeSWITCH wait for an fsync before the first frame of audio
// (issue 13: the batched, fsync'd CreateRecording put ~10–25 ms between CHANNEL_ANSWER and
// uuid_record). StartRecording therefore first writes the row, as JSON, into a small intent file
// beside the database (no fsync: a write that returned is in the page cache, which outlives the
// process, SIGKILL included), returns, and commits the row in the background batch; the intent
// is removed once the row is durable. Open stores the row of every intent left behind by a
// process that died in between, before anyone reads the recordings (the start-up reconcile and
// the node re-adoption then find the row as if it had been committed). A machine crash can lose
// an intent written in the last moments, as it loses the end of the WAV FreeSWITCH was writing
// (FreeSWITCH does not fsync recordings either).

// intentsDir is where the intents of the database at dbPath live.
func intentsDir(dbPath string) string { return dbPath + ".intents" }

// Intents is a directory of recording intents, one small JSON file per recording whose row is
// not committed yet (ID.json, the row as this package encodes it). Both backends use it: DB
// beside its database file, package postgres in the instance's local data directory, so a
// process of either writes and replays the same files. Dir must be owned by one process at a
// time. Any goroutine may call its methods.
type Intents struct{ Dir string }

// Write writes r's intent as a new file (creating Dir if needed): one write(2), no fsync, so it
// returns once the bytes are in the page cache. Errors: r's encoding, the file system's (then
// no intent is left).
func (in Intents) Write(r *Recording) error {
	b, err := encodeRecording(r)
	if err != nil {
		return err
	}
	return writeIntent(in.name(r.ID), b)
}

// Remove removes the intent of recording id, if any: its row is durable or refused for good.
func (in Intents) Remove(id string) { _ = os.Remove(in.name(id)) }

func (in Intents) name(id string) string { return filepath.Join(in.Dir, id+".json") }

// Replay hands the recordings of every intent left in Dir (a process died between writing it
// and committing its row) to store, in file name (id) order, and once store returns nil
// removes every intent, those that did not decode included (an empty or partial file: the
// process died before its write returned, nothing was recorded for it). Only whole intents
// are handed over: decoded, named after their id, valid. store must skip rows that exist
// already (the commit may have happened before the death) and rows of companies that are
// gone. Called by Open of either backend, before the store is shared; store is not called
// when there are none. Errors: reading Dir, store's (then no intent is removed).
func (in Intents) Replay(store func([]*Recording) error) error {
	entries, err := os.ReadDir(in.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("recording intents: %w", err)
	}
	var names []string
	var rs []*Recording
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		name := filepath.Join(in.Dir, e.Name())
		names = append(names, name)
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("recording intents: %w", err)
		}
		r, err := decodeRecording(b)
		if err != nil || r.ID+".json" != e.Name() || r.Validate() != nil {
			continue // not an intent a store wrote whole
		}
		rs = append(rs, r)
	}
	if len(names) == 0 {
		return nil
	}
	if len(rs) > 0 {
		if err := store(rs); err != nil {
			return fmt.Errorf("recording intents: %w", err)
		}
	}
	for _, name := range names { // stored durably: the intents are done
		_ = os.Remove(name)
	}
	return nil
}

// StartRecording is CreateRecording for the call path: it fills r as CreateRecording does and
// returns as soon as the row's intent is written, before the row is committed. commit waits for
// the commit and returns its error (EINVALID when the company does not exist any more), the same
// each time it is called; the caller must not change r before commit returns. Errors (then nothing is stored): EINVALID
// (field) as CreateRecording, or the intent's write (the data_dir's disk).
func (db *DB) StartRecording(ctx context.Context, r *Recording) (commit func() error, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := db.prepareRecording(r); err != nil {
		return nil, err
	}
	in := Intents{Dir: intentsDir(db.path)}
	if err := in.Write(r); err != nil {
		return nil, fmt.Errorf("recording intent: %w", err)
	}
	done := make(chan error, 1)
	go func() {
		err := db.bolt.Batch(func(tx *bolt.Tx) error { return insertRecording(tx, r) })
		// Durable, or refused for good (the company is gone): either way the intent has done
		// its work. A failed commit is the caller's to handle (it stops the recording).
		in.Remove(r.ID)
		done <- err
	}()
	return sync.OnceValue(func() error { return <-done }), nil
}

// writeIntent writes b as a new file: one write(2) of a small file, so a process killed after it
// returned leaves the whole intent, and one killed before it leaves an empty file (replay drops it).
func writeIntent(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(name), 0o750); err != nil {
			return err
		}
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
	}
	return err
}

// replayIntents stores the row of every intent a previous process left behind (it died between
// the intent and the commit) and removes the intents: an intent whose row exists already, whose
// company is gone, or that does not decode (the process died before writing it: nothing was
// recorded for it yet) is removed without a row. Called by Open, before the store is shared. It
// returns how many rows it stored.
func (db *DB) replayIntents() (int, error) {
	stored := 0
	err := Intents{Dir: intentsDir(db.path)}.Replay(func(rs []*Recording) error {
		return db.bolt.Update(func(tx *bolt.Tx) error {
			stored = 0
			for _, r := range rs {
				if tx.Bucket(bRecordings).Get([]byte(r.ID)) != nil || tx.Bucket(bCompanies).Get([]byte(r.CompanyID)) == nil {
					continue
				}
				if err := putRecording(tx, nil, r); err != nil {
					return err
				}
				stored++
			}
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	return stored, nil
}
