package library

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/store/postgres"
	"github.com/callrec/callrec/store/postgres/pgtest"
)

// startPostgres returns the DSN of a fresh database with callrec's schema on a real PostgreSQL
// started for the test (pgtest).
func startPostgres(t *testing.T) string {
	t.Helper()
	return pgtest.Database(t, pgtest.Options{Prepare: func(ctx context.Context, dsn string) error {
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err == nil {
			db.Close()
		}
		return err
	}})
}

// Two callrec instances' audio workers on one PostgreSQL store (issue 16 item 3): each its own
// pool, spool and library_dir as on two hosts, running at once over 12 queued recordings.
// Every recording ends ready exactly once, each MP3 made by one of them, and both took part.
func TestWorker_TwoInstancesOnPostgreSQLEncodeEveryJobOnce(t *testing.T) {
	dsn := startPostgres(t)
	ctx := context.Background()
	open := func() *postgres.DB {
		db, err := postgres.Open(ctx, dsn, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	brand := &store.Brand{Name: "Brand"}
	must(t, a.CreateBrand(ctx, brand))
	co := &store.Company{BrandID: brand.ID, Name: "Acme"}
	must(t, a.CreateCompany(ctx, co))

	spool := t.TempDir()
	const n = 12
	for i := range n {
		wav := filepath.Join(spool, "r"+string(rune('a'+i))+".wav")
		writeWAV(t, wav, 8000, 1, 8000)
		r := &store.Recording{CompanyID: co.ID, CallID: "call", Type: store.TypeDDI, Trigger: store.TriggerDDI, Direction: store.DirectionInbound,
			Recorder: "+34911234567", Caller: "+34600111222", Callee: "+34911234567", StartedAt: time.Now()}
		must(t, a.CreateRecording(ctx, r))
		must(t, a.FinishRecording(ctx, r.ID, time.Now(), 1000, wav))
	}
	logs := &syncBuffer{}
	worker := func(db *postgres.DB) *Worker {
		return &Worker{DB: db, LibraryDir: t.TempDir(), SpoolDirs: []string{spool}, Concurrency: 2, MaxAttempts: 3, Lease: time.Minute,
			Poll: 10 * time.Millisecond, Logger: zerolog.New(logs)}
	}
	wa, wb := worker(a), worker(b)
	var mu sync.Mutex // claims by both workers: a job claimed twice would be encoded twice
	claimed := 0
	for _, w := range []*Worker{wa, wb} {
		w.hook = func(step string) {
			if step == "claimed" {
				mu.Lock()
				claimed++
				mu.Unlock()
			}
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, w := range []*Worker{wa, wb} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(runCtx) }()
	}
	deadline := time.Now().Add(60 * time.Second)
	var ready []*store.Recording
	for time.Now().Before(deadline) {
		var err error
		ready, err = a.RecordingsInState(ctx, store.StateReady, 0)
		must(t, err)
		if len(ready) == n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	wg.Wait()
	if len(ready) != n {
		t.Fatalf("%d of %d recordings ready", len(ready), n)
	}
	made := map[string]int{}
	for _, lib := range []string{wa.LibraryDir, wb.LibraryDir} {
		_ = filepath.WalkDir(lib, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && filepath.Ext(p) == ".mp3" {
				made[lib]++
			}
			return nil
		})
	}
	mu.Lock()
	if claimed != n {
		t.Errorf("%d claims for %d jobs, want each claimed once", claimed, n)
	}
	mu.Unlock()
	if made[wa.LibraryDir]+made[wb.LibraryDir] != n {
		t.Fatalf("MP3s made %v, want %d in all (each job once)", made, n)
	}
	if made[wa.LibraryDir] == 0 || made[wb.LibraryDir] == 0 {
		t.Logf("one instance took every job (%v): possible on a fast machine, the exactly-once check above still holds", made)
	}
	for _, r := range ready {
		if _, err := os.Stat(r.MP3Path); err != nil {
			t.Errorf("recording %s names %s: %v", r.ID, r.MP3Path, err)
		}
	}
	if depth, err := a.QueueDepth(ctx); err != nil || depth != 0 {
		t.Errorf("queue depth %d (%v) after every job, want 0", depth, err)
	}
}
