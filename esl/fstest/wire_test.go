package fstest

import (
	"strings"
	"testing"
)

func TestConnectReply_IsOneURLEncodedBlockEndingWithReplyHeaders(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), "")})
	call := mustInbound(t, fs, CallSpec{From: "+34600111222", FromName: "Ana Pérez", To: "34911234567"})
	ctl.accept()
	f, _ := ctl.cmd("connect")
	if f.body != "" || f.get("Content-Length") != "" {
		t.Fatalf("connect reply must have no envelope/body, got %q", f.raw)
	}
	n := len(f.hdr)
	tail := []Header{{"Content-Type", "command/reply"}, {"Reply-Text", "%2BOK%0A"}, {"Socket-Mode", "async"}, {"Control", "full"}}
	for i, h := range tail {
		if got := f.hdr[n-len(tail)+i]; got != h {
			t.Errorf("tail header %d = %v, want %v", i, got, h)
		}
	}
	if f.hdr[0] != (Header{"Event-Name", "CHANNEL_DATA"}) {
		t.Errorf("first header %v", f.hdr[0])
	}
	want := map[string]string{
		"Unique-ID": call.A.UUID(), "Channel-Call-UUID": call.A.UUID(), "Caller-Caller-ID-Number": "%2B34600111222",
		"Caller-Caller-ID-Name": "Ana%20P%C3%A9rez", "Caller-Destination-Number": "34911234567", "Caller-Context": "public",
		"Answer-State": "ringing", "Channel-State": "CS_EXECUTE", "Channel-Call-State": "RINGING",
		"variable_sip_from_user": "%2B34600111222", "variable_current_application": "socket",
		"variable_current_application_data": strings.ReplaceAll(ctl.addr(), ":", "%3A") + "%20async%20full",
		"variable_socket_host":              "127.0.0.1", "Channel-Destination-Number": "34911234567",
	}
	for k, v := range want {
		if got := f.get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestCommandReplies_AreFreeSWITCHTexts(t *testing.T) {
	ctl := newRawCtl(t)
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), `<action application="set" data="empty_one="/>`)})
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")
	u := call.A.UUID()
	tests := []struct{ cmd, reply string }{
		{"myevents", "+OK Events Enabled"},
		{"myevents", "-ERR aready enabled."},
		{"event plain", "-ERR no keywords supplied"},
		{"event plain CHANNEL_ANSWER RECORD_START CUSTOM sofia::transferor", "+OK event listener enabled plain"},
		{"filter Unique-ID " + u, "+OK filter added. [Unique-ID]=[" + u + "]"},
		{"filter Unique-ID", "-ERR invalid syntax"},
		{"filter delete Unique-ID " + u, "+OK filter deleted. [Unique-ID][" + u + "]"},
		{"filter delete all", "+OK filter deleted. [all][]"},
		{"divert_events on", "+OK events diverted"},
		{"divert_events off", "+OK events not diverted"},
		{"linger", "+OK will linger"},
		{"linger 30", "+OK will linger 30 seconds"},
		{"nolinger", "+OK will not linger"},
		{"getvar sip_from_user", "1000"},
		{"getvar not_set_at_all", "-ERR command not found"},
		{"sendmsg 00000000-0000-0000-0000-000000000000\ncall-command: execute\nexecute-app-name: answer", "-ERR invalid session id [00000000-0000-0000-0000-000000000000]"},
		{"nixevent RECORD_START", "+OK events nixed"},
		{"noevents", "+OK no longer listening for events"},
		{"resume", "+OK"},
		{"frobnicate", "-ERR command not found"},
	}
	for _, tc := range tests {
		f, _ := ctl.cmd(tc.cmd)
		if f.get("Content-Type") != "command/reply" || f.get("Reply-Text") != tc.reply {
			t.Errorf("%q: got %q", tc.cmd, f.raw)
		}
		if f.hdr[0].Name != "Content-Type" {
			t.Errorf("%q: command/reply must start with Content-Type: %q", tc.cmd, f.raw)
		}
	}
	apis := []struct{ cmd, body string }{
		{"api uuid_setvar " + u + " socket_resume false", "+OK\n"},
		{"api uuid_getvar " + u + " socket_resume", "false"},
		// mod_commands.c uuid_setvar_multi_function: pairs split on ';', each at its first '=';
		// no value unsets; +OK once any was set; -ERR then the usage for an unknown channel.
		{"api uuid_setvar_multi " + u + " a=1;b=x=y;socket_resume", "+OK\n"},
		{"api uuid_getvar " + u + " b", "x=y"},
		{"api uuid_getvar " + u + " socket_resume", "_undef_"},
		{"api uuid_setvar_multi " + u + " =1;c=2", "-ERR No variable specified\n+OK\n"},
		{"api uuid_setvar_multi nope a=1", "-ERR No such channel!\n-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"},
		{"api uuid_setvar_multi " + u, "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"},
		{"api uuid_setvar " + u + " socket_resume false", "+OK\n"},
		{"api uuid_exists " + u, "true"},
		{"api uuid_exists nope", "false"},
		{"api uuid_kill nope", "-ERR No such channel!\n"},
		{"api uuid_record nope start /tmp/x.wav", "-ERR Cannot locate session!\n"},
		{"api uuid_record " + u + " stop /tmp/never.wav", "-ERR Cannot stop record session!\n"},
		{"api uuid_transfer nope 1000", "-ERR No such channel!\n"},
		{"api blind_transfer_ack false", "-ERR blind_transfer_ack Command not found!\n"},
		{"api uuid_broadcast nope tone_stream://%(250,0,880) both", "-ERR invalid uuid\n"},
	}
	for _, tc := range apis {
		f, _ := ctl.cmd(tc.cmd)
		if f.get("Content-Type") != "api/response" || f.body != tc.body {
			t.Errorf("%q: got %q", tc.cmd, f.raw)
		}
	}
	f, _ := ctl.cmd("bgapi uuid_exists " + u + "\nJob-UUID: job-1")
	if f.get("Reply-Text") != "+OK Job-UUID: job-1" || f.get("Job-UUID") != "job-1" {
		t.Errorf("bgapi reply %q", f.raw)
	}
	f, _ = ctl.cmd("exit")
	if f.get("Reply-Text") != "+OK bye" {
		t.Errorf("exit reply %q", f.raw)
	}
	n := ctl.mustRead()
	if n.get("Content-Type") != "text/disconnect-notice" || n.get("Content-Disposition") != "disconnect" || n.body != goodbyeBody {
		t.Errorf("goodbye notice %q", n.raw)
	}
	if _, err := ctl.read(); err == nil {
		t.Error("connection still open after exit")
	}
}

func TestSocketWithoutFull_RejectsCommandsAfterSendmsg(t *testing.T) {
	ctl := newRawCtl(t)
	dp := MustParseDialplan([]byte(`<include><context name="public"><extension name="x"><condition>
	<action application="socket" data="` + ctl.addr() + ` async"/></condition></extension></context></include>`))
	fs := Start(t, Options{Dialplan: dp})
	mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	f, _ := ctl.cmd("connect")
	if f.get("Control") != "single-channel" || f.get("Socket-Mode") != "async" {
		t.Fatalf("connect reply tail %q", f.raw)
	}
	for _, c := range []string{"api uuid_exists x", "bgapi status", "event plain ALL", "linger", "nolinger", "nixevent ALL", "noevents"} {
		if f, _ := ctl.cmd(c); f.get("Reply-Text") != "-ERR command not found" {
			t.Errorf("%q without full: %q", c, f.raw)
		}
	}
	if f, _ := ctl.cmd("myevents"); f.get("Reply-Text") != "+OK Events Enabled" {
		t.Errorf("myevents without full: %q", f.raw)
	}
}

func TestURLEncode_MatchesSwitchURLEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+OK\n", "%2BOK%0A"},
		{"sofia/rig/1000@127.0.0.1:5070", "sofia/rig/1000%40127.0.0.1%3A5070"},
		{"/var/fs/rec/a.wav", "/var/fs/rec/a.wav"},
		{"#", "%23"},
		{"already%20encoded", "already%20encoded"},
		{"Pérez", "P%C3%A9rez"},
		{"a,b*c", "a,b*c"},
	}
	for _, tc := range tests {
		if got := URLEncode(tc.in); got != tc.want {
			t.Errorf("URLEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
