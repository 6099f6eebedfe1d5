package esl

import (
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// with the rendered default internal_extension_regex ^(\d{2,10})$ (fsconf/options.go:20,
// mirrored by the harness dialplan) and default_country ES, a user dialling a national number
// (README's own example 911234567 is 9 digits) is marked callrec_direction=internal; callrec
// trusts the mark (decideUserCall) although no user has that extension, so an outbound call
// from a DDI with record_calls=outbound is never recorded.
func TestNationalNumberDialledByAUserIsOutbound(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordOutbound, dialplanEdit: func(s string) string {
		// the operator routes national numbers to the carrier too
		return strings.Replace(s, `expression="^(\+\d+)$"`, `expression="^(\+?\d{9,})$"`, 1)
	}})
	h.srv.DefaultCountry = "ES"
	ctx := ctxT(t, 20*time.Second)
	call, err := h.fs.Outbound(ctx, fstest.CallSpec{FromUser: "1001", To: "600999888",
		Vars: map[string]string{"outbound_caller_id_number": "+34911234567"}})
	must(t, err)
	ext, err := call.WaitLeg(ctx, "600999888")
	must(t, err)
	must(t, ext.WaitAnswer(ctx))
	h.waitEvent("CHANNEL_BRIDGE", 1)
	h.fs.Advance(2 * time.Second)
	h.waitQuiet()
	ext.Hangup("NORMAL_CLEARING")
	h.waitSessions()
	if n := len(h.allRecordings()); n != 1 {
		t.Fatalf("%d rows, want 1: an outbound call to a national number from a DDI recording outbound calls", n)
	}
}
