package esl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/store"
)

// TestServer_RecordKeyPathWithDotDotIsNotBooked: a Record key RECORD_START whose path climbs out
// of the record-path with ".." is not booked, even when it cleans to a name under the
// record-path. The lexical clean lies when a directory on the way is a symlink: FreeSWITCH opens
// the path as given, unclean (switch_ivr_async.c switch_ivr_record_session_event ~3079–3100), so
// ondemand/link/../od.….wav is a file outside ondemand that the worker would encode and delete
// (issue 12 point 5). It is stopped instead.
func TestServer_RecordKeyPathWithDotDotIsNotBooked(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordNone, onDemand: store.OnDemandKey, recordPathTail: "/link/.."})
	onDemand := h.srv.OnDemandPath
	outside := filepath.Join(filepath.Dir(onDemand), "outside")
	must(t, os.MkdirAll(filepath.Join(outside, "sub"), 0o750))
	must(t, os.MkdirAll(onDemand, 0o750))
	must(t, os.Symlink(filepath.Join(outside, "sub"), filepath.Join(onDemand, "link")))

	call, b := answeredInbound(t, h)
	if st, _ := b.SendInfoRecord(true); st != 200 {
		t.Fatalf("INFO Record: on: %d", st)
	}
	h.waitQuiet()
	h.fs.Advance(time.Second)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitQuiet()
	for _, r := range h.allRecordings() {
		t.Errorf("recording booked at %q (state %s)", r.WAVPath, r.State)
	}
	stopped := false
	for _, f := range h.fs.Transcript() {
		if cmd := f.Command(); f.Dir == fstest.ToFS && strings.HasPrefix(cmd, "api uuid_record ") && strings.Contains(cmd, " stop ") {
			stopped = true
		}
	}
	if !stopped {
		t.Error("the escaping recording was not stopped")
	}
}

func TestFSPath_RefusesDotElementsAndRelativePaths(t *testing.T) {
	for _, tc := range []struct {
		path, dir string
		want      bool
	}{
		{"/r/od.a.b.wav", "/r", true},
		{"/r//od.a.b.wav", "/r", true},
		{"/r/sub/od.a.b.wav", "/r", true},
		{"/r/../x/od.a.b.wav", "/r", false},
		{"/r/link/../od.a.b.wav", "/r", false},
		{"/r/./od.a.b.wav", "/r", false},
		{"/r/od.a.b.wav/..", "/r", false},
		{"r/od.a.b.wav", "/r", false},
		{"/r", "/r", false},
		{"/rx/od.a.b.wav", "/r", false},
		{"/r/od\x00.wav", "/r", false},
		{"/r/od.a.b.wav", "", false},
	} {
		if got := underDir(tc.path, tc.dir); got != tc.want {
			t.Errorf("underDir(%q, %q) = %v, want %v", tc.path, tc.dir, got, tc.want)
		}
	}
}
