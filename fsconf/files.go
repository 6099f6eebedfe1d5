package fsconf

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Drift is one difference between a directory and a rendering (Output.Check).
type Drift struct {
	// Path is the file, relative to the directory, slash-separated.
	Path string
	// Problem is "missing" or "differs".
	Problem string
}

func (d Drift) String() string { return d.Path + ": " + d.Problem }

// WriteDir writes every file of o under dir, creating directories as needed. Each file is
// written to a temporary name and renamed, so FreeSWITCH never reads half a file. Errors: the
// file system's, wrapped with the path.
func (o Output) WriteDir(dir string) error {
	for _, f := range o.Files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("fsconf: %w", err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(p), ".callrec-*.tmp")
		if err != nil {
			return fmt.Errorf("fsconf: %w", err)
		}
		_, werr := tmp.Write(f.Data)
		cerr := tmp.Close()
		if err := errors.Join(werr, cerr); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("fsconf: write %s: %w", p, err)
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("fsconf: %w", err)
		}
		if err := os.Rename(tmp.Name(), p); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("fsconf: %w", err)
		}
	}
	return nil
}

// Check compares dir with o: every file of o that FreeSWITCH loads (IsConfig: not INSTALL.md,
// which an operator does not install into FreeSWITCH's configuration directory) must exist
// under dir with the same bytes. Other files under dir are ignored (the operator's own
// configuration may live there). It returns the differences in o's file order (none: the
// directory is up to date). Errors: a file that exists but cannot be read.
func (o Output) Check(dir string) ([]Drift, error) {
	var drift []Drift
	for _, f := range o.Files {
		if !IsConfig(f.Path) {
			continue
		}
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			drift = append(drift, Drift{Path: f.Path, Problem: "missing"})
		case err != nil:
			return nil, fmt.Errorf("fsconf: %w", err)
		case !bytes.Equal(got, f.Data):
			drift = append(drift, Drift{Path: f.Path, Problem: "differs"})
		}
	}
	return drift, nil
}
