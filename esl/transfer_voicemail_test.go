package esl

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// callrec puts confirm_blind_transfer=true on every user leg of an on-demand company
// (dialplan/gate.go VarsFor), and the transfer context's catch-all (fsconf transfer.xml.tmpl)
// continues ordinary transfers without `blind_transfer_ack true`. So every ordinary blind
// transfer of such a user to a destination that answers but never bridges (voicemail, IVR,
// conference — REFERENCE.md §5 "Use it before voicemail, IVR or conference destinations")
// gets no NOTIFY 200: the phone waits, and when the destination's dialplan ends the caller is
// intercepted back to the transferring user. With on_demand disabled the same transfer
// completes at once.
func TestOrdinaryBlindTransferToVoicemailCompletes(t *testing.T) {
	for _, mode := range []string{store.OnDemandDisabled, store.OnDemandKey} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: mode, dialplanEdit: func(s string) string {
				return strings.Replace(s, `<extension name="users">`, `<extension name="voicemail">
    <condition field="destination_number" expression="^(9000)$">
      <action application="answer"/>
      <action application="playback" data="/sounds/vm-greeting.wav"/>
    </condition>
  </extension>
  <extension name="users">`, 1)
			}})
			_, b := answeredInbound(t, h)
			refer := b.BlindTransfer("9000")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			st, err := refer.WaitNotify(ctx)
			if err != nil || st != 200 {
				t.Fatalf("NOTIFY for an ordinary blind transfer to voicemail: %d %v, want 200 at once", st, err)
			}
		})
	}
}
