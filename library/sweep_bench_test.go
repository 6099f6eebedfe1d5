package library

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// benchEpoch is "now" for the sweep benchmarks: the stored recordings started in the year
// before it.
var benchEpoch = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// benchCompanies are the four companies of a benchmark store, rows spread evenly over them.
var benchCompanies = []struct {
	name             string
	retention, quota int
}{
	{"neither", 0, 0},
	{"retention", 400, 0}, // 400 days: every row is younger, nothing is removed
	{"quota", 0, 1 << 20}, // 1 TiB: under quota, nothing is removed
	{"both", 400, 1 << 20},
}

// benchStorePath returns a store file holding rows recordings spread over benchCompanies and the
// year before benchEpoch, built once and cached under os.TempDir() (never in the repository),
// keyed by row count and schema version (a name no "callrec-bench-*" clean-up matches). It is
// built through the public API (CreateRecording and FailRecording from many goroutines, NoSync):
// its rows are "failed", settled like ready ones, so retention may remove them (making them ready
// would take a sequential ClaimJob per row); the old sweep's cost, a decode of every row, does
// not depend on the state.
func benchStorePath(b *testing.B, rows int) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("callrec-storesweep-v2-failed-rows%d.db", rows))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	ctx := context.Background()
	tmp := path + ".building"
	_ = os.Remove(tmp)
	db, err := store.Open(ctx, tmp, store.Options{NoSync: true, MaxBatchDelay: time.Millisecond, Now: func() time.Time { return benchEpoch }})
	must(b, err)
	var ids []string
	for _, c := range benchCompanies {
		br := &store.Brand{Name: "Brand " + c.name}
		must(b, db.CreateBrand(ctx, br))
		co := &store.Company{BrandID: br.ID, Name: c.name, RetentionDays: c.retention, QuotaMB: c.quota}
		must(b, db.CreateCompany(ctx, co))
		ids = append(ids, co.ID)
	}
	const workers = 64
	step := 365 * 24 * time.Hour / time.Duration(rows)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < rows; i += workers {
				r := &store.Recording{CompanyID: ids[i%len(ids)], CallID: fmt.Sprintf("call-%d", i), Type: store.TypeDDI, Trigger: store.TriggerDDI,
					Direction: store.DirectionInbound, Recorder: "+34911234567", Caller: "+34600111222", Callee: "+34911234567",
					StartedAt: benchEpoch.Add(-365 * 24 * time.Hour).Add(time.Duration(i) * step)}
				if err := errors.Join(db.CreateRecording(ctx, r), db.FailRecording(ctx, r.ID, "bench")); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	must(b, errors.Join(<-errs))
	must(b, db.Close())
	must(b, os.Rename(tmp, path))
	return path
}

// copyFile copies a cached store so that a benchmark may open (and write) it.
func copyFile(b *testing.B, from, to string) {
	b.Helper()
	in, err := os.Open(from)
	must(b, err)
	defer in.Close()
	out, err := os.Create(to)
	must(b, err)
	_, err = io.Copy(out, in)
	must(b, errors.Join(err, out.Close()))
}

// oldSweepOnce is SweepOnce as it was before issue 13, kept only to compare in the same run,
// on a store where nothing is due for removal (so it never removes): per company, the first page
// of the oldest-first walk when it has retention, then its usage summed over every one of its
// rows (the old CompanyUsage, here through the same paged walk), and the first page of the
// quota walk when it has a quota.
func oldSweepOnce(ctx context.Context, db *store.DB, now time.Time) error {
	companies, err := db.Companies(ctx, "")
	if err != nil {
		return err
	}
	return oldSweepCompanies(ctx, db, now, companies)
}

func oldSweepCompanies(ctx context.Context, db *store.DB, now time.Time, companies []*store.Company) error {
	for _, c := range companies {
		if c.RetentionDays > 0 {
			page, err := db.CompanyRecordingsOldestFirst(ctx, c.ID, "", sweepPage)
			if err != nil {
				return err
			}
			if len(page) > 0 && page[0].StartedAt.Before(now.AddDate(0, 0, -c.RetentionDays)) {
				return errors.New("old sweep benchmark: a row is due for removal")
			}
		}
		var bytes int64
		for after := ""; ; {
			page, err := db.CompanyRecordingsOldestFirst(ctx, c.ID, after, sweepPage)
			if err != nil {
				return err
			}
			for _, r := range page {
				if r.State == store.StateReady {
					bytes += r.FileSize
				}
			}
			if len(page) < sweepPage {
				break
			}
			after = page[len(page)-1].ID
		}
		if c.QuotaMB > 0 {
			if _, err := db.CompanyRecordingsOldestFirst(ctx, c.ID, "", sweepPage); err != nil {
				return err
			}
		}
		_ = bytes
	}
	return nil
}

// BenchmarkSweep compares one whole sweep (every company) and each kind of company alone,
// old (decode every row) against new (running totals, walk by age), at 10k and 1M recordings,
// and reports CPU per sweep. Nothing is due for removal: the hourly sweep of a steady library.
//
//	go test -run '^$' -bench 'Sweep' -benchtime 5x -timeout 60m ./library
func BenchmarkSweep(b *testing.B) {
	ctx := context.Background()
	for _, rows := range []int{10000, 1000000} {
		path := filepath.Join(b.TempDir(), "sweep.db")
		copyFile(b, benchStorePath(b, rows), path)
		db, err := store.Open(ctx, path, store.Options{NoSync: true, Now: func() time.Time { return benchEpoch }})
		must(b, err)
		companies, err := db.Companies(ctx, "")
		must(b, err)
		s := &Sweeper{DB: db, LibraryDir: b.TempDir(), Logger: zerolog.Nop(), Now: func() time.Time { return benchEpoch }}
		lib, err := filepath.Abs(s.LibraryDir)
		must(b, err)
		run := func(name string, sweep func() error) {
			b.Run(fmt.Sprintf("rows=%d/%s", rows, name), func(b *testing.B) {
				cpu := processCPU()
				for i := 0; i < b.N; i++ {
					must(b, sweep())
				}
				b.ReportMetric(float64((processCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			})
		}
		for _, kind := range []string{"old", "new"} {
			if kind == "old" {
				run("all/old", func() error { return oldSweepOnce(ctx, db, benchEpoch) })
			} else {
				run("all/new", func() error { _, err := s.SweepOnce(ctx); return err })
			}
		}
		for _, c := range companies {
			c := c
			run(c.Name+"/old", func() error { return oldSweepCompanies(ctx, db, benchEpoch, []*store.Company{c}) })
			run(c.Name+"/new", func() error { _, err := s.sweepCompany(ctx, lib, c); return err })
		}
		must(b, db.Close())
		// Start-up: Open and the first sweep, as serve does.
		for _, kind := range []string{"old", "new"} {
			run("start-up/"+kind, func() error {
				db, err := store.Open(ctx, path, store.Options{NoSync: true, Now: func() time.Time { return benchEpoch }})
				if err != nil {
					return err
				}
				if kind == "old" {
					err = oldSweepOnce(ctx, db, benchEpoch)
				} else {
					_, err = (&Sweeper{DB: db, LibraryDir: lib, Logger: zerolog.Nop(), Now: s.Now}).SweepOnce(ctx)
				}
				return errors.Join(err, db.Close())
			})
		}
		// The hourly sweep of a library in steady state, with removals: each sweep runs an hour
		// after the previous one, 35 days past benchEpoch, so the rows of one hour have aged past
		// the 400-day retention (new code only: the old replica never removes).
		db, err = store.Open(ctx, path, store.Options{NoSync: true, Now: func() time.Time { return benchEpoch }})
		must(b, err)
		b.Run(fmt.Sprintf("rows=%d/hourly with removals/new", rows), func(b *testing.B) {
			clock := benchEpoch.Add(35 * 24 * time.Hour)
			hourly := &Sweeper{DB: db, LibraryDir: lib, Logger: zerolog.Nop(), Now: func() time.Time { return clock }}
			removed := 0
			cpu := processCPU()
			for i := 0; i < b.N; i++ {
				clock = clock.Add(time.Hour)
				n, err := hourly.SweepOnce(ctx)
				must(b, err)
				removed += n
			}
			b.ReportMetric(float64((processCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(removed)/float64(b.N), "removed/op")
		})
		must(b, db.Close())
	}
}
