//go:build !race && linux

// Built without -race like the other drills: the child serve holds eslgo connections (README
// Known limits); .ci/run runs it in its non-race line.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
)

// mountSmallDisk mounts a tmpfs of size bytes at dir for the test's lifetime: a disk that can
// really fill, without touching the machine's own. It needs CAP_SYS_ADMIN (root, as .ci/run
// runs); without it the drill cannot be run honestly, so under CI it fails, elsewhere it skips.
func mountSmallDisk(t *testing.T, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0755", size)); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the disk-full drill mounts a tmpfs and needs root (CAP_SYS_ADMIN): %v", err)
		}
		t.Skipf("cannot mount a tmpfs here (%v): run as root, as .ci/run does", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fillDisk writes a file into dir until the disk is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for _, small := range []int{512, 1} { // the last partial page
		for {
			if _, err := f.Write(block[:small]); err != nil {
				break
			}
		}
	}
	return path
}

// plainGet returns the status and body of an unauthenticated GET.
func plainGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDrill_LibraryDiskFullThenSpaceReturns is the disk-full drill (issue 12, item 7). A child
// `callrec serve` whose library_dir is a small disk that is full records ten calls. No MP3 can be
// written: every recording waits in processing, /readyz answers 503 naming audio_worker and
// callrec_library_machine_fault is 1. audio.max_attempts is 1, so a single attempt spent on the
// machine's fault would fail a recording for good (before the fix, 7 of 10 failed in 62 s and
// stayed failed). callrec is restarted while the disk is still full and keeps waiting; then
// space returns and, without anyone's help, every recording becomes ready with one MP3 in the
// library, nothing half-written left there, no WAV left in the spool, /readyz 200 and the gauge 0.
func TestDrill_LibraryDiskFullThenSpaceReturns(t *testing.T) {
	const calls = 10
	dir := t.TempDir()
	library := filepath.Join(dir, "library")
	mountSmallDisk(t, library, 2<<20)
	const token = "crt_drill-platform-token-0123456789"
	httpAddr, eslAddr := freeAddr(t), freeAddr(t)
	fs := drillFreeSWITCH(t, dir, eslAddr)
	args := []string{"serve", "--data_dir", dir, "--http.listen", httpAddr, "--esl.listen", eslAddr, "--log.format", "json"}
	env := []string{"CALLREC_BOOTSTRAP_TOKEN=" + token, "CALLREC_FREESWITCH__NODES=" + fs.InboundAddr() + "=ClueCon", "CALLREC_AUDIO__MAX_ATTEMPTS=1", "CALLREC_LIBRARY_DIR=" + library}

	filler := fillDisk(t, library)
	first := startDrillCallrec(t, args, env)
	api := &apiClient{t: t, base: "http://" + httpAddr + "/api/v1", token: token}
	seedDrillTenant(api)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var placed []*fstest.Call
	for i := 0; i < calls; i++ {
		call, err := fs.Inbound(ctx, fstest.CallSpec{From: fmt.Sprintf("+346001%05d", i), To: "+34911234567"})
		if err != nil {
			t.Fatal("placing a call:", err)
		}
		if _, err := call.WaitAnswered(ctx, "1001"); err != nil {
			t.Fatal("answering a call:", err)
		}
		placed = append(placed, call)
	}
	waitDrill(t, time.Minute, func() bool { return len(allRecordings(api, "recording")) == calls }, "every call recording")
	time.Sleep(200 * time.Millisecond) // uuid_record follows the row
	fs.Advance(3 * time.Second)
	for _, c := range placed {
		c.A.Hangup("NORMAL_CLEARING")
	}
	waitDrill(t, time.Minute, func() bool { return len(allRecordings(api, "processing")) == calls }, "every recording processing")

	base := "http://" + httpAddr
	waitDrill(t, 30*time.Second, func() bool {
		code, body := plainGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "audio_worker")
	}, "/readyz 503 naming audio_worker while the library disk is full")
	if _, body := plainGet(t, base+"/metrics"); !strings.Contains(body, "callrec_library_machine_fault 1") {
		t.Errorf("metrics while the disk is full lack callrec_library_machine_fault 1:\n%s", grepLines(body, "machine_fault"))
	}
	// Two machine retries (15 s apart) and more: each would have failed a recording with one attempt.
	time.Sleep(20 * time.Second)
	assertAllProcessing(t, api, calls, "disk full")

	// A restart while the disk is still full changes nothing: the recordings keep waiting.
	first.stop(t)
	second := startDrillCallrec(t, args, env)
	waitDrill(t, 30*time.Second, func() bool {
		code, body := plainGet(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "audio_worker")
	}, "/readyz 503 naming audio_worker after the restart on a full disk")
	time.Sleep(16 * time.Second) // past one more machine retry
	assertAllProcessing(t, api, calls, "disk full, after a restart")

	// Space returns: nobody touches callrec, and within a machine retry every recording is ready.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitDrill(t, time.Minute, func() bool { return len(allRecordings(api, "ready")) == calls }, "every recording ready once space returned")
	rows := allRecordings(api, "")
	if len(rows) != calls {
		t.Errorf("%d rows for %d calls", len(rows), calls)
	}
	for _, r := range rows {
		if r.State != "ready" || r.DurationMS < 2900 {
			t.Errorf("recording %s: %s, %d ms (%s)", r.ID, r.State, r.DurationMS, r.Error)
		}
	}
	waitDrill(t, 30*time.Second, func() bool { code, _ := plainGet(t, base+"/readyz"); return code == http.StatusOK }, "/readyz 200 once space returned")
	if _, body := plainGet(t, base+"/metrics"); !strings.Contains(body, "callrec_library_machine_fault 0") {
		t.Errorf("metrics after space returned lack callrec_library_machine_fault 0:\n%s", grepLines(body, "machine_fault"))
	}
	var files []string
	_ = filepath.WalkDir(library, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	mp3s := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".mp3") {
			mp3s++
		} else {
			t.Errorf("left in the library: %s", f)
		}
	}
	if mp3s != calls {
		t.Errorf("%d MP3s in the library for %d recordings", mp3s, calls)
	}
	if wavs, _ := filepath.Glob(filepath.Join(dir, "spool", "*.wav")); len(wavs) != 0 {
		t.Errorf("%d WAVs left in the spool, e.g. %s", len(wavs), wavs[0])
	}
	second.stop(t)
}

// assertAllProcessing fails the test unless all n recordings are still processing.
func assertAllProcessing(t *testing.T, api *apiClient, n int, when string) {
	t.Helper()
	if failed := allRecordings(api, "failed"); len(failed) != 0 {
		t.Fatalf("%s: %d recordings failed, e.g. %s: %s", when, len(failed), failed[0].ID, failed[0].Error)
	}
	if got := len(allRecordings(api, "processing")); got != n {
		t.Fatalf("%s: %d of %d recordings processing", when, got, n)
	}
}

// grepLines is the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
