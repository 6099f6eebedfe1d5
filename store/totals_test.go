package store

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// usageFromRows is the old CompanyUsage: one walk of the company's rows. The totals must agree
// with it after every write.
func usageFromRows(t *testing.T, db *DB, companyID string) LibraryUsage {
	t.Helper()
	var u LibraryUsage
	must(t, db.bolt.View(func(tx *bolt.Tx) error {
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
	}))
	return u
}

// TestUsageTotals_FollowEveryWritePath: every store write that adds, removes or changes the
// state or size of a recording moves its company's running totals in the same transaction,
// so CompanyUsage (one key) equals a walk of the rows, and checkIndexes agrees.
func TestUsageTotals_FollowEveryWritePath(t *testing.T) {
	ctx := context.Background()
	type fixture struct {
		db  *DB
		clk *clock
		tn  tenant
	}
	readyRec := func(t *testing.T, f fixture, size int64) *Recording {
		t.Helper()
		j := queuedJob(t, f.db, f.tn.company.ID, f.clk.t)
		must(t, f.db.CompleteRecording(ctx, j.ID, RecordingResult{MP3Path: "/" + j.RecordingID + ".mp3", FileSize: size}))
		r, err := f.db.Recording(ctx, j.RecordingID)
		must(t, err)
		return r
	}
	claimOf := func(t *testing.T, f fixture, recordingID string) *Job {
		t.Helper()
		for {
			j, err := f.db.ClaimJob(ctx, time.Minute)
			must(t, err)
			if j.RecordingID == recordingID {
				return j
			}
		}
	}
	for _, tc := range []struct {
		name string
		do   func(t *testing.T, f fixture)
		want LibraryUsage // of f.tn.company after do, on top of one ready 100-byte recording
	}{
		{"create", func(t *testing.T, f fixture) {
			must(t, f.db.CreateRecording(ctx, newRecording(f.tn.company.ID, f.clk.t)))
		}, LibraryUsage{2, 1, 100}},
		{"create many in one transaction", func(t *testing.T, f fixture) {
			mustInsertRecordings(t, f.db, manyRecordings(f.tn.company.ID, 5)...)
		}, LibraryUsage{6, 1, 100}},
		{"finish (processing, job queued)", func(t *testing.T, f fixture) {
			queuedJob(t, f.db, f.tn.company.ID, f.clk.t)
		}, LibraryUsage{2, 1, 100}},
		{"complete (ready)", func(t *testing.T, f fixture) {
			readyRec(t, f, 4096)
		}, LibraryUsage{2, 2, 4196}},
		{"complete after discard (late, refused)", func(t *testing.T, f fixture) {
			j := queuedJob(t, f.db, f.tn.company.ID, f.clk.t)
			must(t, f.db.DiscardRecording(ctx, j.RecordingID, "caller asked"))
			wantCode(t, f.db.CompleteRecording(ctx, j.ID, RecordingResult{MP3Path: "/x.mp3", FileSize: 9}), ENOTFOUND, "")
		}, LibraryUsage{2, 1, 100}},
		{"fail", func(t *testing.T, f fixture) {
			j := queuedJob(t, f.db, f.tn.company.ID, f.clk.t)
			must(t, f.db.FailRecording(ctx, j.RecordingID, "encoder"))
		}, LibraryUsage{2, 1, 100}},
		{"fail then retry then complete", func(t *testing.T, f fixture) {
			j := queuedJob(t, f.db, f.tn.company.ID, f.clk.t)
			must(t, f.db.FailRecording(ctx, j.RecordingID, "disk full"))
			_, err := f.db.RetryRecording(ctx, j.RecordingID)
			must(t, err)
			again := claimOf(t, f, j.RecordingID)
			must(t, f.db.CompleteRecording(ctx, again.ID, RecordingResult{MP3Path: "/y.mp3", FileSize: 50}))
		}, LibraryUsage{2, 2, 150}},
		{"discard a ready recording", func(t *testing.T, f fixture) {
			r := readyRec(t, f, 7)
			must(t, f.db.DiscardRecording(ctx, r.ID, "removed by admin"))
		}, LibraryUsage{2, 1, 100}},
		{"discard while recording", func(t *testing.T, f fixture) {
			r := newRecording(f.tn.company.ID, f.clk.t)
			must(t, f.db.CreateRecording(ctx, r))
			must(t, f.db.DiscardRecording(ctx, r.ID, "hung up"))
		}, LibraryUsage{2, 1, 100}},
		{"delete a ready recording", func(t *testing.T, f fixture) {
			r := readyRec(t, f, 33)
			_, err := f.db.DeleteRecording(ctx, r.ID)
			must(t, err)
		}, LibraryUsage{1, 1, 100}},
		{"delete a processing recording (its job acked)", func(t *testing.T, f fixture) {
			j := queuedJob(t, f.db, f.tn.company.ID, f.clk.t)
			_, err := f.db.DeleteRecording(ctx, j.RecordingID)
			must(t, err)
		}, LibraryUsage{1, 1, 100}},
		{"delete every recording", func(t *testing.T, f fixture) {
			for _, id := range idsOf(t, f.db, f.tn.company.ID) {
				_, err := f.db.DeleteRecording(ctx, id)
				must(t, err)
			}
		}, LibraryUsage{}},
		{"legs and other fields change nothing", func(t *testing.T, f fixture) {
			for _, id := range idsOf(t, f.db, f.tn.company.ID) {
				must(t, f.db.bolt.Update(func(tx *bolt.Tx) error {
					return updateRecording(tx, id, func(r *Recording) (bool, error) {
						r.RecordedLeg, r.Error = "leg-a", "note"
						return true, nil
					})
				}))
			}
		}, LibraryUsage{1, 1, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, clk := openWithClock(t)
			f := fixture{db: db, clk: clk, tn: mustTenant(t, db, "1")}
			other := mustTenant(t, db, "2")
			readyRec(t, f, 100)
			mustInsertRecordings(t, db, newRecording(other.company.ID, clk.t)) // another company's row
			tc.do(t, f)
			got, err := db.CompanyUsage(ctx, f.tn.company.ID)
			must(t, err)
			if got != tc.want {
				t.Errorf("usage %+v, want %+v", got, tc.want)
			}
			if rows := usageFromRows(t, db, f.tn.company.ID); got != rows {
				t.Errorf("usage %+v, rows say %+v", got, rows)
			}
			if o, err := db.CompanyUsage(ctx, other.company.ID); err != nil || o != (LibraryUsage{1, 0, 0}) {
				t.Errorf("other company's usage %+v, %v", o, err)
			}
			checkDB(t, db)
		})
	}
}

func idsOf(t *testing.T, db *DB, companyID string) []string {
	t.Helper()
	rs, err := db.CompanyRecordingsOldestFirst(context.Background(), companyID, "", 0)
	must(t, err)
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

// TestMigration2_FromAV1Store: a store written with schema v1 only (no totals, no job indexes)
// opens with this version, which fills the totals, the due index, the leased set and the queue
// counter once from its rows; the queue then behaves as before (the leased job is released at
// start, the backed-off one waits, the due one is claimed).
func TestMigration2_FromAV1Store(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "v1.db")
	opts := Options{NoSync: true, Now: clk.now}
	v1, err := openWith(ctx, path, opts, migrations[:1])
	must(t, err)
	if v1.SchemaVersion() != 1 {
		t.Fatalf("v1 store at schema %d", v1.SchemaVersion())
	}
	a, b := mustTenant(t, v1, "1"), mustTenant(t, v1, "2")
	var ready, backingOff, leased, due, failed *Recording
	must(t, v1.bolt.Update(func(tx *bolt.Tx) error {
		// The v1 code path: rows, their v1 index entries and jobs, nothing else.
		put := func(companyID, state string, size int64, job *Job) *Recording {
			r := newRecording(companyID, clk.t)
			must(t, v1.prepareRecording(r))
			r.State, r.FileSize = state, size
			var v1Entries []entry // schema v1 has no number index (v3)
			for _, e := range recordingEntries(r) {
				if !bytes.Equal(e.bucket, ixRecNumber) {
					v1Entries = append(v1Entries, e)
				}
			}
			must(t, moveEntries(tx, nil, v1Entries))
			must(t, putRow(tx, bRecordings, r.ID, r, encodeRecording))
			if job != nil {
				job.ID, job.RecordingID = v1.newID(clk.t), r.ID
				must(t, moveEntries(tx, nil, jobEntries(job)))
				must(t, putJSON(tx, bJobs, job.ID, job))
			}
			clk.t = clk.t.Add(time.Millisecond)
			return r
		}
		ready = put(a.company.ID, StateReady, 1000, nil)
		put(a.company.ID, StateReady, 24, nil)
		failed = put(a.company.ID, StateFailed, 0, nil)
		backingOff = put(a.company.ID, StateProcessing, 0, &Job{NotBefore: clk.t.Add(time.Hour), Attempts: 1})
		leased = put(b.company.ID, StateProcessing, 0, &Job{NotBefore: clk.t, LeaseUntil: clk.t.Add(time.Hour), Attempts: 1})
		due = put(b.company.ID, StateProcessing, 0, &Job{NotBefore: clk.t})
		put(b.company.ID, StateRecording, 0, nil)
		return nil
	}))
	must(t, v1.Close())

	db, err := Open(ctx, path, opts)
	must(t, err)
	defer db.Close()
	if db.SchemaVersion() != len(migrations) {
		t.Fatalf("schema %d after migration", db.SchemaVersion())
	}
	checkDB(t, db) // totals, due index, leased set and counter all match the rows
	for _, tc := range []struct {
		company string
		want    LibraryUsage
	}{{a.company.ID, LibraryUsage{4, 2, 1024}}, {b.company.ID, LibraryUsage{3, 0, 0}}} {
		if u, err := db.CompanyUsage(ctx, tc.company); err != nil || u != tc.want {
			t.Errorf("usage %+v %v, want %+v", u, err, tc.want)
		}
	}
	if n, err := db.QueueDepth(ctx); err != nil || n != 3 {
		t.Fatalf("queue depth %d %v, want 3", n, err)
	}
	if n, err := db.ReleaseJobLeases(ctx); err != nil || n != 1 {
		t.Fatalf("released %d %v, want 1", n, err)
	}
	var claimed []string
	for {
		j, err := db.ClaimJob(ctx, time.Minute)
		if ErrorCode(err) == ENOTFOUND {
			break
		}
		must(t, err)
		claimed = append(claimed, j.RecordingID)
	}
	if len(claimed) != 2 || claimed[0] != leased.ID || claimed[1] != due.ID {
		t.Fatalf("claimed %v, want the released %s then the due %s (not the backing-off %s)", claimed, leased.ID, due.ID, backingOff.ID)
	}
	// Writes after the migration keep the migrated totals right.
	_, err = db.DeleteRecording(ctx, ready.ID)
	must(t, err)
	_, err = db.DeleteRecording(ctx, failed.ID)
	must(t, err)
	if u, _ := db.CompanyUsage(ctx, a.company.ID); u != (LibraryUsage{2, 1, 24}) {
		t.Fatalf("usage after deletes %+v", u)
	}
	checkDB(t, db)
}

// TestCompanyRecordingsStartedBefore_StopsAtTheCutoff: the retention walk returns exactly the
// company's recordings that started before the cut-off, oldest first, pages with afterID, and
// never reads a row whose id (time-sorted) is newer: those rows are made undecodable.
func TestCompanyRecordingsStartedBefore_StopsAtTheCutoff(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn, other := mustTenant(t, db, "1"), mustTenant(t, db, "2")
	cut := clk.t // a whole millisecond
	var ids []string
	for _, d := range []time.Duration{-2 * time.Millisecond, -time.Nanosecond, 0, 500 * time.Microsecond, 2 * time.Millisecond} {
		r := newRecording(tn.company.ID, cut.Add(d))
		mustInsertRecordings(t, db, r)
		ids = append(ids, r.ID)
	}
	mustInsertRecordings(t, db, newRecording(other.company.ID, cut.Add(-time.Hour)))
	// The row 2 ms after the cut-off is in a later millisecond: the walk must stop at its key.
	var saved []byte
	must(t, db.bolt.Update(func(tx *bolt.Tx) error {
		saved = append([]byte(nil), tx.Bucket(bRecordings).Get([]byte(ids[4]))...)
		return tx.Bucket(bRecordings).Put([]byte(ids[4]), []byte("not json"))
	}))
	for _, tc := range []struct {
		name   string
		after  string
		before time.Time
		limit  int
		want   []string
	}{
		{"all before the cut-off", "", cut, 0, ids[:2]},
		{"one page", "", cut, 1, ids[:1]},
		{"next page", ids[0], cut, 1, ids[1:2]},
		{"past the last", ids[1], cut, 0, nil},
		{"cut-off inside a millisecond", "", cut.Add(time.Microsecond), 0, ids[:3]},
		{"before 1970", "", time.Unix(0, 0), 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.CompanyRecordingsStartedBefore(ctx, tn.company.ID, tc.after, tc.before, tc.limit)
			must(t, err)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d rows, want %v", len(got), tc.want)
			}
			for i := range got {
				if got[i].ID != tc.want[i] {
					t.Fatalf("row %d is %s, want %s", i, got[i].ID, tc.want[i])
				}
			}
		})
	}
	must(t, db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bRecordings).Put([]byte(ids[4]), saved) }))
}
