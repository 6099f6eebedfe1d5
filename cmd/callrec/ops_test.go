package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callrec/callrec/store"
)

// subcommands are every command main dispatches, as an operator types them (issue 14 item 5).
var subcommands = []string{"serve", "doctor", "backup", "fsconf", "version", "help"}

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
