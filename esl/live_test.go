package esl

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestLiveCalls_ListedAndControlledThroughTheServer: a followed call is listed with its running
// recordings; ControlCall pauses (masks) and resumes every recording, starts and stops the
// user's on-demand recording (trigger api), answers a conflict for what does not apply now, and
// the call leaves the list when it ends.
func TestLiveCalls_ListedAndControlledThroughTheServer(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandKey, code: "7"})
	call, b := answeredInbound(t, h)
	h.waitRecordings(store.StateRecording, 1)
	var lc LiveCall
	waitFor(t, func() bool {
		calls := h.srv.LiveCalls()
		if len(calls) == 1 {
			lc = calls[0]
		}
		return len(calls) == 1 && len(lc.Recordings) == 1 && len(lc.UserIDs) == 1
	}, "the call listed with its DDI recording and its user")
	if lc.CompanyID != h.company.ID || lc.DDIID != h.ddi.ID || lc.UserIDs[0] != h.u1001.ID || lc.Recordings[0].Type != store.TypeDDI || lc.Masked {
		t.Fatalf("live call %+v", lc)
	}
	ctx := context.Background()
	by := "token:T1"
	control := func(action string) (LiveCall, error) {
		return h.srv.ControlCall(ctx, lc.ID, ControlRequest{Action: action, By: by})
	}

	got, err := control(ActionPause)
	if err != nil || !got.Masked {
		t.Fatalf("pause: %+v %v", got, err)
	}
	if _, err := control(ActionPause); !errors.Is(err, ErrControlConflict) {
		t.Fatalf("pause twice: %v, want a conflict", err)
	}
	h.fs.Advance(time.Second)
	if got, err = control(ActionResume); err != nil || got.Masked {
		t.Fatalf("resume: %+v %v", got, err)
	}
	if got, err = control(ActionStart); err != nil || len(got.Recordings) != 2 {
		t.Fatalf("start: %+v %v", got, err)
	}
	if _, err := control(ActionStart); !errors.Is(err, ErrControlConflict) {
		t.Fatalf("start twice: %v, want a conflict", err)
	}
	h.fs.Advance(time.Second)
	if got, err = control(ActionStop); err != nil || len(got.Recordings) != 1 || got.Recordings[0].Type != store.TypeDDI {
		t.Fatalf("stop: %+v %v (the DDI recording must go on)", got, err)
	}
	if _, err := control(ActionStop); !errors.Is(err, ErrControlConflict) {
		t.Fatalf("stop with nothing of the user's running: %v, want a conflict", err)
	}
	if _, err := h.srv.ControlCall(ctx, "no-such-call", ControlRequest{Action: ActionPause}); !errors.Is(err, ErrCallNotFound) {
		t.Fatalf("unknown call: %v", err)
	}
	rows := h.waitRecordings(store.StateProcessing, 1)
	if rows[0].Trigger != store.TriggerAPI || rows[0].UserID != h.u1001.ID {
		t.Errorf("the API's recording: %+v", rows[0])
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	if calls := h.srv.LiveCalls(); len(calls) != 0 {
		t.Errorf("%d calls listed after the hangup", len(calls))
	}
	for _, r := range h.allRecordings() {
		if r.Type == store.TypeDDI && (len(r.Masks) != 1 || r.Masks[0].By != by || r.Masks[0].Open) {
			t.Errorf("DDI recording masks %+v, want one closed span by %s", r.Masks, by)
		}
	}
	_ = b
}

// TestLiveCalls_OnDemandDisabledStillPauses: a company without on-demand recording cannot start
// one through the API (refused), but its automatic recording can still be paused, for card
// numbers.
func TestLiveCalls_OnDemandDisabledStillPauses(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, onDemand: store.OnDemandDisabled})
	call, _ := answeredInbound(t, h)
	h.waitRecordings(store.StateRecording, 1)
	waitFor(t, func() bool { return len(h.srv.LiveCalls()) == 1 }, "the call listed")
	id := h.srv.LiveCalls()[0].ID
	ctx := context.Background()
	if _, err := h.srv.ControlCall(ctx, id, ControlRequest{Action: ActionStart}); !errors.Is(err, ErrControlRefused) {
		t.Fatalf("start in a disabled company: %v, want refused", err)
	}
	if got, err := h.srv.ControlCall(ctx, id, ControlRequest{Action: ActionPause, By: "token:T"}); err != nil || !got.Masked {
		t.Fatalf("pause: %+v %v", got, err)
	}
	call.A.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	r := h.waitRecordings(store.StateProcessing, 1)[0]
	if len(r.Masks) != 1 || r.Masks[0].Open {
		t.Errorf("masks %+v: the span open at the hangup is closed at RECORD_STOP", r.Masks)
	}
}
