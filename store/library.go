package store

import (
	"context"
	"time"

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
		n = 0
		var held []*Job
		err := forEachJSON(tx, bJobs, func(j *Job) error {
			if !j.LeaseUntil.IsZero() {
				held = append(held, j)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, j := range held {
			j.LeaseUntil = time.Time{}
			if err := putJSON(tx, bJobs, j.ID, j); err != nil {
				return err
			}
		}
		n = len(held)
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
			r, err := getRecording(tx, string(k[len(prefix):]))
			if err != nil {
				return err
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

// CompanyUsage sums the library usage of companyID with one walk of its recordings (one read
// transaction). For the sweeper's quota check and the bytes-stored metric; any caller may use
// it. An unknown company has zero usage. Errors: EINTERNAL (decoding, disk).
func (db *DB) CompanyUsage(ctx context.Context, companyID string) (LibraryUsage, error) {
	var u LibraryUsage
	err := db.view(ctx, func(tx *bolt.Tx) error {
		u = LibraryUsage{}
		return walkChildren(tx, ixRecCompany, companyID, func(id string) error {
			r, err := getRecording(tx, id)
			if err != nil {
				return err
			}
			u.Recordings++
			if r.State == StateReady {
				u.Ready++
				u.Bytes += r.FileSize
			}
			return nil
		})
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
		var j Job
		if err := getJSON(tx, bJobs, jobID, "job", &j); err != nil {
			return err
		}
		j.LeaseUntil = db.now().Add(lease)
		return putJSON(tx, bJobs, j.ID, &j)
	})
}
