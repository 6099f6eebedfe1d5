package store

import (
	"context"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// Store methods for the recording library (package library): start-up recovery of the work
// queue and the per-company walks its retention and quota sweeper needs.

// ReleaseJobLeases clears the lease of every queued job, so that jobs held by a process that
// died are claimable at once instead of when their lease runs out, and returns how many leases
// it cleared. Attempts and NotBefore are kept. Only the audio worker calls it, at start-up,
// before it claims anything: the store's file lock makes this process the only one using the
// queue, so every lease found then belongs to a dead holder. Errors: EINTERNAL (disk).
func (db *DB) ReleaseJobLeases(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		// The leased set holds only the jobs with a lease (at most the workers' concurrency
		// after a crash), so start-up does not read the whole queue. Ids first: the loop
		// changes the bucket it would walk.
		var ids []string
		err := tx.Bucket(ixJobLeased).ForEach(func(k, _ []byte) error {
			ids = append(ids, string(k))
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range ids {
			old, err := getJob(tx, id)
			if err != nil {
				return err
			}
			j := *old
			j.LeaseUntil = time.Time{}
			if err := putJob(tx, old, &j); err != nil {
				return err
			}
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// CompanyRecordingsOldestFirst returns up to limit (<= 0: all) recordings of companyID whose id
// sorts after afterID ("" = from the start), in id order, which is StartedAt order (ids are
// time-sorted). It walks the company index, never the whole table. The library sweeper pages
// through a company with it (afterID = the last id of the previous page). Any caller may use
// it; the web layer does its own tenancy checks. Errors: EINTERNAL (decoding, disk).
func (db *DB) CompanyRecordingsOldestFirst(ctx context.Context, companyID, afterID string, limit int) ([]*Recording, error) {
	return db.companyRecordings(ctx, companyID, afterID, time.Time{}, limit)
}

// CompanyRecordingsStartedBefore is CompanyRecordingsOldestFirst bounded by age: it returns only
// recordings that started before before, and stops at the first index key whose id (a ULID whose
// time part is StartedAt) is later, without reading that row. A walk by age costs what it
// returns, not what the company holds: the sweeper's retention pass. Errors: EINTERNAL
// (decoding, disk).
func (db *DB) CompanyRecordingsStartedBefore(ctx context.Context, companyID, afterID string, before time.Time, limit int) ([]*Recording, error) {
	if before.UnixMilli() <= 0 { // no id (a ULID) is older than 1970
		return nil, ctx.Err()
	}
	return db.companyRecordings(ctx, companyID, afterID, before, limit)
}

// companyRecordings walks the company index from afterID in id (start) order, up to limit rows
// (<= 0: all), stopping at the first id that started at or after before (zero: no bound).
func (db *DB) companyRecordings(ctx context.Context, companyID, afterID string, before time.Time, limit int) ([]*Recording, error) {
	var out []*Recording
	err := db.view(ctx, func(tx *bolt.Tx) error {
		prefix := join(companyID, "")
		c := tx.Bucket(ixRecCompany).Cursor()
		start := []byte(prefix + afterID)
		k, _ := c.Seek(start)
		if afterID != "" && k != nil && string(k) == string(start) {
			k, _ = c.Next()
		}
		for ; k != nil && len(k) > len(prefix) && string(k[:len(prefix)]) == prefix; k, _ = c.Next() {
			if limit > 0 && len(out) >= limit {
				return nil
			}
			id := string(k[len(prefix):])
			if !before.IsZero() {
				if u, err := ulid.ParseStrict(id); err == nil && u.Time() > uint64(before.UnixMilli()) {
					return nil // every later id started later still
				}
			}
			r, err := getRecording(tx, id)
			if err != nil {
				return err
			}
			if !before.IsZero() && !r.StartedAt.Before(before) {
				return nil
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LibraryUsage is what a company keeps in the recording library.
//
// Recordings counts every row of the company (any state); Ready counts those in state ready;
// Bytes sums FileSize (the MP3 sizes) of the ready ones, the figure quota_mb limits.
type LibraryUsage struct {
	Recordings int
	Ready      int
	Bytes      int64
}

// CompanyUsage returns the library usage of companyID from the running totals every recording
// write keeps (one key read, however many recordings the company has). For the sweeper's quota
// check and the bytes-stored metric; any caller may use it. An unknown company has zero usage.
// Errors: ErrCorrupt (a damaged total), EINTERNAL (disk).
func (db *DB) CompanyUsage(ctx context.Context, companyID string) (LibraryUsage, error) {
	var u LibraryUsage
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		u, err = companyUsage(tx, companyID)
		return err
	})
	return u, err
}

// ExtendJobLease moves the lease of job jobID to now+lease, so that a long encode keeps its
// job. The audio worker calls it periodically while it works on a claimed job. Errors:
// ENOTFOUND when the job is gone (acked, or its recording deleted).
func (db *DB) ExtendJobLease(ctx context.Context, jobID string, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		old, err := getJob(tx, jobID)
		if err != nil {
			return err
		}
		j := *old
		j.LeaseUntil = db.now().Add(lease)
		return putJob(tx, old, &j)
	})
}
