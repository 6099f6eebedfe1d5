package store

import (
	"context"
	"testing"
	"time"
)

// TestHold_CoversAndValidates: each kind of hold covers exactly its recordings of its company
// (a number hold the calls where it is any party, given in national form and stored E.164);
// invalid holds are refused field by field; a released hold covers nothing and is kept.
func TestHold_CoversAndValidates(t *testing.T) {
	ctx := context.Background()
	db, clk := openWithClock(t)
	tn := mustTenant(t, db, "1")
	other := mustTenant(t, db, "2")
	rec := func(companyID, callID, caller string) *Recording {
		r := &Recording{CompanyID: companyID, CallID: callID, Type: TypeDDI, Trigger: TriggerDDI, Direction: DirectionInbound,
			Recorder: "+34911234567", Caller: caller, Callee: "+34911234567"}
		must(t, db.CreateRecording(ctx, r))
		clk.t = clk.t.Add(time.Minute)
		return r
	}
	a := rec(tn.company.ID, "call-a", "+34600111222")
	b := rec(tn.company.ID, "call-b", "+34600999888")
	c := rec(other.company.ID, "call-a", "+34600111222") // same call id and number, another company
	from, to := b.StartedAt, b.StartedAt.Add(time.Second)
	tests := []struct {
		name   string
		hold   Hold
		covers []*Recording
	}{
		{"recording", Hold{Kind: HoldRecording, RecordingID: a.ID}, []*Recording{a}},
		{"call", Hold{Kind: HoldCall, CallID: "call-a"}, []*Recording{a}},
		{"number in national form", Hold{Kind: HoldNumber, Number: "0034 600 111 222"}, []*Recording{a}},
		{"range", Hold{Kind: HoldRange, From: &from, To: &to}, []*Recording{b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.hold
			h.CompanyID, h.Reason = tn.company.ID, "matter 7"
			must(t, db.PlaceHold(ctx, &h, "token:T"))
			for _, r := range []*Recording{a, b, c} {
				want := false
				for _, w := range tt.covers {
					want = want || w == r
				}
				if h.Covers(r) != want {
					t.Errorf("covers %s (%s, %s) = %v, want %v", r.ID, r.CallID, r.Caller, !want, want)
				}
			}
			if _, err := db.ReleaseHold(ctx, h.ID, "token:U"); err != nil {
				t.Fatal(err)
			}
			got, err := db.Hold(ctx, h.ID)
			must(t, err)
			if got.Active() || got.ReleasedBy != "token:U" || got.Covers(tt.covers[0]) {
				t.Errorf("released hold %+v", got)
			}
			wantCode(t, func() error { _, err := db.ReleaseHold(ctx, h.ID, "x"); return err }(), ECONFLICT, "hold")
		})
	}
	for _, bad := range []struct {
		h     Hold
		field string
	}{
		{Hold{CompanyID: tn.company.ID, Kind: HoldCall, CallID: "x"}, "reason"},
		{Hold{CompanyID: tn.company.ID, Kind: "person", Reason: "r"}, "kind"},
		{Hold{CompanyID: tn.company.ID, Kind: HoldNumber, Number: "12", Reason: "r"}, "number"},
		{Hold{CompanyID: tn.company.ID, Kind: HoldRange, From: &to, To: &from, Reason: "r"}, "to"},
		{Hold{CompanyID: tn.company.ID, Kind: HoldRecording, RecordingID: c.ID, Reason: "r"}, "recording_id"}, // another company's
		{Hold{CompanyID: "nope", Kind: HoldCall, CallID: "x", Reason: "r"}, "company_id"},
	} {
		h := bad.h
		wantCode(t, db.PlaceHold(ctx, &h, "token:T"), EINVALID, bad.field)
	}
	// A deletion of what an active hold covers is refused, naming the hold.
	h := Hold{CompanyID: other.company.ID, Kind: HoldCall, CallID: "call-a", Reason: "r"}
	must(t, db.PlaceHold(ctx, &h, "token:T"))
	wantCode(t, func() error { _, err := db.DeleteRecording(ctx, c.ID); return err }(), ECONFLICT, "hold")
}
