package fstest

import (
	"testing"
	"time"
)

// TestPlayAndGetDigits_AsSwitchIvrReadRunsIt: play_and_get_digits sent by a controller keeps the
// digits it reads (DTMF fires, no partner hears them), sets the variable only for input that
// matches the regex (and <var>_invalid otherwise), gives up after its timeout of virtual time,
// and reports the variable in CHANNEL_EXECUTE_COMPLETE.
func TestPlayAndGetDigits_AsSwitchIvrReadRunsIt(t *testing.T) {
	tests := []struct {
		name        string
		digits      string // typed once the app runs; "" = nothing
		wantVar     string
		wantInvalid string
		wantResult  string
	}{
		{"the expected digit", "1", "1", "", "success"},
		{"another digit", "2", "", "2", "success"},
		{"nothing before the timeout", "", "", "", "failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctl := newRawCtl(t)
			dp := MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition>
			<action application="socket" data="` + ctl.addr() + ` async full"/></condition></extension></context></include>`))
			fs := Start(t, Options{Dialplan: dp})
			call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
			ctl.accept()
			ctl.cmd("connect")
			ctl.cmd("event plain CHANNEL_EXECUTE_COMPLETE DTMF")
			ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: play_and_get_digits\nexecute-app-arg: 1 1 1 5000 # ivr/consent.wav silence_stream://250 consent ^1$\nEvent-UUID: app-1")
			if _, err := call.A.WaitState(ctx(t), func(s LegState) bool { return call.A.Var("current_application") == "play_and_get_digits" }); err != nil {
				t.Fatal(err)
			}
			if tt.digits != "" {
				call.A.SendDTMF(tt.digits)
			} else {
				time.Sleep(20 * time.Millisecond)
				fs.Advance(6 * time.Second) // past the 5 s timeout
			}
			var done map[string]string
			var sawDTMF bool
			for done == nil {
				ev := ctl.mustRead().event()
				switch ev["Event-Name"] {
				case "DTMF":
					sawDTMF = true
				case "CHANNEL_EXECUTE_COMPLETE":
					if ev["Application-UUID"] == "app-1" {
						done = ev
					}
				}
			}
			if done["variable_consent"] != tt.wantVar || done["variable_consent_invalid"] != tt.wantInvalid || done["variable_read_result"] != tt.wantResult {
				t.Errorf("complete: consent=%q invalid=%q read_result=%q, want %q %q %q", done["variable_consent"],
					done["variable_consent_invalid"], done["variable_read_result"], tt.wantVar, tt.wantInvalid, tt.wantResult)
			}
			if sawDTMF != (tt.digits != "") {
				t.Errorf("DTMF event seen=%v", sawDTMF)
			}
		})
	}
}
