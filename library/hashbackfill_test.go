package library

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func sha256Of(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	must(tb, err)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// The worker hashes the MP3 while writing it and stores the hash with the row that becomes
// ready: it is the SHA-256 of the file in the library.
func TestWorker_StoresTheSHA256OfTheMP3ItWrote(t *testing.T) {
	e := mustOpenEnv(t)
	rec, _ := e.queueWAV(t, 8000, 1, 8000*3)
	if n := drain(t, e.worker()); n != 1 {
		t.Fatalf("processed %d jobs, want 1", n)
	}
	got := e.recording(t, rec.ID)
	if got.State != store.StateReady {
		t.Fatalf("state %s (%s)", got.State, got.Error)
	}
	if want := sha256Of(t, got.MP3Path); got.SHA256 != want {
		t.Fatalf("row sha256 %q, file's %q", got.SHA256, want)
	}
	if ev := e.logs.events("ready"); len(ev) != 1 || ev[0]["sha256"] != got.SHA256 {
		t.Errorf("ready log %v does not carry the hash", ev)
	}
}

// Rows made ready without a hash (what versions before schema 4 left) get the SHA-256 of
// their MP3 from the backfill, which logs its progress and then has nothing left to do; a
// row whose file is missing is passed over, logged.
func TestHashBackfill_HashesReadyRowsWithoutOne(t *testing.T) {
	ctx := context.Background()
	e := mustOpenEnv(t)
	var old []*store.Recording
	for i := range 5 {
		old = append(old, e.readyWithoutHash(t, []byte(fmt.Sprintf("mp3 %d", i))))
	}
	must(t, os.Remove(old[4].MP3Path))

	b := &HashBackfill{DB: e.db, LibraryDir: e.lib, Logger: e.logger(), Batch: 2, Pause: time.Millisecond}
	must(t, b.Run(ctx))
	for _, r := range old[:4] {
		got := e.recording(t, r.ID)
		if want := sha256Of(t, r.MP3Path); got.SHA256 != want {
			t.Errorf("%s: sha256 %q, want %q", r.ID, got.SHA256, want)
		}
	}
	if got := e.recording(t, old[4].ID); got.SHA256 != "" {
		t.Errorf("a row without its file got a hash %q", got.SHA256)
	}
	progress := e.logs.events("hash_backfill")
	if len(progress) < 3 || progress[len(progress)-1]["done"] != true || progress[len(progress)-1]["hashed"] != float64(4) {
		t.Errorf("progress log %v", progress)
	}
	if len(e.logs.events("hash_skipped")) != 1 {
		t.Errorf("the missing file was not logged: %v", e.logs.events("hash_skipped"))
	}
	if p, _ := e.db.HashBackfillPending(ctx); p {
		t.Error("backfill still pending")
	}
	before := len(e.logs.events("hash_backfill"))
	must(t, b.Run(ctx)) // done for good: a second run does nothing
	if len(e.logs.events("hash_backfill")) != before {
		t.Error("a finished backfill ran again")
	}
}

// readyWithoutHash makes a ready recording with content as its MP3 in the library and no
// SHA-256 on its row, as a callrec before schema 4 left it.
func (e *env) readyWithoutHash(tb testing.TB, content []byte) *store.Recording {
	tb.Helper()
	ctx := context.Background()
	r := e.queue(tb, e.company.ID, filepath.Join(e.spool, "x.wav"), 1000)
	job, err := e.db.ClaimJob(ctx, time.Minute)
	must(tb, err)
	mp3, err := MP3Path(e.lib, r)
	must(tb, err)
	must(tb, os.MkdirAll(filepath.Dir(mp3), 0o750))
	must(tb, os.WriteFile(mp3, content, 0o640))
	must(tb, e.db.CompleteRecording(ctx, job.ID, store.RecordingResult{MP3Path: mp3, DurationMS: 1000, FileSize: int64(len(content))}))
	return e.recording(tb, r.ID)
}
