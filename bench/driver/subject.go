package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ddiNumber is the recorded DDI every call of the run dials.
const ddiNumber = "+34911234567"

// binaries are the programs the driver runs as subjects.
type binaries struct {
	callrec, bare string // Go binaries
	modeslDir     string // bench/modesl, with node_modules (npm ci)
	node          string
}

// subject is one controller under test running as its own process; the driver reads its CPU,
// RSS, heap and goroutines from outside.
type subject struct {
	kind     string
	cmd      *exec.Cmd
	dir      string // its temp directory (data, spool, logs), removed by stop
	eslAddr  string
	debug    string // loopback address of pprof/expvar (Go) or /debug/vars (node); "" none
	httpBase string // callrec's API
	token    string
	heapHow  string // how heap figures are read (for the report)
	exited   chan struct{}
	waitErr  error
	logPath  string
}

// freeAddr reserves a loopback port for a subject that cannot report the one it bound.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startSubject starts kind listening on eslAddr, with nodes (inbound ESL addresses of the
// stand-ins, password ClueCon) for callrec, and waits until it serves. Errors: the process did
// not start or did not become ready within a minute.
func startSubject(ctx context.Context, kind string, bins binaries, eslAddr string, nodes []string, maxConns int) (*subject, error) {
	dir, err := os.MkdirTemp("", "callrec-bench-"+kind+"-")
	if err != nil {
		return nil, fmt.Errorf("subject dir: %w", err)
	}
	s := &subject{kind: kind, dir: dir, eslAddr: eslAddr, logPath: filepath.Join(dir, "subject.log")}
	switch kind {
	case "callrec":
		err = s.startCallrec(ctx, bins.callrec, nodes, maxConns)
	case "bare":
		err = s.startBare(ctx, bins.bare)
	case "modesl":
		err = s.startModesl(ctx, bins)
	default:
		err = fmt.Errorf("unknown subject %q (callrec, bare, modesl)", kind)
	}
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// launch starts the process with stdout and stderr into the subject's log.
func (s *subject) launch(name string, args, env []string) error {
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("subject log: %w", err)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the driver
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	return nil
}

// errExitedEarly is a subject that ended before it was ready; code is its exit code.
type errExitedEarly struct{ code int }

func (e errExitedEarly) Error() string {
	return fmt.Sprintf("exited with code %d before it was ready", e.code)
}

// waitReady polls ready until it holds, the process exits, or a minute passes.
func (s *subject) waitReady(ctx context.Context, ready func() bool) error {
	deadline := time.Now().Add(time.Minute)
	for !ready() {
		select {
		case <-s.exited:
			code := -1
			var ee *exec.ExitError
			if errors.As(s.waitErr, &ee) {
				code = ee.ExitCode()
			}
			return errExitedEarly{code: code}
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within a minute (log %s)", s.kind, s.logPath)
		}
	}
	return nil
}

func tcpReady(addr string) func() bool {
	return func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
}

func httpOK(url string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startCallrec runs `callrec serve` on a fresh data dir with a configured bootstrap token and
// the stand-ins as freeswitch.nodes, then configures one company, its recorded DDI and user 1001
// through the API. The pprof endpoint is asked for with `--debug.pprof_listen` (the lead's key),
// then CALLREC_DEBUG__PPROF_LISTEN; a callrec that refuses both (exit 2: unknown key) runs
// without it and only its RSS, CPU and /metrics' Go collector figures are read.
func (s *subject) startCallrec(ctx context.Context, bin string, nodes []string, maxConns int) error {
	httpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	debugAddr, err := freeAddr()
	if err != nil {
		return err
	}
	tok := make([]byte, 24)
	_, _ = rand.Read(tok)
	s.token = "crt_" + hex.EncodeToString(tok)
	s.httpBase = "http://" + httpAddr
	var nodeList []string
	for _, n := range nodes {
		nodeList = append(nodeList, n+"=ClueCon")
	}
	args := []string{"serve", "--data_dir", filepath.Join(s.dir, "data"), "--http.listen", httpAddr,
		"--esl.listen", s.eslAddr, "--log.format", "json"}
	env := []string{"CALLREC_BOOTSTRAP_TOKEN=" + s.token, "CALLREC_FREESWITCH__NODES=" + strings.Join(nodeList, ","),
		"CALLREC_ESL__MAX_CONNS=" + strconv.Itoa(maxConns)}
	attempts := []struct {
		args, env []string
		debug     string
	}{
		{args: []string{"--debug.pprof_listen", debugAddr}, debug: debugAddr},
		{env: []string{"CALLREC_DEBUG__PPROF_LISTEN=" + debugAddr}, debug: debugAddr},
		{},
	}
	ready := func() bool { return httpOK(s.httpBase + "/readyz") }
	for i, a := range attempts {
		if err := s.launch(bin, append(append([]string{}, args...), a.args...), append(append([]string{}, env...), a.env...)); err != nil {
			return err
		}
		err := s.waitReady(ctx, ready)
		var early errExitedEarly
		if errors.As(err, &early) && early.code == 2 && i < len(attempts)-1 {
			continue // a configuration error: this callrec has no such key
		}
		if err != nil {
			return fmt.Errorf("callrec serve: %w (log %s)", err, s.logPath)
		}
		if a.debug != "" && httpOK("http://"+a.debug+"/debug/pprof/") {
			s.debug, s.heapHow = a.debug, "pprof heap after GC"
		} else {
			s.heapHow = "/metrics go_memstats_heap_alloc_bytes (no forced GC)"
		}
		break
	}
	return s.configureCallrec()
}

// configureCallrec creates the brand, company, recorded DDI and user the calls reach.
func (s *subject) configureCallrec() error {
	post := func(kind string, body map[string]any) (string, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, s.httpBase+"/api/v1/"+kind, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+s.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", fmt.Errorf("POST %s: %w", kind, err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			return "", fmt.Errorf("POST %s: %d %s", kind, resp.StatusCode, rb)
		}
		var out struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(rb, &out); err != nil {
			return "", fmt.Errorf("POST %s: %w", kind, err)
		}
		return out.ID, nil
	}
	brand, err := post("brands", map[string]any{"name": "Bench"})
	if err != nil {
		return err
	}
	company, err := post("companies", map[string]any{"brand_id": brand, "name": "Bench"})
	if err != nil {
		return err
	}
	if _, err := post("ddis", map[string]any{"company_id": company, "number": ddiNumber, "record_calls": "inbound"}); err != nil {
		return err
	}
	_, err = post("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})
	return err
}

func (s *subject) startBare(ctx context.Context, bin string) error {
	debugAddr, err := freeAddr()
	if err != nil {
		return err
	}
	spool := filepath.Join(s.dir, "spool")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.launch(bin, []string{"-listen", s.eslAddr, "-spool", spool, "-debug", debugAddr}, nil); err != nil {
		return err
	}
	s.debug, s.heapHow = debugAddr, "pprof heap after GC"
	return s.waitReady(ctx, func() bool { return tcpReady(s.eslAddr)() && httpOK("http://"+debugAddr+"/debug/pprof/") })
}

func (s *subject) startModesl(ctx context.Context, bins binaries) error {
	if _, err := os.Stat(filepath.Join(bins.modeslDir, "node_modules", "modesl")); err != nil {
		return fmt.Errorf("modesl not installed: run `npm ci` in %s", bins.modeslDir)
	}
	debugAddr, err := freeAddr()
	if err != nil {
		return err
	}
	spool := filepath.Join(s.dir, "spool")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	peer := filepath.Join(bins.modeslDir, "peer.js")
	if err := s.launch(bins.node, []string{"--expose-gc", peer, "--listen", s.eslAddr, "--spool", spool, "--debug", debugAddr}, nil); err != nil {
		return err
	}
	s.debug, s.heapHow = debugAddr, "V8 heapUsed after gc()"
	return s.waitReady(ctx, func() bool { return tcpReady(s.eslAddr)() && httpOK("http://"+debugAddr+"/debug/vars") })
}

// stop ends the subject (SIGTERM, SIGKILL after 15 s) and removes its directory.
func (s *subject) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	if os.Getenv("BENCH_KEEP") == "" {
		os.RemoveAll(s.dir)
	}
}

// cpu is the subject's user+system CPU so far (/proc/<pid>/stat utime+stime).
func (s *subject) cpu() time.Duration { return procCPU(s.cmd.Process.Pid) }

// procCPU reads utime+stime of pid; 0 when unreadable.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks
}

// rss is the subject's resident set (/proc/<pid>/status VmRSS), bytes.
func (s *subject) rss() int64 { return procRSS(s.cmd.Process.Pid) }

func procRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

var (
	heapAllocRe = regexp.MustCompile(`(?m)^# HeapAlloc = (\d+)`)
	goroutineRe = regexp.MustCompile(`^goroutine profile: total (\d+)`)
	metricRe    = func(name string) *regexp.Regexp { return regexp.MustCompile(`(?m)^` + name + ` (\S+)$`) }
)

func httpGet(url string) ([]byte, error) {
	c := http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// heap is the subject's live heap in bytes (after a forced GC where the subject allows it);
// false when it cannot be read.
func (s *subject) heap() (int64, bool) {
	switch {
	case s.kind == "modesl":
		b, err := httpGet("http://" + s.debug + "/debug/vars")
		if err != nil {
			return 0, false
		}
		var v struct {
			HeapUsed int64 `json:"heap_used"`
		}
		if json.Unmarshal(b, &v) != nil {
			return 0, false
		}
		return v.HeapUsed, true
	case s.debug != "":
		b, err := httpGet("http://" + s.debug + "/debug/pprof/heap?gc=1&debug=1")
		if err != nil {
			return 0, false
		}
		if m := heapAllocRe.FindSubmatch(b); m != nil {
			n, _ := strconv.ParseInt(string(m[1]), 10, 64)
			return n, true
		}
	case s.kind == "callrec":
		if v, ok := s.metric("go_memstats_heap_alloc_bytes"); ok {
			return int64(v), true
		}
	}
	return 0, false
}

// goroutines is the subject's goroutine count; false for node or when unreadable.
func (s *subject) goroutines() (int, bool) {
	switch {
	case s.kind == "modesl":
		return 0, false
	case s.debug != "":
		b, err := httpGet("http://" + s.debug + "/debug/pprof/goroutine?debug=1")
		if err != nil {
			return 0, false
		}
		if m := goroutineRe.FindSubmatch(b); m != nil {
			n, _ := strconv.Atoi(string(m[1]))
			return n, true
		}
	case s.kind == "callrec":
		if v, ok := s.metric("go_goroutines"); ok {
			return int(v), true
		}
	}
	return 0, false
}

// metric reads one unlabelled series from callrec's /metrics.
func (s *subject) metric(name string) (float64, bool) {
	if s.httpBase == "" {
		return 0, false
	}
	b, err := httpGet(s.httpBase + "/metrics")
	if err != nil {
		return 0, false
	}
	m := metricRe(name).FindSubmatch(b)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	return v, err == nil
}

// idle waits (up to limit) until the subject has settled after a burst: callrec's audio queue
// empty and, for every subject, less than 20 ms of CPU in the last second — so that the work a
// burst leaves behind (MP3 encoding, batched writes) is counted apart from the burst.
func (s *subject) idle(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	prev := s.cpu()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Second)
		now := s.cpu()
		quiet := now-prev < 20*time.Millisecond
		prev = now
		if !quiet {
			continue
		}
		if s.kind != "callrec" {
			return
		}
		if v, ok := s.metric("callrec_library_queue_depth"); ok && v == 0 {
			return
		}
	}
}

// cpuProfile takes a CPU profile of secs seconds into path (Go subjects with pprof only).
func (s *subject) cpuProfile(secs int, path string) error {
	if s.debug == "" || s.kind == "modesl" {
		return errors.New("no pprof endpoint")
	}
	b, err := httpGet(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", s.debug, secs))
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
