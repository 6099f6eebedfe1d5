package store

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Listing and number search benchmarks (issue 13 target 3). A store of n rows is built once per
// size (NoSync, big commits) and cached under os.TempDir() as callrec-bench-list-v3-<n>.db;
// delete the file to rebuild it. Company A holds 99% of the rows, B the rest; one row in 50 has
// the caller +34600333444, the others a random +346 number; every callee and recorder is A's DDI.

const benchTarget = "+34600333444"

var benchSpanStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const benchSpan = 100 * 24 * time.Hour

// benchStore opens (building it first if needed) the cached store of n rows and returns it with
// company A's id.
func benchStore(b *testing.B, n int) (*DB, string) {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("callrec-bench-list-v3-%d.db", n))
	done := []byte("bench_complete")
	if db, err := Open(ctx, path, Options{NoSync: true, DefaultCountry: "ES"}); err == nil {
		var co []byte
		_ = db.bolt.View(func(tx *bolt.Tx) error {
			co = slices.Clone(tx.Bucket(bMeta).Get(done))
			return nil
		})
		if co != nil {
			if os.Getenv("CALLREC_BENCH_STATS") != "" {
				logBucketSizes(b, db, n)
			}
			return db, string(co)
		}
		db.Close()
	}
	_ = os.Remove(path)
	start := time.Now()
	db, err := Open(ctx, path, Options{NoSync: true, DefaultCountry: "ES"})
	must(b, err)
	a, other := mustTenant(b, db, "1"), mustTenant(b, db, "2")
	rng := rand.New(rand.NewPCG(13, uint64(n)))
	step := benchSpan / time.Duration(n)
	const perTx = 1000
	for i := 0; i < n; i += perTx {
		if i > 0 && i%100_000 == 0 {
			b.Logf("%d rows in %s", i, time.Since(start).Round(time.Second))
		}
		rs := make([]*Recording, 0, perTx)
		for j := i; j < min(n, i+perTx); j++ {
			co := a
			if rng.IntN(100) == 0 {
				co = other
			}
			r := newRecording(co.company.ID, benchSpanStart.Add(time.Duration(j)*step))
			r.Callee, r.Recorder = co.ddi.Number, co.ddi.Number
			if rng.IntN(50) == 0 {
				r.Caller = benchTarget
			} else {
				r.Caller = fmt.Sprintf("+346%08d", rng.IntN(100_000_000))
			}
			must(b, db.prepareRecording(r))
			rs = append(rs, r)
		}
		must(b, db.bolt.Update(func(tx *bolt.Tx) error {
			for _, r := range rs {
				if err := insertRecording(tx, r); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	must(b, db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(done, []byte(a.company.ID)) }))
	st, _ := os.Stat(path)
	b.Logf("built %d rows in %s (%d MiB)", n, time.Since(start).Round(time.Second), st.Size()>>20)
	return db, a.company.ID
}

// BenchmarkListRecordings measures pages of 50 of company A's listing (date range: the middle
// 80% of the span) and of number searches, walking on with the cursor (back to the first page
// at the end), each page alternating with a raw bbolt walk of the same rows: the posting list
// the search walks (company index for the plain listing, the query's first gram otherwise)
// from the page's first row, as many keys as the page has rows, each row fetched and decoded
// (an empty page: one seek). Reports p50/p99 of both per page, in µs.
func BenchmarkListRecordings(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			db, co := benchStore(b, n)
			defer db.Close()
			from, to := benchSpanStart.Add(benchSpan/10), benchSpanStart.Add(benchSpan*9/10)
			for _, c := range []struct {
				name string
				f    RecordingFilter
			}{
				{"list", RecordingFilter{CompanyID: co, From: &from, To: &to}},
				{"number=full", RecordingFilter{CompanyID: co, Number: "+34 600 333 444"}},
				{"number=full+range", RecordingFilter{CompanyID: co, Number: "0034600333444", From: &from, To: &to}},
				{"number=partial", RecordingFilter{CompanyID: co, Number: "600333"}},
				{"number=partial4", RecordingFilter{CompanyID: co, Number: "3334"}},
				{"number=none", RecordingFilter{CompanyID: co, Number: "600333445"}},
				{"number=none2", RecordingFilter{CompanyID: co, Number: "+34 600 333 999"}},
				{"caller=exact", RecordingFilter{CompanyID: co, Caller: benchTarget}},
			} {
				b.Run(c.name, func(b *testing.B) { benchPages(b, db, c.f) })
			}
		})
	}
}

func benchPages(b *testing.B, db *DB, f RecordingFilter) {
	ctx := context.Background()
	f.Limit = 50
	var list, raw []time.Duration
	rows := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		page, next, err := db.ListRecordings(ctx, f)
		list = append(list, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		rows += len(page)
		t0 = time.Now()
		if got := rawWalk(db, f, page); got != len(page) {
			b.Fatalf("raw walk saw %d rows, page has %d", got, len(page))
		}
		raw = append(raw, time.Since(t0))
		f.Cursor = next
	}
	b.StopTimer()
	p := func(d []time.Duration, q float64) float64 {
		slices.Sort(d)
		return float64(d[min(len(d)-1, int(float64(len(d))*q))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(p(list, 0.5), "p50-µs")
	b.ReportMetric(p(list, 0.99), "p99-µs")
	b.ReportMetric(p(raw, 0.5), "raw-p50-µs")
	b.ReportMetric(p(raw, 0.99), "raw-p99-µs")
	b.ReportMetric(float64(rows)/float64(b.N), "rows/page")
}

// rawWalk is the floor a page costs: one read transaction, one posting list walked backwards
// from the page's first row for as many keys as the page has, each row fetched and decoded.
func rawWalk(db *DB, f RecordingFilter, page []*Recording) int {
	bucket, prefix := ixRecCompany, join(f.CompanyID, "")
	q := f.Number
	if q == "" {
		q = f.Caller
	}
	if q != "" {
		d, _ := searchDigits(q, "ES", "number")
		bucket, prefix = ixRecNumber, join(f.CompanyID, queryGrams(d)[0], "")
	}
	n := 0
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		rows := tx.Bucket(bRecordings)
		if len(page) == 0 {
			c.Seek([]byte(prefix + "\xff"))
			return nil
		}
		k, _ := c.Seek([]byte(prefix + page[0].ID))
		for ; k != nil && n < len(page) && bytes.HasPrefix(k, []byte(prefix)); k, _ = c.Prev() {
			if _, err := decodeRecording(rows.Get(k[len(prefix):])); err != nil {
				return nil
			}
			n++
		}
		return nil
	})
	return n
}

// logBucketSizes logs what each recording bucket takes per row (CALLREC_BENCH_STATS=1).
func logBucketSizes(b *testing.B, db *DB, n int) {
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bRecordings, ixRecCompany, ixRecState, ixRecNumber} {
			st := tx.Bucket(name).Stats()
			b.Logf("%s: %d keys, %d bytes of leaf pages (%d in use) = %d bytes per row",
				name, st.KeyN, st.LeafAlloc, st.LeafInuse, st.LeafAlloc/n)
		}
		b.Logf("file %d MiB for %d rows", tx.Size()>>20, n)
		return nil
	})
}

// BenchmarkMigration3 times the one-time build of the number index when a v1 store of 100,000
// recordings (random +346 callers) is opened by this version. Reports rows/s.
func BenchmarkMigration3(b *testing.B) {
	ctx := context.Background()
	const n = 100_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(b.TempDir(), "v1.db")
		db, err := openWith(ctx, path, Options{NoSync: true}, migrations[:1])
		must(b, err)
		tn := mustTenant(b, db, "1")
		rng := rand.New(rand.NewPCG(3, 3))
		for j := 0; j < n; j += 1000 {
			must(b, db.bolt.Update(func(tx *bolt.Tx) error {
				for k := 0; k < 1000; k++ {
					r := newRecording(tn.company.ID, benchSpanStart.Add(time.Duration(j+k)*time.Second))
					r.Caller = fmt.Sprintf("+346%08d", rng.IntN(100_000_000))
					must(b, db.prepareRecording(r))
					var v1 []entry
					for _, e := range recordingEntries(r) {
						if !bytes.Equal(e.bucket, ixRecNumber) {
							v1 = append(v1, e)
						}
					}
					if err := moveEntries(tx, nil, v1); err != nil {
						return err
					}
					if err := putRow(tx, bRecordings, r.ID, r, encodeRecording); err != nil {
						return err
					}
				}
				return nil
			}))
		}
		must(b, db.Close())
		b.StartTimer()
		start := time.Now()
		db, err = Open(ctx, path, Options{NoSync: true})
		must(b, err)
		b.ReportMetric(n/time.Since(start).Seconds(), "rows/s")
		b.StopTimer()
		must(b, db.Close())
	}
}
