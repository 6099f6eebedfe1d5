package esl

import (
	"context"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestUserIdentity_AuthenticatedUserNotTheFromHeader: the user behind a call is the directory
// user the phone authenticated as (user_name/domain_name after sofia's digest auth), not the
// From header the phone chose. A phone presenting its DDI in From is still its user: its
// outbound DDI call is recorded (it was anonymous, so unrecorded).
func TestUserIdentity_AuthenticatedUserNotTheFromHeader(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordOutbound})
	h.talkOutbound(fstest.CallSpec{FromUser: "1001", From: "+34911234567", To: "+34600999888"})
	if recs := h.allRecordings(); len(recs) != 1 || recs[0].DDIID != h.ddi.ID || recs[0].Direction != store.DirectionOutbound {
		t.Fatalf("rows %+v, want the outbound DDI recording of user 1001", recs)
	}
}

// TestUserIdentity_FromHeaderCannotBorrowAnotherTenantsUser: a phone of another company (no
// sip_domain on either brand) that puts the victim's sip_user in From and the victim's DDI as
// caller id is still its own user: nothing is recorded into the victim's company.
func TestUserIdentity_FromHeaderCannotBorrowAnotherTenantsUser(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordOutbound})
	bg := context.Background()
	other := &store.Brand{Name: "Other brand"}
	must(t, h.db.CreateBrand(bg, other))
	co := &store.Company{BrandID: other.ID, Name: "Mallory Ltd", OnDemand: store.OnDemandDisabled}
	must(t, h.db.CreateCompany(bg, co))
	must(t, h.db.CreateUser(bg, &store.User{CompanyID: co.ID, Name: "Mal", Extension: "2001", SIPUser: "2001"}))
	h.talkOutbound(fstest.CallSpec{FromUser: "2001", From: "1001", To: "+34600999888",
		Vars: map[string]string{"outbound_caller_id_number": "+34911234567"}})
	if recs := h.allRecordings(); len(recs) != 0 {
		t.Fatalf("rows %+v in the victim's company, want none", recs)
	}
}

// talkOutbound places a user's outbound call to spec.To, lets the external party answer and talk
// a second once bridged, hangs it up and waits for the sessions to end.
func (h *harness) talkOutbound(spec fstest.CallSpec) {
	h.t.Helper()
	ctx := ctxT(h.t, 40*time.Second)
	call, err := h.fs.Outbound(ctx, spec)
	must(h.t, err)
	ext, err := call.WaitLeg(ctx, spec.To)
	must(h.t, err)
	must(h.t, ext.WaitAnswer(ctx))
	h.waitEvent("CHANNEL_BRIDGE", 1)
	h.fs.Advance(time.Second)
	ext.Hangup("NORMAL_CLEARING")
	h.waitSessions()
}
