package fstest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestXMLLocate_AnswersAsModCommands: xml_locate prints the element found the way
// switch_xml_toxml does (the source's own whitespace kept, comments gone, two-space indent added,
// empty elements closed "/>"), "can't find anything" when nothing matches, "-ERR bad args" for
// two or three arguments; sofia.conf carries each profile's params, a later one overriding.
func TestXMLLocate_AnswersAsModCommands(t *testing.T) {
	src := "<include>\n  <context name=\"public\">\n    <!-- callrec -->\n    <extension name=\"a\" continue=\"true\">\n" +
		"      <condition field=\"${x}\" expression=\"^$\"><action application=\"set\" data=\"k=&quot;v&quot;\"/></condition>\n" +
		"    </extension>\n  </context>\n  <context name=\"callrec_transfer\"/>\n</include>\n"
	fs := Start(t, Options{InboundPassword: "ClueCon", Dialplan: MustParseDialplan([]byte(src)),
		Profile: Profile{Name: "internal", RecordPath: "/var/spool/x", RecordTemplate: "${uuid}.wav", FireTransferEvents: true,
			Params: [][2]string{{"record-template", "stock.wav"}}}})
	ctl := inboundCtl(t, fs, "ClueCon")
	// switch_xml_toxml_r by hand: the text before each child, a newline only after '>', the
	// indent of the level, the trailing text of each parent after its last child.
	wantPublic := "<context name=\"public\">\n    \n      <extension name=\"a\" continue=\"true\">\n          " +
		"<condition field=\"${x}\" expression=\"^$\">\n      <action application=\"set\" data=\"k=&quot;v&quot;\"/>\n    </condition>\n" +
		"\n    </extension>\n\n  </context>\n"
	for _, tc := range []struct{ cmd, want string }{
		{"api xml_locate dialplan context name public", wantPublic},
		{"api xml_locate dialplan context name PUBLIC", wantPublic},
		{"api xml_locate dialplan context name callrec_transfer", "<context name=\"callrec_transfer\"/>\n"},
		{"api xml_locate dialplan context name nowhere", "can't find anything\n"},
		{"api xml_locate nosection context name public", "can't find anything\n"},
		{"api xml_locate dialplan context name", "-ERR bad args\n"},
		{"api xml_locate", "-ERR bad args\n"},
		{"api xml_locate configuration configuration name sofia.conf", "<configuration name=\"sofia.conf\" description=\"sofia Endpoint\">\n" +
			"  <global_settings>\n    <param name=\"log-level\" value=\"0\"/>\n  </global_settings>\n" +
			"  <profiles>\n    <profile name=\"internal\">\n      <settings>\n" +
			"        <param name=\"record-template\" value=\"stock.wav\"/>\n" +
			"        <param name=\"record-path\" value=\"/var/spool/x\"/>\n" +
			"        <param name=\"record-template\" value=\"${uuid}.wav\"/>\n" +
			"        <param name=\"fire-transfer-events\" value=\"true\"/>\n" +
			"      </settings>\n    </profile>\n  </profiles>\n</configuration>\n"},
	} {
		f, _ := ctl.cmd(tc.cmd)
		if f.get("Content-Type") != "api/response" || f.body != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cmd, f.body, tc.want)
		}
	}
	if f, _ := ctl.cmd("api xml_locate dialplan"); !strings.HasPrefix(f.body, "<section name=\"dialplan\" description=\"Regex/XML Dialplan\">\n  <context name=\"public\">") {
		t.Errorf("section: %q", f.body)
	}
}

// TestOriginateNull_PlaysToneIntoRecordingThenHangsUp: originate of a null channel answers
// "+OK <uuid>", the channel is up and answered, a uuid_record of it hears the tone it plays, and
// it hangs up by itself when the tone ends; failures answer "-ERR <cause>".
func TestOriginateNull_PlaysToneIntoRecordingThenHangsUp(t *testing.T) {
	fs := Start(t, Options{InboundPassword: "ClueCon", TimeScale: 20})
	ctl := inboundCtl(t, fs, "ClueCon")
	ctl.cmd("event plain RECORD_STOP CHANNEL_HANGUP_COMPLETE")
	// 60 s of tone in virtual time (3 s here at TimeScale 20): long enough that a loaded
	// machine's delay before uuid_record cannot outlast it (a 4 s tone, 200 ms here, did once
	// under the race suite in CI: the recording heard silence).
	f, _ := ctl.cmd("api originate {origination_caller_id_name=selftest}null/callrec-selftest &playback(tone_stream://%(60000,0,800))")
	uuid, ok := strings.CutPrefix(f.body, "+OK ")
	uuid = strings.TrimSuffix(uuid, "\n")
	if !ok || fs.Leg(uuid) == nil {
		t.Fatalf("originate: %q", f.body)
	}
	leg := fs.Leg(uuid)
	if st := leg.State(); !st.Answered || st.Hungup || leg.Name() != "null/callrec-selftest" {
		t.Fatalf("null leg %s: %+v", leg.Name(), st)
	}
	path := filepath.Join(t.TempDir(), "spool", "t.wav")
	if f, _ := ctl.cmd("api uuid_record " + uuid + " start " + path); f.body != "+OK Success\n" {
		t.Fatalf("uuid_record start: %q", f.body)
	}
	fs.Advance(2 * time.Second)
	if f, _ := ctl.cmd("api uuid_record " + uuid + " stop " + path); f.body != "+OK Success\n" {
		t.Fatalf("uuid_record stop: %q", f.body)
	}
	evs := ctl.until("RECORD_STOP")
	if p := evs[len(evs)-1].event()["Record-File-Path"]; p != path {
		t.Errorf("RECORD_STOP path %q", p)
	}
	w, err := ReadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := w.Duration(); d < 2*time.Second || !w.Hears(0, 800, 100*time.Millisecond, 1900*time.Millisecond) {
		t.Errorf("recording %v, 800 Hz level %.2f", d, w.ToneLevel(0, 800, 100*time.Millisecond, 1900*time.Millisecond))
	}
	evs = ctl.until("CHANNEL_HANGUP_COMPLETE") // the tone ends after 60 s virtual: 3 s here
	if ev := evs[len(evs)-1].event(); ev["Unique-ID"] != uuid || ev["Hangup-Cause"] != "NORMAL_CLEARING" {
		t.Errorf("hangup %v", ev)
	}

	for _, tc := range []struct {
		opts Options
		cmd  string
		want string
	}{
		{Options{}, "api originate null/cause-USER_BUSY &park", "-ERR USER_BUSY\n"},
		{Options{}, "api originate {null_hangup_cause=CALL_REJECTED}null/x &park", "-ERR CALL_REJECTED\n"},
		{Options{}, "api originate sofia/nowhere/1 &park", "-ERR CHAN_NOT_IMPLEMENTED\n"},
		{Options{NoLoopback: true}, "api originate null/x &park", "-ERR CHAN_NOT_IMPLEMENTED\n"},
		{Options{}, "api originate null/x", "-USAGE: " + originateSyntax + "\n"},
	} {
		tc.opts.InboundPassword = "ClueCon"
		fs := Start(t, tc.opts)
		ctl := inboundCtl(t, fs, "ClueCon")
		if f, _ := ctl.cmd(tc.cmd); f.body != tc.want {
			t.Errorf("%s: %q, want %q", tc.cmd, f.body, tc.want)
		}
	}
}

// TestOriginateNull_ParkUntilKilled: &park keeps the channel up until uuid_kill.
func TestOriginateNull_ParkUntilKilled(t *testing.T) {
	fs := Start(t, Options{InboundPassword: "ClueCon"})
	ctl := inboundCtl(t, fs, "ClueCon")
	f, _ := ctl.cmd("api originate null/p &park")
	uuid := strings.TrimSuffix(strings.TrimPrefix(f.body, "+OK "), "\n")
	if f, _ := ctl.cmd("api uuid_exists " + uuid); f.body != "true" {
		t.Fatalf("parked null leg gone: %q", f.body)
	}
	if f, _ := ctl.cmd("api uuid_kill " + uuid); f.body != "+OK\n" {
		t.Fatalf("uuid_kill: %q", f.body)
	}
	if _, err := fs.Leg(uuid).WaitHangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestAccount_FreeSWITCHUserCannotCreateOrGivesItsOwnMode: with Options.Account the stand-in
// refuses a recording into a directory the account may not write ("-ERR Cannot record
// session!", as switch_ivr_record_session does when the file does not open), and gives the files
// it writes the account's ownership and 0644 &^ umask.
func TestAccount_FreeSWITCHUserCannotCreateOrGivesItsOwnMode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another account needs root")
	}
	dir := t.TempDir()
	closed := filepath.Join(dir, "closed")
	open := filepath.Join(dir, "open")
	for _, d := range []string{closed, open} {
		if err := os.Mkdir(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Dir(dir), 0o755) // t.TempDir makes both 0700: the account must search them
	os.Chmod(dir, 0o755)
	os.Chown(open, 0, 4242)
	os.Chmod(open, os.ModeSetgid|0o770) // setgid, group 4242 writable
	fs := Start(t, Options{InboundPassword: "ClueCon", Account: &Account{UID: 4243, GID: 4243, Groups: []int{4242}, Umask: 0o077}})
	ctl := inboundCtl(t, fs, "ClueCon")
	f, _ := ctl.cmd("api originate null/a &park")
	uuid := strings.TrimSuffix(strings.TrimPrefix(f.body, "+OK "), "\n")
	if f, _ := ctl.cmd("api uuid_record " + uuid + " start " + filepath.Join(closed, "x.wav")); f.body != "-ERR Cannot record session!\n" {
		t.Errorf("record into a directory the account cannot write: %q", f.body)
	}
	p := filepath.Join(open, "y.wav")
	if f, _ := ctl.cmd("api uuid_record " + uuid + " start " + p); f.body != "+OK Success\n" {
		t.Fatalf("record into the group's setgid directory: %q", f.body)
	}
	fs.Advance(time.Second) // FreeSWITCH deletes a recording with no samples (empty-file)
	ctl.cmd("api uuid_record " + uuid + " stop " + p)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	own := st.Sys().(*syscall.Stat_t)
	if st.Mode().Perm() != 0o600 || own.Uid != 4243 || own.Gid != 4242 {
		t.Errorf("file mode %v owner %d:%d, want 0600 4243:4242", st.Mode().Perm(), own.Uid, own.Gid)
	}
}
