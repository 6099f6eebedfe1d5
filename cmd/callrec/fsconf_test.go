package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
