package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestSearchDigits(t *testing.T) {
	for _, tt := range []struct {
		raw, country, want string
	}{
		{"600333", "ES", "600333"},                 // partial: anywhere
		{"0034600333444", "ES", "34600333444"},     // 00 international prefix
		{"+34 600 333 444", "ES", "34600333444"},   // international, spaced
		{"600 333 444", "ES", "600333444"},         // national ES: E.164 digits end with it, keep the looser form
		{"020 7946 0000", "GB", "442079460000"},    // national with a trunk prefix: E.164 digits
		{"(020) 7946-0000", "", "02079460000"},     // no country: digits as typed
		{" 333.444 ", "ES", "333444"},              // dots and spaces
		{"+1 202 555 0100", "ES", "12025550100"},   // foreign international
		{"123456789012345", "", "123456789012345"}, // 15 digits
	} {
		got, err := searchDigits(tt.raw, tt.country, "number")
		if err != nil || got != tt.want {
			t.Errorf("searchDigits(%q, %q) = %q, %v; want %q", tt.raw, tt.country, got, err, tt.want)
		}
	}
	for _, raw := range []string{"", "60", "+3", "00 12", "60a333", "600*333", "1234567890123456", "+34 600 + 333"} {
		_, err := searchDigits(raw, "ES", "number")
		wantCode(t, err, EINVALID, "number")
	}
}

func TestQueryGrams(t *testing.T) {
	for _, tt := range []struct {
		d    string
		want []string
	}{
		{"600", []string{"600"}},
		{"6003", []string{"600", "003"}},
		{"600333", []string{"600333"}},
		{"34600333444", []string{"346003", "333444"}},
		{"123456789012", []string{"123456", "789012"}},
		{"1234567890123", []string{"123456", "789012", "890123"}},
	} {
		if got := queryGrams(tt.d); !slices.Equal(got, tt.want) {
			t.Errorf("queryGrams(%q) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// searchWorld is two brands: tenant 1 (two companies) and tenant 2, with recordings whose
// numbers the cases below search for.
type searchWorld struct {
	db             *DB
	t1, t2         tenant
	sister         *Company
	rec            map[string]*Recording
	ddiNumber      string
	other, sisterR *Recording
}

func newSearchWorld(t *testing.T) *searchWorld {
	ctx := context.Background()
	w := &searchWorld{db: MustOpenDB(t), rec: map[string]*Recording{}}
	w.t1, w.t2 = mustTenant(t, w.db, "1"), mustTenant(t, w.db, "2")
	w.sister = &Company{BrandID: w.t1.brand.ID, Name: "Sister"}
	must(t, w.db.CreateCompany(ctx, w.sister))
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	add := func(name, company, caller, callee string) *Recording {
		r := newRecording(company, base.Add(time.Duration(len(w.rec))*time.Minute))
		r.Caller, r.Callee, r.Recorder = caller, callee, callee
		mustInsertRecordings(t, w.db, r)
		w.rec[name] = r
		return r
	}
	add("caller", w.t1.company.ID, "+34600333444", "+34911234561")
	add("callee", w.t1.company.ID, "+34699000111", "+34600333444")
	add("twice", w.t1.company.ID, "+34600333444", "+34600333444") // matches through two parties
	add("uk", w.t1.company.ID, "+442079460000", "+34911234561")
	add("anon", w.t1.company.ID, "anonymous", "+34911234561")
	add("ext", w.t1.company.ID, "1001", "1002")
	add("repeat", w.t1.company.ID, "+34333333333", "+34911234561") // one gram many times
	w.sisterR = add("sister", w.sister.ID, "+34600333444", "+34911234561")
	w.other = add("other", w.t2.company.ID, "+34600333444", "+34911234562")
	return w
}

func (w *searchWorld) names(t *testing.T, f RecordingFilter) []string {
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

func TestListRecordings_NumberSearch(t *testing.T) {
	w := newSearchWorld(t)
	co := w.t1.company.ID
	at := func(name string, d time.Duration) *time.Time {
		v := w.rec[name].StartedAt.Add(d)
		return &v
	}
	for _, tt := range []struct {
		name string
		f    RecordingFilter
		want []string // newest first
	}{
		{"partial national", RecordingFilter{CompanyID: co, Number: "600333"}, []string{"twice", "callee", "caller"}},
		{"00 international", RecordingFilter{CompanyID: co, Number: "0034600333444"}, []string{"twice", "callee", "caller"}},
		{"+ spaced", RecordingFilter{CompanyID: co, Number: "+34 600 333 444"}, []string{"twice", "callee", "caller"}},
		{"national full", RecordingFilter{CompanyID: co, Number: "600 333 444"}, []string{"twice", "callee", "caller"}},
		{"last digits", RecordingFilter{CompanyID: co, Number: "3444"}, []string{"twice", "callee", "caller"}},
		{"middle digits", RecordingFilter{CompanyID: co, Number: "0033344"}, []string{"twice", "callee", "caller"}},
		{"foreign number", RecordingFilter{CompanyID: co, Number: "2079 460"}, []string{"uk"}},
		{"extension", RecordingFilter{CompanyID: co, Number: "100"}, []string{"ext"}},
		{"repeated gram", RecordingFilter{CompanyID: co, Number: "333333"}, []string{"repeat"}},
		{"recorder/callee", RecordingFilter{CompanyID: co, Number: "911234561"}, []string{"repeat", "anon", "uk", "caller"}},
		{"no match", RecordingFilter{CompanyID: co, Number: "600333445"}, nil},
		{"no match short", RecordingFilter{CompanyID: co, Number: "4444"}, nil},
		{"brand scope", RecordingFilter{BrandID: w.t1.brand.ID, Number: "600333444"}, []string{"sister", "twice", "callee", "caller"}},
		{"platform scope", RecordingFilter{Number: "600333444"}, []string{"other", "sister", "twice", "callee", "caller"}},
		{"other tenant", RecordingFilter{CompanyID: w.t2.company.ID, Number: "600333"}, []string{"other"}},
		{"company of another brand", RecordingFilter{CompanyID: co, BrandID: w.t2.brand.ID, Number: "600333"}, nil},
		{"date range", RecordingFilter{CompanyID: co, Number: "600333", From: at("callee", 0), To: at("twice", -time.Second)}, []string{"callee"}},
		{"with exact caller", RecordingFilter{CompanyID: co, Number: "600333", Caller: "+34600333444"}, []string{"twice", "caller"}},
		{"exact callee alone", RecordingFilter{CompanyID: co, Callee: "+34600333444"}, []string{"twice", "callee"}},
		{"exact caller not a number", RecordingFilter{CompanyID: co, Caller: "anonymous"}, []string{"anon"}},
		{"state", RecordingFilter{CompanyID: co, Number: "600333", State: StateReady}, nil},
		{"ddi", RecordingFilter{CompanyID: co, Number: "600333", DDIID: w.t1.ddi.ID}, nil},
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

func TestListRecordings_NumberSearchOfAUserIntersectsItsIndex(t *testing.T) {
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	mine := newRecording(tn.company.ID, time.Time{})
	mine.Type, mine.Trigger, mine.UserID, mine.Caller = TypeOnDemand, TriggerKey, tn.user.ID, "+34600333444"
	mustInsertRecordings(t, db, mine)
	others := manyRecordings(tn.company.ID, maxScanPerPage+10)
	for _, r := range others {
		r.Caller = "+34600333444"
	}
	mustInsertRecordings(t, db, others...)
	page, next, err := db.ListRecordings(context.Background(), RecordingFilter{CompanyID: tn.company.ID, UserID: tn.user.ID, Number: "600333"})
	must(t, err)
	if len(page) != 1 || page[0].ID != mine.ID || next != "" {
		t.Fatalf("user's search: %d rows, next %q", len(page), next)
	}
}

// The exact caller filter used to walk the whole company index (5,000 keys per call): it is an
// index walk now and finds the one row at once.
func TestListRecordings_ExactCallerIsAnIndexWalk(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	match := newRecording(tn.company.ID, time.Time{})
	match.Caller = "+34699999999"
	mustInsertRecordings(t, db, match)
	mustInsertRecordings(t, db, manyRecordings(tn.company.ID, maxScanPerPage+10)...)
	page, next, err := db.ListRecordings(ctx, RecordingFilter{CompanyID: tn.company.ID, Caller: match.Caller})
	must(t, err)
	if len(page) != 1 || page[0].ID != match.ID || next != "" {
		t.Fatalf("caller filter: %d rows, next %q (want the one row and no cursor)", len(page), next)
	}
}

func TestListRecordings_NumberSearchPagesWithCursor(t *testing.T) {
	db := MustOpenDB(t)
	tn, other := mustTenant(t, db, "1"), mustTenant(t, db, "2")
	var rs []*Recording
	var want []string
	for i := 0; i < 330; i++ {
		r := newRecording(tn.company.ID, time.Time{})
		switch i % 3 {
		case 0:
			r.Caller = fmt.Sprintf("+346003334%02d", i%100) // matches "600333"
		case 1:
			r.Caller = "+34699111222"
		default:
			r = newRecording(other.company.ID, time.Time{})
			r.Caller = "+34600333444"
		}
		rs = append(rs, r)
	}
	mustInsertRecordings(t, db, rs...)
	for i := len(rs) - 1; i >= 0; i-- {
		if i%3 == 0 {
			want = append(want, rs[i].ID)
		}
	}
	f := RecordingFilter{CompanyID: tn.company.ID, Number: "600333", Limit: 50}
	var got []string
	pages := 0
	for {
		page, next, err := db.ListRecordings(context.Background(), f)
		must(t, err)
		pages++
		for _, r := range page {
			got = append(got, r.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("%d rows in %d pages, want %d rows in 3", len(got), pages, len(want))
	}
	// A cursor belongs to its search.
	f.Number = "600334"
	_, _, err := db.ListRecordings(context.Background(), f)
	wantCode(t, err, EINVALID, "cursor")
	f.Number, f.Cursor = "", Cursor("x")
	_, _, err = db.ListRecordings(context.Background(), f)
	wantCode(t, err, EINVALID, "cursor")
}

// Two long posting lists that interleave but never meet: the walk pauses after its budget
// with a cursor and the next calls carry on to the one row holding both.
func TestListRecordings_NumberSearchBudgetPausesAndResumes(t *testing.T) {
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	both := newRecording(tn.company.ID, time.Time{})
	both.Caller = "+34111111222222"
	mustInsertRecordings(t, db, both)
	rs := make([]*Recording, maxScanPerPage+200)
	for i := range rs {
		rs[i] = newRecording(tn.company.ID, time.Time{})
		rs[i].Caller = []string{"+34111111000", "+34222222000"}[i%2]
	}
	mustInsertRecordings(t, db, rs...)
	f := RecordingFilter{CompanyID: tn.company.ID, Number: "111111222222"}
	page, next, err := db.ListRecordings(context.Background(), f)
	must(t, err)
	if len(page) != 0 || next == "" {
		t.Fatalf("first call: %d rows, next %q: the budget did not bound the walk", len(page), next)
	}
	if got := listAll(t, db, f); !slices.Equal(got, []string{both.ID}) {
		t.Fatalf("resumed search: %v", got)
	}
}

// Every path that removes a recording or changes its numbers moves its number keys
// (checkIndexes at the end of the test compares the index with the rows).
func TestNumberIndex_FollowsDeletesAndChanges(t *testing.T) {
	ctx := context.Background()
	w := newSearchWorld(t)
	co := w.t1.company.ID
	search := func(q string) []string {
		return w.names(t, RecordingFilter{CompanyID: co, Number: q, IncludeDiscarded: true})
	}
	_, err := w.db.DeleteRecording(ctx, w.rec["twice"].ID)
	must(t, err)
	checkDB(t, w.db)
	if got := search("600333444"); !slices.Equal(got, []string{"callee", "caller"}) {
		t.Fatalf("after delete: %q", got)
	}
	// State changes keep the keys (and discarded rows are found when asked for).
	id := w.rec["caller"].ID
	must(t, w.db.FinishRecording(ctx, id, time.Now(), 1000, "/w.wav"))
	must(t, w.db.DiscardRecording(ctx, id, "short"))
	checkDB(t, w.db)
	if got := search("600333444"); !slices.Equal(got, []string{"callee", "caller"}) {
		t.Fatalf("after discard: %q", got)
	}
	if got := w.names(t, RecordingFilter{CompanyID: co, Number: "600333444"}); !slices.Equal(got, []string{"callee"}) {
		t.Fatalf("discarded listed by default: %q", got)
	}
	// A change of numbers moves the keys.
	must(t, w.db.bolt.Update(func(tx *bolt.Tx) error {
		return updateRecording(tx, w.rec["callee"].ID, func(r *Recording) (bool, error) {
			r.Callee, r.Recorder = "+34655666777", "+34655666777"
			return true, nil
		})
	}))
	checkDB(t, w.db)
	if got := search("600333444"); !slices.Equal(got, []string{"caller"}) {
		t.Fatalf("after a number change: %q", got)
	}
	if got := search("655666"); !slices.Equal(got, []string{"callee"}) {
		t.Fatalf("new number not found: %q", got)
	}
	// Retention (the library sweeper) deletes through DeleteRecording too.
	for _, n := range []string{"caller", "callee", "uk", "anon", "ext", "repeat"} {
		_, err := w.db.DeleteRecording(ctx, w.rec[n].ID)
		must(t, err)
	}
	must(t, w.db.bolt.View(func(tx *bolt.Tx) error {
		if hasPrefix(tx, ixRecNumber, join(co, "")) {
			t.Error("number keys of deleted recordings are left")
		}
		return nil
	}))
}

// A store written by a v1 binary (no number index) is indexed at open, in several commits, and
// a build cut short (the process killed) resumes at the next open.
func TestMigration3_IndexesNumbersOfAV1Store(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := openWith(ctx, path, Options{NoSync: true}, migrations[:1])
	must(t, err)
	tn := mustTenant(t, db, "1")
	rs := manyRecordings(tn.company.ID, 1234)
	for i, r := range rs {
		r.Caller = fmt.Sprintf("+34600%06d", i)
		must(t, db.prepareRecording(r))
	}
	must(t, db.bolt.Update(func(tx *bolt.Tx) error { // the v1 layout: rows and v1 index entries
		for _, r := range rs {
			var v1 []entry
			for _, e := range recordingEntries(r) {
				if string(e.bucket) != string(ixRecNumber) {
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
	must(t, db.Close())

	db, err = Open(ctx, path, Options{NoSync: true})
	must(t, err)
	if db.SchemaVersion() < 3 {
		t.Fatalf("schema %d", db.SchemaVersion())
	}
	checkDB(t, db)
	got := listAll(t, db, RecordingFilter{CompanyID: tn.company.ID, Number: "600001233"})
	if !slices.Equal(got, []string{rs[1233].ID}) {
		t.Fatalf("search after migration: %v", got)
	}
	// Cut the build short: the keys of the rows after the 600th gone, the marker back.
	must(t, db.bolt.Update(func(tx *bolt.Tx) error {
		for _, r := range rs[600:] {
			if err := moveEntries(tx, numberEntries(r), nil); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(keyNumberIndexPending, []byte("\x00"+rs[599].ID))
	}))
	must(t, db.Close())
	db, err = Open(ctx, path, Options{NoSync: true})
	must(t, err)
	defer db.Close()
	checkDB(t, db)
	must(t, db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bMeta).Get(keyNumberIndexPending) != nil {
			t.Error("build marker left after the build")
		}
		return nil
	}))
}

// FuzzNumberSearch compares the number index walk with a scan of every row for any query,
// scope and page size: the same rows, newest first, each once, the cursor always accepted.
func FuzzNumberSearch(f *testing.F) {
	db := MustOpenDB(f)
	t1, t2 := mustTenant(f, db, "1"), mustTenant(f, db, "2")
	rng := rand.New(rand.NewPCG(7, 7))
	var rows []*Recording
	for i := 0; i < 400; i++ {
		co := []tenant{t1, t2}[rng.IntN(2)]
		r := newRecording(co.company.ID, time.Time{})
		num := func() string { // few digits, so that grams collide and lists interleave
			b := []byte("+34")
			for j := 0; j < 6+rng.IntN(7); j++ {
				b = append(b, "0126"[rng.IntN(4)])
			}
			return string(b)
		}
		r.Caller, r.Callee, r.Recorder = num(), num(), []string{"", "101", num()}[rng.IntN(3)]
		rows = append(rows, r)
	}
	mustInsertRecordings(f, db, rows...)
	for _, s := range []string{"600", "0034 612", "+34 6120", "1201", "222222", "01260126", "00", "12", "6x0", "(612) 00-1"} {
		f.Add(s, uint8(3), false)
	}
	f.Fuzz(func(t *testing.T, q string, limit uint8, platform bool) {
		flt := RecordingFilter{CompanyID: t1.company.ID, Number: q, Limit: int(limit % 60)}
		if platform {
			flt.CompanyID = ""
		}
		d, err := searchDigits(q, "ES", "number")
		if strings.TrimSpace(q) == "" {
			d, err = "", nil // blank: no search, every row of the scope
		}
		if err != nil {
			if _, _, lerr := db.ListRecordings(context.Background(), flt); ErrorCode(lerr) != EINVALID || ErrorField(lerr) != "number" {
				t.Fatalf("query %q refused by searchDigits (%v) but the listing says %v", q, err, lerr)
			}
			return
		}
		var want []string
		for i := len(rows) - 1; i >= 0; i-- {
			r := rows[i]
			if flt.CompanyID != "" && r.CompanyID != flt.CompanyID {
				continue
			}
			for _, p := range []string{r.Caller, r.Callee, r.Recorder} {
				if strings.Contains(partyDigits(p), d) {
					want = append(want, r.ID)
					break
				}
			}
		}
		if got := listAll(t, db, flt); !slices.Equal(got, want) {
			t.Fatalf("query %q (digits %s): index walk %d rows, scan %d", q, d, len(got), len(want))
		}
	})
}
