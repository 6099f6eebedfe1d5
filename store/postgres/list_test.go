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

// copyRecordings inserts rs with COPY (prepared as CreateRecording would: ids, file names).
func copyRecordings(t testing.TB, db *DB, rs []*store.Recording) {
	t.Helper()
	cols := strings.Split(recordingColumns, ",")
	for i := range cols {
		cols[i] = strings.TrimSpace(cols[i])
	}
	n, err := db.pool.CopyFrom(context.Background(), pgx.Identifier{"recordings"}, cols,
		pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) { return recordingArgs(rs[i]) }))
	if err != nil {
		t.Fatal(err)
	}
	if int(n) != len(rs) {
		t.Fatalf("copied %d of %d rows", n, len(rs))
	}
}

// prepared fills what CreateRecording fills.
func prepared(db *DB, r *store.Recording) *store.Recording {
	r.StartedAt = r.StartedAt.UTC().Truncate(time.Microsecond)
	r.ID = db.newID(r.StartedAt)
	if r.State == "" {
		r.State = store.StateReady
	}
	r.FileName = r.DownloadName()
	return r
}

// TestListRecordings_KeysetPagesWalkEveryMatchOnce: for each filter, walking the pages with the
// cursor returns exactly the matching rows, newest first by (started_at, id) — rows sharing a
// start time included — each once; a row inserted above the cursor mid-walk is not seen and
// shifts nothing.
func TestListRecordings_KeysetPagesWalkEveryMatchOnce(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	ctx := context.Background()
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	base := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(16, 2))
	var all []*store.Recording
	for i := range 400 {
		co := a
		if i%5 == 0 {
			co = b
		}
		r := &store.Recording{CompanyID: co.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, DDIID: []string{"", "ddi1", "ddi2"}[rng.IntN(3)],
			UserID: []string{"", "u1", "u2"}[rng.IntN(3)], Caller: fmt.Sprintf("+3460000%04d", rng.IntN(20)),
			DurationMS: int64(rng.IntN(120_000)), StartedAt: base.Add(time.Duration(i/3) * time.Minute), // 3 rows per start time
			State: []string{store.StateReady, store.StateReady, store.StateFailed, store.StateDiscarded}[rng.IntN(4)]}
		if r.UserID != "" {
			r.Type, r.Trigger = store.TypeOnDemand, store.TriggerKey
		}
		all = append(all, prepared(db, r))
	}
	copyRecordings(t, db, all)
	from, to := base.Add(30*time.Minute), base.Add(100*time.Minute)
	for _, c := range []struct {
		name string
		f    store.RecordingFilter
	}{
		{"company", store.RecordingFilter{CompanyID: a.companyID}},
		{"company+user", store.RecordingFilter{CompanyID: a.companyID, UserID: "u1"}},
		{"company+ddi", store.RecordingFilter{CompanyID: a.companyID, DDIID: "ddi2"}},
		{"company+range", store.RecordingFilter{CompanyID: a.companyID, From: &from, To: &to}},
		{"company+discarded", store.RecordingFilter{CompanyID: a.companyID, IncludeDiscarded: true}},
		{"state", store.RecordingFilter{State: store.StateFailed}},
		{"brand", store.RecordingFilter{BrandID: b.brandID}},
		{"brand+other company", store.RecordingFilter{BrandID: b.brandID, CompanyID: a.companyID}},
		{"caller+duration", store.RecordingFilter{CompanyID: a.companyID, Caller: "+34600000007", MinDurationMS: 30_000}},
		{"all", store.RecordingFilter{}},
		{"type", store.RecordingFilter{CompanyID: a.companyID, Type: store.TypeOnDemand, Trigger: store.TriggerKey}},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := expected(all, c.f, map[string]string{a.companyID: a.brandID, b.companyID: b.brandID})
			f := c.f
			f.Limit = 7
			var got []string
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatal("the cursor never ends")
				}
				page, next, err := db.ListRecordings(ctx, f)
				must(t, err)
				if next != "" && len(page) != f.Limit {
					t.Fatalf("page %d: %d rows with a next cursor", pages, len(page))
				}
				for _, r := range page {
					got = append(got, r.ID)
				}
				if pages == 1 && len(page) > 0 { // a new row above the cursor: unseen, nothing shifts
					extra := prepared(db, &store.Recording{CompanyID: a.companyID, Type: store.TypeDDI, Trigger: store.TriggerDDI,
						Direction: store.DirectionInbound, StartedAt: base.Add(time.Hour * 24), State: store.StateFailed})
					copyRecordings(t, db, []*store.Recording{extra})
					t.Cleanup(func() { _, _ = db.pool.Exec(ctx, "DELETE FROM recordings WHERE id = $1", extra.ID) })
				}
				if next == "" {
					break
				}
				f.Cursor = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("walked %d rows, want %d\n got %v\nwant %v", len(got), len(want), got, want)
			}
		})
	}
}

// expected is the listing computed in Go over every row: store's matching rule, newest first.
func expected(all []*store.Recording, f store.RecordingFilter, brandOf map[string]string) []string {
	var out []*store.Recording
	for _, r := range all {
		switch {
		case f.CompanyID != "" && r.CompanyID != f.CompanyID,
			f.BrandID != "" && brandOf[r.CompanyID] != f.BrandID,
			f.UserID != "" && r.UserID != f.UserID,
			f.DDIID != "" && r.DDIID != f.DDIID,
			f.State != "" && r.State != f.State,
			f.State == "" && !f.IncludeDiscarded && r.State == store.StateDiscarded,
			f.Type != "" && r.Type != f.Type,
			f.Trigger != "" && r.Trigger != f.Trigger,
			f.Caller != "" && r.Caller != f.Caller,
			r.DurationMS < f.MinDurationMS,
			f.From != nil && r.StartedAt.Before(*f.From),
			f.To != nil && r.StartedAt.After(*f.To):
			continue
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y *store.Recording) int {
		if c := y.StartedAt.Compare(x.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(y.ID, x.ID)
	})
	ids := make([]string, len(out))
	for i, r := range out {
		ids[i] = r.ID
	}
	return ids
}

// TestListRecordings_RefusesWhatItCannotDo: bad cursors and filters are EINVALID on the
// field, as in store (a number that is not one, or too short: "number").
func TestListRecordings_RefusesWhatItCannotDo(t *testing.T) {
	db, _ := mustOpen(t, Options{})
	from := time.Now()
	to := from.Add(-time.Hour)
	for _, c := range []struct {
		f     store.RecordingFilter
		field string
	}{
		{store.RecordingFilter{Cursor: "!!"}, "cursor"},
		{store.RecordingFilter{Cursor: store.Cursor("eA")}, "cursor"},
		{store.RecordingFilter{State: "lost"}, "state"},
		{store.RecordingFilter{Type: "x"}, "type"},
		{store.RecordingFilter{Trigger: "x"}, "trigger"},
		{store.RecordingFilter{Limit: -1}, "limit"},
		{store.RecordingFilter{From: &from, To: &to}, "to"},
		{store.RecordingFilter{Number: "60"}, "number"},
		{store.RecordingFilter{Number: "600-abc"}, "number"},
	} {
		_, _, err := db.ListRecordings(context.Background(), c.f)
		if store.ErrorCode(err) != store.EINVALID || store.ErrorField(err) != c.field {
			t.Errorf("%+v: %v, want EINVALID on %s", c.f, err, c.field)
		}
	}
}
