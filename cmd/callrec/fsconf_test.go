package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/callrec/callrec/fsconf"
)

// TestFsconf_WorksWhileCallrecRuns: `callrec fsconf` renders from the configuration alone (the
// transfer context no longer lists the store's codes), so it never opens the store that the
// running callrec holds locked: it writes the files, and --check finds them up to date.
func TestFsconf_WorksWhileCallrecRuns(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}, nil, &stdout, &stderr)
	}()
	waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	out := filepath.Join(t.TempDir(), "fs")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"render", []string{"fsconf", "--data_dir", dir, "--out", out}, "INSTALL.md"},
		{"check", []string{"fsconf", "--data_dir", dir, "--out", out, "--check"}, "is up to date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var so bytes.Buffer
			if err := run(context.Background(), tc.args, nil, &so, io.Discard); err != nil {
				t.Fatalf("callrec %s while callrec runs: %v", strings.Join(tc.args, " "), err)
			}
			if !strings.Contains(so.String(), tc.want) {
				t.Errorf("output %q, want it to mention %q", so.String(), tc.want)
			}
		})
	}
	xfer, err := os.ReadFile(filepath.Join(out, "dialplan", "callrec_transfer.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(xfer), `expression="^\*(\d{1,3})$"`) {
		t.Errorf("the transfer context lacks the generic *digits extension:\n%s", xfer)
	}

}

// TestFsconf_CheckComparesOnlyTheFilesFreeSWITCHLoads: an operator renders, installs every file
// into FreeSWITCH's configuration directory as INSTALL.md says (INSTALL.md itself stays behind)
// and checks that directory: up to date. Before, --check reported INSTALL.md as missing there.
// A changed configuration file is still drift (exit 1).
func TestFsconf_CheckComparesOnlyTheFilesFreeSWITCHLoads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	render, installed := filepath.Join(dir, "render"), filepath.Join(dir, "etc-freeswitch")
	args := func(out string, extra ...string) []string {
		return append([]string{"--data_dir", filepath.Join(dir, "data"), "--out", out}, extra...)
	}
	var stdout, stderr bytes.Buffer
	if err := fsconfCommand(ctx, args(render), nil, &stdout, &stderr); err != nil {
		t.Fatalf("render: %v\n%s", err, stderr.String())
	}
	n := 0
	err := filepath.WalkDir(render, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(render, p)
		if !fsconf.IsConfig(filepath.ToSlash(rel)) {
			return nil // INSTALL.md: read by the operator, never installed
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		dst := filepath.Join(installed, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil || n == 0 {
		t.Fatalf("install: %d files, %v", n, err)
	}
	stdout.Reset()
	if err := fsconfCommand(ctx, args(installed, "--check"), nil, &stdout, &stderr); err != nil {
		t.Fatalf("--check of the installed configuration: %v\nstdout:\n%s", err, stdout.String())
	}
	if !strings.Contains(stdout.String(), "is up to date") {
		t.Errorf("--check said %q", stdout.String())
	}
	if err := os.WriteFile(filepath.Join(installed, "dialplan", "callrec_transfer.xml"), []byte("<edited/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	err = fsconfCommand(ctx, args(installed, "--check"), nil, &stdout, &stderr)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || strings.TrimSpace(stdout.String()) != "dialplan/callrec_transfer.xml: differs" {
		t.Errorf("--check after an edit: %v, stdout %q; want exit 1 naming only the edited file", err, stdout.String())
	}
}

// TestConfig_UserContextsAndTheRemovedRegex: freeswitch.user_contexts from the file or the
// environment, freeswitch.user_context as its one-element form, and an old file's
// internal_extension_regex loading with a warning.
func TestConfig_UserContextsAndTheRemovedRegex(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := write("old.yaml", "freeswitch:\n  user_context: users\n  internal_extension_regex: '^(\\d{2,10})$'\n")
	list := write("list.yaml", "freeswitch:\n  user_contexts: [a.example.com, b.example.com]\n")
	both := write("both.yaml", "freeswitch:\n  user_context: c.example.com\n  user_contexts: [a.example.com]\n")
	tests := []struct {
		name     string
		args     []string
		env      []string
		want     []string
		warnings int
		wantErr  string
	}{
		{"default", nil, nil, []string{"default"}, 0, ""},
		{"old file: user_context and the removed regex", []string{"--config", old}, nil, []string{"users"}, 1, ""},
		{"list in the file", []string{"--config", list}, nil, []string{"a.example.com", "b.example.com"}, 0, ""},
		{"list in the environment", nil, []string{"CALLREC_FREESWITCH__USER_CONTEXTS=x.example.com, y.example.com"}, []string{"x.example.com", "y.example.com"}, 0, ""},
		{"user_context outside user_contexts", []string{"--config", both}, nil, nil, 0, "freeswitch.user_context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(pflag.NewFlagSet("t", pflag.ContinueOnError), tt.args, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(cfg.FreeSWITCH.UserContexts, ",") != strings.Join(tt.want, ",") {
				t.Errorf("user_contexts %v, want %v", cfg.FreeSWITCH.UserContexts, tt.want)
			}
			if len(cfg.Warnings) != tt.warnings {
				t.Errorf("warnings %q, want %d", cfg.Warnings, tt.warnings)
			}
			if _, err := fsconfOptions(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
}
