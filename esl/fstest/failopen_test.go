package fstest

import (
	"net"
	"os"
	"testing"
	"time"
)

const resumeVars = `<action application="set" data="socket_resume=true"/><action application="set" data="hangup_after_bridge=true"/>`

func TestSocketApp_FailOpen(t *testing.T) {
	tests := []struct {
		name         string
		resume       bool
		controller   func(t *testing.T, ctl *rawCtl, fs *FS, call *Call)
		wantFallback bool
		wantHungup   bool
	}{
		{name: "controller down: fallback at once", resume: true,
			controller: func(t *testing.T, ctl *rawCtl, fs *FS, call *Call) { ctl.ln.Close() }, wantFallback: true, wantHungup: true},
		{name: "controller down without socket_resume: fallback at once too", resume: false,
			controller: func(t *testing.T, ctl *rawCtl, fs *FS, call *Call) { ctl.ln.Close() }, wantFallback: true, wantHungup: true},
		{name: "accepted, never connects, socket_resume: goodbye after the connect timeout, then fallback", resume: true,
			controller: func(t *testing.T, ctl *rawCtl, fs *FS, call *Call) {
				ctl.accept()
				start := time.Now()
				f := ctl.mustRead()
				if f.get("Content-Disposition") != "disconnect" || f.body != goodbyeBody {
					t.Errorf("want goodbye notice, got %q", f.raw)
				}
				if el := time.Since(start); el < 150*time.Millisecond {
					t.Errorf("goodbye after %v, before the 200ms connect timeout", el)
				}
			}, wantFallback: true, wantHungup: true},
		{name: "accepted, never connects, no socket_resume: parked forever", resume: false,
			controller: func(t *testing.T, ctl *rawCtl, fs *FS, call *Call) {
				ctl.accept()
				ctl.mustRead()
				time.Sleep(100 * time.Millisecond)
			}},
		{name: "connect then close: fallback", resume: true,
			controller: func(t *testing.T, ctl *rawCtl, fs *FS, call *Call) {
				ctl.accept()
				ctl.cmd("connect")
				ctl.nc.Close()
			}, wantFallback: true, wantHungup: true},
		{name: "connect then silent: parked, unanswered", resume: true,
			controller: func(t *testing.T, ctl *rawCtl, fs *FS, call *Call) {
				ctl.accept()
				ctl.cmd("connect")
				time.Sleep(400 * time.Millisecond)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctl := newRawCtl(t)
			extra := ""
			if tc.resume {
				extra = resumeVars
			}
			fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), extra), ConnectTimeout: 200 * time.Millisecond})
			if tc.name[:15] == "controller down" {
				ctl.ln.Close()
			}
			call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
			tc.controller(t, ctl, fs, call)
			if tc.wantHungup {
				if _, err := call.A.WaitHangup(ctx(t)); err != nil {
					t.Fatal(err)
				}
			} else {
				time.Sleep(50 * time.Millisecond)
			}
			s := call.A.State()
			if s.Hungup != tc.wantHungup {
				t.Errorf("hungup = %v, want %v (%+v)", s.Hungup, tc.wantHungup, s)
			}
			if got := call.A.Var("fallback_ran") == "true"; got != tc.wantFallback {
				t.Errorf("fallback ran = %v, want %v; apps %v", got, tc.wantFallback, fs.AppLog(call.A.UUID()))
			}
			if !tc.wantHungup && (s.Answered || s.App != "socket") {
				t.Errorf("want parked unanswered in socket, got %+v", s)
			}
		})
	}
}

// startBridged runs the FAILOPEN recipe up to CHANNEL_BRIDGE on a raw controller.
func startBridged(t *testing.T, resumeFalse bool) (*FS, *rawCtl, *Call, *Leg) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), resumeVars), Phones: map[string]Phone{"1001": {}}})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")
	u := call.A.UUID()
	if resumeFalse {
		ctl.cmd("api uuid_setvar " + u + " socket_resume false")
	}
	ctl.cmd("event plain CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE RECORD_START RECORD_STOP DTMF")
	ctl.cmd("filter Unique-ID " + u)
	ctl.cmd("linger 30")
	ctl.cmd("api uuid_transfer " + u + " bleg XML route")
	ctl.until("CHANNEL_BRIDGE")
	b, err := call.WaitLeg(ctx(t), "1001")
	if err != nil {
		t.Fatal(err)
	}
	return fs, ctl, call, b
}

func TestControllerCloseMidBridge_WithSocketResumeFalse_BridgeSurvives(t *testing.T) {
	fs, ctl, call, b := startBridged(t, true)
	ctl.nc.Close()
	time.Sleep(50 * time.Millisecond)
	if s := b.State(); s.Hungup || s.PeerUUID != call.A.UUID() {
		t.Fatalf("bridge did not survive: B %+v", s)
	}
	call.A.Hangup("")
	b.WaitHangup(ctx(t))
	if call.A.Var("route_after_bridge_ran") != "" {
		t.Error("route continued after the caller hung up")
	}
	_ = fs
}

func TestControllerCloseMidBridge_WithSocketResumeTrue_StrandsCaller(t *testing.T) {
	_, ctl, call, b := startBridged(t, false)
	ctl.nc.Close()
	if _, err := b.WaitHangup(ctx(t)); err != nil {
		t.Fatal("B not hung up:", err)
	}
	time.Sleep(50 * time.Millisecond)
	s := call.A.State()
	if s.Hungup || s.State != "CS_RESET" || s.App != "" {
		t.Errorf("A should sit in CS_RESET with no app, got %+v", s)
	}
	if call.A.Var("route_after_bridge_ran") != "" || call.A.Var("fallback_ran") != "" {
		t.Error("no dialplan may run after the reset")
	}
}

func TestUUIDRecord_APIResponseThenRecordStartOnSameConnection(t *testing.T) {
	_, ctl, call, _ := startBridged(t, true)
	u := call.A.UUID()
	path := t.TempDir() + "/r.wav"
	ctl.send("api uuid_record " + u + " start " + path)
	f := ctl.mustRead()
	if f.get("Content-Type") != "api/response" || f.body != "+OK Success\n" {
		t.Fatalf("first frame after uuid_record: %q", f.raw)
	}
	e := ctl.mustRead()
	if e.event()["Event-Name"] != "RECORD_START" || e.event()["Record-File-Path"] != path {
		t.Fatalf("second frame: %q", e.raw)
	}
	if e.hdr[0].Name != "Content-Length" || e.hdr[1] != (Header{"Content-Type", "text/event-plain"}) {
		t.Errorf("event envelope must be Content-Length then Content-Type: %v", e.hdr)
	}
	if r, _ := ctl.cmd("api uuid_record " + u + " start " + path); r.body != "+OK Success\n" {
		t.Errorf("already recording: %q", r.body)
	}
}

func TestHangup_OrderAndLingerNotice(t *testing.T) {
	_, ctl, call, b := startBridged(t, true)
	u := call.A.UUID()
	ctl.cmd("api uuid_record " + u + " start " + t.TempDir() + "/r.wav")
	ctl.until("RECORD_START")
	call.A.Hangup("")
	var seq []string
	for len(seq) == 0 || seq[len(seq)-1] != "CHANNEL_HANGUP_COMPLETE" {
		f := ctl.mustRead()
		switch f.get("Content-Type") {
		case "text/event-plain":
			ev := f.event()
			if ev["Unique-ID"] == u {
				seq = append(seq, ev["Event-Name"])
			}
		case "text/disconnect-notice":
			if f.get("Content-Disposition") != "linger" || f.get("Linger-Time") != "30" || f.get("Controlled-Session-UUID") != u || f.get("Channel-Name") != call.A.Name() {
				t.Errorf("linger notice %q", f.raw)
			}
			seq = append(seq, "linger-notice")
		}
	}
	want := []string{"CHANNEL_HANGUP", "linger-notice", "CHANNEL_UNBRIDGE", "RECORD_STOP", "CHANNEL_HANGUP_COMPLETE"}
	if len(seq) != len(want) {
		t.Fatalf("sequence %v, want %v", seq, want)
	}
	for i := range want {
		if seq[i] != want[i] {
			t.Fatalf("sequence %v, want %v", seq, want)
		}
	}
	if !b.State().Hungup {
		t.Error("B still up")
	}
	ctl.cmd("exit")
}

func TestNoLinger_EventsAfterHangupAreLost(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), "")})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")
	ctl.cmd("event plain ALL")
	ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: answer")
	ctl.until("CHANNEL_ANSWER")
	ctl.cmd("api uuid_record " + call.A.UUID() + " start " + t.TempDir() + "/x.wav")
	call.A.Hangup("")
	var names []string
	for {
		f, err := ctl.read()
		if err != nil {
			break
		}
		if f.get("Content-Type") == "text/disconnect-notice" {
			if f.get("Content-Disposition") != "disconnect" {
				t.Errorf("notice %q", f.raw)
			}
			continue
		}
		names = append(names, f.event()["Event-Name"])
	}
	for _, n := range names {
		if n == "RECORD_STOP" || n == "CHANNEL_HANGUP_COMPLETE" {
			t.Errorf("%s reached a non-lingering controller: %v", n, names)
		}
	}
}

func TestMyEvents_DropsOtherLegsAndCannotBeUndone(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), ""), Phones: map[string]Phone{"1001": {}}})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")
	ctl.cmd("myevents")
	ctl.cmd("event plain ALL")
	ctl.cmd("linger")
	ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: bridge\nexecute-app-arg: user/1001")
	b, _ := call.WaitLeg(ctx(t), "1001")
	ctl.until("CHANNEL_BRIDGE")
	b.SendDTMF("9")
	call.A.SendDTMF("5")
	frames := ctl.until("DTMF")
	for _, f := range frames {
		if ev := f.event(); ev["Event-Name"] != "" && ev["Unique-ID"] != call.A.UUID() {
			t.Errorf("event of another leg leaked through myevents: %s %s", ev["Event-Name"], ev["Unique-ID"])
		}
	}
	if d := frames[len(frames)-1].event()["DTMF-Digit"]; d != "5" {
		t.Errorf("first DTMF seen = %q, want A's 5", d)
	}
	_ = net.IPv4len
}

// TestUUIDRecord_FileExistsFromStart: FreeSWITCH opens the record file before it adds the media
// bug (switch_ivr_async.c switch_ivr_record_session_event: switch_core_file_open ~3137, then
// switch_core_media_bug_add ~3309), so the WAV is on disk — a header — as soon as uuid_record
// answers, not only after the recording stops (a reconcile that looks for it mid-call finds it).
func TestUUIDRecord_FileExistsFromStart(t *testing.T) {
	_, ctl, call, _ := startBridged(t, true)
	u := call.A.UUID()
	path := t.TempDir() + "/r.wav"
	ctl.cmd("api uuid_record " + u + " start " + path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("WAV while recording: %v", err)
	}
	if st.Size() != 44 {
		t.Errorf("WAV while recording: %d bytes, want the 44-byte header", st.Size())
	}
	ctl.until("RECORD_START")
	call.A.Hangup("")
	ctl.until("RECORD_STOP")
	if st, err := os.Stat(path); err != nil || st.Size() <= 44 {
		t.Fatalf("WAV after stop: %v %v", st, err)
	}
}
