// eslgo v1.5.2 races on its own responseChannels map when a connection closes before FreeSWITCH's
// disconnect notice (README Known limits): the drill's child serve closes hundreds of them, so it is
// built only without -race (.ci/run runs it so).

//go:build !race

package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fdChildEnv marks the child process of TestServe_DescriptorExhaustionAndRecovery.
const fdChildEnv = "CALLREC_FDDRILL_CHILD_DIR"

// fdChildLimit is the child's RLIMIT_NOFILE (soft and hard, so serve cannot raise it).
const fdChildLimit = 96

// TestServe_FDChild is not a test: it is `callrec serve` in a child process whose descriptor
// limit is fdChildLimit, started by TestServe_DescriptorExhaustionAndRecovery.
func TestServe_FDChild(t *testing.T) {
	dir := os.Getenv(fdChildEnv)
	if dir == "" {
		t.Skip("child of TestServe_DescriptorExhaustionAndRecovery only")
	}
	lim := syscall.Rlimit{Cur: fdChildLimit, Max: fdChildLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	env := []string{"CALLREC_FREESWITCH__NODES=", "CALLREC_ESL__COMMAND_TIMEOUT=3s"}
	err := run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}, env, io.Discard, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
}

// TestServe_DescriptorExhaustionAndRecovery is the fd-exhaustion drill: a child `callrec serve`
// with a small descriptor limit is flooded with ESL connections that never answer `connect`
// until accept fails with EMFILE. /readyz (asked over a connection opened before) answers 503
// naming esl_listener; once the flood ends callrec accepts again, /readyz is 200 and a new
// connection gets `connect`. eslgo's own loop ended for good on the first EMFILE, and /readyz
// said nothing. (A pending `connect` keeps its descriptor until esl.command_timeout: eslgo's
// close waits for the command, docs/freeswitch/ESLGO.md "close deadlock".)
func TestServe_DescriptorExhaustionAndRecovery(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		t.Skip("in the child")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestServe_FDChild$", "-test.v")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+t.TempDir())
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	logs := &syncBuffer{}
	go io.Copy(logs, stderr)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("child serve: %v\n%s", err, tail(logs.String()))
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("child serve did not stop on SIGTERM")
		}
	}()
	base := waitForLog(t, logs, `"http":"(http://[^"]+)"`, nil)
	eslAddr := waitForLog(t, logs, `"esl":"([^"]+)"`, nil)

	// One keep-alive connection, opened before the descriptors run out, to ask /readyz.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
	if code, body := readyz(t, client, base); code != 200 {
		t.Fatalf("/readyz before the flood: %d %s", code, body)
	}

	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	// Each flood connection holds a descriptor of the child until its `connect` times out (3 s):
	// keep dialling until the child is out of descriptors and says so on /readyz.
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", eslAddr, 5*time.Second)
		must(t, err)
		flood = append(flood, c)
		if len(flood)%8 != 0 {
			continue
		}
		code, body := readyz(t, client, base)
		if code == http.StatusServiceUnavailable {
			if !strings.Contains(body, "esl_listener") || !strings.Contains(body, "too many open files") {
				t.Fatalf("/readyz while out of descriptors: %d %s", code, body)
			}
			t.Logf("after %d connections: %s", len(flood), body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child never ran out of descriptors (%d connections); /readyz %d %s", len(flood), code, body)
		}
	}

	for _, c := range flood {
		c.Close()
	}
	flood = nil
	var last string
	deadline = time.Now().Add(60 * time.Second)
	for code := 0; code != 200; code, last = readyz(t, client, base) {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 after the flood: %s\n%s", last, tail(logs.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, err := net.DialTimeout("tcp", eslAddr, 5*time.Second)
	must(t, err)
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "connect" {
		t.Fatalf("a new connection after recovery got %q, %v", line, err)
	}
}

func readyz(t *testing.T, client *http.Client, base string) (int, string) {
	t.Helper()
	res, err := client.Get(base + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// tail is the end of a long log.
func tail(s string) string {
	if len(s) > 4000 {
		return s[len(s)-4000:]
	}
	return s
}
