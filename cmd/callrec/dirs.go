package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Directory modes. FreeSWITCH runs as its own user and writes every WAV into the spool
// directories through their group; callrec's own data stays private.
const (
	spoolDirMode   = fs.ModeSetgid | 0o770 // setgid: new WAVs get the spool group; group rwx: FreeSWITCH writes
	passDirMode    = 0o710                 // a directory callrec creates above a spool: FreeSWITCH may pass, not list
	privateDirMode = 0o750                 // data_dir without a spool inside, library_dir
)

// spoolGroup is the group FreeSWITCH writes the spool through.
type spoolGroup struct {
	gid  int
	name string
}

// lookupSpoolGroup resolves the spool_group key: a group name or number, or empty for callrec's
// own primary group. Errors: a group that does not exist, named with the fix.
func lookupSpoolGroup(name string) (spoolGroup, error) {
	if name == "" {
		gid := os.Getgid()
		g, err := user.LookupGroupId(strconv.Itoa(gid))
		if err != nil {
			return spoolGroup{gid: gid, name: strconv.Itoa(gid)}, nil
		}
		return spoolGroup{gid: gid, name: g.Name}, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			g, err = user.LookupGroupId(name)
		}
	}
	if err != nil {
		return spoolGroup{}, fmt.Errorf("spool_group: group %q does not exist (%v): set spool_group to the group FreeSWITCH runs as (e.g. freeswitch), or leave it empty for callrec's own group", name, err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	return spoolGroup{gid: gid, name: g.Name}, nil
}

// prepareDirs creates and checks callrec's directories before anything else runs: spool_dir and
// freeswitch.record_path setgid and group-writable by the spool group (FreeSWITCH writes there;
// mod_sofia and uuid_record would create a missing one themselves with
// SWITCH_DEFAULT_DIR_PERMS 0750 as FreeSWITCH's user, which callrec could then not clean up), any
// directory created above them traversable by that group only, library_dir and data_dir
// otherwise private. Existing directories are not changed, only checked. It returns warnings
// worth logging; errors name the directory, the group and the fix.
func prepareDirs(cfg Config) (warnings []string, err error) {
	g, err := lookupSpoolGroup(cfg.SpoolGroup)
	if err != nil {
		return nil, err
	}
	for _, d := range []struct{ key, dir string }{{"spool_dir", cfg.SpoolDir}, {"freeswitch.record_path", cfg.FreeSWITCH.RecordPath}} {
		w, err := ensureSpoolDir(d.key, d.dir, g)
		if err != nil {
			return warnings, err
		}
		warnings = append(warnings, w...)
	}
	for _, d := range []struct{ key, dir string }{{"data_dir", cfg.DataDir}, {"library_dir", cfg.LibraryDir}} {
		if err := os.MkdirAll(d.dir, privateDirMode); err != nil {
			return warnings, fmt.Errorf("%s: create %s: %w", d.key, d.dir, err)
		}
		// The store and the worker write here; a read-only directory would leave the audio
		// worker failing every job while health says ok, so start-up proves it is writable.
		err := probeDir(d.dir)
		if d.key == "library_dir" && diskFull(err) {
			// A full library is the machine's fault, not a mistake in the configuration: calls are
			// still recorded into the spool, the audio worker waits for space (down on /readyz
			// meanwhile) and encodes them then. Refusing to start would leave every call unrecorded.
			warnings = append(warnings, fmt.Sprintf("library_dir: %s is full (%v): recordings wait in the spool until space returns", d.dir, err))
			continue
		}
		if err != nil {
			return warnings, fmt.Errorf("%s: %s is not writable and readable by callrec (uid %d): %w", d.key, d.dir, os.Geteuid(), err)
		}
	}
	return warnings, nil
}

// diskFull reports whether err is a full disk or an exhausted quota.
func diskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// ensureSpoolDir creates dir (and missing parents) for the spool group, or checks an existing
// one, and then probes that callrec itself can write, read back and remove a file in it.
func ensureSpoolDir(key, dir string, g spoolGroup) ([]string, error) {
	fix := fmt.Sprintf("fix: chgrp %s %s && chmod 2770 %s (and make callrec's user a member of %s)", g.name, dir, dir, g.name)
	var warnings []string
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := mkdirFor(filepath.Dir(dir), passDirMode, g, key, fix); err != nil {
			return nil, err
		}
		if err := mkdirFor(dir, spoolDirMode, g, key, fix); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("%s: %w", key, err)
	case !st.IsDir():
		return nil, fmt.Errorf("%s: %s is not a directory", key, dir)
	default:
		gid := -1
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			gid = int(sys.Gid)
		}
		if gid != g.gid || st.Mode().Perm()&0o070 != 0o070 {
			return nil, fmt.Errorf("%s: %s (mode %04o, group %s) is not writable by group %s, so FreeSWITCH cannot write WAVs there; %s",
				key, dir, st.Mode().Perm(), groupName(gid), g.name, fix)
		}
		if st.Mode()&fs.ModeSetgid == 0 {
			warnings = append(warnings, fmt.Sprintf("%s: %s is not setgid: FreeSWITCH's WAVs get FreeSWITCH's own group, which callrec must be able to read (chmod g+s %s)", key, dir, dir))
		}
	}
	if err := probeDir(dir); err != nil {
		return nil, fmt.Errorf("%s: %s is not writable and readable by callrec (uid %d): %w; %s", key, dir, os.Geteuid(), err, fix)
	}
	return warnings, nil
}

// mkdirFor creates dir and its missing parents with mode and the spool group. The mode is set
// explicitly after creation (Mkdir applies the umask and drops setgid on some systems).
func mkdirFor(dir string, mode fs.FileMode, g spoolGroup, key, fix string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirFor(parent, passDirMode, g, key, fix); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, mode.Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: create %s: %w", key, dir, err)
	}
	if err := os.Chown(dir, -1, g.gid); err != nil {
		return fmt.Errorf("%s: cannot give %s to group %s (%w): callrec's user must be a member of %s; %s", key, dir, g.name, err, g.name, fix)
	}
	if err := os.Chmod(dir, mode); err != nil {
		return fmt.Errorf("%s: chmod %s: %w; %s", key, dir, err, fix)
	}
	return nil
}

// probeDir writes a small file into dir, reads it back and removes it: what callrec does with
// every WAV (read, then delete).
func probeDir(dir string) error {
	f, err := os.CreateTemp(dir, ".callrec-probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	defer os.Remove(name)
	want := []byte("callrec")
	_, err = f.Write(want)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	got, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("read back differs")
	}
	return os.Remove(name)
}

func groupName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name
	}
	return strings.TrimSpace(strconv.Itoa(gid))
}
