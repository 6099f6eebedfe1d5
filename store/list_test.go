package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// seedRecordings creates n recordings spread over tenants, times and states.
func seedRecordings(t testing.TB, db *DB, rng *rand.Rand, tenants []tenant, n int) {
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rs := make([]*Recording, n)
	for i := range rs {
		tn := tenants[rng.IntN(len(tenants))]
		r := newRecording(tn.company.ID, base.Add(time.Duration(rng.IntN(5000))*time.Second+time.Duration(rng.IntN(3))*time.Millisecond))
		r.Caller = fmt.Sprintf("+3460000000%d", rng.IntN(3))
		r.Callee = fmt.Sprintf("+3491100000%d", rng.IntN(3))
		if rng.IntN(2) == 0 {
			r.Type, r.Trigger, r.UserID, r.Direction = TypeOnDemand, []string{TriggerKey, TriggerDTMF, TriggerTransfer}[rng.IntN(3)], tn.user.ID, DirectionInternal
		} else {
			r.DDIID = tn.ddi.ID
		}
		rs[i] = r
	}
	mustInsertRecordings(t, db, rs...)
	// State changes go through the call-path API, concurrently so that Batch coalesces them.
	var wg sync.WaitGroup
	for _, r := range rs {
		op, dur := rng.IntN(5), int64(rng.IntN(60000))
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch op {
			case 0:
			case 1:
				err = db.DiscardRecording(ctx, r.ID, "short")
			case 2:
				err = db.FailRecording(ctx, r.ID, "x")
			default:
				err = db.FinishRecording(ctx, r.ID, r.StartedAt.Add(time.Minute), dur, "/w.wav")
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// refNumberMatch is the number search's meaning for queries that are not national numbers:
// the typed digits (without a leading 00) anywhere in the digits of caller, callee or recorder.
func refNumberMatch(q string, r *Recording) bool {
	d := strings.Map(func(c rune) rune {
		if c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, q)
	if strings.HasPrefix(q, "00") {
		d = d[2:]
	}
	for _, p := range []string{r.Caller, r.Callee, r.Recorder} {
		if strings.Contains(strings.TrimPrefix(p, "+"), d) {
			return true
		}
	}
	return false
}

// reference is an independent, full-scan implementation of the filter semantics.
func reference(f RecordingFilter, rows []*Recording, brandOf map[string]string) []string {
	var ids []string
	for _, r := range rows {
		{
			ok := (f.CompanyID == "" || r.CompanyID == f.CompanyID) &&
				(f.BrandID == "" || brandOf[r.CompanyID] == f.BrandID) &&
				(f.UserID == "" || r.UserID == f.UserID) && (f.DDIID == "" || r.DDIID == f.DDIID) &&
				(f.Type == "" || r.Type == f.Type) && (f.Trigger == "" || r.Trigger == f.Trigger) &&
				(f.Caller == "" || r.Caller == f.Caller) && (f.Callee == "" || r.Callee == f.Callee) &&
				(f.Number == "" || refNumberMatch(f.Number, r)) &&
				(f.State == "" || r.State == f.State) && r.DurationMS >= f.MinDurationMS &&
				(f.State != "" || f.IncludeDiscarded || r.State != StateDiscarded) &&
				(f.From == nil || !r.StartedAt.Before(*f.From)) && (f.To == nil || !r.StartedAt.After(*f.To))
			if ok {
				ids = append(ids, r.ID)
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids)))
	return ids
}

func listAll(t testing.TB, db *DB, f RecordingFilter) []string {
	var ids []string
	for pages := 0; ; pages++ {
		page, next, err := db.ListRecordings(context.Background(), f)
		must(t, err)
		if len(page) > max(f.Limit, 0) && f.Limit > 0 {
			t.Fatalf("page of %d rows exceeds limit %d", len(page), f.Limit)
		}
		for _, r := range page {
			ids = append(ids, r.ID)
		}
		if next == "" {
			return ids
		}
		if pages > 10000 {
			t.Fatal("pagination does not end")
		}
		f.Cursor = next
	}
}

func TestListRecordings_PagesEqualFullScanForRandomFilters(t *testing.T) {
	db := MustOpenDB(t)
	rng := rand.New(rand.NewPCG(1, 2))
	tenants := []tenant{mustTenant(t, db, "1"), mustTenant(t, db, "2"), mustTenant(t, db, "3")}
	sister := &Company{BrandID: tenants[0].brand.ID, Name: "Sister"}
	must(t, db.CreateCompany(context.Background(), sister))
	tenants = append(tenants, tenant{brand: tenants[0].brand, company: sister, user: tenants[0].user, ddi: tenants[0].ddi})
	seedRecordings(t, db, rng, tenants, 600)
	brandOf := map[string]string{}
	for _, tn := range tenants {
		brandOf[tn.company.ID] = tn.brand.ID
	}
	var rows []*Recording
	must(t, db.bolt.View(func(tx *boltTx) error {
		return forEachRow(tx, bRecordings, decodeRecording, func(r *Recording) error { rows = append(rows, r); return nil })
	}))
	nonEmpty := 0
	defer func() {
		if nonEmpty < 60 {
			t.Errorf("only %d of 300 random filters matched rows: the comparison proves little", nonEmpty)
		}
	}()
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 300; i++ {
		tn := tenants[rng.IntN(len(tenants))]
		f := RecordingFilter{Limit: 1 + rng.IntN(9)}
		if rng.IntN(5) > 0 {
			f.CompanyID = tn.company.ID
		}
		if rng.IntN(4) == 0 {
			f.BrandID = pick(tn.brand.ID, tenants[1].brand.ID)
		}
		if rng.IntN(3) == 0 {
			f.UserID = tn.user.ID
		} else if rng.IntN(3) == 0 {
			f.DDIID = tn.ddi.ID
		}
		f.Type = pick("", "", TypeDDI, TypeOnDemand)
		f.Trigger = pick("", "", "", TriggerDTMF, TriggerDDI)
		f.Caller = pick("", "", "+346000000001")
		f.Callee = pick("", "", "+349110000002")
		f.Number = pick("", "", "", "600000", "3460000000 1", "+34 911 000 002", "0034600000002", "4567", "91100000", "999")
		f.State = pick("", "", "", StateProcessing, StateDiscarded, StateFailed)
		f.IncludeDiscarded = rng.IntN(3) == 0
		if rng.IntN(3) == 0 {
			f.MinDurationMS = int64(rng.IntN(60000))
		}
		if rng.IntN(2) == 0 {
			from := base.Add(time.Duration(rng.IntN(5000)) * time.Second)
			f.From = &from
		}
		if rng.IntN(2) == 0 {
			to := base.Add(time.Duration(rng.IntN(5000))*time.Second + time.Duration(rng.IntN(3))*time.Millisecond)
			if f.From == nil || !to.Before(*f.From) {
				f.To = &to
			}
		}
		want := reference(f, rows, brandOf)
		if len(want) > 0 {
			nonEmpty++
		}
		got := listAll(t, db, f)
		if !slices.Equal(got, want) {
			t.Fatalf("filter %+v: paged listing has %d rows, full scan %d", f, len(got), len(want))
		}
	}
}

func TestListRecordings_DefaultsLimitsAndErrors(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	other := mustTenant(t, db, "2")
	mustInsertRecordings(t, db, manyRecordings(tn.company.ID, 260)...)
	page, next, err := db.ListRecordings(ctx, RecordingFilter{CompanyID: tn.company.ID})
	must(t, err)
	if len(page) != DefaultListLimit || next == "" {
		t.Fatalf("default page %d next %q", len(page), next)
	}
	for i := 1; i < len(page); i++ {
		if page[i].ID >= page[i-1].ID {
			t.Fatal("not newest first")
		}
	}
	page, _, err = db.ListRecordings(ctx, RecordingFilter{CompanyID: tn.company.ID, Limit: 1000})
	must(t, err)
	if len(page) != MaxListLimit {
		t.Fatalf("limit not capped: %d", len(page))
	}
	page, next, err = db.ListRecordings(ctx, RecordingFilter{CompanyID: other.company.ID})
	must(t, err)
	if len(page) != 0 || next != "" {
		t.Fatal("other tenant sees rows")
	}
	page, _, err = db.ListRecordings(ctx, RecordingFilter{CompanyID: tn.company.ID, BrandID: other.brand.ID})
	must(t, err)
	if len(page) != 0 {
		t.Fatal("company of another brand listed under a brand filter")
	}
	_, _, err = db.ListRecordings(ctx, RecordingFilter{CompanyID: tn.company.ID, Cursor: "%%%"})
	wantCode(t, err, EINVALID, "cursor")
	_, c2, _ := db.ListRecordings(ctx, RecordingFilter{CompanyID: tn.company.ID, Limit: 1})
	_, _, err = db.ListRecordings(ctx, RecordingFilter{CompanyID: other.company.ID, Cursor: c2})
	wantCode(t, err, EINVALID, "cursor") // a cursor of another listing
	for _, tt := range []struct {
		f     RecordingFilter
		field string
	}{
		{RecordingFilter{State: "done"}, "state"},
		{RecordingFilter{Type: "x"}, "type"},
		{RecordingFilter{Trigger: "x"}, "trigger"},
		{RecordingFilter{Limit: -1}, "limit"},
		{RecordingFilter{MinDurationMS: -1}, "min_duration_ms"},
	} {
		_, _, err := db.ListRecordings(ctx, tt.f)
		wantCode(t, err, EINVALID, tt.field)
	}
}

func TestListRecordings_ShortPagesWhenFiltersRejectManyRows(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	match := newRecording(tn.company.ID, time.Time{})
	match.DurationMS = 5000 // min_duration_ms has no index: the company index is walked
	mustInsertRecordings(t, db, match)
	mustInsertRecordings(t, db, manyRecordings(tn.company.ID, maxScanPerPage+10)...)
	f := RecordingFilter{CompanyID: tn.company.ID, MinDurationMS: 1}
	page, next, err := db.ListRecordings(ctx, f)
	must(t, err)
	if len(page) != 0 || next == "" {
		t.Fatalf("first call must stop after %d keys with a cursor: %d rows, next %q", maxScanPerPage, len(page), next)
	}
	if got := listAll(t, db, f); len(got) != 1 || got[0] != match.ID {
		t.Fatalf("resumed walk: %v", got)
	}
}

func TestListRecordings_ConcurrentInsertsNeitherSkipNorRepeat(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	mustInsertRecordings(t, db, manyRecordings(tn.company.ID, 300)...)
	before := listAll(t, db, RecordingFilter{CompanyID: tn.company.ID, Limit: 200})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := db.CreateRecording(ctx, newRecording(tn.company.ID, time.Time{})); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := map[string]bool{}
	var walked []string
	f := RecordingFilter{CompanyID: tn.company.ID, Limit: 7}
	for {
		page, next, err := db.ListRecordings(ctx, f)
		must(t, err)
		for _, r := range page {
			if seen[r.ID] {
				t.Fatalf("row %s repeated", r.ID)
			}
			seen[r.ID] = true
			walked = append(walked, r.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	close(stop)
	wg.Wait()
	for _, id := range before {
		if !seen[id] {
			t.Fatalf("existing row %s skipped", id)
		}
	}
	if !slices.IsSortedFunc(walked, func(a, b string) int { return -cmpString(a, b) }) {
		t.Fatal("walk not newest first")
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestRecordingIDs_SortByStartedAtAndAreMonotonicWithinAMillisecond(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	tn := mustTenant(t, db, "1")
	at := time.Date(2026, 2, 3, 4, 5, 6, 7e6, time.UTC)
	var ids []string
	for i := 0; i < 50; i++ {
		r := newRecording(tn.company.ID, at)
		must(t, db.CreateRecording(ctx, r))
		ids = append(ids, r.ID)
	}
	if !slices.IsSorted(ids) {
		t.Fatal("ids within one ms not monotonic")
	}
	early := newRecording(tn.company.ID, at.Add(-time.Hour))
	must(t, db.CreateRecording(ctx, early))
	if early.ID >= ids[0] {
		t.Fatal("id of an earlier start sorts after later ones")
	}
}
