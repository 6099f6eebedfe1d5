package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/callrec/callrec/store"
)

// searchWorld is store's (store/search_test.go): two brands, tenant 1 with a sister company,
// and recordings whose numbers the cases search for, one minute apart in insertion order.
type searchWorld struct {
	db       *DB
	t1, t2   tenant
	sisterID string
	rec      map[string]*store.Recording
}

func newSearchWorld(t *testing.T) *searchWorld {
	ctx := context.Background()
	db, _ := mustOpen(t, Options{DefaultCountry: "ES"})
	w := &searchWorld{db: db, rec: map[string]*store.Recording{}}
	w.t1, w.t2 = mustTenant(t, db, "1"), mustTenant(t, db, "2")
	w.sisterID = db.newID(db.now())
	_, err := db.pool.Exec(ctx, "INSERT INTO companies (id, brand_id, name) VALUES ($1, $2, 'Sister')", w.sisterID, w.t1.brandID)
	must(t, err)
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var all []*store.Recording
	add := func(name, company, caller, callee string) {
		r := prepared(db, &store.Recording{CompanyID: company, Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, Caller: caller, Callee: callee, Recorder: callee,
			StartedAt: base.Add(time.Duration(len(w.rec)) * time.Minute), State: store.StateRecording})
		w.rec[name] = r
		all = append(all, r)
	}
	add("caller", w.t1.companyID, "+34600333444", "+34911234561")
	add("callee", w.t1.companyID, "+34699000111", "+34600333444")
	add("twice", w.t1.companyID, "+34600333444", "+34600333444") // matches through two parties
	add("uk", w.t1.companyID, "+442079460000", "+34911234561")
	add("anon", w.t1.companyID, "anonymous", "+34911234561")
	add("ext", w.t1.companyID, "1001", "1002")
	add("repeat", w.t1.companyID, "+34333333333", "+34911234561") // one gram many times
	add("sister", w.sisterID, "+34600333444", "+34911234561")
	add("other", w.t2.companyID, "+34600333444", "+34911234562")
	copyRecordings(t, db, all)
	return w
}

// names lists f's rows page by page (every page but the last full) as the cases' names.
func (w *searchWorld) names(t *testing.T, f store.RecordingFilter) []string {
	t.Helper()
	byID := map[string]string{}
	for n, r := range w.rec {
		byID[r.ID] = n
	}
	var out []string
	for _, id := range listAll(t, w.db, f) {
		out = append(out, byID[id])
	}
	return out
}

// listAll walks f's pages with the cursor and returns the ids; a page with a next cursor must
// be full (this backend's promise, list.go).
func listAll(t *testing.T, db *DB, f store.RecordingFilter) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("the cursor never ends")
		}
		page, next, err := db.ListRecordings(context.Background(), f)
		must(t, err)
		if limit := min(max(f.Limit, 0), store.MaxListLimit); next != "" && limit > 0 && len(page) != limit {
			t.Fatalf("page of %d rows with a next cursor (limit %d)", len(page), limit)
		}
		for _, r := range page {
			ids = append(ids, r.ID)
		}
		if next == "" {
			return ids
		}
		f.Cursor = next
	}
}

// TestListRecordings_NumberSearch: store's cases (store/search_test.go) give store's rows, newest
// first, at every page size.
func TestListRecordings_NumberSearch(t *testing.T) {
	w := newSearchWorld(t)
	co := w.t1.companyID
	at := func(name string, d time.Duration) *time.Time {
		v := w.rec[name].StartedAt.Add(d)
		return &v
	}
	for _, tt := range []struct {
		name string
		f    store.RecordingFilter
		want []string // newest first
	}{
		{"partial national", store.RecordingFilter{CompanyID: co, Number: "600333"}, []string{"twice", "callee", "caller"}},
		{"00 international", store.RecordingFilter{CompanyID: co, Number: "0034600333444"}, []string{"twice", "callee", "caller"}},
		{"+ spaced", store.RecordingFilter{CompanyID: co, Number: "+34 600 333 444"}, []string{"twice", "callee", "caller"}},
		{"national full", store.RecordingFilter{CompanyID: co, Number: "600 333 444"}, []string{"twice", "callee", "caller"}},
		{"last digits", store.RecordingFilter{CompanyID: co, Number: "3444"}, []string{"twice", "callee", "caller"}},
		{"middle digits", store.RecordingFilter{CompanyID: co, Number: "0033344"}, []string{"twice", "callee", "caller"}},
		{"foreign number", store.RecordingFilter{CompanyID: co, Number: "2079 460"}, []string{"uk"}},
		{"extension", store.RecordingFilter{CompanyID: co, Number: "100"}, []string{"ext"}},
		{"repeated gram", store.RecordingFilter{CompanyID: co, Number: "333333"}, []string{"repeat"}},
		{"recorder/callee", store.RecordingFilter{CompanyID: co, Number: "911234561"}, []string{"repeat", "anon", "uk", "caller"}},
		{"no match", store.RecordingFilter{CompanyID: co, Number: "600333445"}, nil},
		{"no match short", store.RecordingFilter{CompanyID: co, Number: "4444"}, nil},
		{"not across two numbers", store.RecordingFilter{CompanyID: co, Number: "1001 1002"}, nil},
		{"brand scope", store.RecordingFilter{BrandID: w.t1.brandID, Number: "600333444"}, []string{"sister", "twice", "callee", "caller"}},
		{"platform scope", store.RecordingFilter{Number: "600333444"}, []string{"other", "sister", "twice", "callee", "caller"}},
		{"other tenant", store.RecordingFilter{CompanyID: w.t2.companyID, Number: "600333"}, []string{"other"}},
		{"company of another brand", store.RecordingFilter{CompanyID: co, BrandID: w.t2.brandID, Number: "600333"}, nil},
		{"date range", store.RecordingFilter{CompanyID: co, Number: "600333", From: at("callee", 0), To: at("twice", -time.Second)}, []string{"callee"}},
		{"with exact caller", store.RecordingFilter{CompanyID: co, Number: "600333", Caller: "+34600333444"}, []string{"twice", "caller"}},
		{"exact callee alone", store.RecordingFilter{CompanyID: co, Callee: "+34600333444"}, []string{"twice", "callee"}},
		{"exact caller not a number", store.RecordingFilter{CompanyID: co, Caller: "anonymous"}, []string{"anon"}},
		{"blank number: no search", store.RecordingFilter{CompanyID: w.t2.companyID, Number: "  "}, []string{"other"}},
		{"state", store.RecordingFilter{CompanyID: co, Number: "600333", State: store.StateReady}, nil},
		{"ddi", store.RecordingFilter{CompanyID: co, Number: "600333", DDIID: "ddi1"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []int{0, 1, 2} {
				f := tt.f
				f.Limit = limit
				if got := w.names(t, f); !slices.Equal(got, tt.want) {
					t.Fatalf("limit %d: %q, want %q", limit, got, tt.want)
				}
			}
		})
	}
}

// TestListRecordings_NumberSearchHidesDiscarded: a discarded match is listed only when asked for.
func TestListRecordings_NumberSearchHidesDiscarded(t *testing.T) {
	w := newSearchWorld(t)
	ctx := context.Background()
	must(t, w.db.DiscardRecording(ctx, w.rec["caller"].ID, "short"))
	co := w.t1.companyID
	for _, c := range []struct {
		f    store.RecordingFilter
		want []string
	}{
		{store.RecordingFilter{CompanyID: co, Number: "600333444"}, []string{"twice", "callee"}},
		{store.RecordingFilter{CompanyID: co, Number: "600333444", IncludeDiscarded: true}, []string{"twice", "callee", "caller"}},
		{store.RecordingFilter{CompanyID: co, Number: "600333444", State: store.StateDiscarded}, []string{"caller"}},
	} {
		if got := w.names(t, c.f); !slices.Equal(got, c.want) {
			t.Errorf("%+v: %q, want %q", c.f, got, c.want)
		}
	}
}

// TestListRecordings_NationalNumbersInTheCompanysCountry: a national number is read in the
// company's own country, else in the country of most of its DDIs, else in DefaultCountry, as
// store's Rules.CompanyCountry: the UK's 020 trunk prefix finds +44 20… only where the UK is
// the company's country.
func TestListRecordings_NationalNumbersInTheCompanysCountry(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t, Options{DefaultCountry: "ES"})
	own, byDDI, plain := mustTenant(t, db, "own"), mustTenant(t, db, "ddi"), mustTenant(t, db, "plain")
	_, err := db.pool.Exec(ctx, "UPDATE companies SET country = 'GB' WHERE id = $1", own.companyID)
	must(t, err)
	for i, n := range []string{"+442079460001", "+442079460002", "+34911234567"} { // two UK DDIs, one Spanish
		_, err := db.pool.Exec(ctx, "INSERT INTO ddis (id, company_id, number) VALUES ($1, $2, $3)", fmt.Sprint("d", i), byDDI.companyID, n)
		must(t, err)
	}
	want := map[string]string{}
	var rs []*store.Recording
	for _, tn := range []tenant{own, byDDI, plain} {
		r := prepared(db, &store.Recording{CompanyID: tn.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, Caller: "+442079460000", StartedAt: time.Now()})
		rs = append(rs, r)
		want[tn.companyID] = r.ID
	}
	copyRecordings(t, db, rs)
	for _, c := range []struct {
		name  string
		co    string
		found bool
	}{
		{"company country GB", own.companyID, true},
		{"most DDIs in GB", byDDI.companyID, true},
		{"default country ES: digits as typed", plain.companyID, false},
	} {
		got := listAll(t, db, store.RecordingFilter{CompanyID: c.co, Number: "020 7946 0000"})
		if found := slices.Equal(got, []string{want[c.co]}); found != c.found || !found && len(got) != 0 {
			t.Errorf("%s: %v, found %v, want %v", c.name, got, found, c.found)
		}
	}
}

// partyDigitsOf is store's rule (store/search.go partyDigits), written out as the test's oracle.
func partyDigitsOf(s string) string {
	s = strings.TrimPrefix(s, "+")
	if len(s) < store.MinNumberQuery || len(s) > 15 || strings.Trim(s, "0123456789") != "" {
		return ""
	}
	return s
}

// TestListRecordings_NumberSearchAgreesWithAScan is store's FuzzNumberSearch as a table: for
// its seed queries and a few odd party values (not numbers, too short, too long, a double +),
// scope and page size, the rows the SQL finds are those store's rule picks in a scan of every
// row, newest first, each once.
func TestListRecordings_NumberSearchAgreesWithAScan(t *testing.T) {
	db, _ := mustOpen(t, Options{DefaultCountry: "ES"})
	t1, t2 := mustTenant(t, db, "1"), mustTenant(t, db, "2")
	rng := rand.New(rand.NewPCG(7, 7))
	odd := []string{"", "101", "anonymous", "++34612001", "+34612a001", "1234567890126012", "12", "sip:6120@x", "+612"}
	var rows []*store.Recording
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 400 {
		num := func() string { // few digits, so that matches are many and interleave
			if rng.IntN(8) == 0 {
				return odd[rng.IntN(len(odd))]
			}
			b := []byte("+34")
			for j := 0; j < 6+rng.IntN(7); j++ {
				b = append(b, "0126"[rng.IntN(4)])
			}
			return string(b)
		}
		co := []tenant{t1, t2}[rng.IntN(2)]
		rows = append(rows, prepared(db, &store.Recording{CompanyID: co.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, Caller: num(), Callee: num(), Recorder: num(),
			StartedAt: base.Add(time.Duration(i/2) * time.Second)})) // two rows per start time
	}
	copyRecordings(t, db, rows)
	for _, q := range []string{"600", "0034 612", "+34 6120", "1201", "222222", "01260126", "(612) 00-1", "6012", "101", "1234567890126"} {
		for _, c := range []struct {
			platform bool
			limit    int
		}{{false, 0}, {false, 7}, {true, 3}, {true, 200}} {
			f := store.RecordingFilter{CompanyID: t1.companyID, Number: q, Limit: c.limit}
			if c.platform {
				f.CompanyID = ""
			}
			d, err := store.NumberQueryDigits(q, "ES")
			must(t, err)
			var want []*store.Recording
			for _, r := range rows {
				if f.CompanyID != "" && r.CompanyID != f.CompanyID {
					continue
				}
				for _, p := range []string{r.Caller, r.Callee, r.Recorder} {
					if strings.Contains(partyDigitsOf(p), d) {
						want = append(want, r)
						break
					}
				}
			}
			if got, wantIDs := listAll(t, db, f), expected(want, store.RecordingFilter{}, nil); !slices.Equal(got, wantIDs) {
				t.Errorf("query %q (digits %s) %+v: %d rows, scan %d\n got %v\nwant %v", q, d, c, len(got), len(wantIDs), got, wantIDs)
			}
		}
	}
	for _, q := range []string{"00", "12", "6x0", "1234567890123456", "+34 600 + 333"} {
		_, _, err := db.ListRecordings(context.Background(), store.RecordingFilter{Number: q})
		if store.ErrorCode(err) != store.EINVALID || store.ErrorField(err) != "number" {
			t.Errorf("query %q: %v, want EINVALID on number", q, err)
		}
	}
}

// TestListRecordings_NumberSearchUsesTheTrigramIndex: the page's condition is on the column
// recordings_number indexes (migrations/0006), so the planner can serve a search from it: with
// sequential scans off, a platform-wide search plans a scan of that index.
func TestListRecordings_NumberSearchUsesTheTrigramIndex(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t, Options{})
	tn := mustTenant(t, db, "1")
	var rs []*store.Recording
	for i := range 2000 {
		rs = append(rs, prepared(db, &store.Recording{CompanyID: tn.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, Caller: fmt.Sprintf("+3469%07d", i), StartedAt: time.Now()}))
	}
	copyRecordings(t, db, rs)
	_, err := db.pool.Exec(ctx, "ANALYZE recordings")
	must(t, err)
	f := store.RecordingFilter{Number: "690001234"}
	q, args, err := listQuery(&f, "690001234", 51)
	must(t, err)
	var plan []string
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	must(t, err)
	if !strings.Contains(strings.Join(plan, "\n"), "recordings_number") {
		t.Fatalf("the number search does not use recordings_number:\n%s", strings.Join(plan, "\n"))
	}
	if got := listAll(t, db, f); len(got) != 1 || got[0] != rs[1234].ID {
		t.Fatalf("search: %v, want %s", got, rs[1234].ID)
	}
}

// TestRecordingsOfNumber: every recording of the company whose caller, callee or recorder is
// exactly the number, discarded ones included, newest first, over more than one page of the
// search; not a number that merely contains it, not another company's.
func TestRecordingsOfNumber(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t, Options{DefaultCountry: "ES"})
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	const subject = "+34600333444"
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var rs, want []*store.Recording
	for i := range store.MaxListLimit + 50 {
		r := &store.Recording{CompanyID: a.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, Caller: "+34911234567", Callee: "+34911234567",
			StartedAt: base.Add(time.Duration(i) * time.Second), State: store.StateReady}
		match := true
		switch i % 6 {
		case 0:
			r.Caller = subject
		case 1:
			r.Callee = subject
		case 2:
			r.Recorder = subject
		case 3:
			r.Caller, r.State = subject, store.StateDiscarded
		case 4:
			r.Caller, match = subject+"5", false // contains it, is not it
		case 5:
			r.CompanyID, r.Caller, match = b.companyID, subject, false
		}
		rs = append(rs, prepared(db, r))
		if match {
			want = append(want, r)
		}
	}
	copyRecordings(t, db, rs)
	got, err := db.RecordingsOfNumber(ctx, a.companyID, subject)
	must(t, err)
	if ids, wantIDs := idsOf(got), expected(want, store.RecordingFilter{IncludeDiscarded: true}, nil); !slices.Equal(ids, wantIDs) {
		t.Fatalf("%d recordings, want %d\n got %v\nwant %v", len(ids), len(wantIDs), ids, wantIDs)
	}
	if _, err := db.RecordingsOfNumber(ctx, a.companyID, "12"); store.ErrorCode(err) != store.EINVALID || store.ErrorField(err) != "number" {
		t.Errorf("a number too short: %v, want EINVALID on number", err)
	}
}

// TestSubjectNumber: raw is read in the company's country, else the default one, and must be
// a complete number.
func TestSubjectNumber(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t, Options{DefaultCountry: "ES"})
	es, gb := mustTenant(t, db, "es"), mustTenant(t, db, "gb")
	_, err := db.pool.Exec(ctx, "UPDATE companies SET country = 'GB' WHERE id = $1", gb.companyID)
	must(t, err)
	for _, c := range []struct {
		name, co, raw, want, code string
	}{
		{"national, default country", es.companyID, "600 333 444", "+34600333444", ""},
		{"international", es.companyID, "+44 20 7946 0000", "+442079460000", ""},
		{"national, company country", gb.companyID, "020 7946 0000", "+442079460000", ""},
		{"partial", es.companyID, "600333", "", store.EINVALID},
		{"not a number", es.companyID, "anonymous", "", store.EINVALID},
		{"unknown company", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", "+34600333444", "", store.ENOTFOUND},
	} {
		got, err := db.SubjectNumber(ctx, c.co, c.raw)
		if got != c.want || store.ErrorCode(err) != c.code { // ErrorCode(nil) is ""
			t.Errorf("%s: %q, %v; want %q, code %q", c.name, got, err, c.want, c.code)
		}
		if c.code == store.EINVALID && store.ErrorField(err) != "number" {
			t.Errorf("%s: field %q, want number", c.name, store.ErrorField(err))
		}
	}
}
