package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// The listing on PostgreSQL with the data set of store's BenchmarkListRecordings
// (store/list_bench_test.go): company A holds 99% of the rows, B the rest, over 100 days; one
// row in 50 has the caller +34600333444, the others a random +346 number; every callee and
// recorder is the company's DDI. Rows go in by COPY into a fresh database of the package's
// server (PG_BENCH_ROWS overrides the 1,000,000).

const benchTarget = "+34600333444"

var benchSpanStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const benchSpan = 100 * 24 * time.Hour

// benchStore builds the data set of n rows and returns the store and company A's id.
func benchStore(b *testing.B, n int) (*DB, string) {
	b.Helper()
	db, _ := mustOpen(b, Options{})
	a, other := mustTenant(b, db, "1"), mustTenant(b, db, "2")
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(13, uint64(n)))
	step := benchSpan / time.Duration(n)
	cols := strings.Split(recordingColumns, ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	start := time.Now()
	i := 0
	var rowErr error
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		co := a
		if rng.IntN(100) == 0 {
			co = other
		}
		r := &store.Recording{CompanyID: co.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, Callee: "+34911234567", Recorder: "+34911234567",
			StartedAt: benchSpanStart.Add(time.Duration(i) * step), DurationMS: 60_000, FileSize: 480_000, MIME: "audio/mpeg"}
		if rng.IntN(50) == 0 {
			r.Caller = benchTarget
		} else {
			r.Caller = fmt.Sprintf("+346%08d", rng.IntN(100_000_000))
		}
		end := r.StartedAt.Add(time.Minute)
		r.EndedAt = &end
		prepared(db, r)
		r.MP3Path = "/library/" + r.ID + ".mp3"
		i++
		args, err := recordingArgs(r)
		rowErr = err
		return args, err
	})
	copied, err := db.pool.CopyFrom(ctx, pgx.Identifier{"recordings"}, cols, src)
	must(b, err)
	must(b, rowErr)
	loaded := time.Since(start)
	_, err = db.pool.Exec(ctx, "VACUUM ANALYZE recordings")
	must(b, err)
	var size int64
	must(b, db.pool.QueryRow(ctx, "SELECT pg_total_relation_size('recordings')").Scan(&size))
	b.Logf("COPY of %d rows in %s, VACUUM ANALYZE %s; recordings with its indexes %d MiB",
		copied, loaded.Round(time.Millisecond), (time.Since(start) - loaded).Round(time.Millisecond), size>>20)
	return db, a.companyID
}

// BenchmarkListRecordings measures pages of 50 of company A's listing (date range: the middle
// 80% of the span, as store's "list" case): the first page, a deep page (the one after row
// 400,000 of the listing: keyset, so it should cost what the first does), and a walk page
// after page with the cursor (store's way; back to the first page at the end), and the
// caller=exact case, and number searches (store/search.go) of a number in one row of 50, of a
// prefix every row holds, and of 8 digits few rows hold. Reports p50/p99 per page in µs, and logs the first page's plan.
func BenchmarkListRecordings(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("PG_BENCH_ROWS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1000 {
			b.Fatalf("PG_BENCH_ROWS=%q: want a number of at least 1000", s)
		}
	}
	db, co := benchStore(b, n)
	from, to := benchSpanStart.Add(benchSpan/10), benchSpanStart.Add(benchSpan*9/10)
	list := store.RecordingFilter{CompanyID: co, From: &from, To: &to, Limit: 50}
	deep := list
	deep.Cursor = cursorAfter(b, db, list, min(400_000, n*2/5))
	logPlan(b, db, deep)
	rare := store.RecordingFilter{CompanyID: co, Number: "600333444", Limit: 50}
	common := store.RecordingFilter{CompanyID: co, Number: "346", Limit: 50}
	none := store.RecordingFilter{CompanyID: co, Number: "60012345", Limit: 50}
	logPlan(b, db, rare)
	logPlan(b, db, common)
	logPlan(b, db, none)
	for _, c := range []struct {
		name string
		f    store.RecordingFilter
		walk bool
	}{
		{"list/first", list, false},
		{"list/deep", deep, false},
		{"list/walk", list, true},
		{"caller=exact/first", store.RecordingFilter{CompanyID: co, Caller: benchTarget, Limit: 50}, false},
		{"number=9/walk", rare, true},     // the target: one row in 50
		{"number=3/first", common, false}, // every row
		{"number=8/first", none, false},   // a few random rows

	} {
		b.Run(fmt.Sprintf("rows=%d/%s", n, c.name), func(b *testing.B) { benchPages(b, db, c.f, c.walk) })
	}
}

// cursorAfter returns the cursor of the listing f positioned after its row number k (0-based).
func cursorAfter(b *testing.B, db *DB, f store.RecordingFilter, k int) store.Cursor {
	b.Helper()
	q, args, err := listQuery(&f, "", 1)
	must(b, err)
	q = strings.Replace(q, " LIMIT ", " OFFSET "+strconv.Itoa(k)+" LIMIT ", 1)
	r, err := scanRecording(db.pool.QueryRow(context.Background(), q, args...))
	must(b, err)
	return encodeCursor(r)
}

// logPlan logs EXPLAIN ANALYZE of f's page: the listing's must be an index range scan, not a
// sort.
func logPlan(b *testing.B, db *DB, f store.RecordingFilter) {
	b.Helper()
	digits, err := db.numberDigits(context.Background(), &f)
	must(b, err)
	q, args, err := listQuery(&f, digits, f.Limit+1)
	must(b, err)
	rows, err := db.pool.Query(context.Background(), "EXPLAIN (ANALYZE, BUFFERS) "+q, args...)
	must(b, err)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	must(b, err)
	b.Logf("plan of %+v:\n%s", f, strings.Join(plan, "\n"))
}

func benchPages(b *testing.B, db *DB, f store.RecordingFilter, walk bool) {
	ctx := context.Background()
	var lat []time.Duration
	rows := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		page, next, err := db.ListRecordings(ctx, f)
		lat = append(lat, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		rows += len(page)
		if walk {
			f.Cursor = next
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*q))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(p(0.5), "p50-µs")
	b.ReportMetric(p(0.99), "p99-µs")
	b.ReportMetric(float64(rows)/float64(b.N), "rows/page")
}
