package esl

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// withFeatureCodes adds an operator route for `*` feature codes to the user context (voicemail
// access and the like): an ordinary transfer to `*12` must arrive here.
func withFeatureCodes(s string) string {
	return strings.Replace(s, `<extension name="users">`, `<extension name="feature_codes">
    <condition field="destination_number" expression="^\*(\d+)$">
      <action application="set" data="feature_ran=$1"/>
      <action application="answer"/>
      <action application="park"/>
    </condition>
  </extension>
  <extension name="users">`, 1)
}

// TestOnDemandSettingChangedMidCall_AppliesToTheNextREFER: the transfer context is fsconf's
// rendering, loaded once. During a live call the brand admin changes the company's code
// 12 → 34 (a store write, no re-render, no reloadxml): the user's REFER to *34 is refused
// (NOTIFY 403, the parties re-joined) and toggles the recording, while a REFER to *12 is now an
// ordinary transfer (NOTIFY 200, the caller routed to *12 in the user context). A company whose
// on-demand is disabled mid-call gets ordinary transfers. With the old per-code rendering, *34
// was an ordinary transfer (the phone hung up, the customer got BYE) until a re-render.
func TestOnDemandSettingChangedMidCall_AppliesToTheNextREFER(t *testing.T) {
	t.Run("code 12 changed to 34", func(t *testing.T) {
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "12",
			fsconfTransfer: true, dialplanEdit: withFeatureCodes})
		call, user := answeredInbound(t, h)
		ctx := ctxT(t, 30*time.Second)
		h.setOnDemand(store.OnDemandKey, "34")

		refer := user.BlindTransfer("*34")
		if st, err := refer.WaitNotify(ctx); err != nil || st != 403 {
			t.Fatalf("REFER to the new code *34: NOTIFY %d %v, want 403 (a record request is refused)", st, err)
		}
		if _, err := call.A.WaitState(ctx, func(s fstest.LegState) bool { return s.Hungup || s.PeerUUID == user.UUID() }); err != nil || call.A.State().Hungup {
			t.Fatalf("caller not re-joined with the user after *34: %+v %v", call.A.State(), err)
		}
		r := h.waitRecordings(store.StateRecording, 1)[0]
		if r.Trigger != store.TriggerTransfer || r.UserID != h.u1001.ID {
			t.Fatalf("row %+v, want the user's transfer recording", r)
		}

		refer = user.BlindTransfer("*12")
		if st, err := refer.WaitNotify(ctx); err != nil || st != 200 {
			t.Fatalf("REFER to the old code *12: NOTIFY %d %v, want 200 (an ordinary transfer now)", st, err)
		}
		h.wantRoutedToFeature(ctx, call.A, "12")
	})
	t.Run("on-demand disabled mid-call", func(t *testing.T) {
		h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "12",
			fsconfTransfer: true, dialplanEdit: withFeatureCodes})
		call, user := answeredInbound(t, h)
		ctx := ctxT(t, 30*time.Second)
		h.setOnDemand(store.OnDemandDisabled, "12")

		refer := user.BlindTransfer("*12")
		if st, err := refer.WaitNotify(ctx); err != nil || st != 200 {
			t.Fatalf("REFER to *12 of a now disabled company: NOTIFY %d %v, want 200 (an ordinary transfer)", st, err)
		}
		h.wantRoutedToFeature(ctx, call.A, "12")
		user.Hangup("NORMAL_CLEARING")
		call.A.Hangup("NORMAL_CLEARING")
		h.waitSessions()
		if n := len(h.allRecordings()); n != 0 {
			t.Fatalf("%d recordings, want none for a disabled company", n)
		}
	})
}

// setOnDemand is the brand admin saving the company's on-demand setting.
func (h *harness) setOnDemand(mode, code string) {
	h.t.Helper()
	c := *h.company
	c.OnDemand, c.OnDemandCode = mode, code
	must(h.t, h.db.UpdateCompany(context.Background(), &c))
	*h.company = c
}

// wantRoutedToFeature checks that the transferee went on to *code in the user context, marked so
// that callrec's hand-over entries let it through, after the ordinary transfer's ack.
func (h *harness) wantRoutedToFeature(ctx context.Context, leg *fstest.Leg, code string) {
	h.t.Helper()
	s, err := leg.WaitState(ctx, func(s fstest.LegState) bool { return s.Hungup || s.App == "park" && s.Context == "default" })
	if err != nil || s.Hungup {
		h.t.Fatalf("transferee not routed to *%s in the user context: %+v %v; apps %v", code, s, err, h.fs.AppLog(leg.UUID()))
	}
	if s.Destination != "*"+code || leg.Var("feature_ran") != code || leg.Var("callrec_seen") != "true" {
		h.t.Errorf("transferee at %s (feature_ran=%q callrec_seen=%q), want *%s through the operator's feature route",
			s.Destination, leg.Var("feature_ran"), leg.Var("callrec_seen"), code)
	}
	var ack, xfer bool
	for _, a := range h.fs.AppLog(leg.UUID()) {
		switch {
		case a.App == "blind_transfer_ack" && a.Data == "true":
			ack = true
		case a.App == "transfer" && a.Data == "*"+code+" XML default":
			xfer = ack
		}
	}
	if !xfer {
		h.t.Errorf("want blind_transfer_ack true, then transfer *%s XML default on the transferee; apps %v", code, h.fs.AppLog(leg.UUID()))
	}
}
