//go:build !race

// The drill runs callrec as a child process, which holds eslgo connections: built without -race
// for eslgo v1.5.2's own data races (README Known limits); .ci/run runs it in its non-race line.

package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// drillChildEnv, when set, makes TestDrillChild run `callrec` with the arguments it holds
// (space-separated) until SIGTERM: the drill's child process is this test binary.
const drillChildEnv = "DRILL_CHILD_CALLREC_ARGS" // not CALLREC_*: callrec refuses unknown keys there

// TestDrillChild is the child process of the drills; without drillChildEnv it does nothing.
func TestDrillChild(t *testing.T) {
	args := os.Getenv(drillChildEnv)
	if args == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, strings.Fields(args), os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "callrec:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// drillCallrec is one child `callrec serve` process.
type drillCallrec struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{} // closed when the process has ended; err is then its exit
	err    error
}

func startDrillCallrec(t *testing.T, args []string, env []string) *drillCallrec {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDrillChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), env...), drillChildEnv+"="+strings.Join(args, " "))
	c := &drillCallrec{cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.stderr, c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { c.err = cmd.Wait(); exited <- c.err; close(c.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-c.done })
	waitForLog(t, c.stderr, `"http":"(http://[^"]+)"`, exited)
	return c
}

// stop sends SIGTERM and waits up to 20 s: callrec must exit cleanly (code 0).
func (c *drillCallrec) stop(t *testing.T) {
	t.Helper()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		if c.err != nil {
			t.Errorf("callrec after SIGTERM: %v\n%s", c.err, tail(c.stderr.String()))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("callrec did not stop within 20 s of SIGTERM")
	}
}

// drillFreeSWITCH is the stand-in of the drills, on fsconf's dialplan for a callrec at eslAddr
// with dir's spool: DDI +34911234567 rings user 1001, its inbound socket takes password ClueCon.
func drillFreeSWITCH(t *testing.T, dir, eslAddr string) *fstest.FS {
	return renderedFreeSWITCH(t, fsconf.Options{ESLListen: eslAddr, RecordPath: filepath.Join(dir, "spool", "ondemand"), InboundPassword: "ClueCon"},
		operatorBridge(`^\+34911234567$`, "1001"), fstest.Options{Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}}, InboundPassword: "ClueCon"})
}

// seedDrillTenant creates the drills' tenant: a company whose DDI +34911234567 records inbound
// calls, and its user 1001.
func seedDrillTenant(api *apiClient) {
	brand := api.create("brands", map[string]any{"name": "Brand"})
	company := api.create("companies", map[string]any{"brand_id": brand, "name": "Acme"})
	api.create("ddis", map[string]any{"company_id": company, "number": "+34911234567", "record_calls": "inbound"})
	api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})
}

// count is how many log lines match re.
func (c *drillCallrec) count(re *regexp.Regexp) int {
	return len(re.FindAllStringIndex(c.stderr.String(), -1))
}

// TestDrill_SIGKILLUnderLiveRecordedCallsThenRestart: a child `callrec serve` records many
// simultaneous inbound DDI calls, is SIGKILLed while every one of them is recording, and is
// started again on the same store. The new process re-adopts every live call through its node
// connection (issue 11), the calls go on and hang up, and then: every row is `ready` with the
// talk's duration (or `failed` with a reason, which here would be a defect), one row per call,
// no duplicates, one MP3 per row in the library and no WAV left in the spool.
func TestDrill_SIGKILLUnderLiveRecordedCallsThenRestart(t *testing.T) {
	calls := 300
	if testing.Short() {
		calls = 50
	}
	dir := t.TempDir()
	const token = "crt_drill-platform-token-0123456789"
	httpAddr, eslAddr := freeAddr(t), freeAddr(t)
	fs := drillFreeSWITCH(t, dir, eslAddr)
	args := []string{"serve", "--data_dir", dir, "--http.listen", httpAddr, "--esl.listen", eslAddr, "--log.format", "json"}
	env := []string{"CALLREC_BOOTSTRAP_TOKEN=" + token, "CALLREC_FREESWITCH__NODES=" + fs.InboundAddr() + "=ClueCon"}

	first := startDrillCallrec(t, args, env)
	api := &apiClient{t: t, base: "http://" + httpAddr + "/api/v1", token: token}
	seedDrillTenant(api)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	placing := fs.Now()
	var placed []*fstest.Call
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			call, err := fs.Inbound(ctx, fstest.CallSpec{From: fmt.Sprintf("+346001%05d", i), To: "+34911234567"})
			if err == nil {
				_, err = call.WaitAnswered(ctx, "1001")
			}
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			placed = append(placed, call)
			mu.Unlock()
		}(i)
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal("placing a call:", err)
	}
	waitDrill(t, 2*time.Minute, func() bool { return len(allRecordings(api, "recording")) == calls }, "every call recording")
	allRecording := fs.Now()

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	fs.Advance(4 * time.Second) // the calls talk on while callrec is dead

	second := startDrillCallrec(t, args, env)
	readopted := regexp.MustCompile(`"decision":"readopted"`)
	waitDrill(t, 2*time.Minute, func() bool { return second.count(readopted) == calls }, "every live call re-adopted")
	fs.Advance(time.Second)
	hangup := fs.Now()
	for _, c := range placed {
		c.A.Hangup("NORMAL_CLEARING")
	}
	for _, c := range placed {
		if _, err := c.A.WaitHangup(ctx); err != nil {
			t.Fatal("hangup:", err)
		}
	}
	hungUp := fs.Now()
	waitDrill(t, 3*time.Minute, func() bool {
		return len(allRecordings(api, "recording"))+len(allRecordings(api, "processing")) == 0
	}, "every recording settled")

	rows := allRecordings(api, "")
	if len(rows) != calls {
		t.Fatalf("%d rows for %d calls", len(rows), calls)
	}
	perCall := map[string]int{}
	for _, r := range rows {
		perCall[r.CallID]++
		if r.State != "ready" {
			t.Errorf("recording %s: state %s (%s)", r.ID, r.State, r.Error)
			continue
		}
		// The talk on the stand-in's clock (wall time plus the 5 s advanced, 4 of them while
		// callrec was dead): each recording ran at least from the moment all were recording to
		// the first hangup, and at most from the first call placed to the last hangup.
		least, most := hangup.Sub(allRecording)-100*time.Millisecond, hungUp.Sub(placing)+100*time.Millisecond
		if d := time.Duration(r.DurationMS) * time.Millisecond; d < least || d > most {
			t.Errorf("recording %s: duration %v, want between %v and %v", r.ID, d, least, most)
		}
	}
	for call, n := range perCall {
		if n != 1 {
			t.Errorf("call %s has %d recordings", call, n)
		}
	}
	mp3s, _ := filepath.Glob(filepath.Join(dir, "library", "*", "*", "*", "*.mp3"))
	if len(mp3s) != calls {
		t.Errorf("%d MP3s in the library for %d recordings", len(mp3s), calls)
	}
	wavs, _ := filepath.Glob(filepath.Join(dir, "spool", "*.wav"))
	if len(wavs) != 0 {
		t.Errorf("%d WAVs left in the spool, e.g. %s", len(wavs), wavs[0])
	}
	second.stop(t)
}

// allRecordings pages through every recording in state ("" = any).
func allRecordings(api *apiClient, state string) []drillRecording {
	var all []drillRecording
	cursor := ""
	for {
		q := url.Values{"limit": {"200"}}
		if state != "" {
			q.Set("state", state)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items      []drillRecording `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		api.get("/recordings?"+q.Encode(), &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// drillRecording is what the drill reads of a recording.
type drillRecording struct {
	ID         string `json:"id"`
	CallID     string `json:"call_id"`
	State      string `json:"state"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error"`
}

// freeAddr is a loopback address no one listens on now: the child keeps it across its restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitDrill polls cond every 250 ms (the API allows 1200 requests a minute per token).
func waitDrill(t *testing.T, limit time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
