package fstest

import (
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"
)

// bridgedControlledCall is a call handed to ctl and moved on (uuid_transfer to route/bleg) with
// socket_resume as given, bridged to user 1001.
func bridgedControlledCall(t *testing.T, resume string) (*FS, *rawCtl, *Call, *Leg) {
	t.Helper()
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), resumeVars), InboundPassword: "ClueCon",
		Phones: map[string]Phone{"1001": {}}})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "2000"})
	ctl.accept()
	ctl.cmd("connect")
	ctl.cmd("api uuid_setvar " + call.A.UUID() + " socket_resume " + resume)
	ctl.cmd("linger 30")
	ctl.cmd("api uuid_transfer " + call.A.UUID() + " bleg XML route")
	b, err := call.WaitLeg(ctx(t), "1001")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitAnswer(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := call.A.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID == b.UUID() && s.App == "bridge" }); err != nil {
		t.Fatal(err)
	}
	return fs, ctl, call, b
}

// readNotice reads frames until the disconnect notice, then expects EOF.
func readNotice(t *testing.T, c *rawCtl) rawFrame {
	t.Helper()
	for {
		f, err := c.read()
		if err != nil {
			t.Fatalf("connection closed without a disconnect notice: %v", err)
		}
		if f.get("Content-Type") != "text/disconnect-notice" {
			continue
		}
		if g, err := c.read(); err == nil {
			t.Fatalf("frame after the shutdown notice: %q", g.raw)
		}
		return f
	}
}

func TestReloadEventSocket_ClosesEveryConnectionAndLeavesTheCalls(t *testing.T) {
	tests := []struct {
		name, resume string
		callKept     bool
	}{
		{"socket_resume false: the bridge and the call go on", "false", true},
		{"socket_resume true: CS_RESET tears the bridge down", "true", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, ctl, call, b := bridgedControlledCall(t, tt.resume)
			in := inboundCtl(t, fs, "ClueCon")
			if err := fs.ReloadEventSocket(); err != nil {
				t.Fatal(err)
			}
			out := readNotice(t, ctl)
			if out.get("Controlled-Session-UUID") != call.A.UUID() || out.get("Content-Disposition") != "disconnect" || out.body != shutdownMessage {
				t.Errorf("outbound notice %q", out.raw)
			}
			inb := readNotice(t, in)
			if inb.get("Controlled-Session-UUID") != "" || inb.get("Content-Disposition") != "" || inb.body != shutdownMessage {
				t.Errorf("inbound notice %q", inb.raw)
			}
			st, err := call.A.WaitState(ctx(t), func(s LegState) bool { return !s.Controlled })
			if err != nil {
				t.Fatal(err)
			}
			if tt.callKept {
				time.Sleep(50 * time.Millisecond)
				st = call.A.State()
				if st.Hungup || st.PeerUUID != b.UUID() || b.State().Hungup {
					t.Fatalf("the call did not survive the reload: A %+v", st)
				}
			} else if _, err := b.WaitHangup(ctx(t)); err != nil {
				t.Fatalf("socket_resume true kept the bridge: %v", err)
			}
			// The listener is back: a new inbound connection authenticates and sees the call.
			in2 := inboundCtl(t, fs, "ClueCon")
			if f, _ := in2.cmd("api uuid_exists " + call.A.UUID()); tt.callKept && f.body != "true" {
				t.Errorf("uuid_exists after the reload: %q", f.body)
			}
			if fs.ActiveConns() != 1 {
				t.Errorf("%d connections, want only the new inbound one", fs.ActiveConns())
			}
		})
	}
}

func TestReloadEventSocket_APIOverESLKeepsTheModuleDownForItsSanityWait(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), resumeVars), InboundPassword: "ClueCon", TimeScale: 100})
	in := inboundCtl(t, fs, "ClueCon")
	in.send("api reload mod_event_socket")
	if f := readNotice(t, in); f.body != shutdownMessage {
		t.Fatalf("notice %q (the api reply must never arrive)", f.raw)
	}
	if fs.EventSocketLoaded() {
		t.Fatal("still loaded")
	}
	if nc, err := net.DialTimeout("tcp", fs.InboundAddr(), time.Second); err == nil {
		nc.Close()
		t.Fatal("the inbound listener accepts while the module is unloaded")
	}
	// A call reaching the socket application now: "Invalid Application", hung up.
	call := mustInbound(t, fs, CallSpec{From: "1", To: "2"})
	if cause, err := call.A.WaitHangup(ctx(t)); err != nil || cause != "DESTINATION_OUT_OF_ORDER" {
		t.Fatalf("hangup %q, %v", cause, err)
	}
	if call.A.Var("fallback_ran") != "" {
		t.Error("the dialplan went on after the missing socket application")
	}
	// 20 s of switch_yield (200 ms at TimeScale 100), then the listener is back.
	start := time.Now()
	deadline := start.Add(5 * time.Second)
	for !fs.EventSocketLoaded() {
		if time.Now().After(deadline) {
			t.Fatal("module never loaded again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("back after %v, want the 20 s (virtual) sanity wait", el)
	}
	inboundCtl(t, fs, "ClueCon")
}

func TestReloadEventSocket_RefusedWhileTheSocketAppRuns(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), resumeVars), InboundPassword: "ClueCon"})
	mustInbound(t, fs, CallSpec{From: "1", To: "2"})
	ctl.accept()
	ctl.cmd("connect") // parked in the socket application
	in := inboundCtl(t, fs, "ClueCon")
	f, _ := in.cmd("api reload mod_event_socket")
	want := "+OK Reloading XML\n-ERR unloading module [Module in use.]\n-ERR loading module [Module already loaded]\n"
	if f.body != want {
		t.Errorf("reply %q, want %q", f.body, want)
	}
	if err := fs.ReloadEventSocket(); err != ErrModuleInUse {
		t.Errorf("ReloadEventSocket: %v", err)
	}
	if f, _ := ctl.cmd("api status"); !strings.HasPrefix(f.body, "UP") {
		t.Errorf("the outbound connection was touched: %q", f.raw)
	}
	if err := fs.UnloadEventSocket(true); err != nil {
		t.Fatal(err)
	}
	readNotice(t, ctl)
	if err := fs.LoadEventSocket(); err != nil {
		t.Fatal(err)
	}
	inboundCtl(t, fs, "ClueCon")
}

func TestShowChannelsAsJSON_AndCoreUUID(t *testing.T) {
	fs := Start(t, Options{InboundPassword: "ClueCon", Phones: map[string]Phone{"1001": {}},
		Dialplan: MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition>
		<action application="bridge" data="user/1001"/></condition></extension></context></include>`))})
	in := inboundCtl(t, fs, "ClueCon")
	if f, _ := in.cmd("api show channels as json"); f.body != "{\"row_count\": 0}\n" {
		t.Errorf("no channels: %q", f.body)
	}
	call := mustInbound(t, fs, CallSpec{From: "+34600111222", To: "+34911234567"})
	b, err := call.WaitLeg(ctx(t), "1001")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitAnswer(ctx(t)); err != nil {
		t.Fatal(err)
	}
	// The bridge answers A and gives B its call_uuid just after B answers: list the channels
	// once the two are bridged (this raced under -race).
	if _, err := call.A.WaitState(ctx(t), func(st LegState) bool { return st.PeerUUID == b.UUID() && st.CallState == "ACTIVE" }); err != nil {
		t.Fatal(err)
	}
	f, _ := in.cmd("api show channels as json")
	var got struct {
		RowCount int                 `json:"row_count"`
		Rows     []map[string]string `json:"rows"`
	}
	if err := json.Unmarshal([]byte(f.body), &got); err != nil {
		t.Fatalf("%v: %q", err, f.body)
	}
	if got.RowCount != 2 || len(got.Rows) != 2 {
		t.Fatalf("rows %+v", got)
	}
	a := got.Rows[0]
	if a["uuid"] != call.A.UUID() || a["direction"] != "inbound" || a["dest"] != "+34911234567" || a["application"] != "bridge" ||
		a["callstate"] != "ACTIVE" || a["call_uuid"] != call.A.UUID() || a["context"] != "public" {
		t.Errorf("A row %v", a)
	}
	if r := got.Rows[1]; r["uuid"] != b.UUID() || r["direction"] != "outbound" || r["call_uuid"] != call.A.UUID() {
		t.Errorf("B row %v", r)
	}
	if len(a) != len(channelColumns) {
		t.Errorf("%d columns, want %d", len(a), len(channelColumns))
	}
	f, _ = in.cmd("api global_getvar core_uuid")
	if f.body != fs.coreUUID || f.body == "" {
		t.Errorf("core_uuid %q", f.body)
	}
}
