package esl

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// a transferee that reaches the code extension without variable_blind_transfer_uuid
// (its transferor had no confirm_blind_transfer: here a phone callrec could not identify, which
// classifyPeer gives the external variables incl. force_transfer_context) is not recognised as a
// frustrated transfer (ondemand.go isTransferCode) and is handled as a new call: uuid_transfer
// <A> *7 XML <its own context> — with esl.route_context "" (the default) that is the transfer
// context again, whose code extension has no callrec_seen guard, so the caller loops
// socket → uuid_transfer → socket … forever.
func TestCodeExtensionWithoutBlindTransferUUIDDoesNotLoop(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, code: "7"})
	ctx := ctxT(t, 20*time.Second)
	must(t, h.db.DeleteUser(context.Background(), h.u1001.ID)) // 1001's phone is not a known user
	call, b := answeredInbound(t, h)
	if v := b.Var("force_transfer_context"); v != "callrec_transfer" {
		t.Fatalf("precondition: force_transfer_context on 1001 = %q", v)
	}
	b.BlindTransfer("*7")
	time.Sleep(2 * time.Second)
	n := 0
	for _, f := range h.fs.Transcript() {
		if strings.HasPrefix(f.Command(), "api uuid_transfer "+call.A.UUID()+" *7") {
			n++
		}
	}
	if n > 1 {
		t.Fatalf("the caller was transferred to *7 %d times in 2 s: a socket/uuid_transfer loop", n)
	}
	_ = ctx
	call.A.Hangup("NORMAL_CLEARING")
}
