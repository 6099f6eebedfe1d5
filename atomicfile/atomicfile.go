// Package atomicfile writes a file so that a crash leaves either the old state or the whole new
// file, never a part: callrec's key files (the archive signing key, the master key ring) and its
// store backups.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write puts what write produces at path with mode perm: into a temporary file in path's
// directory (created if needed, 0750), fsynced, then moved into place and the directory
// fsynced. With replace an existing file is replaced (rename); without, an existing file is an
// error and stays untouched (hard link, which fails where rename would replace). On any error
// path is unchanged and the temporary file removed. Errors: write's, the file system's.
func Write(path string, perm os.FileMode, replace bool, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone already after a rename; the link's leftover otherwise
	err = f.Chmod(perm)
	if err == nil {
		err = write(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if replace {
			err = os.Rename(tmp, path)
		} else {
			err = os.Link(tmp, path)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
