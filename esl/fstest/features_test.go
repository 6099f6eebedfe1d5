package fstest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestDTMF_EventsOnlyWhileReadAndCarryBasicDataOnly(t *testing.T) {
	ctl := newRawCtl(t)
	dp := MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition>
	<action application="set" data="marker=yes"/>
	<action application="socket" data="` + ctl.addr() + ` async full"/></condition></extension></context></include>`))
	fs := Start(t, Options{Dialplan: dp})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")
	ctl.cmd("event plain DTMF")
	call.A.SendDTMF("1#")
	f := ctl.mustRead()
	ev := f.event()
	if ev["DTMF-Digit"] != "1" || ev["DTMF-Duration"] == "" || ev["DTMF-Source"] != "RTP" {
		t.Errorf("DTMF event %v", ev)
	}
	if _, ok := ev["variable_marker"]; ok {
		t.Error("DTMF must carry basic channel data only, no variable_*")
	}
	f = ctl.mustRead()
	if !strings.Contains(f.body, "\nDTMF-Digit: %23\n") {
		t.Errorf("# must be sent as %%23: %q", f.body)
	}
}

func TestDTMF_QueuedUntilSomethingReads(t *testing.T) {
	fs := Start(t, Options{})
	fs.mu.Lock()
	call := &Call{fs: fs}
	l := fs.newLegLocked(call, "inbound", fs.opts.Profile, "sofia/internal/x")
	fs.mu.Unlock()
	l.SendDTMF("7")
	if got := len(fs.Events(0)); got != 0 {
		t.Fatalf("DTMF fired while nothing reads: %d events", got)
	}
	fs.mu.Lock()
	queued := len(l.dtmfQ)
	fs.mu.Unlock()
	if queued != 1 {
		t.Fatalf("digit not queued: %d", queued)
	}
}

func TestBindDigitAction_SwallowsMatchedDigitsAndSendsPlainChannelData(t *testing.T) {
	ctl := newRawCtl(t)
	dp := MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition>
	<action application="bind_digit_action" data="rec,*77,exec:set,recorded=yes"/>
	<action application="socket" data="` + ctl.addr() + ` async full"/></condition></extension></context></include>`))
	fs := Start(t, Options{Dialplan: dp, Phones: map[string]Phone{"1001": {}}})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")
	ctl.cmd("event plain DTMF")
	ctl.cmd("divert_events on")
	ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: bridge\nexecute-app-arg: user/1001")
	b, _ := call.WaitLeg(ctx(t), "1001")
	b.WaitAnswer(ctx(t))
	if _, err := call.A.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID != "" }); err != nil {
		t.Fatal(err)
	}
	call.A.SendDTMF("*77")
	f := ctl.mustRead()
	if f.get("Content-Type") != "text/event-plain" {
		t.Fatalf("frame %q", f.raw)
	}
	ev := f.event()
	if _, has := ev["Event-Name"]; has || ev["digits"] != "*77" || ev["exec:set"] != "recorded=yes" {
		t.Errorf("bind_digit_action event %v", ev)
	}
	if got := b.HeardDigits(); got != "" {
		t.Errorf("swallowed digits reached the peer: %q", got)
	}
	call.A.SendDTMF("5")
	if ev := ctl.mustRead().event(); ev["DTMF-Digit"] != "5" || ev["DTMF-Source"] != "APP" {
		t.Errorf("unmatched digit: %v", ev)
	}
	if got := b.HeardDigits(); got != "5" {
		t.Errorf("peer heard %q, want 5", got)
	}
	if _, err := call.A.WaitState(ctx(t), func(LegState) bool { return call.A.Var("recorded") == "yes" }); err != nil {
		t.Error("exec: action did not run")
	}
}

func TestSIPInfoRecord_RepliesAndEvents(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		template string
		vars     map[string]string
		steps    []bool
		want     []string
	}{
		{"no template", "", nil, []bool{true}, []string{"488 Recording not enabled"}},
		{"disabled for channel", "x-${uuid}.wav", map[string]string{"sip_disable_recording": "true"}, []bool{true, false}, []string{"488 Recording disabled for this channel", "488 Nothing to stop"}},
		{"on then off then off", "x-${uuid}.wav", nil, []bool{true, false, false}, []string{"200 OK", "200 OK", "200 OK"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := Start(t, Options{Profile: Profile{Name: "internal", RecordPath: dir, RecordTemplate: tc.template},
				Dialplan:        MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition><action application="answer"/><action application="park"/></condition></extension></context></include>`)),
				InboundPassword: "ClueCon"})
			call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000", Vars: tc.vars})
			call.A.WaitAnswer(ctx(t))
			for i, on := range tc.steps {
				st, reason := call.A.SendInfoRecord(on)
				if got := fmt.Sprint(st, " ", reason); got != tc.want[i] {
					t.Errorf("step %d: %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestSIPInfoRecord_RecordStartBeforeRecvInfo(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Profile: Profile{Name: "internal", RecordPath: t.TempDir(), RecordTemplate: "${rec_prefix}${uuid}.wav"},
		Dialplan: socketDialplan(ctl.addr(), `<action application="set" data="rec_prefix=od-"/>`)})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")
	ctl.cmd("event plain RECV_INFO RECORD_START RECORD_STOP")
	ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: answer")
	call.A.WaitAnswer(ctx(t))
	call.A.SendInfoRecord(true)
	a, b := ctl.mustRead().event(), ctl.mustRead().event()
	if a["Event-Name"] != "RECORD_START" || b["Event-Name"] != "RECV_INFO" {
		t.Fatalf("order %s, %s", a["Event-Name"], b["Event-Name"])
	}
	if !strings.HasSuffix(a["Record-File-Path"], "/od-"+call.A.UUID()+".wav") {
		t.Errorf("path %q does not follow record-template", a["Record-File-Path"])
	}
	if _, ok := b["variable_rec_prefix"]; ok || b["SIP-From-User"] != "1000" {
		t.Errorf("RECV_INFO must carry SIP-* and basic data only: %v", b)
	}
}

func TestUUIDRecord_OnUnansweredLegSendsEarlyMedia(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), "")})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")
	ctl.cmd("api uuid_record " + call.A.UUID() + " start " + t.TempDir() + "/e.wav")
	if s := call.A.State(); s.CallState != "EARLY" || s.Answered {
		t.Errorf("want early media (183), got %+v", s)
	}
}

// referSetup: caller (external, 440 Hz) → controller → bridge user/1001 (700 Hz); the
// dialplan context xfer sends *1 to a second socket. tweak, when given, edits the options.
func referSetup(t *testing.T, confirm bool, tweak ...func(*Options)) (*FS, *rawCtl, *Call, *Leg) {
	ctl := newRawCtl(t)
	bvar := ""
	if confirm {
		bvar = "{confirm_blind_transfer=true}"
	}
	dp := MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition field="destination_number" expression="^(\d+)$">
	<action application="set" data="force_transfer_context=xfer"/>
	<action application="set" data="hangup_after_bridge=true"/>
	<action application="bridge" data="` + bvar + `user/1001"/></condition></extension></context>
	<context name="xfer"><extension name="rec"><condition field="destination_number" expression="^\*1$">
	<action application="socket" data="` + ctl.addr() + ` async full"/></condition></extension>
	<extension name="other"><condition field="destination_number" expression="^(\d+)$">
	<action application="bridge" data="user/$1"/></condition></extension></context></include>`))
	opts := Options{Dialplan: dp, Phones: map[string]Phone{"1001": {ToneHz: 700}, "1002": {ToneHz: 900}},
		Profile: Profile{Name: "internal", FireTransferEvents: true}}
	for _, f := range tweak {
		f(&opts)
	}
	fs := Start(t, opts)
	call := mustInbound(t, fs, CallSpec{From: "600111222", To: "1000", ToneHz: 440})
	b, err := call.WaitLeg(ctx(t), "1001")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID != "" }); err != nil {
		t.Fatal(err)
	}
	return fs, ctl, call, b
}

func TestBlindTransfer_ConfirmNack_Notify403AndInterceptRejoins(t *testing.T) {
	_, ctl, call, user := referSetup(t, true)
	r := user.BlindTransfer("*1")
	if r.Status != 202 {
		t.Fatalf("REFER answered %d", r.Status)
	}
	ctl.accept()
	reply, _ := ctl.cmd("connect")
	if reply.get("Unique-ID") != call.A.UUID() || reply.get("Caller-Destination-Number") != "*1" ||
		reply.get("variable_blind_transfer_uuid") != user.UUID() || !strings.Contains(reply.get("variable_sip_refer_to"), "*1") {
		t.Fatalf("transferee connect reply: %q", reply.raw)
	}
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.WaitNotify(c); err == nil {
		t.Fatal("NOTIFY sent before the transferee's outcome")
	}
	ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: blind_transfer_ack\nexecute-app-arg: false")
	if st, err := r.WaitNotify(ctx(t)); err != nil || st != 403 {
		t.Fatalf("NOTIFY %d %v, want 403", st, err)
	}
	// The controller stays connected (the socket app keeps the extension running): the
	// intercept re-joins the parties, as in traces/refer-bridged-confirm-nack.
	if _, err := call.A.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID == user.UUID() }); err != nil {
		t.Fatalf("not re-joined: %v", err)
	}
}

// TestBlindTransfer_RefusalRace: a refused confirmed blind transfer whose controller exits right
// away. After `blind_transfer_ack false` the confirm flag is gone, so when the code extension
// ends before the transferor's (asynchronous) intercept has run, the transferee is hung up and
// the intercept then finds nothing: both parties lost (switch_ivr.c ~4418,
// switch_core_state_machine.c ~362-382; a real switch lost 3 of 15). Without the ack the end of
// the extension fails the transfer itself and parks the transferee: always re-joined. The
// intercept's latency is raised to 0-200 ms so that a loaded machine still shows the race.
func TestBlindTransfer_RefusalRace(t *testing.T) {
	const repeats = 20
	slowIntercept := func(o *Options) { o.InterceptLatency = 200 * time.Millisecond }
	for _, tc := range []struct {
		name      string
		ack       bool
		minLost   int
		maxLost   int
		wantCause string
	}{
		{name: "ack false then exit", ack: true, minLost: repeats / 2, maxLost: repeats, wantCause: "NORMAL_CLEARING"},
		{name: "no ack, exit", ack: false, minLost: 0, maxLost: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lost := 0
			for i := 0; i < repeats; i++ {
				_, ctl, call, user := referSetup(t, true, slowIntercept)
				r := user.BlindTransfer("*1")
				ctl.accept()
				ctl.cmd("connect")
				if tc.ack {
					ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: blind_transfer_ack\nexecute-app-arg: false")
					if st, err := r.WaitNotify(ctx(t)); err != nil || st != 403 {
						t.Fatalf("repeat %d: NOTIFY %d %v, want 403", i, st, err)
					}
				}
				ctl.send("exit")
				if st, err := r.WaitNotify(ctx(t)); err != nil || st != 403 {
					t.Fatalf("repeat %d: NOTIFY %d %v, want 403", i, st, err)
				}
				s, err := call.A.WaitState(ctx(t), func(s LegState) bool { return s.Hungup || s.PeerUUID == user.UUID() })
				if err != nil {
					t.Fatalf("repeat %d: neither re-joined nor hung up: %v", i, err)
				}
				if s.Hungup {
					lost++
					if s.HangupCause != tc.wantCause {
						t.Errorf("repeat %d: transferee hung up %s, want %s", i, s.HangupCause, tc.wantCause)
					}
					if cause, err := user.WaitHangup(ctx(t)); err != nil || cause != "NORMAL_CLEARING" {
						t.Errorf("repeat %d: transferor after a lost intercept: %q %v, want hung up NORMAL_CLEARING", i, cause, err)
					}
				}
			}
			t.Logf("%d of %d calls lost", lost, repeats)
			if lost < tc.minLost || lost > tc.maxLost {
				t.Errorf("%d of %d calls lost, want %d..%d", lost, repeats, tc.minLost, tc.maxLost)
			}
		})
	}
}

func TestBlindTransfer_WithoutConfirm_Notify200AndTransfereeRoutedInForcedContext(t *testing.T) {
	fs, _, call, user := referSetup(t, false)
	r := user.BlindTransfer("1002")
	if st, err := r.WaitNotify(ctx(t)); err != nil || st != 200 {
		t.Fatalf("NOTIFY %d %v", st, err)
	}
	user.Hangup("")
	c, err := call.WaitLeg(ctx(t), "1002")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID == call.A.UUID() }); err != nil {
		t.Fatal(err)
	}
	if got := call.A.Var("transfer_source"); !strings.Contains(got, ":bl_xfer:1002/xfer/XML") {
		t.Errorf("transfer_source %q", got)
	}
	if got := user.Var("endpoint_disposition"); got != "BLIND_TRANSFER" {
		t.Errorf("transferor endpoint_disposition %q", got)
	}
	_ = fs
}

func TestBlindTransfer_UnbridgedCall_Notify403AndSofiaError(t *testing.T) {
	fs := Start(t, Options{InboundPassword: "x",
		Dialplan: MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition><action application="answer"/><action application="park"/></condition></extension></context></include>`))})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	call.A.WaitAnswer(ctx(t))
	r := call.A.BlindTransfer("*1")
	if st, _ := r.WaitNotify(ctx(t)); r.Status != 202 || st != 403 {
		t.Errorf("REFER %d NOTIFY %d, want 202/403", r.Status, st)
	}
}

func TestRecording_FollowsWhoTheExternalPartyHearsAcrossBlindTransfer(t *testing.T) {
	fs, _, call, user := referSetup(t, false)
	path := t.TempDir() + "/ext.wav"
	fs.mu.Lock()
	call.A.vars.set("RECORD_STEREO", "true")
	fs.mu.Unlock()
	fs.mu.Lock()
	out := fs.apiLocked(nil, "uuid_record "+call.A.UUID()+" start "+path)
	fs.mu.Unlock()
	if out != "+OK Success\n" {
		t.Fatal(out)
	}
	fs.Advance(3 * time.Second)
	user.BlindTransfer("1002")
	user.Hangup("")
	c, _ := call.WaitLeg(ctx(t), "1002")
	c.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID != "" })
	fs.Advance(3 * time.Second)
	call.A.Hangup("")
	w, err := fs.WAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Hears(1, 700, 500*time.Millisecond, 2500*time.Millisecond) || w.Hears(1, 900, 500*time.Millisecond, 2500*time.Millisecond) {
		t.Error("first 3 s: R should be user 1001 (700 Hz)")
	}
	end := w.Duration()
	if !w.Hears(1, 900, end-2500*time.Millisecond, end-500*time.Millisecond) || w.Hears(1, 700, end-2500*time.Millisecond, end-500*time.Millisecond) {
		t.Error("last 3 s: R should be user 1002 (900 Hz)")
	}
	if !w.Hears(0, 440, 0, end) {
		t.Error("L should be the caller")
	}
}

func TestAttendedTransfer_BridgesTheFarEnds(t *testing.T) {
	dp := MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition field="destination_number" expression="^(\d+)$">
	<action application="bridge" data="user/$1"/></condition></extension></context></include>`))
	fs := Start(t, Options{Dialplan: dp, Phones: map[string]Phone{"1001": {}, "1002": {}}})
	c1 := mustInbound(t, fs, CallSpec{From: "600", To: "1001"})
	u1, _ := c1.WaitLeg(ctx(t), "1001")
	u1.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID != "" })
	c2 := mustInbound(t, fs, CallSpec{From: "1001", To: "1002", Context: "public"})
	u2, _ := c2.WaitLeg(ctx(t), "1002")
	u2.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID != "" })
	if err := fs.AttendedTransfer(u1, c2.A); err != nil {
		t.Fatal(err)
	}
	if s := c1.A.State(); s.PeerUUID != u2.UUID() {
		t.Errorf("external party bridged to %q, want %q", s.PeerUUID, u2.UUID())
	}
	if !u1.State().Hungup || !c2.A.State().Hungup {
		t.Error("transferor legs must hang up")
	}
}

func TestInbound_AuthEventsAndAPI(t *testing.T) {
	fs := Start(t, Options{InboundPassword: "ClueCon",
		Dialplan: MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition><action application="answer"/><action application="park"/></condition></extension></context></include>`))})
	ctl := &rawCtl{t: t}
	nc, err := (&netDialer{}).dial(fs.InboundAddr())
	if err != nil {
		t.Fatal(err)
	}
	ctl.nc, ctl.r = nc, newReader(nc)
	t.Cleanup(func() { nc.Close() })
	if f := ctl.mustRead(); f.get("Content-Type") != "auth/request" {
		t.Fatalf("greeting %q", f.raw)
	}
	if f, _ := ctl.cmd("api status"); f.get("Reply-Text") != "-ERR invalid" {
		t.Errorf("unauthenticated command: %q", f.raw)
	}
	if f, _ := ctl.cmd("auth ClueCon"); f.get("Reply-Text") != "+OK accepted" {
		t.Fatalf("auth: %q", f.raw)
	}
	ctl.cmd("event plain CHANNEL_ANSWER")
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	if ev := ctl.until("CHANNEL_ANSWER"); ev[len(ev)-1].event()["Unique-ID"] != call.A.UUID() {
		t.Error("wrong answer event")
	}
	if f, _ := ctl.cmd("api uuid_exists " + call.A.UUID()); f.body != "true" {
		t.Errorf("api over inbound: %q", f.raw)
	}
	ctl.cmd("event plain BACKGROUND_JOB")
	ctl.send("bgapi uuid_exists " + call.A.UUID() + "\nJob-UUID: j1")
	fr := ctl.until("BACKGROUND_JOB")
	job := fr[len(fr)-1]
	if ev := job.event(); ev["Job-UUID"] != "j1" || !strings.HasSuffix(job.body, "Content-Length: 4\n\ntrue") {
		t.Errorf("BACKGROUND_JOB %q", job.body)
	}
}

func TestClose_LeavesNoGoroutinesOrConnections(t *testing.T) {
	before := runtime.NumGoroutine()
	for i := 0; i < 3; i++ {
		ctl := newRawCtl(t)
		fs, err := New(Options{Dialplan: socketDialplan(ctl.addr(), resumeVars), Phones: map[string]Phone{"1001": {}}, InboundPassword: "x", ConnectTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		call, _ := fs.Inbound(context.Background(), CallSpec{From: "1", To: "2"})
		ctl.accept()
		ctl.cmd("connect")
		ctl.cmd("linger")
		ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: bridge\nexecute-app-arg: user/1001")
		call.WaitLeg(ctx(t), "1001")
		nc, _ := (&netDialer{}).dial(fs.InboundAddr())
		fs.Close()
		if n := fs.ActiveConns(); n != 0 {
			t.Errorf("%d connections left", n)
		}
		ctl.nc.Close()
		ctl.ln.Close()
		if nc != nil {
			nc.Close()
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<16)
		t.Errorf("goroutines %d -> %d\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
