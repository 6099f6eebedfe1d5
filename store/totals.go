package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"

	bolt "go.etcd.io/bbolt"
)

// Running totals (schema v2, issue 13 target 4): what each company keeps in the library and how
// many jobs are queued, updated in the transaction of every write that changes them, so the
// sweeper, the bytes-stored metric and QueueDepth read a key instead of walking rows.

// Buckets schema v2 adds (migration 2).
var (
	bUsage      = []byte("company_usage") // company id -> usageValue (recordings, ready, bytes)
	ixJobDue    = []byte("ix_job_due")    // timeKey(max(not_before, lease_until))|job id -> ""
	ixJobLeased = []byte("ix_job_leased") // job id -> "" for every job with a lease set

	keyJobCount = []byte("job_count") // in bMeta: number of rows in bJobs
)

// queueIndexBuckets are the job indexes v2 adds; checkIndexes rebuilds them with the v1 ones.
var queueIndexBuckets = [][]byte{ixJobDue, ixJobLeased}

// usageOf is what r adds to its company's LibraryUsage.
func usageOf(r *Recording) LibraryUsage {
	u := LibraryUsage{Recordings: 1}
	if r.State == StateReady {
		u.Ready, u.Bytes = 1, r.FileSize
	}
	return u
}

// moveUsage takes old's share out of its company's totals and adds r's (either may be nil: an
// insert or a delete). Every write of a recording row calls it in the same transaction.
func moveUsage(tx *bolt.Tx, old, r *Recording) error {
	if old != nil && r != nil && old.CompanyID == r.CompanyID && usageOf(old) == usageOf(r) {
		return nil // most updates (recording -> processing, legs) leave the totals alone
	}
	if old != nil {
		if err := addUsage(tx, old.CompanyID, usageOf(old), -1); err != nil {
			return err
		}
	}
	if r != nil {
		return addUsage(tx, r.CompanyID, usageOf(r), 1)
	}
	return nil
}

func addUsage(tx *bolt.Tx, companyID string, d LibraryUsage, sign int) error {
	b := tx.Bucket(bUsage)
	u, err := decodeUsage(b.Get([]byte(companyID)))
	if err != nil {
		return fmt.Errorf("usage of company %s: %w", companyID, err)
	}
	u.Recordings += sign * d.Recordings
	u.Ready += sign * d.Ready
	u.Bytes += int64(sign) * d.Bytes
	if u == (LibraryUsage{}) {
		return b.Delete([]byte(companyID))
	}
	return b.Put([]byte(companyID), encodeUsage(u))
}

// companyUsage reads companyID's totals; a company without recordings has none stored.
func companyUsage(tx *bolt.Tx, companyID string) (LibraryUsage, error) {
	u, err := decodeUsage(tx.Bucket(bUsage).Get([]byte(companyID)))
	if err != nil {
		return u, fmt.Errorf("usage of company %s: %w", companyID, err)
	}
	return u, nil
}

func encodeUsage(u LibraryUsage) []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b, uint64(u.Recordings))
	binary.BigEndian.PutUint64(b[8:], uint64(u.Ready))
	binary.BigEndian.PutUint64(b[16:], uint64(u.Bytes))
	return b
}

func decodeUsage(b []byte) (LibraryUsage, error) {
	switch len(b) {
	case 0:
		return LibraryUsage{}, nil
	case 24:
		return LibraryUsage{Recordings: int(int64(binary.BigEndian.Uint64(b))), Ready: int(int64(binary.BigEndian.Uint64(b[8:]))),
			Bytes: int64(binary.BigEndian.Uint64(b[16:]))}, nil
	}
	return LibraryUsage{}, fmt.Errorf("%w: usage value of %d bytes", ErrCorrupt, len(b))
}

// addJobCount moves the queued-jobs counter by d.
func addJobCount(tx *bolt.Tx, d int) error {
	meta := tx.Bucket(bMeta)
	n, err := jobCount(tx)
	if err != nil {
		return err
	}
	return meta.Put(keyJobCount, []byte(strconv.Itoa(n+d)))
}

func jobCount(tx *bolt.Tx) (int, error) {
	v := tx.Bucket(bMeta).Get(keyJobCount)
	if v == nil {
		return 0, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, fmt.Errorf("%w: job_count %q", ErrCorrupt, v)
	}
	return n, nil
}

// usageRow is the part of a stored recording the totals need; decoding only it keeps the
// one-time migration of a large store cheap.
type usageRow struct {
	CompanyID string `json:"company_id"`
	State     string `json:"state"`
	FileSize  int64  `json:"file_size"`
}

// rowUsage rebuilds every company's totals from the recording rows (one walk of the table):
// migration 2 stores them, checkTotals compares them with what is stored.
func rowUsage(tx *bolt.Tx) (map[string]LibraryUsage, error) {
	out := map[string]LibraryUsage{}
	err := tx.Bucket(bRecordings).ForEach(func(k, v []byte) error {
		var r usageRow
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode recording %s: %w", k, err)
		}
		u, d := out[r.CompanyID], usageOf(&Recording{State: r.State, FileSize: r.FileSize})
		u.Recordings += d.Recordings
		u.Ready += d.Ready
		u.Bytes += d.Bytes
		out[r.CompanyID] = u
		return nil
	})
	return out, err
}

// migrateRunningTotals is schema migration 2: it creates the totals and job-queue buckets and
// fills them from the rows a v1 store holds (the one walk of every row, once, at the first open
// by this version).
func migrateRunningTotals(tx *bolt.Tx) error {
	for _, b := range append([][]byte{bUsage}, queueIndexBuckets...) {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	usage, err := rowUsage(tx)
	if err != nil {
		return err
	}
	for id, u := range usage {
		if err := tx.Bucket(bUsage).Put([]byte(id), encodeUsage(u)); err != nil {
			return err
		}
	}
	n := 0
	err = forEachJSON(tx, bJobs, func(j *Job) error {
		n++
		return moveEntries(tx, nil, jobQueueEntries(j))
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bMeta).Put(keyJobCount, []byte(strconv.Itoa(n)))
}

// checkTotals compares the stored running totals with totals rebuilt from the rows, for
// checkIndexes.
func checkTotals(tx *bolt.Tx) error {
	want, err := rowUsage(tx)
	if err != nil {
		return err
	}
	stored := 0
	err = tx.Bucket(bUsage).ForEach(func(k, v []byte) error {
		stored++
		got, err := decodeUsage(v)
		if err != nil {
			return fmt.Errorf("usage of company %s: %w", k, err)
		}
		if w := want[string(k)]; got != w {
			return fmt.Errorf("usage of company %s: stored %+v, rows say %+v", k, got, w)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if stored != len(want) {
		return fmt.Errorf("usage: %d companies stored, rows name %d", stored, len(want))
	}
	n, err := jobCount(tx)
	if err != nil {
		return err
	}
	if rows := tx.Bucket(bJobs).Stats().KeyN; n != rows {
		return fmt.Errorf("job_count %d, %d jobs stored", n, rows)
	}
	return nil
}
