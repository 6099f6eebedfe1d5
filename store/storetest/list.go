package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func listCases() []suiteCase {
	return []suiteCase{
		{"List/KeysetPages", testListPages},
		{"List/Filters", testListFilters},
		{"List/InsertsWhilePaging", testListInsertsWhilePaging},
		{"List/Errors", testListErrors},
	}
}

// listWorld is two brands, three companies and recordings started a second apart (ids, and so
// the listing's order, follow StartedAt), interleaved between the companies.
type listWorld struct {
	a, b    tenant // brand 1 holds a and c, brand 2 holds b
	c       *store.Company
	rows    []*store.Recording // every row, oldest first
	byID    map[string]*store.Recording
	aNewest []string // company a's ids, newest first
}

func (e *env) listWorld(t *testing.T) *listWorld {
	t.Helper()
	w := &listWorld{a: e.tenant(t, 1), b: e.tenant(t, 2), byID: map[string]*store.Recording{}}
	w.c = e.company(t, w.a.brand.ID, "Company C")
	for i := range 37 {
		co, r := w.a.company.ID, newRecording("", epoch().Add(time.Duration(i)*time.Second))
		switch i % 4 {
		case 1:
			co = w.b.company.ID
		case 3:
			co = w.c.ID
		}
		r.CompanyID, r.CallID = co, fmt.Sprintf("call-%02d", i)
		if i%5 == 0 {
			r.Type, r.Trigger, r.Direction, r.UserID = store.TypeOnDemand, store.TriggerKey, store.DirectionOutbound, w.a.user.ID
		} else {
			r.DDIID = w.a.ddi.ID
		}
		e.recording(t, r)
		w.rows = append(w.rows, r)
		w.byID[r.ID] = r
	}
	for i := len(w.rows) - 1; i >= 0; i-- {
		if w.rows[i].CompanyID == w.a.company.ID {
			w.aNewest = append(w.aNewest, w.rows[i].ID)
		}
	}
	return w
}

// pages lists f page by page and checks each page: at most limit rows, newest first across
// pages, none twice. It returns the ids in order.
func (e *env) pages(t *testing.T, f store.RecordingFilter) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	var last time.Time
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatalf("ListRecordings(%+v): no end after 1000 pages", f)
		}
		page, next, err := e.s.ListRecordings(e.ctx, f)
		must(t, err)
		if f.Limit > 0 && len(page) > f.Limit {
			t.Fatalf("a page of %d rows with Limit %d", len(page), f.Limit)
		}
		for _, r := range page {
			if seen[r.ID] {
				t.Fatalf("recording %s on two pages", r.ID)
			}
			seen[r.ID] = true
			if len(out) > 0 && !r.StartedAt.Before(last) {
				t.Fatalf("recording %s (started %v) after one started %v: not newest first", r.ID, r.StartedAt, last)
			}
			last = r.StartedAt
			out = append(out, r.ID)
		}
		if next == "" {
			return out
		}
		f.Cursor = next
	}
}

// Keyset pages of every size walk a company's recordings newest first, without gaps or
// repeats, and never show another company's.
func testListPages(t *testing.T, e *env) {
	w := e.listWorld(t)
	for _, limit := range []int{1, 2, 5, 6, 7, 50} {
		t.Run(fmt.Sprintf("limit %d", limit), func(t *testing.T) {
			got := e.pages(t, store.RecordingFilter{CompanyID: w.a.company.ID, Limit: limit})
			if !slices.Equal(got, w.aNewest) {
				t.Fatalf("pages of %d = %v\nwant %v", limit, got, w.aNewest)
			}
		})
	}
	page, next, err := e.s.ListRecordings(e.ctx, store.RecordingFilter{CompanyID: w.a.company.ID, Limit: len(w.aNewest) + 1})
	must(t, err)
	if len(page) != len(w.aNewest) || next != "" {
		t.Fatalf("one page larger than the company: %d rows, next %q; want %d and no next", len(page), next, len(w.aNewest))
	}
	// A listing without Limit gets DefaultListLimit rows a page: all of these on the first.
	page, _, err = e.s.ListRecordings(e.ctx, store.RecordingFilter{})
	must(t, err)
	if len(page) != len(w.rows) {
		t.Fatalf("the platform's first page: %d rows, want all %d", len(page), len(w.rows))
	}
}

// Each filter of RecordingFilter selects what it says, through pages.
func testListFilters(t *testing.T, e *env) {
	w := e.listWorld(t)
	at := func(i int) *time.Time { v := epoch().Add(time.Duration(i) * time.Second); return &v }
	tests := []struct {
		name string
		f    store.RecordingFilter
		want func(r *store.Recording) bool
	}{
		{"the platform", store.RecordingFilter{}, func(r *store.Recording) bool { return true }},
		{"brand 1", store.RecordingFilter{BrandID: w.a.brand.ID}, func(r *store.Recording) bool { return r.CompanyID != w.b.company.ID }},
		{"brand 2", store.RecordingFilter{BrandID: w.b.brand.ID}, func(r *store.Recording) bool { return r.CompanyID == w.b.company.ID }},
		{"company b under brand 1", store.RecordingFilter{BrandID: w.a.brand.ID, CompanyID: w.b.company.ID}, func(r *store.Recording) bool { return false }},
		{"company c", store.RecordingFilter{CompanyID: w.c.ID}, func(r *store.Recording) bool { return r.CompanyID == w.c.ID }},
		{"company a's user", store.RecordingFilter{CompanyID: w.a.company.ID, UserID: w.a.user.ID},
			func(r *store.Recording) bool { return r.CompanyID == w.a.company.ID && r.UserID == w.a.user.ID }},
		{"company a's DDI", store.RecordingFilter{CompanyID: w.a.company.ID, DDIID: w.a.ddi.ID},
			func(r *store.Recording) bool { return r.CompanyID == w.a.company.ID && r.DDIID == w.a.ddi.ID }},
		{"type ondemand", store.RecordingFilter{Type: store.TypeOnDemand}, func(r *store.Recording) bool { return r.Type == store.TypeOnDemand }},
		{"trigger ddi in company a", store.RecordingFilter{CompanyID: w.a.company.ID, Trigger: store.TriggerDDI},
			func(r *store.Recording) bool { return r.CompanyID == w.a.company.ID && r.Trigger == store.TriggerDDI }},
		{"state recording", store.RecordingFilter{State: store.StateRecording}, func(r *store.Recording) bool { return true }},
		{"state ready", store.RecordingFilter{State: store.StateReady}, func(r *store.Recording) bool { return false }},
		{"from 10s to 20s (inclusive)", store.RecordingFilter{From: at(10), To: at(20)},
			func(r *store.Recording) bool { return !r.StartedAt.Before(*at(10)) && !r.StartedAt.After(*at(20)) }},
		{"company a from 30s", store.RecordingFilter{CompanyID: w.a.company.ID, From: at(30)},
			func(r *store.Recording) bool { return r.CompanyID == w.a.company.ID && !r.StartedAt.Before(*at(30)) }},
		{"to 0s", store.RecordingFilter{To: at(0)}, func(r *store.Recording) bool { return r.StartedAt.Equal(epoch()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for i := len(w.rows) - 1; i >= 0; i-- {
				if tt.want(w.rows[i]) {
					want = append(want, w.rows[i].ID)
				}
			}
			f := tt.f
			f.Limit = 4
			if got := e.pages(t, f); !slices.Equal(got, want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
		})
	}
}

// Rows inserted while a client pages through are seen once or not at all; the rows that were
// there are all seen, once.
func testListInsertsWhilePaging(t *testing.T, e *env) {
	w := e.listWorld(t)
	f := store.RecordingFilter{CompanyID: w.a.company.ID, Limit: 3}
	seen := map[string]int{}
	for n := 0; ; n++ {
		page, next, err := e.s.ListRecordings(e.ctx, f)
		must(t, err)
		for _, r := range page {
			seen[r.ID]++
		}
		// The call path keeps recording: a newer row after every page.
		e.recording(t, newRecording(w.a.company.ID, epoch().Add(time.Hour+time.Duration(n)*time.Second)))
		if next == "" {
			break
		}
		f.Cursor = next
	}
	for _, id := range w.aNewest {
		if seen[id] != 1 {
			t.Errorf("existing recording %s seen %d times, want once", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("recording %s seen %d times", id, n)
		}
	}
}

// ListRecordings refuses bad filters on their fields.
func testListErrors(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	e.recording(t, newRecording(tn.company.ID, time.Time{}))
	from, to := epoch(), epoch().Add(-time.Hour)
	tests := []struct {
		name  string
		f     store.RecordingFilter
		field string
	}{
		{"a garbage cursor", store.RecordingFilter{CompanyID: tn.company.ID, Cursor: "not a cursor!"}, "cursor"},
		{"an unknown state", store.RecordingFilter{State: "lost"}, "state"},
		{"an unknown type", store.RecordingFilter{Type: "video"}, "type"},
		{"an unknown trigger", store.RecordingFilter{Trigger: "psychic"}, "trigger"},
		{"a negative limit", store.RecordingFilter{Limit: -1}, "limit"},
		{"to before from", store.RecordingFilter{From: &from, To: &to}, "to"},
	}
	for _, tt := range tests {
		_, _, err := e.s.ListRecordings(e.ctx, tt.f)
		checkCode(t, "ListRecordings with "+tt.name, err, store.EINVALID, tt.field)
	}
	// A limit above the maximum is capped, not refused.
	if _, _, err := e.s.ListRecordings(e.ctx, store.RecordingFilter{Limit: store.MaxListLimit + 1}); err != nil {
		t.Fatalf("Limit above MaxListLimit: %v, want it capped", err)
	}
}
