package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/store"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestServe_PrintsTokenAnswersHealthAndStopsOnSignal(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}, nil, &stdout, &stderr)
	}()
	url := waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
	if !regexp.MustCompile(`platform admin token \(shown once, store it now\): crt_\S+`).MatchString(stdout.String()) {
		t.Fatalf("bootstrap token not printed; stdout: %q", stdout.String())
	}
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "ok") {
		t.Fatalf("healthz: %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("serve did not stop within 2 s of the signal")
	}
	t.Logf("stopped in %v", time.Since(start))

	// Second start on the same store: the token exists, nothing is printed again.
	stdout, stderr = syncBuffer{}, syncBuffer{}
	ctx2, cancel2 := context.WithCancel(context.Background())
	go func() {
		done <- run(ctx2, []string{"--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}, nil, &stdout, &stderr)
	}()
	waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout.String(), "token") {
		t.Fatalf("token printed again: %q", stdout.String())
	}
}

func waitForLog(t *testing.T, buf *syncBuffer, pattern string, done chan error) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(buf.String()))
		for sc.Scan() {
			if strings.Contains(sc.Text(), "callrec serving") {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					return m[1]
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve ended early: %v\n%s", err, buf.String())
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no serving line in log:\n%s", buf.String())
	return ""
}

// TestConfig_DirectoriesAreAbsoluteAndClean: whatever the configuration says, data_dir,
// spool_dir, library_dir and freeswitch.record_path come out of loading absolute and clean
// (resolved against the working directory), so callrec never hands FreeSWITCH a relative path.
func TestConfig_DirectoriesAreAbsoluteAndClean(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	wd = mustGetwd(t) // as the process sees it (symlinks in TMPDIR)
	tests := []struct {
		name                             string
		args                             []string
		data, spool, library, recordPath string
	}{
		{"defaults", nil, wd + "/data", wd + "/data/spool", wd + "/data/library", wd + "/data/spool/ondemand"},
		{"relative data_dir", []string{"--data_dir", "./var//lib/../callrec/"},
			wd + "/var/callrec", wd + "/var/callrec/spool", wd + "/var/callrec/library", wd + "/var/callrec/spool/ondemand"},
		{"absolute, uncleaned", []string{"--data_dir", "/srv//callrec/./x/.."},
			"/srv/callrec", "/srv/callrec/spool", "/srv/callrec/library", "/srv/callrec/spool/ondemand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), tt.args, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := [4]string{c.DataDir, c.SpoolDir, c.LibraryDir, c.FreeSWITCH.RecordPath}
			want := [4]string{tt.data, tt.spool, tt.library, tt.recordPath}
			if got != want {
				t.Errorf("got %q\nwant %q", got, want)
			}
		})
	}
	t.Run("explicit relative spool and record path from the environment", func(t *testing.T) {
		c, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), nil,
			[]string{"CALLREC_SPOOL_DIR=spool/", "CALLREC_FREESWITCH__RECORD_PATH=od//x/", "CALLREC_LIBRARY_DIR=lib"})
		if err != nil {
			t.Fatal(err)
		}
		if c.SpoolDir != wd+"/spool" || c.FreeSWITCH.RecordPath != wd+"/od/x" || c.LibraryDir != wd+"/lib" {
			t.Errorf("spool %q record_path %q library %q", c.SpoolDir, c.FreeSWITCH.RecordPath, c.LibraryDir)
		}
		opts, err := fsconfOptions(c)
		if err != nil || opts.RecordPath != wd+"/od/x" {
			t.Errorf("fsconf record-path %q, %v", opts.RecordPath, err)
		}
	})
}

func TestConfig_LayersDefaultsFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "callrec.yaml")
	os.WriteFile(file, []byte("http:\n  listen: 127.0.0.1:9001\nesl:\n  listen: 127.0.0.1:9002\nlog:\n  level: debug\nfreeswitch:\n  nodes:\n    - addr: 10.0.0.5:8021\n      password: s3cret\n"), 0o600)
	tests := []struct {
		name  string
		args  []string
		env   []string
		check func(Config) bool
	}{
		{"defaults", nil, nil, func(c Config) bool {
			return c.HTTP.Listen == "127.0.0.1:8080" && c.ESL.Listen == "127.0.0.1:8084" && c.dbPath() == filepath.Join(mustGetwd(t), "data", "callrec.db") && c.SpoolDir == filepath.Join(mustGetwd(t), "data", "spool") &&
				// the event socket fsconf renders on this host: live calls can be re-adopted out of the box
				len(c.FreeSWITCH.Nodes) == 1 && c.FreeSWITCH.Nodes[0].Addr == "127.0.0.1:8021" && c.FreeSWITCH.Nodes[0].Password == "ClueCon"
		}},
		{"no node from an empty env value", nil, []string{"CALLREC_FREESWITCH__NODES="}, func(c Config) bool {
			return len(c.FreeSWITCH.Nodes) == 0
		}},
		{"file", []string{"--config", file}, nil, func(c Config) bool {
			return c.HTTP.Listen == "127.0.0.1:9001" && c.Log.Level == "debug" && len(c.FreeSWITCH.Nodes) == 1 && c.FreeSWITCH.Nodes[0].Password == "s3cret"
		}},
		{"env over file", []string{"--config", file}, []string{"CALLREC_HTTP__LISTEN=127.0.0.1:9100", "CALLREC_DATA_DIR=/tmp/x", "OTHER=1"}, func(c Config) bool {
			return c.HTTP.Listen == "127.0.0.1:9100" && c.ESL.Listen == "127.0.0.1:9002" && c.DataDir == "/tmp/x"
		}},
		{"flag over env", []string{"--config", file, "--http.listen", "127.0.0.1:9200"}, []string{"CALLREC_HTTP__LISTEN=127.0.0.1:9100"}, func(c Config) bool {
			return c.HTTP.Listen == "127.0.0.1:9200"
		}},
		{"nodes from env", nil, []string{"CALLREC_FREESWITCH__NODES=10.0.0.5:8021=a,10.0.0.6:8021"}, func(c Config) bool {
			return len(c.FreeSWITCH.Nodes) == 2 && c.FreeSWITCH.Nodes[0].Password == "a" && c.FreeSWITCH.Nodes[1].Password == "ClueCon"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				b, _ := json.MarshalIndent(cfg, "", " ")
				t.Fatalf("unexpected config: %s", b)
			}
		})
	}
}

func TestConfig_RejectsBadValues(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--http.listen", "nonsense"}, "http.listen"},
		{[]string{"--log.format", "xml"}, "log.format"},
		{[]string{"--config", "/does/not/exist.yaml"}, "exist.yaml"},
	}
	for _, tt := range tests {
		_, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), tt.args, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want mention of %q", tt.args, err, tt.want)
		}
	}
}

func TestRun_UnknownCommandAndVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, nil, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "callrec ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
	err := run(context.Background(), []string{"frobnicate"}, nil, io.Discard, io.Discard)
	var ee *exitError
	if err == nil || !asExit(err, &ee) || ee.code != 2 {
		t.Fatalf("unknown command: %v", err)
	}
}

func asExit(err error, target **exitError) bool {
	e, ok := err.(*exitError)
	*target = e
	return ok
}

func TestBackup_CopiesAStoppedStoreAndRefusesALockedOne(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}, nil, &stdout, &stderr)
	}()
	waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
	target := filepath.Join(t.TempDir(), "copy.db")
	err := run(context.Background(), []string{"backup", "--data_dir", dir, target}, nil, io.Discard, io.Discard)
	var ee *exitError
	if !asExit(err, &ee) || ee.code != 3 || !strings.Contains(err.Error(), "/api/v1/backup") {
		t.Fatalf("backup of a running store: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"backup", "--data_dir", dir, target}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), target, store.Options{})
	if err != nil {
		t.Fatalf("the copy does not open: %v", err)
	}
	defer db.Close()
	if has, err := db.HasPlatformToken(context.Background()); err != nil || !has {
		t.Fatalf("the copy lacks the bootstrap token: %v %v", has, err)
	}
}
