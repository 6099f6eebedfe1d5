package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func dirGID(t *testing.T, dir string) int {
	t.Helper()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	return int(st.Sys().(*syscall.Stat_t).Gid)
}

func ownGroupName(t *testing.T) string {
	t.Helper()
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Skipf("own group has no name: %v", err)
	}
	return g.Name
}

// TestPrepareDirs_SpoolsAreSetgidGroupWritableTheRestPrivate: spool_dir and record_path are
// created 02770 with the spool group (the test uses its own group), the directory above them
// only traversable by that group, library_dir private.
func TestPrepareDirs_SpoolsAreSetgidGroupWritableTheRestPrivate(t *testing.T) {
	for _, group := range []string{"", ownGroupName(t), strconv.Itoa(os.Getgid())} {
		t.Run("spool_group="+group, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			cfg := Config{DataDir: data, SpoolGroup: group}
			if err := cfg.fillDerived(); err != nil {
				t.Fatal(err)
			}
			warnings, err := prepareDirs(cfg)
			if err != nil || len(warnings) != 0 {
				t.Fatalf("prepareDirs: %v %v", err, warnings)
			}
			for _, tc := range []struct {
				dir  string
				mode fs.FileMode
			}{
				{cfg.SpoolDir, fs.ModeSetgid | 0o770},
				{cfg.FreeSWITCH.RecordPath, fs.ModeSetgid | 0o770},
				{cfg.DataDir, 0o710},
				{cfg.LibraryDir, 0o750},
			} {
				st, err := os.Stat(tc.dir)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.Mode() & (fs.ModePerm | fs.ModeSetgid); got != tc.mode {
					t.Errorf("%s: mode %v, want %v", tc.dir, got, tc.mode)
				}
				if tc.mode&0o070 != 0 && tc.dir != cfg.LibraryDir && dirGID(t, tc.dir) != os.Getgid() {
					t.Errorf("%s: group %d, want %d", tc.dir, dirGID(t, tc.dir), os.Getgid())
				}
			}
			if _, err := prepareDirs(cfg); err != nil { // a second start accepts what the first made
				t.Fatalf("second start: %v", err)
			}
		})
	}
}

func TestPrepareDirs_RefusesWhatFreeSWITCHOrCallrecCannotUse(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, cfg *Config)
		want  []string
	}{
		{"nonexistent group", func(t *testing.T, cfg *Config) { cfg.SpoolGroup = "callrec-no-such-group" },
			[]string{`spool_group: group "callrec-no-such-group" does not exist`, "the group FreeSWITCH runs as"}},
		{"existing spool not group-writable (as an older callrec made it)", func(t *testing.T, cfg *Config) {
			must(t, os.MkdirAll(cfg.SpoolDir, 0o750))
			must(t, os.Chmod(cfg.SpoolDir, 0o750))
		}, []string{"spool_dir: ", "mode 0750", "FreeSWITCH cannot write", "chmod 2770"}},
		{"existing spool of another group", func(t *testing.T, cfg *Config) {
			must(t, os.MkdirAll(cfg.SpoolDir, 0o770))
			must(t, os.Chmod(cfg.SpoolDir, 0o2770))
			other := -1
			for _, gid := range []int{65534, 1, 2, 3} {
				if gid != os.Getgid() && os.Chown(cfg.SpoolDir, -1, gid) == nil {
					other = gid
					break
				}
			}
			if other < 0 {
				t.Skip("cannot give a directory to another group here")
			}
		}, []string{"spool_dir: ", "is not writable by group", "chgrp"}},
		{"spool not writable by callrec", func(t *testing.T, cfg *Config) {
			must(t, os.MkdirAll(cfg.SpoolDir, 0o770))
			if os.Geteuid() != 0 {
				must(t, os.Chmod(cfg.SpoolDir, 0o2570)) // group rwx, owner (callrec) r-x
				return
			}
			// Root writes any directory whatever its mode (as .ci/run runs): a read-only
			// filesystem with the right mode and group is what it cannot write.
			opts := fmt.Sprintf("mode=2770,gid=%d", os.Getgid())
			if err := syscall.Mount("tmpfs", cfg.SpoolDir, "tmpfs", syscall.MS_RDONLY, opts); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("mount a read-only tmpfs (root, as .ci/run runs): %v", err)
				}
				t.Skipf("root here cannot mount a read-only tmpfs (%v)", err)
			}
			t.Cleanup(func() { _ = syscall.Unmount(cfg.SpoolDir, syscall.MNT_DETACH) })
		}, []string{"spool_dir: ", "not writable and readable by callrec"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{DataDir: filepath.Join(t.TempDir(), "data")}
			must(t, cfg.fillDerived())
			tc.setup(t, &cfg)
			_, err := prepareDirs(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestServe_RefusesASpoolFreeSWITCHCannotWrite: callrec exits non-zero at start, saying why.
func TestServe_RefusesASpoolFreeSWITCHCannotWrite(t *testing.T) {
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	must(t, os.Mkdir(spool, 0o755))
	must(t, os.Chmod(spool, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a serve that starts ends here
	defer cancel()
	err := run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0"}, nil, io.Discard, io.Discard)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), spool) || !strings.Contains(err.Error(), "FreeSWITCH cannot write") {
		t.Fatalf("serve: %v, want exit 1 naming %s", err, spool)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestPrepareDirs_ProvesLibraryAndStoreWritable: a library_dir or data_dir (the store) callrec
// cannot write stops start-up naming the key, instead of a worker that fails every job while
// health says ok. /proc/self is a directory even root cannot create files in.
func TestPrepareDirs_ProvesLibraryAndStoreWritable(t *testing.T) {
	readOnly := func(t *testing.T) string {
		if os.Geteuid() == 0 {
			return "/proc/self"
		}
		d := filepath.Join(t.TempDir(), "ro")
		must(t, os.Mkdir(d, 0o500))
		return d
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, cfg *Config)
		want  string
	}{
		{"read-only library_dir", func(t *testing.T, cfg *Config) { cfg.LibraryDir = readOnly(t) }, "library_dir: "},
		{"read-only data_dir", func(t *testing.T, cfg *Config) {
			base := t.TempDir()
			cfg.DataDir = readOnly(t)
			cfg.SpoolDir = filepath.Join(base, "spool")
			cfg.FreeSWITCH.RecordPath = filepath.Join(base, "spool", "ondemand")
			cfg.LibraryDir = filepath.Join(base, "library")
		}, "data_dir: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{DataDir: filepath.Join(t.TempDir(), "data")}
			tc.setup(t, &cfg)
			must(t, cfg.fillDerived())
			_, err := prepareDirs(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "not writable") {
				t.Fatalf("prepareDirs: %v, want an error naming %s as not writable", err, tc.want)
			}
		})
	}
}

// TestPrepareDirs_AFullLibraryIsAWarning: a library_dir whose disk is full does not stop
// start-up (every call would go unrecorded): it is a warning, the recordings wait in the spool
// and the audio worker reports the fault (TestDrill_LibraryDiskFullThenSpaceReturns). Before,
// the writability probe's ENOSPC made serve exit 1.
func TestPrepareDirs_AFullLibraryIsAWarning(t *testing.T) {
	cfg := Config{DataDir: filepath.Join(t.TempDir(), "data")}
	must(t, cfg.fillDerived())
	must(t, os.MkdirAll(cfg.LibraryDir, 0o750))
	if err := syscall.Mount("tmpfs", cfg.LibraryDir, "tmpfs", 0, "size=16k,mode=0750"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a tmpfs (root, as .ci/run runs): %v", err)
		}
		t.Skipf("cannot mount a tmpfs here (%v): run as root", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(cfg.LibraryDir, syscall.MNT_DETACH) })
	f, err := os.Create(filepath.Join(cfg.LibraryDir, "filler"))
	must(t, err)
	for err == nil {
		_, err = f.Write(make([]byte, 512))
	}
	f.Close()
	warnings, err := prepareDirs(cfg)
	if err != nil {
		t.Fatalf("a full library stopped start-up: %v", err)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), "library_dir: "+cfg.LibraryDir+" is full") {
		t.Fatalf("no warning about the full library: %q", warnings)
	}
}
