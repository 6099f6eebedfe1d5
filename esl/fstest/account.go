package fstest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Account is the Unix account a real FreeSWITCH runs as (its own user, not callrec's), for the
// files it creates. With Options.Account set the stand-in applies that account's permissions
// itself, by the mode bits, whatever account the test runs as:
//
//   - a recording starts only if the account may create its file: search permission on every
//     directory above it and write permission on the directory that holds it (directories it
//     must create itself need write permission on their parent). Otherwise uuid_record answers
//     "-ERR Cannot record session!" as FreeSWITCH does when switch_core_file_open fails
//     (switch_ivr_async.c switch_ivr_record_session_event, "Error opening").
//   - the WAV is owned by UID and by GID, or by the directory's group when the directory is
//     setgid (Linux), with mode 0644 &^ Umask: libsndfile creates files 0644 (file_io.c
//     psf_open_fd, SFM_WRITE) and the process umask applies. Giving files away needs root; as
//     another user the stand-in keeps its own ownership and applies only the mode.
type Account struct {
	UID, GID int
	// Groups are the account's supplementary groups.
	Groups []int
	// Umask is FreeSWITCH's umask (e.g. 0o022 or 0o007).
	Umask os.FileMode
}

// errNoCreate is why the simulated account may not create a file.
var errNoCreate = errors.New("permission denied")

// mayCreateLocked reports whether the simulated FreeSWITCH account may create path (nil
// without Options.Account).
func (fs *FS) mayCreateLocked(path string) error {
	a := fs.opts.Account
	if a == nil {
		return nil
	}
	dir := filepath.Dir(filepath.Clean(path))
	// Walk down from the root: every existing directory needs search (x); the deepest existing
	// one needs write (w) too, to create the file or the first missing directory.
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		chain = append([]string{d}, chain...)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i, d := range chain {
		st, err := os.Stat(d)
		if errors.Is(err, os.ErrNotExist) {
			if i == 0 || !a.may(chain[i-1], 0o2) {
				return fmt.Errorf("create %s: %w", d, errNoCreate)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if !a.permits(st, 0o1) {
			return fmt.Errorf("search %s: %w", d, errNoCreate)
		}
	}
	if !a.may(dir, 0o2) {
		return fmt.Errorf("write %s: %w", dir, errNoCreate)
	}
	return nil
}

// may reports whether the account has permission bits want (4 r, 2 w, 1 x) on path.
func (a *Account) may(path string, want os.FileMode) bool {
	st, err := os.Stat(path)
	return err == nil && a.permits(st, want)
}

// permits applies the Unix rule: the owner's bits for the owner, else the group's for a
// member of the file's group, else the others'. UID 0 may everything.
func (a *Account) permits(st os.FileInfo, want os.FileMode) bool {
	if a.UID == 0 {
		return true
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := st.Mode().Perm()
	switch {
	case int(sys.Uid) == a.UID:
		return (perm>>6)&want == want
	case a.inGroup(int(sys.Gid)):
		return (perm>>3)&want == want
	}
	return perm&want == want
}

func (a *Account) inGroup(gid int) bool {
	if gid == a.GID {
		return true
	}
	for _, g := range a.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// ownFileLocked gives a file the stand-in wrote to the simulated account (see Account).
func (fs *FS) ownFileLocked(path string) {
	a := fs.opts.Account
	if a == nil {
		return
	}
	gid := a.GID
	if st, err := os.Stat(filepath.Dir(path)); err == nil && st.Mode()&os.ModeSetgid != 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			gid = int(sys.Gid)
		}
	}
	_ = os.Chown(path, a.UID, gid) // only root may give a file away
	_ = os.Chmod(path, 0o644&^a.Umask)
}
