package esl

import (
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestSession_ReportsRecordingMissing: a call to a recording DDI whose recording FreeSWITCH
// refuses (uuid_record answers -ERR Cannot record session! when switch_ivr_record_session fails,
// e.g. the WAV cannot be created: mod_commands.c session_record_function; the stand-in answers
// the same, esl/fstest TestAccount_FreeSWITCHUserCannotCreateOrGivesItsOwnMode) ends with one
// recording.missing for the company's webhook, besides the failed row's recording.failed; so
// does a call released to the fallback before its recording. A call that is recorded, and one
// the recorded party never answered, report nothing.
func TestSession_ReportsRecordingMissing(t *testing.T) {
	tests := []struct {
		name        string
		refuse      bool // the spool cannot be written: uuid_record is refused
		noAnswer    bool
		closeOn     string // the stand-in drops the connection on this command (fstest.Faults.CloseOn)
		wantMissing int
		wantReason  string
		wantFailed  int
	}{
		{name: "uuid_record refused", refuse: true, wantMissing: 1, wantFailed: 1, wantReason: MissingNotRecorded},
		// The hand-over fails: FreeSWITCH runs the fallback, which bridges the caller unrecorded.
		{name: "released to the fallback", closeOn: "api uuid_transfer", wantMissing: 1, wantReason: MissingReleased},
		{name: "recorded"},
		{name: "never answered", noAnswer: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, noAnswer: tc.noAnswer})
			ctx := context.Background()
			hook := &store.Webhook{CompanyID: h.company.ID, URL: "https://hooks.example.com/x", Active: true}
			_, err := h.db.CreateWebhook(ctx, hook)
			must(t, err)
			if tc.refuse { // a file where the spool directory should be: FreeSWITCH cannot create the WAV
				must(t, os.RemoveAll(h.spool))
				must(t, os.WriteFile(h.spool, []byte("not a directory"), 0o600))
			}
			if tc.closeOn != "" {
				h.fs.SetFaults(fstest.Faults{CloseOn: tc.closeOn})
				call, _ := h.callAnswered("+34600111222", "+34911234567", "1001")
				h.fs.SetFaults(fstest.Faults{})
				h.fs.Advance(2 * time.Second)
				call.A.Hangup("NORMAL_CLEARING")
			} else if tc.noAnswer {
				call, err := h.fs.Inbound(ctxT(t, 30*time.Second), fstestSpec("+34600111222", "+34911234567"))
				must(t, err)
				_, err = call.WaitLeg(ctxT(t, 30*time.Second), "1001")
				must(t, err)
				h.fs.Advance(2 * time.Second)
				call.A.Hangup("ORIGINATOR_CANCEL")
			} else {
				call, _ := h.callAnswered("+34600111222", "+34911234567", "1001")
				if tc.refuse {
					h.waitRecordings(store.StateFailed, 1)
				} else {
					h.waitEvent("RECORD_START", 1)
				}
				h.fs.Advance(2 * time.Second)
				call.A.Hangup("NORMAL_CLEARING")
			}
			h.waitSessions()
			ds, _, err := h.db.WebhookDeliveries(ctx, hook.ID, "", 100)
			must(t, err)
			byEvent := map[string][]*store.Delivery{}
			for _, d := range ds {
				byEvent[d.Event] = append(byEvent[d.Event], d)
			}
			if len(byEvent[store.EventRecordingMissing]) != tc.wantMissing || len(byEvent[store.EventRecordingFailed]) != tc.wantFailed {
				t.Fatalf("deliveries by event: missing %d failed %d, want %d and %d", len(byEvent[store.EventRecordingMissing]),
					len(byEvent[store.EventRecordingFailed]), tc.wantMissing, tc.wantFailed)
			}
			if tc.wantMissing == 0 {
				return
			}
			var body struct {
				Type string
				Data store.MissingCall
			}
			d := byEvent[store.EventRecordingMissing][0]
			must(t, json.Unmarshal(d.Payload, &body))
			if body.Type != store.EventRecordingMissing || body.Data.Reason != tc.wantReason || body.Data.DDIID != h.ddi.ID ||
				body.Data.CallID == "" || body.Data.CallID != d.CallID || body.Data.Caller != "+34600111222" || body.Data.Direction != "inbound" {
				t.Errorf("missing payload %s", d.Payload)
			}
		})
	}
}
