package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCreateRecording_ParallelBatch measures call-path inserts from many goroutines on a
// synced file: Batch folds concurrent writers into shared fsyncs. Reports recordings/s.
func BenchmarkCreateRecording_ParallelBatch(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), Options{})
	must(b, err)
	defer db.Close()
	tn := mustTenant(b, db, "1")
	b.SetParallelism(16) // many concurrent calls per core, as on a busy PBX
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := db.CreateRecording(ctx, newRecording(tn.company.ID, time.Time{})); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "recordings/s")
}

// BenchmarkListRecordings_PageWalk measures one 50-row page of a company's newest-first
// listing in a table of 20,000 recordings, walking on with the cursor. Reports rows/s.
func BenchmarkListRecordings_PageWalk(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), Options{NoSync: true})
	must(b, err)
	defer db.Close()
	tn := mustTenant(b, db, "1")
	other := mustTenant(b, db, "2")
	for i := 0; i < 10; i++ {
		mustInsertRecordings(b, db, manyRecordings(tn.company.ID, 1000)...)
		mustInsertRecordings(b, db, manyRecordings(other.company.ID, 1000)...)
	}
	f := RecordingFilter{CompanyID: tn.company.ID, Limit: 50}
	rows := 0
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		page, next, err := db.ListRecordings(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		rows += len(page)
		f.Cursor = next // wraps to the first page at the end
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}

func TestOpen_MaxBatchDelayReachesBbolt(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "d.db"), Options{NoSync: true, MaxBatchDelay: time.Millisecond})
	must(t, err)
	defer db.Close()
	if db.bolt.MaxBatchDelay != time.Millisecond {
		t.Fatalf("MaxBatchDelay %v", db.bolt.MaxBatchDelay)
	}
}
