package esl

import (
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestConsent_OptInRecordsOnlyAfterTheCallerPresses1: a DDI with consent press_1 plays its
// announcement with play_and_get_digits; the call is recorded only when the caller presses 1,
// with the consent record on the row. Another digit or silence past the timeout: the call goes
// on to the user, unrecorded. A notice DDI records the announcement it played as the consent.
func TestConsent_OptInRecordsOnlyAfterTheCallerPresses1(t *testing.T) {
	const ann = "ivr/consent.wav"
	tests := []struct {
		name       string
		consent    string
		press      string // "" = stays silent
		wantMethod string // "" = not recorded
	}{
		{"press_1 and the caller presses 1", store.ConsentPress1, "1", store.ConsentPress1},
		{"press_1 and the caller presses 2", store.ConsentPress1, "2", ""},
		{"press_1 and the caller stays silent", store.ConsentPress1, "", ""},
		{"notice: staying on the line", store.ConsentNotice, "", store.ConsentNotice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, announcement: ann, consent: tt.consent})
			ctx := ctxT(t, 30*time.Second)
			hook := &store.Webhook{CompanyID: h.company.ID, URL: "https://crm.example.com/hook", Active: true}
			if _, err := h.db.CreateWebhook(ctx, hook); err != nil {
				t.Fatal(err)
			}
			call, err := h.fs.Inbound(ctx, fstestSpec("+34600111222", "+34911234567"))
			must(t, err)
			if tt.consent == store.ConsentPress1 {
				if _, err := call.A.WaitState(ctx, func(fstest.LegState) bool {
					return call.A.Var("current_application") == "play_and_get_digits"
				}); err != nil {
					t.Fatal(err)
				}
				if tt.press != "" {
					call.A.SendDTMF(tt.press)
				} else {
					waitFor(t, func() bool {
						h.fs.Advance(time.Second)
						return call.A.Var("current_application") != "play_and_get_digits"
					}, "the opt-in timeout")
				}
			}
			b, err := call.WaitLeg(ctx, "1001")
			must(t, err)
			must(t, b.WaitAnswer(ctx)) // recorded or not, the call reaches the user
			h.waitQuiet()
			call.A.Hangup("NORMAL_CLEARING")
			h.waitSessions()
			rows := h.allRecordings()
			if tt.wantMethod == "" {
				if len(rows) != 0 {
					t.Fatalf("%d recordings without consent", len(rows))
				}
				// Declined on purpose: not a recording.missing for the company's webhooks.
				if ds, _, err := h.db.WebhookDeliveries(ctx, hook.ID, "", 10); err != nil || len(ds) != 0 {
					t.Errorf("deliveries %v (%v): a declined consent was reported", ds, err)
				}
				return
			}
			if len(rows) != 1 || rows[0].Consent == nil {
				t.Fatalf("rows %+v, want one with a consent record", rows)
			}
			c := rows[0].Consent
			if c.Method != tt.wantMethod || c.Announcement != ann || c.PlayedAt.IsZero() || c.PlayedAt.After(rows[0].StartedAt) {
				t.Errorf("consent %+v (recording started %v)", c, rows[0].StartedAt)
			}
		})
	}
}
