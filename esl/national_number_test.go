package esl

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// nationalRoute: the operator routes national numbers to the carrier too.
func nationalRoute(s string) string {
	return strings.Replace(s, `expression="^(\+\d+)$"`, `expression="^(\+?\d{9,})$"`, 1)
}

// featureCodeRoute: the operator answers *98 (voicemail) and keeps the caller there.
func featureCodeRoute(s string) string {
	return strings.Replace(s, `<extension name="users">`, `<extension name="voicemail">
    <condition field="destination_number" expression="^\*98$">
      <action application="answer"/>
      <action application="park"/>
    </condition>
  </extension>
  <extension name="users">`, 1)
}

// placeOutbound places a call from 1001 presenting ddi to dest, waits for the carrier's answer,
// holds the call 2 s and lets the carrier hang up; it returns the rows.
func placeOutbound(t *testing.T, h *harness, ddi, dest string) []*store.Recording {
	t.Helper()
	ctx := ctxT(t, 20*time.Second)
	call, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: dest,
		Vars: map[string]string{"outbound_caller_id_number": ddi}})
	must(t, err)
	ext, err := call.WaitLeg(ctx, dest)
	must(t, err)
	must(t, ext.WaitAnswer(ctx))
	h.waitEvent("CHANNEL_BRIDGE", 1)
	h.fs.Advance(2 * time.Second)
	h.waitQuiet()
	ext.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	return h.allRecordings()
}

// TestNationalNumbers_DialledByAUserAreRecorded: a user dialling a national number of the
// company's country from a DDI recording outbound calls is recorded. The country comes from the
// company's DDIs (+34: ES) or its own setting (US), no default_country configured. The old
// rendering's global ^(\d{2,10})$ marked both numbers internal, and callrec trusted the mark.
func TestNationalNumbers_DialledByAUserAreRecorded(t *testing.T) {
	tests := []struct {
		name, country, ddi, dest, wantCallee string
		old                                  bool
	}{
		{"Spanish 9-digit national number, company with +34 DDIs", "", "+34911234567", "600999888", "+34600999888", false},
		{"US 10-digit national number, company country US", "US", "+12125550100", "2125551234", "+12125551234", false},
		{"Spanish national number marked internal by an old dialplan", "", "+34911234567", "600999888", "+34600999888", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordOutbound, country: tt.country, oldUserEntries: tt.old, dialplanEdit: nationalRoute})
			if tt.ddi != h.ddi.Number {
				must(t, h.db.CreateDDI(context.Background(), &store.DDI{CompanyID: h.company.ID, Number: tt.ddi, RecordCalls: store.RecordOutbound}))
			}
			recs := placeOutbound(t, h, tt.ddi, tt.dest)
			if len(recs) != 1 {
				t.Fatalf("%d rows, want 1: an outbound call to a national number from a DDI recording outbound calls", len(recs))
			}
			if r := recs[0]; r.Direction != store.DirectionOutbound || r.Callee != tt.wantCallee || r.Recorder != tt.ddi {
				t.Errorf("row direction %q callee %q recorder %q, want outbound %s %s", r.Direction, r.Callee, r.Recorder, tt.wantCallee, tt.ddi)
			}
		})
	}
}

// TestUserCalls_ExtensionsAndFeatureCodesAreInternal: a user calling another user's extension,
// or a feature code (*98), makes an internal call: never recorded automatically (the DDI
// records all), but the user's on-demand gate applies (the Record key records, the row says
// internal), and the call is handed back into its own context.
func TestUserCalls_ExtensionsAndFeatureCodesAreInternal(t *testing.T) {
	tests := []struct {
		name, dest, target string // target: the leg the route creates ("" = none, the caller stays)
	}{
		{"4-digit extension of a user", "1002", "1002"},
		{"feature code *98", "*98", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordAll, onDemand: store.OnDemandKey, dialplanEdit: featureCodeRoute})
			ctx := ctxT(t, 20*time.Second)
			call, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: tt.dest,
				Vars: map[string]string{"outbound_caller_id_number": h.ddi.Number}})
			must(t, err)
			a := call.A
			if tt.target != "" {
				peer, err := call.WaitLeg(ctx, tt.target)
				must(t, err)
				must(t, peer.WaitAnswer(ctx))
				h.waitEvent("CHANNEL_BRIDGE", 1)
			} else if _, err := a.WaitState(ctx, func(s fstest.LegState) bool { return s.Answered && s.App == "park" }); err != nil {
				t.Fatal(err)
			}
			h.waitQuiet()
			if !hasTransfer(h, a.UUID(), tt.dest+" XML default") {
				t.Errorf("the call was not handed back into its context; apps %v", h.fs.AppLog(a.UUID()))
			}
			if status, reason := a.SendInfoRecord(true); status != 200 {
				t.Fatalf("Record key on the user's own call: %d %s, want 200 (the on-demand gate of a user's call)", status, reason)
			}
			h.waitEvent("RECORD_START", 1)
			h.fs.Advance(2 * time.Second)
			a.Hangup("NORMAL_CLEARING")
			h.waitSessions()
			recs := h.allRecordings()
			if len(recs) != 1 {
				t.Fatalf("%d rows, want only the Record key's", len(recs))
			}
			if r := recs[0]; r.Type != store.TypeOnDemand || r.Direction != store.DirectionInternal || r.Callee != tt.dest {
				t.Errorf("row type %q direction %q callee %q, want ondemand internal %s", r.Type, r.Direction, r.Callee, tt.dest)
			}
		})
	}
}

// hasTransfer reports whether callrec's uuid_transfer moved leg to dest ("<ext> XML <context>").
func hasTransfer(h *harness, leg, dest string) bool {
	for _, f := range h.fs.Transcript() {
		if f.Dir == fstest.ToFS && f.Command() == "api uuid_transfer "+leg+" "+dest {
			return true
		}
	}
	return false
}
