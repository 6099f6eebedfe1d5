package fstest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUUIDRecord_RelativePathIsWrittenUnderSoundPrefixOrBaseDir: FreeSWITCH puts sound_prefix
// (channel variable, else the global one), else its base dir, before a relative record path
// and reports the resolved path in RECORD_START/RECORD_STOP; the recording is known by that
// path, so a stop by the relative path fails (switch_ivr_record_session_event,
// switch_ivr_stop_record_session). Never the working directory.
func TestUUIDRecord_RelativePathIsWrittenUnderSoundPrefixOrBaseDir(t *testing.T) {
	abs := filepath.Join(t.TempDir(), "abs", "x.wav")
	tests := []struct {
		name          string
		globalPrefix  string
		channelPrefix string
		path          string
		want          func(base, global, channel string) string
	}{
		{"relative, no prefix: base dir", "", "", "data/spool/x.wav",
			func(base, _, _ string) string { return base + "/data/spool/x.wav" }},
		{"relative, global sound_prefix", "GLOBAL", "", "data/spool/x.wav",
			func(_, g, _ string) string { return g + "/data/spool/x.wav" }},
		{"relative, channel sound_prefix wins", "GLOBAL", "CHANNEL", "data/spool/x.wav",
			func(_, _, c string) string { return c + "/data/spool/x.wav" }},
		{"dot-relative is relative too", "", "", "./data/x.wav",
			func(base, _, _ string) string { return base + "/./data/x.wav" }},
		{"absolute: as given", "GLOBAL", "CHANNEL", abs,
			func(string, string, string) string { return abs }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cwd := t.TempDir()
			t.Chdir(cwd)
			root := t.TempDir()
			global, channel := "", ""
			if tc.globalPrefix != "" {
				global = filepath.Join(root, "sounds", "en", "us", "callie")
			}
			extra := ""
			if tc.channelPrefix != "" {
				channel = filepath.Join(root, "chan-prefix")
				extra = `<action application="set" data="sound_prefix=` + channel + `"/>`
			}
			base := filepath.Join(root, "usr")
			fs, ctl, call := answeredUnderControl(t, Options{BaseDir: base, SoundPrefix: global}, extra)
			if fs.BaseDir() != base {
				t.Fatalf("BaseDir %q", fs.BaseDir())
			}
			want := tc.want(base, global, channel)
			uuid := call.A.UUID()
			reply, evs := ctl.cmd("api uuid_record " + uuid + " start " + tc.path)
			if !strings.HasPrefix(reply.body, "+OK") {
				t.Fatalf("start: %q", reply.body)
			}
			if len(evs) == 0 {
				evs = append(evs, ctl.until("RECORD_START")...)
			}
			if got := evs[len(evs)-1].event()["Record-File-Path"]; got != want {
				t.Errorf("RECORD_START Record-File-Path %q, want %q", got, want)
			}
			if tc.path != want {
				if reply, _ := ctl.cmd("api uuid_record " + uuid + " stop " + tc.path); !strings.HasPrefix(reply.body, "-ERR Cannot stop record session!") {
					t.Errorf("stop by the relative path: %q, want -ERR (the bug is keyed by the resolved path)", reply.body)
				}
			}
			if reply, _ := ctl.cmd("api uuid_record " + uuid + " stop " + want); !strings.HasPrefix(reply.body, "+OK") {
				t.Fatalf("stop by the resolved path: %q", reply.body)
			}
			stop := ctl.until("RECORD_STOP")
			if got := stop[len(stop)-1].event()["Record-File-Path"]; got != want {
				t.Errorf("RECORD_STOP Record-File-Path %q, want %q", got, want)
			}
			if _, err := fs.WAV(want); err != nil {
				t.Errorf("no WAV at the resolved path: %v", err)
			}
			if _, err := os.Stat(filepath.Join(cwd, tc.path)); err == nil && !filepath.IsAbs(tc.path) {
				t.Errorf("the stand-in wrote into the working directory")
			}
		})
	}
}

// TestSIPInfoRecord_RelativeRecordPath: mod_sofia builds record-path + "/" + record-template
// and records it like any other path, so a relative record-path lands under the base dir;
// sofia_record_file keeps the relative path, so `Record: off` stops nothing and still answers
// 200 (sofia.c sofia_handle_sip_i_info ~10192–10215).
func TestSIPInfoRecord_RelativeRecordPath(t *testing.T) {
	t.Chdir(t.TempDir())
	base := filepath.Join(t.TempDir(), "usr")
	fs, ctl, call := answeredUnderControl(t, Options{BaseDir: base, Profile: Profile{Name: "internal", RecordPath: "data/spool/ondemand", RecordTemplate: "od-${uuid}.wav"}}, "")
	want := base + "/data/spool/ondemand/od-" + call.A.UUID() + ".wav"
	if st, reason := call.A.SendInfoRecord(true); st != 200 {
		t.Fatalf("on: %d %s", st, reason)
	}
	start := ctl.until("RECORD_START")
	if got := start[len(start)-1].event()["Record-File-Path"]; got != want {
		t.Errorf("Record-File-Path %q, want %q", got, want)
	}
	if st, reason := call.A.SendInfoRecord(false); st != 200 {
		t.Fatalf("off: %d %s", st, reason)
	}
	reply, evs := ctl.cmd("api uuid_record " + call.A.UUID() + " stop " + want)
	for _, ev := range evs {
		if ev.event()["Event-Name"] == "RECORD_STOP" {
			t.Error("Record: off stopped the recording, want nothing stopped (sofia_record_file is the relative path)")
		}
	}
	if !strings.HasPrefix(reply.body, "+OK") {
		t.Errorf("stop by the resolved path after off: %q, want +OK (still recording)", reply.body)
	}
	stop := ctl.until("RECORD_STOP")
	if got := stop[len(stop)-1].event()["Record-File-Path"]; got != want {
		t.Errorf("RECORD_STOP Record-File-Path %q, want %q", got, want)
	}
	if _, err := fs.WAV(want); err != nil {
		t.Errorf("no WAV under the base dir: %v", err)
	}
}

// TestUUIDRecord_ShorterThanRecordMinSecIsDiscarded: FreeSWITCH deletes a recording shorter than
// RECORD_MIN_SEC, sets RECORD_DISCARDED=true and reports cause input-too-short in RECORD_STOP
// (record_callback, switch_ivr_async.c ~1664–1673).
func TestUUIDRecord_ShorterThanRecordMinSecIsDiscarded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		talk      time.Duration
		discarded bool
	}{{"shorter: discarded", time.Second, true}, {"longer: kept", 3 * time.Second, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := newRawCtl(t)
			fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), `<action application="set" data="record_min_sec=2"/>`)})
			call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
			ctl.accept()
			ctl.cmd("connect")
			ctl.cmd("event plain RECORD_STOP")
			ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: answer")
			call.A.WaitAnswer(ctx(t))
			path := filepath.Join(t.TempDir(), "x.wav")
			ctl.cmd("api uuid_record " + call.A.UUID() + " start " + path)
			fs.Advance(tc.talk)
			ctl.cmd("api uuid_record " + call.A.UUID() + " stop " + path)
			evs := ctl.until("RECORD_STOP")
			ev := evs[len(evs)-1].event()
			_, statErr := os.Stat(path)
			if got := ev["variable_RECORD_DISCARDED"] == "true"; got != tc.discarded {
				t.Errorf("RECORD_DISCARDED %q", ev["variable_RECORD_DISCARDED"])
			}
			if tc.discarded && (statErr == nil || ev["Record-Completion-Cause"] != "input-too-short") {
				t.Errorf("file kept (%v) or cause %q", statErr, ev["Record-Completion-Cause"])
			}
			if !tc.discarded && statErr != nil {
				t.Errorf("file removed: %v", statErr)
			}
		})
	}
}

// TestSIPInfoRecord_RecordPathIsNotCleaned: FreeSWITCH concatenates record-path, "/" and the
// template and opens the result as given, nothing cleaned (sofia.c sofia_handle_sip_i_info
// ~10192; switch_ivr_async.c switch_ivr_record_session_event ~3079–3100), so "link/.." goes
// through the symlink: the file lands where the kernel resolves it, not where filepath.Clean
// would put it, and RECORD_START reports the unclean path (issue 12 point 5).
func TestSIPInfoRecord_RecordPathIsNotCleaned(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "outside", "sub"), 0o750))
	must(os.MkdirAll(filepath.Join(dir, "ondemand"), 0o750))
	must(os.Symlink(filepath.Join(dir, "outside", "sub"), filepath.Join(dir, "ondemand", "link")))
	fs, ctl, call := answeredUnderControl(t, Options{Profile: Profile{Name: "internal", RecordPath: dir + "/ondemand/link/..", RecordTemplate: "od-${uuid}.wav"}}, "")
	raw := dir + "/ondemand/link/../od-" + call.A.UUID() + ".wav"
	if st, reason := call.A.SendInfoRecord(true); st != 200 {
		t.Fatalf("on: %d %s", st, reason)
	}
	start := ctl.until("RECORD_START")
	if got := start[len(start)-1].event()["Record-File-Path"]; got != raw {
		t.Errorf("Record-File-Path %q, want the unclean %q", got, raw)
	}
	fs.Advance(time.Second)
	call.A.SendInfoRecord(false)
	ctl.until("RECORD_STOP")
	if _, err := os.Stat(filepath.Join(dir, "outside", "od-"+call.A.UUID()+".wav")); err != nil {
		t.Errorf("no WAV where the kernel resolves the unclean path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ondemand", "od-"+call.A.UUID()+".wav")); err == nil {
		t.Error("WAV written where filepath.Clean points, FreeSWITCH does not clean")
	}
}

// answeredUnderControl starts the stand-in on opts with the socket dialplan (extra: its further
// extensions), places a call from 1000 that a raw controller takes, subscribes it to RECORD_START
// and RECORD_STOP and answers it.
func answeredUnderControl(t *testing.T, opts Options, extra string) (*FS, *rawCtl, *Call) {
	t.Helper()
	ctl := newRawCtl(t)
	opts.Dialplan = socketDialplan(ctl.addr(), extra)
	fs := Start(t, opts)
	call := mustInbound(t, fs, CallSpec{From: "1000", To: "1000"})
	ctl.accept()
	ctl.cmd("connect")
	ctl.cmd("event plain RECORD_START RECORD_STOP")
	ctl.cmd("sendmsg\ncall-command: execute\nexecute-app-name: answer")
	call.A.WaitAnswer(ctx(t))
	return fs, ctl, call
}
