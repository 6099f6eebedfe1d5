package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// subcommands are every command main dispatches, as an operator types them (issue 14 item 5).
var subcommands = []string{"serve", "doctor", "backup", "fsconf", "verify", "version", "help"}

// TestRun_HelpListsEverySubcommand: `callrec --help`, `-h` and `help` list every subcommand with
// a line of its own and exit 0; an unknown command exits 2 and names the same list.
func TestRun_HelpListsEverySubcommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(context.Background(), args, nil, &out, io.Discard); err != nil {
				t.Fatalf("exit: %v", err)
			}
			for _, cmd := range subcommands {
				if !hasLineStarting(out.String(), "  "+cmd) {
					t.Errorf("no line for %q in:\n%s", cmd, out.String())
				}
			}
		})
	}
	err := run(context.Background(), []string{"frobnicate"}, nil, io.Discard, io.Discard)
	var ee *exitError
	if !asExit(err, &ee) || ee.code != 2 {
		t.Fatalf("unknown command: %v", err)
	}
	for _, cmd := range subcommands {
		if !strings.Contains(err.Error(), cmd) {
			t.Errorf("unknown command error %q does not name %q", err, cmd)
		}
	}
}

func hasLineStarting(s, prefix string) bool {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			return true
		}
	}
	return false
}

// TestBackup_RefusesToOverwriteWithoutForce: an existing FILE is left untouched and the command
// exits non-zero naming --force; with --force the copy replaces it (a store that opens), and no
// temporary file is left beside it.
func TestBackup_RefusesToOverwriteWithoutForce(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "callrec.db"), store.Options{})
	must(t, err)
	must(t, db.CreateToken(context.Background(), &store.Token{Name: "t", Role: store.RolePlatform, Hash: store.HashToken("x")}))
	must(t, db.Close())

	outDir := t.TempDir()
	target := filepath.Join(outDir, "copy.db")
	const old = "an older backup the operator keeps"
	must(t, os.WriteFile(target, []byte(old), 0o600))

	tests := []struct {
		name    string
		args    []string
		wantErr string // "" = success
	}{
		{"without --force", []string{"backup", "--data_dir", dir, target}, "--force"},
		{"with --force", []string{"backup", "--force", "--data_dir", dir, target}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, nil, io.Discard, io.Discard)
			if tt.wantErr != "" {
				var ee *exitError
				if !asExit(err, &ee) || ee.code == 0 || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "exists") {
					t.Fatalf("error %v, want a non-zero exit saying it exists and naming %s", err, tt.wantErr)
				}
				if b, _ := os.ReadFile(target); string(b) != old {
					t.Fatalf("the existing file was changed: %q", b)
				}
				return
			}
			must(t, err)
			copyDB, err := store.Open(context.Background(), target, store.Options{})
			if err != nil {
				t.Fatalf("the replaced copy does not open: %v", err)
			}
			defer copyDB.Close()
			if has, err := copyDB.HasPlatformToken(context.Background()); err != nil || !has {
				t.Fatalf("the copy lacks the token: %v %v", has, err)
			}
		})
	}
	entries, _ := os.ReadDir(outDir)
	if len(entries) != 1 {
		t.Errorf("files beside the copy: %v", entries)
	}
}

// lastLogLine is the last JSON line serve logged.
func lastLogLine(t *testing.T, log string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(log), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last log line %q: %v", lines[len(lines)-1], err)
	}
	return last
}

// TestServe_LastLogLineSaysStoppedWithReasonAndCode (issue 14 item 5): whatever ends serve
// after its logger exists, the last line it logs is "callrec stopped" with the reason and the
// exit code the process ends with.
func TestServe_LastLogLineSaysStoppedWithReasonAndCode(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer busy.Close()
	for _, tc := range []struct {
		name     string
		esl      string
		signal   bool
		wantCode float64
		reason   string
	}{
		{"signal", "127.0.0.1:0", true, 0, "canceled"},
		{"esl.listen in use", busy.Addr().String(), false, 1, "already listens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr syncBuffer
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"serve", "--data_dir", t.TempDir(), "--http.listen", "127.0.0.1:0", "--esl.listen", tc.esl, "--log.format", "json"},
					[]string{"CALLREC_FREESWITCH__NODES="}, &stdout, &stderr)
			}()
			if tc.signal {
				waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
				cancel()
			}
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("serve did not end")
			}
			last := lastLogLine(t, stderr.String())
			if last["message"] != "callrec stopped" || last["exit_code"] != tc.wantCode || !strings.Contains(fmt.Sprint(last["reason"]), tc.reason) {
				t.Fatalf("last log line %v, want callrec stopped, exit_code %v, reason with %q\n%s", last, tc.wantCode, tc.reason, stderr.String())
			}
		})
	}
}

// TestRun_CommandHelpExitsZero: `callrec COMMAND --help` prints that command's flags and
// exits 0, as `callrec --help` does.
func TestRun_CommandHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"serve", "backup", "fsconf", "doctor"} {
		t.Run(cmd, func(t *testing.T) {
			if err := run(context.Background(), []string{cmd, "--help"}, nil, io.Discard, io.Discard); err != nil {
				t.Fatalf("%s --help: %v", cmd, err)
			}
		})
	}
}
