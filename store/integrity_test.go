package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// mustReady walks r through the lifecycle to ready with res (MP3Path defaulted).
func mustReady(t *testing.T, db *DB, r *Recording, res RecordingResult) *Recording {
	t.Helper()
	ctx := context.Background()
	must(t, db.CreateRecording(ctx, r))
	must(t, db.FinishRecording(ctx, r.ID, r.StartedAt.Add(time.Second), 1000, "/spool/"+r.ID+".wav"))
	job, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	if res.MP3Path == "" {
		res.MP3Path = "/lib/" + r.ID + ".mp3"
	}
	must(t, db.CompleteRecording(ctx, job.ID, res))
	got, err := db.Recording(ctx, r.ID)
	must(t, err)
	return got
}

func hexSum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// The worker's hash is stored with the row in the transaction that makes it ready, and shows in
// the row's JSON; a malformed one is refused.
func TestCompleteRecording_StoresSHA256(t *testing.T) {
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	sum := hexSum("mp3")
	got := mustReady(t, db, newRecording(tn.company.ID, time.Time{}), RecordingResult{SHA256: sum, FileSize: 3})
	if got.SHA256 != sum {
		t.Fatalf("sha256 %q, want %q", got.SHA256, sum)
	}
	b, err := json.Marshal(got)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	if m["sha256"] != sum || m["integrity"] != "" {
		t.Fatalf("JSON %s", b)
	}

	ctx := context.Background()
	r := newRecording(tn.company.ID, time.Time{})
	must(t, db.CreateRecording(ctx, r))
	must(t, db.FinishRecording(ctx, r.ID, r.StartedAt.Add(time.Second), 1000, "/spool/x.wav"))
	job, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	wantCode(t, db.CompleteRecording(ctx, job.ID, RecordingResult{MP3Path: "/lib/x.mp3", SHA256: "ABC"}), EINVALID, "sha256")
}

// Hashes stored after the fact and integrity marks only touch a ready row with that file, and a
// row's hash is never replaced by another.
func TestSetRecordingSHA256AndIntegrity(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	r := mustReady(t, db, newRecording(tn.company.ID, time.Time{}), RecordingResult{})
	sum, other := hexSum("a"), hexSum("b")
	wantCode(t, db.SetRecordingSHA256(ctx, r.ID, r.MP3Path, "nothex"), EINVALID, "sha256")
	wantCode(t, db.SetRecordingSHA256(ctx, r.ID, "/elsewhere.mp3", sum), ECONFLICT, "state")
	wantCode(t, db.SetRecordingSHA256(ctx, "missing", r.MP3Path, sum), ENOTFOUND, "")
	must(t, db.SetRecordingSHA256(ctx, r.ID, r.MP3Path, sum))
	must(t, db.SetRecordingSHA256(ctx, r.ID, r.MP3Path, sum)) // the same again: no-op
	wantCode(t, db.SetRecordingSHA256(ctx, r.ID, r.MP3Path, other), ECONFLICT, "sha256")

	wantCode(t, db.SetRecordingIntegrity(ctx, r.ID, r.MP3Path, "bad"), EINVALID, "integrity")
	must(t, db.SetRecordingIntegrity(ctx, r.ID, r.MP3Path, IntegrityMismatch))
	got, err := db.Recording(ctx, r.ID)
	must(t, err)
	if got.SHA256 != sum || got.Integrity != IntegrityMismatch || got.State != StateReady {
		t.Fatalf("row %+v", got)
	}
	must(t, db.SetRecordingIntegrity(ctx, r.ID, r.MP3Path, ""))
	if got, _ := db.Recording(ctx, r.ID); got.Integrity != "" {
		t.Fatalf("integrity not cleared: %q", got.Integrity)
	}
}

// A store written before schema 4 (rows without sha256 or integrity keys) opens at once — the
// migration only marks a backfill pending — and the backfill's batches hand out exactly its
// ready rows, resumably, until it is done for good.
func TestMigration4_OldStoreOpensAndItsReadyRowsAreBackfilled(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v3.db")
	db, err := openWith(ctx, path, Options{NoSync: true}, migrations[:3])
	must(t, err)
	tn := mustTenant(t, db, "1")
	var ready []string
	for i := range 7 {
		r := mustReady(t, db, newRecording(tn.company.ID, time.Date(2025, 1, 1, 0, i, 0, 0, time.UTC)), RecordingResult{})
		ready = append(ready, r.ID)
	}
	live := newRecording(tn.company.ID, time.Time{})
	must(t, db.CreateRecording(ctx, live)) // still recording: nothing to hash
	// The v3 layout: the rows' JSON has no sha256 or integrity key at all.
	must(t, db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRecordings)
		return b.ForEach(func(k, v []byte) error {
			var m map[string]any
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			delete(m, "sha256")
			delete(m, "integrity")
			nv, err := json.Marshal(m)
			if err != nil {
				return err
			}
			return b.Put(k, nv)
		})
	}))
	must(t, db.Close())

	db, err = Open(ctx, path, Options{NoSync: true})
	must(t, err)
	if db.SchemaVersion() < 4 {
		t.Fatalf("schema %d, want 4 or later", db.SchemaVersion())
	}
	if p, err := db.HashBackfillPending(ctx); err != nil || !p {
		t.Fatalf("backfill pending %v %v, want true", p, err)
	}
	// Three rows per batch; the process "dies" after the first batch and resumes after reopen.
	var got []string
	batch := func() bool {
		recs, next, done, err := db.HashBackfillBatch(ctx, 3)
		must(t, err)
		for _, r := range recs {
			got = append(got, r.ID)
			must(t, db.SetRecordingSHA256(ctx, r.ID, r.MP3Path, hexSum(r.ID)))
		}
		must(t, db.AdvanceHashBackfill(ctx, next, done))
		return done
	}
	batch()
	must(t, db.Close())
	db, err = Open(ctx, path, Options{NoSync: true})
	must(t, err)
	defer db.Close()
	for n := 0; !batch(); n++ {
		if n > 10 {
			t.Fatal("backfill does not end")
		}
	}
	if !slices.Equal(got, ready) {
		t.Fatalf("backfilled %v, want the ready rows %v", got, ready)
	}
	for _, id := range ready {
		r, err := db.Recording(ctx, id)
		must(t, err)
		if r.SHA256 != hexSum(id) {
			t.Errorf("%s: sha256 %q", id, r.SHA256)
		}
	}
	if p, _ := db.HashBackfillPending(ctx); p {
		t.Fatal("backfill still pending after it finished")
	}
	if recs, _, done, err := db.HashBackfillBatch(ctx, 3); err != nil || !done || len(recs) != 0 {
		t.Fatalf("finished backfill: %v %v %v", recs, done, err)
	}
	checkDB(t, db)
}
