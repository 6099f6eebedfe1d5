package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BenchmarkMigration2 measures the one-time cost of schema migration 2 (totals and job indexes
// filled from the rows, once, at the first open by this version) at 10k and 1M ready
// recordings; each run is rolled back so it can repeat. Built with NoSync in transactions of
// 10,000 rows.
//
//	go test -run '^$' -bench Migration2 -benchtime 1x -timeout 30m ./store
func BenchmarkMigration2(b *testing.B) {
	ctx := context.Background()
	errRollback := errors.New("rollback")
	for _, rows := range []int{10000, 1000000} {
		db, err := Open(ctx, filepath.Join(b.TempDir(), "m.db"), Options{NoSync: true})
		must(b, err)
		tn := mustTenant(b, db, "1")
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		for done := 0; done < rows; {
			must(b, db.bolt.Update(func(tx *bolt.Tx) error {
				for i := 0; i < 10000 && done < rows; i, done = i+1, done+1 {
					r := newRecording(tn.company.ID, start.Add(time.Duration(done)*time.Second))
					if err := db.prepareRecording(r); err != nil {
						return err
					}
					r.State, r.FileSize, r.MP3Path = StateReady, 100000, "/library/"+r.ID+".mp3"
					if err := insertRecording(tx, r); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			cpu := processCPU()
			defer func() { b.ReportMetric(float64((processCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op") }()
			for i := 0; i < b.N; i++ {
				err := db.bolt.Update(func(tx *bolt.Tx) error {
					if err := migrateRunningTotals(tx); err != nil {
						return err
					}
					return errRollback
				})
				if err != errRollback {
					b.Fatal(err)
				}
			}
		})
		must(b, db.Close())
	}
}
