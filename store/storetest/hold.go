package storetest

import (
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

func holdCases() []suiteCase {
	return []suiteCase{
		{"Holds/EachKindRefusesDeletionUntilReleased", testHoldKinds},
		{"Holds/PlaceAndRelease", testHoldPlaceRelease},
	}
}

// Each kind of legal hold covers its recordings (and not the company's others): deleting one
// is ECONFLICT "hold" while the hold is active and succeeds once it is released.
func testHoldKinds(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	from, to := epoch().Add(time.Hour), epoch().Add(2*time.Hour)
	tests := []struct {
		name    string
		hold    func(held *store.Recording) *store.Hold
		held    func() *store.Recording // a recording the hold covers
		notHeld func() *store.Recording // one it does not
	}{
		{"recording",
			func(held *store.Recording) *store.Hold {
				return &store.Hold{Kind: store.HoldRecording, RecordingID: held.ID}
			},
			func() *store.Recording { return newRecording(tn.company.ID, time.Time{}) },
			func() *store.Recording { return newRecording(tn.company.ID, time.Time{}) }},
		{"call",
			func(*store.Recording) *store.Hold { return &store.Hold{Kind: store.HoldCall, CallID: "held-call"} },
			func() *store.Recording {
				r := newRecording(tn.company.ID, time.Time{})
				r.CallID = "held-call"
				return r
			},
			func() *store.Recording {
				r := newRecording(tn.company.ID, time.Time{})
				r.CallID = "free-call"
				return r
			}},
		{"number in national form",
			func(*store.Recording) *store.Hold { return &store.Hold{Kind: store.HoldNumber, Number: "699 000 111"} },
			func() *store.Recording {
				r := newRecording(tn.company.ID, time.Time{})
				r.Caller = "+34699000111"
				return r
			},
			func() *store.Recording {
				r := newRecording(tn.company.ID, time.Time{})
				r.Caller = "+34699000112"
				return r
			}},
		{"range",
			func(*store.Recording) *store.Hold { return &store.Hold{Kind: store.HoldRange, From: &from, To: &to} },
			func() *store.Recording { return newRecording(tn.company.ID, from.Add(time.Minute)) },
			func() *store.Recording { return newRecording(tn.company.ID, to) }}, // To is exclusive
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := e.recording(t, tt.held())
			free := e.recording(t, tt.notHeld())
			// Another company's recording that would match is not covered either.
			foreign := tt.held()
			foreign.CompanyID = tn2.company.ID
			e.recording(t, foreign)

			h := tt.hold(held)
			h.CompanyID, h.Reason = tn.company.ID, "  case 42  "
			must(t, e.s.PlaceHold(e.ctx, h, "token:abc"))
			if h.ID == "" || h.Reason != "case 42" || h.CreatedBy != "token:abc" || !h.CreatedAt.Equal(e.clk.Now()) || !h.Active() {
				t.Fatalf("PlaceHold did not fill: %+v", h)
			}
			if on, err := e.s.HoldOn(e.ctx, held); err != nil || on == nil || on.ID != h.ID {
				t.Fatalf("HoldOn(held) = %+v, %v; want hold %s", on, err, h.ID)
			}
			for _, r := range []*store.Recording{free, foreign} {
				if on, err := e.s.HoldOn(e.ctx, r); err != nil || on != nil {
					t.Fatalf("HoldOn(%s) = %+v, %v; want none", r.ID, on, err)
				}
			}
			_, err := e.s.DeleteRecording(e.ctx, held.ID)
			checkCode(t, "DeleteRecording of a held recording", err, store.ECONFLICT, "hold")
			if _, err := e.s.Recording(e.ctx, held.ID); err != nil {
				t.Fatalf("the held recording is gone after a refused delete: %v", err)
			}
			for _, r := range []*store.Recording{free, foreign} {
				if _, err := e.s.DeleteRecording(e.ctx, r.ID); err != nil {
					t.Fatalf("DeleteRecording of a recording the hold does not cover: %v", err)
				}
			}
			e.clk.Advance(time.Minute)
			rel, err := e.s.ReleaseHold(e.ctx, h.ID, "token:def")
			must(t, err)
			if rel.Active() || rel.ReleasedBy != "token:def" || !rel.ReleasedAt.Equal(e.clk.Now()) {
				t.Fatalf("ReleaseHold returned %+v", rel)
			}
			if on, err := e.s.HoldOn(e.ctx, held); err != nil || on != nil {
				t.Fatalf("HoldOn after release = %+v, %v; want none", on, err)
			}
			if _, err := e.s.DeleteRecording(e.ctx, held.ID); err != nil {
				t.Fatalf("DeleteRecording after the release: %v", err)
			}
		})
	}
}

// PlaceHold's refusals; Hold, Holds and ReleaseHold's history.
func testHoldPlaceRelease(t *testing.T, e *env) {
	tn := e.tenant(t, 1)
	tn2 := e.tenant(t, 2)
	foreign := e.recording(t, newRecording(tn2.company.ID, time.Time{}))
	start := epoch()
	tests := []struct {
		name  string
		h     store.Hold
		field string
	}{
		{"no reason", store.Hold{CompanyID: tn.company.ID, Kind: store.HoldCall, CallID: "c"}, "reason"},
		{"an unknown kind", store.Hold{CompanyID: tn.company.ID, Kind: "forever", Reason: "r"}, "kind"},
		{"a missing company", store.Hold{CompanyID: "no-such-company", Kind: store.HoldCall, CallID: "c", Reason: "r"}, "company_id"},
		{"another company's recording", store.Hold{CompanyID: tn.company.ID, Kind: store.HoldRecording, RecordingID: foreign.ID, Reason: "r"}, "recording_id"},
		{"a partial number", store.Hold{CompanyID: tn.company.ID, Kind: store.HoldNumber, Number: "12", Reason: "r"}, "number"},
		{"a range without end", store.Hold{CompanyID: tn.company.ID, Kind: store.HoldRange, From: &start, Reason: "r"}, "from"},
	}
	for _, tt := range tests {
		h := tt.h
		checkCode(t, "PlaceHold with "+tt.name, e.s.PlaceHold(e.ctx, &h, "test"), store.EINVALID, tt.field)
	}

	h1 := &store.Hold{CompanyID: tn.company.ID, Kind: store.HoldCall, CallID: "c1", Reason: "first"}
	must(t, e.s.PlaceHold(e.ctx, h1, "test"))
	e.clk.Advance(time.Second)
	h2 := &store.Hold{CompanyID: tn.company.ID, Kind: store.HoldCall, CallID: "c2", Reason: "second"}
	must(t, e.s.PlaceHold(e.ctx, h2, "test"))
	h3 := &store.Hold{CompanyID: tn2.company.ID, Kind: store.HoldCall, CallID: "c3", Reason: "third"}
	must(t, e.s.PlaceHold(e.ctx, h3, "test"))
	_, err := e.s.ReleaseHold(e.ctx, h1.ID, "test")
	must(t, err)
	_, err = e.s.ReleaseHold(e.ctx, h1.ID, "test")
	checkCode(t, "ReleaseHold twice", err, store.ECONFLICT, "hold")
	_, err = e.s.ReleaseHold(e.ctx, "no-such-hold", "test")
	checkCode(t, "ReleaseHold of a missing hold", err, store.ENOTFOUND, "")

	got, err := e.s.Hold(e.ctx, h1.ID)
	must(t, err)
	if got.Active() || got.CallID != "c1" || got.Reason != "first" || got.CompanyID != tn.company.ID {
		t.Fatalf("Hold(released) = %+v", got)
	}
	holdIDs := func(hs []*store.Hold) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.ID)
		}
		return out
	}
	lists := []struct {
		name      string
		companies []string
		active    bool
		want      []string
	}{
		{"company 1, all", []string{tn.company.ID}, false, []string{h1.ID, h2.ID}},
		{"company 1, active", []string{tn.company.ID}, true, []string{h2.ID}},
		{"both companies, active", []string{tn.company.ID, tn2.company.ID}, true, []string{h2.ID, h3.ID}},
		{"no company", []string{}, false, nil},
	}
	for _, l := range lists {
		hs, err := e.s.Holds(e.ctx, l.companies, l.active)
		must(t, err)
		if got := holdIDs(hs); !equalIDSet(got, l.want, true) {
			t.Errorf("Holds(%s) = %v, want %v", l.name, got, l.want)
		}
	}
	all, err := e.s.Holds(e.ctx, nil, false)
	must(t, err)
	if !equalIDSet(holdIDs(all), []string{h1.ID, h2.ID, h3.ID}, false) {
		t.Errorf("Holds(nil) = %v, want every hold", holdIDs(all))
	}
}

// equalIDSet compares a and b, in order when ordered, else as sets.
func equalIDSet(a, b []string, ordered bool) bool {
	if len(a) != len(b) {
		return false
	}
	if ordered {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	in := map[string]bool{}
	for _, x := range a {
		in[x] = true
	}
	for _, x := range b {
		if !in[x] {
			return false
		}
	}
	return true
}
