package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func searchCases() []suiteCase {
	return []suiteCase{
		{"Search/ListRecordingsNumber", testNumberSearch},
		{"Search/RecordingsOfNumber", testRecordingsOfNumber},
		{"Search/SubjectNumber", testSubjectNumber},
	}
}

// partyRow is a recording's numbers, for the search cases.
type partyRow struct{ caller, callee, recorder string }

// seedParties creates one recording of companyID per row, a second apart from start, and
// returns them oldest first.
func (e *env) seedParties(t *testing.T, companyID string, start time.Time, rows []partyRow) []*store.Recording {
	t.Helper()
	var out []*store.Recording
	for i, p := range rows {
		r := newRecording(companyID, start.Add(time.Duration(i)*time.Second))
		r.Caller, r.Callee, r.Recorder, r.CallID = p.caller, p.callee, p.recorder, fmt.Sprintf("call-%d", i)
		out = append(out, e.recording(t, r))
	}
	return out
}

// newestFirst returns the ids of the rows of rs that keep matches, newest first.
func newestFirst(rs []*store.Recording, keep func(r *store.Recording) bool) []string {
	var out []string
	for i := len(rs) - 1; i >= 0; i-- {
		if keep(rs[i]) {
			out = append(out, rs[i].ID)
		}
	}
	return out
}

func digitsOf(s string) string { return strings.TrimPrefix(s, "+") }

// ListRecordings' Number finds the recordings with the typed digits anywhere in the caller,
// callee or recorder, newest first through pages, within the company; a national number is
// read in the company's country.
func testNumberSearch(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	rows := []partyRow{
		{"+34600111222", "+34911234567", "+34911234567"},
		{"+34600111333", "+34911234567", "+34911234567"},
		{"101", "+34600111222", "101"},
		{"anonymous", "+34911234568", "+34911234568"},
		{"+447700900123", "+34911234567", "+34911234567"},
		{"+34600111222", "102", "102"},
		{"+34611222333", "+34911234567", "+34911234567"},
	}
	rs := e.seedParties(t, tn.company.ID, epoch(), rows)
	e.seedParties(t, tn2.company.ID, epoch(), rows) // another company's, never found
	contains := func(d string) func(r *store.Recording) bool {
		return func(r *store.Recording) bool {
			for _, p := range []string{r.Caller, r.Callee, r.Recorder} {
				if strings.Contains(digitsOf(p), d) && strings.Trim(digitsOf(p), "0123456789") == "" {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		number string
		want   func(r *store.Recording) bool
	}{
		{"+34 600 111 222", contains("34600111222")},
		{"600111222", contains("34600111222")}, // national form, Spain
		{"0034600111222", contains("34600111222")},
		{"111", contains("111")},
		{"600 111", contains("600111")},
		{"+44 7700 900123", contains("447700900123")},
		{"911234568", contains("34911234568")},
		{"101", contains("101")},
		{"999999", func(*store.Recording) bool { return false }},
	}
	for _, tt := range tests {
		for _, limit := range []int{1, 3, 50} {
			t.Run(fmt.Sprintf("%s limit %d", tt.number, limit), func(t *testing.T) {
				got := e.pages(t, store.RecordingFilter{CompanyID: tn.company.ID, Number: tt.number, Limit: limit})
				if want := newestFirst(rs, tt.want); !slices.Equal(got, want) {
					t.Fatalf("got %v\nwant %v", got, want)
				}
			})
		}
	}
	// An exact caller filter combined with the number.
	got := e.pages(t, store.RecordingFilter{CompanyID: tn.company.ID, Caller: "+34600111222", Limit: 2})
	if want := newestFirst(rs, func(r *store.Recording) bool { return r.Caller == "+34600111222" }); !slices.Equal(got, want) {
		t.Fatalf("Caller filter: got %v\nwant %v", got, want)
	}
	for _, bad := range []string{"12", "+34 6x", "1234567890123456"} {
		_, _, err := e.s.ListRecordings(e.ctx, store.RecordingFilter{CompanyID: tn.company.ID, Number: bad})
		checkCode(t, fmt.Sprintf("Number %q", bad), err, store.EINVALID, "number")
	}
	// A blank number box is no search.
	if got := e.pages(t, store.RecordingFilter{CompanyID: tn.company.ID, Number: "  "}); len(got) != len(rs) {
		t.Fatalf("a blank Number listed %d rows, want all %d", len(got), len(rs))
	}
}

// RecordingsOfNumber returns the company's recordings where the number is exactly a party,
// in any state, newest first: not those whose numbers merely contain it.
func testRecordingsOfNumber(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	rows := []partyRow{
		{"+34600111222", "+34911234567", "+34911234567"},
		{"+346001112229", "+34911234567", "+34911234567"}, // contains it, is not it
		{"101", "+34600111222", "101"},
		{"+34600111223", "+34911234567", "+34911234567"},
		{"+34611222333", "+34911234567", "+34600111222"},
	}
	rs := e.seedParties(t, tn.company.ID, epoch(), rows)
	e.seedParties(t, tn2.company.ID, epoch(), rows)
	must(t, e.s.DiscardRecording(e.ctx, rs[2].ID, "unwanted")) // still the subject's
	got, err := e.s.RecordingsOfNumber(e.ctx, tn.company.ID, "+34600111222")
	must(t, err)
	want := []string{rs[4].ID, rs[2].ID, rs[0].ID}
	if !slices.Equal(ids(got), want) {
		t.Fatalf("RecordingsOfNumber = %v, want %v", ids(got), want)
	}
	for _, r := range got {
		if !r.InvolvesNumber("+34600111222") {
			t.Errorf("recording %s does not involve the number: %+v", r.ID, r)
		}
	}
	if got, err := e.s.RecordingsOfNumber(e.ctx, tn.company.ID, "+34699999999"); err != nil || len(got) != 0 {
		t.Fatalf("RecordingsOfNumber of an unknown number = %v, %v", ids(got), err)
	}
	// More rows than one page of the listing holds.
	var many []partyRow
	for range store.MaxListLimit + 5 {
		many = append(many, partyRow{"+34622000111", "+34911234567", "+34911234567"})
	}
	ms := e.seedParties(t, tn.company.ID, epoch().Add(time.Hour), many)
	got, err = e.s.RecordingsOfNumber(e.ctx, tn.company.ID, "+34622000111")
	must(t, err)
	if want := newestFirst(ms, func(*store.Recording) bool { return true }); !slices.Equal(ids(got), want) {
		t.Fatalf("RecordingsOfNumber over several pages: %d rows, want %d newest first", len(got), len(want))
	}
}

// SubjectNumber reads a number in the company's country (else the default one) and refuses
// anything but a complete number.
func testSubjectNumber(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	uk := &store.Company{BrandID: tn.brand.ID, Name: "UK", Country: "GB"}
	must(t, e.s.CreateCompany(e.ctx, uk))
	tests := []struct {
		company, raw string
		want         string
		code, field  string
	}{
		{tn.company.ID, "600 111 222", "+34600111222", "", ""},
		{tn.company.ID, "+44 7700 900123", "+447700900123", "", ""},
		{uk.ID, "07700 900123", "+447700900123", "", ""},
		{tn.company.ID, "600", "", store.EINVALID, "number"},
		{tn.company.ID, "call me", "", store.EINVALID, "number"},
		{"no-such-company", "+34600111222", "", store.ENOTFOUND, ""},
	}
	for _, tt := range tests {
		got, err := e.s.SubjectNumber(e.ctx, tt.company, tt.raw)
		checkCode(t, fmt.Sprintf("SubjectNumber(%q)", tt.raw), err, tt.code, tt.field)
		if got != tt.want {
			t.Errorf("SubjectNumber(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
