package esl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// absPath returns p absolute and clean. FreeSWITCH writes a relative record path under its own
// sound_prefix or base dir (switch_ivr_async.c switch_ivr_record_session_event ~3079–3100),
// never under callrec's working directory, so every path callrec hands FreeSWITCH or compares
// with FreeSWITCH's is made absolute once, here. Empty stays empty when optional; a required
// empty path is an error naming field.
func absPath(field, p string, required bool) (string, error) {
	if p == "" {
		if required {
			return "", fmt.Errorf("esl: %s is required", field)
		}
		return "", nil
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("esl: %s %q: %w", field, p, err)
	}
	return abs, nil // filepath.Abs cleans
}

// underDir reports whether path (as FreeSWITCH reported it, maybe with doubled slashes from
// record-path + "/" + template) lies directly in or below dir (absolute and clean). A path that
// is not plain (see plainPath) never does, whatever it cleans to.
func underDir(path, dir string) bool {
	return dir != "" && plainPath(path) && cleansUnder(path, dir)
}

// cleansUnder reports whether path, cleaned lexically, lies below dir.
func cleansUnder(path, dir string) bool {
	return dir != "" && strings.HasPrefix(filepath.Clean(path), dir+string(filepath.Separator))
}

// plainPath reports whether p is absolute with no "." or ".." element and no NUL. FreeSWITCH
// opens a record path as given, nothing cleaned (switch_ivr_async.c
// switch_ivr_record_session_event ~3079–3100), so the kernel resolves "link/.." through the
// symlink while filepath.Clean drops both: a path with a dot element cannot be contained by a
// lexical check, and no path callrec or fsconf makes has one (issue 12 point 5).
func plainPath(p string) bool {
	if !filepath.IsAbs(p) || strings.ContainsRune(p, 0) {
		return false
	}
	for _, e := range strings.Split(p, string(filepath.Separator)) {
		if e == "." || e == ".." {
			return false
		}
	}
	return true
}

// samePath compares two file paths cleaned.
func samePath(a, b string) bool { return a != "" && b != "" && filepath.Clean(a) == filepath.Clean(b) }

// openRegular opens path, which st says is a regular file, to read its WAV header: without
// blocking (a FIFO put in its place after the stat would hold the open for ever) and without
// following a symlink swapped in (issue 12 point 6). Errors: a non-regular file, os.OpenFile's.
func openRegular(path string, st fs.FileInfo) (*os.File, error) {
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	return f, nil
}

var errNotRegular = errors.New("not a regular file")
