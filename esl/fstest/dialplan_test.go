package fstest

import (
	"strings"
	"testing"
	"time"
)

func TestDialplanHunt_ConditionsCapturesAntiActionsContinueInline(t *testing.T) {
	dp := MustParseDialplan([]byte(`<document type="freeswitch/xml"><section name="dialplan">
<context name="public">
  <extension name="vars" continue="true"><condition field="destination_number" expression="^(\d+)$">
    <action application="set" data="callrec_on=true" inline="true"/>
    <action application="set" data="dnis=$1"/>
  </condition></extension>
  <extension name="gate"><condition field="${callrec_on}" expression="^true$">
    <action application="socket" data="127.0.0.1:8084 async full"/>
    <anti-action application="hangup" data="CALL_REJECTED"/>
  </condition></extension>
  <extension name="never"><condition field="destination_number" expression="^.*$">
    <action application="hangup"/>
  </condition></extension>
</context></section></document>`))
	vars := map[string]string{}
	field := func(f string) string {
		switch f {
		case "destination_number":
			return "34911234567"
		case "${callrec_on}":
			return vars["callrec_on"]
		}
		return ""
	}
	got := dp.Hunt("public", field, func(a Action) {
		k, v, _ := strings.Cut(a.Data, "=")
		vars[k] = v
	})
	want := []Action{{App: "set", Data: "dnis=34911234567"}, {App: "socket", Data: "127.0.0.1:8084 async full"}}
	if len(got) != len(want) {
		t.Fatalf("actions %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("action %d = %v, want %v", i, got[i], want[i])
		}
	}
	vars = map[string]string{}
	got = dp.Hunt("public", func(f string) string {
		if f == "destination_number" {
			return "abc"
		}
		return ""
	}, nil)
	if len(got) != 1 || got[0].App != "hangup" || got[0].Data != "CALL_REJECTED" {
		t.Errorf("anti-action path: %v", got)
	}
}

func TestParseDialplan_RejectsBadRegex(t *testing.T) {
	if _, err := ParseDialplan([]byte(`<include><context name="x"><extension name="e"><condition field="destination_number" expression="^(\d+$"/></extension></context></include>`)); err == nil {
		t.Error("bad regex accepted")
	}
}

func TestExport_NolocalReachesOnlyNewLegs(t *testing.T) {
	dp := MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition>
	<action application="export" data="nolocal:xfoo=bar"/>
	<action application="export" data="xbaz=qux"/>
	<action application="set" data="xset=local"/>
	<action application="bridge" data="user/1001"/></condition></extension></context></include>`))
	fs := Start(t, Options{Dialplan: dp, Phones: map[string]Phone{"1001": {}}})
	call := mustInbound(t, fs, CallSpec{From: "1", To: "2"})
	b, err := call.WaitLeg(ctx(t), "1001")
	if err != nil {
		t.Fatal(err)
	}
	a := call.A
	tests := []struct {
		leg        *Leg
		name, want string
	}{
		{a, "xfoo", ""}, {a, "nolocal:xfoo", "bar"}, {a, "xbaz", "qux"}, {a, "xset", "local"},
		{b, "xfoo", "bar"}, {b, "xbaz", "qux"}, {b, "xset", ""},
	}
	for _, tc := range tests {
		if got := tc.leg.Var(tc.name); got != tc.want {
			t.Errorf("%s on %s = %q, want %q", tc.name, tc.leg.Name(), got, tc.want)
		}
	}
}

func TestOutbound_UserCallReachesExternalThroughGateway(t *testing.T) {
	dp := MustParseDialplan([]byte(`<include><context name="default"><extension name="out"><condition field="destination_number" expression="^\+(\d+)$">
	<action application="set" data="effective_caller_id_number=+34911000000"/>
	<action application="bridge" data="sofia/gateway/carrier/$1"/></condition></extension></context></include>`))
	fs := Start(t, Options{Dialplan: dp, Phones: map[string]Phone{"1001": {ToneHz: 700}}, External: External{ToneHz: 1000, AnswerAfter: time.Second}})
	call, err := fs.Outbound(ctx(t), CallSpec{FromUser: "1001", To: "+34600999888"})
	if err != nil {
		t.Fatal(err)
	}
	ext, err := call.WaitLeg(ctx(t), "34600999888")
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.WaitAnswer(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := call.A.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID == ext.UUID() }); err != nil {
		t.Fatal(err)
	}
	if got := ext.Var("originator"); got != call.A.UUID() {
		t.Errorf("originator %q", got)
	}
	if s := call.A.State(); s.Context != "default" || s.Destination != "+34600999888" {
		t.Errorf("A %+v", s)
	}
}

func TestHold_SilencesBothDirectionsInTheRecording(t *testing.T) {
	dp := MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition>
	<action application="set" data="RECORD_STEREO=true"/>
	<action application="bridge" data="user/1001"/></condition></extension></context></include>`))
	fs := Start(t, Options{Dialplan: dp, Phones: map[string]Phone{"1001": {ToneHz: 700}}})
	call := mustInbound(t, fs, CallSpec{From: "1", To: "2", ToneHz: 440})
	b, _ := call.WaitLeg(ctx(t), "1001")
	call.A.WaitState(ctx(t), func(s LegState) bool { return s.PeerUUID == b.UUID() })
	path := t.TempDir() + "/h.wav"
	fs.mu.Lock()
	fs.apiLocked(nil, "uuid_record "+call.A.UUID()+" start "+path)
	fs.mu.Unlock()
	fs.Advance(2 * time.Second)
	b.Hold()
	fs.Advance(2 * time.Second)
	b.Unhold()
	fs.Advance(2 * time.Second)
	call.A.Hangup("")
	w, err := fs.WAV(path)
	if err != nil {
		t.Fatal(err)
	}
	sec := time.Second
	if !w.Hears(1, 700, 500*time.Millisecond, 1500*time.Millisecond) {
		t.Error("before hold the caller must hear the user")
	}
	if w.Hears(1, 700, 2500*time.Millisecond, 3500*time.Millisecond) {
		t.Error("during hold the caller must not hear the user")
	}
	if !w.Hears(1, 700, 4500*time.Millisecond, 5500*time.Millisecond) || !w.Hears(0, 440, 0, 6*sec) {
		t.Error("after unhold both are back")
	}
}

// TestReloadXML_NextLookupOnly: new dialplan files take effect with `reloadxml` and then only
// for the next lookup; a call already executing an extension keeps that extension's actions
// (mod_dialplan_xml copies them into the caller extension when the call routes).
func TestReloadXML_NextLookupOnly(t *testing.T) {
	ctl := newRawCtl(t)
	v1 := MustParseDialplan([]byte(`<include><context name="public">
	<extension name="hold"><condition field="destination_number" expression="^1000$">
	<action application="set" data="which=v1"/>
	<action application="socket" data="` + ctl.addr() + ` async full"/>
	<action application="set" data="after=v1"/>
	<action application="hangup"/></condition></extension>
	<extension name="other"><condition field="destination_number" expression="^(\d+)$">
	<action application="set" data="which=v1"/>
	<action application="hangup"/></condition></extension></context></include>`))
	v2 := MustParseDialplan([]byte(`<include><context name="public">
	<extension name="all"><condition field="destination_number" expression="^(\d+)$">
	<action application="set" data="which=v2"/>
	<action application="set" data="after=v2"/>
	<action application="hangup"/></condition></extension></context></include>`))
	fs := Start(t, Options{Dialplan: v1, InboundPassword: "ClueCon"})
	held := mustInbound(t, fs, CallSpec{From: "1", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")

	fs.SetDialplan(v2)
	for _, tc := range []struct {
		name   string
		reload bool
		want   string
	}{
		{name: "files changed, no reloadxml: the old dialplan", want: "v1"},
		{name: "after reloadxml: the new dialplan", reload: true, want: "v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reload {
				if got := inboundAPI(t, fs, "reloadxml"); got != "+OK [Success]\n" {
					t.Fatalf("reloadxml answered %q, want FreeSWITCH's %q", got, "+OK [Success]\n")
				}
			}
			c := mustInbound(t, fs, CallSpec{From: "1", To: "2000"})
			if _, err := c.A.WaitHangup(ctx(t)); err != nil {
				t.Fatal(err)
			}
			if got := c.A.Var("which"); got != tc.want {
				t.Errorf("a new call ran the %q dialplan, want %q", got, tc.want)
			}
		})
	}
	// The held call routed before the reload: the rest of its extension is still v1's.
	ctl.send("exit")
	if _, err := held.A.WaitHangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if w, a := held.A.Var("which"), held.A.Var("after"); w != "v1" || a != "v1" {
		t.Errorf("the call executing during the reload ran which=%q after=%q, want v1's actions to the end", w, a)
	}
}

// inboundAPI runs one api command on a fresh inbound connection and returns its body.
func inboundAPI(t *testing.T, fs *FS, cmd string) string {
	t.Helper()
	nc, err := (&netDialer{}).dial(fs.InboundAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawCtl{t: t, nc: nc, r: newReader(nc)}
	c.mustRead() // auth/request
	if f, _ := c.cmd("auth ClueCon"); f.get("Reply-Text") != "+OK accepted" {
		t.Fatalf("auth: %q", f.raw)
	}
	f, _ := c.cmd("api " + cmd)
	return f.body
}
