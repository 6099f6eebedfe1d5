package web

import (
	"context"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestRetryRecording_AdminsRequeueFailedRecordingsOfTheirTenancy: POST /recordings/{id}/retry
// makes a failed recording processing again with a new job (issue 12 point 7: recordings failed
// while the library disk was full stayed failed for good), for company admins and above, within
// their tenancy only.
func TestRetryRecording_AdminsRequeueFailedRecordingsOfTheirTenancy(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	a1, a2 := w.co("A1"), w.co("A2")
	failed := func(tc *tenantCo, user *store.User) *store.Recording {
		r := &store.Recording{CompanyID: tc.co.ID, CallID: "call-f", Type: store.TypeDDI, Trigger: store.TriggerDDI, DDIID: tc.ddi.ID,
			Direction: store.DirectionInbound, Recorder: tc.ddi.Number, Caller: "+34600111222", Callee: tc.ddi.Number, StartedAt: time.Now().Add(-time.Hour)}
		if user != nil {
			r.Type, r.Trigger, r.DDIID, r.UserID, r.Recorder = store.TypeOnDemand, store.TriggerKey, "", user.ID, user.Extension
		}
		must(t, w.db.CreateRecording(ctx, r))
		must(t, w.db.FinishRecording(ctx, r.ID, time.Now(), 1000, "/spool/"+r.ID+".wav"))
		must(t, w.db.FailRecording(ctx, r.ID, "the library storage is unavailable"))
		return r
	}
	r1, r2, own := failed(a1, nil), failed(a1, nil), failed(a1, a1.user)
	depth := func() int { n, err := w.db.QueueDepth(ctx); must(t, err); return n }

	for _, tc := range []struct {
		name, token, id string
		status          int
	}{
		{"company user, own recording", a1.userTok, own.ID, 403},
		{"company user, DDI recording (not visible)", a1.userTok, r1.ID, 404},
		{"admin of another company", a2.adminTok, r1.ID, 404},
		{"admin of another brand", w.brandTok["B"], r1.ID, 404},
		{"not failed (ready)", a1.adminTok, a1.recDDI.ID, 409},
		{"company admin", a1.adminTok, r1.ID, 200},
		{"again: no longer failed", a1.adminTok, r1.ID, 409},
		{"brand admin", w.brandTok["A"], r2.ID, 200},
	} {
		before := depth()
		resp, b := newClient(t, w.srv, tc.token).do("POST", "/api/v1/recordings/"+tc.id+"/retry", nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, b, tc.status)
			continue
		}
		if tc.status != 200 {
			if depth() != before {
				t.Errorf("%s: refused retry queued a job", tc.name)
			}
			continue
		}
		got, err := w.db.Recording(ctx, tc.id)
		must(t, err)
		if got.State != store.StateProcessing || got.Error != "" || depth() != before+1 {
			t.Errorf("%s: state %q error %q queue %d→%d, want processing, no error, one job more", tc.name, got.State, got.Error, before, depth())
		}
	}
}
