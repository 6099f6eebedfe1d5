package fstest

import (
	"strings"
	"testing"
)

// TestSocketApp_HandOverLoop is what a controller meets when its uuid_transfer sends the call
// back into a context whose first extension is the socket hand-over again (a dialplan without
// callrec's callrec_seen guard): a second outbound connection for the same channel, whose connect
// reply carries the variables the first controller set (CHANNEL_DATA is the channel's variables,
// REFERENCE.md §1.3), while the first connection stays attached (the async socket app returned
// on the transfer, FAILOPEN.md exp 4). Closing the second connection with socket_resume true
// runs the fallback after its socket app (FAILOPEN.md exp 3).
func TestSocketApp_HandOverLoop(t *testing.T) {
	first := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(first.addr(), resumeVars)})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	uuid := call.A.UUID()

	first.accept()
	data, _ := first.cmd("connect")
	if data.get("Unique-ID") != uuid {
		t.Fatalf("connect reply for %q, want %q", data.get("Unique-ID"), uuid)
	}
	for _, c := range []string{"api uuid_setvar " + uuid + " socket_resume false",
		"api uuid_setvar " + uuid + " callrec_handovers 1"} {
		if r, _ := first.cmd(c); strings.TrimSpace(r.body) != "+OK" {
			t.Fatalf("%s: %q", c, r.raw)
		}
	}
	// The same context again: its socket extension is first, so the call comes straight back.
	first.cmd("api uuid_transfer " + uuid + " 1000 XML public")

	second := &rawCtl{t: t, ln: first.ln}
	second.accept()
	t.Cleanup(func() { second.nc.Close() })
	again, _ := second.cmd("connect")
	if got := again.get("Unique-ID"); got != uuid {
		t.Fatalf("second connect reply for %q, want the same channel %q", got, uuid)
	}
	if got := again.get("variable_callrec_handovers"); got != "1" {
		t.Errorf("variable_callrec_handovers = %q on the second arrival, want 1 (set by the first controller)", got)
	}
	if got := again.get("variable_socket_resume"); got != "true" {
		t.Errorf("variable_socket_resume = %q on the second arrival, want true (the dialplan set it again)", got)
	}
	if st := call.A.State(); st.Hungup {
		t.Fatalf("the call hung up on the loop: %+v", st)
	}
	// The second controller refuses: it closes at once, the fallback after the socket app runs.
	second.nc.Close()
	if _, err := call.A.WaitHangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if call.A.Var("fallback_ran") != "true" {
		t.Errorf("fallback did not run after the second controller closed; apps %v", fs.AppLog(uuid))
	}
}
