package library

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/callrec/callrec/audio"
)

// DefaultFileTimeout bounds each file operation on a WAV or in the library without progress.
const DefaultFileTimeout = 30 * time.Second

// Errors about a job's WAV file. Each has a plain reason for tenants (see publicReason); the
// path and the details go to the log only.
var (
	// errOutsideSpool: the job's WAV path is not a plain path inside one of Worker.SpoolDirs
	// (a ".." or "." element, a relative path, a NUL, a symlinked directory leading out).
	errOutsideSpool = errors.New("WAV path outside the spool directories")
	// errNotRegular: something other than a regular file (a FIFO, a device, a symlink, a
	// directory) is at the WAV path.
	errNotRegular = errors.New("WAV path is not a regular file")
	// errFileTimeout: a file operation made no progress within Worker.FileTimeout (a hung
	// mount); the job is released and the worker goes on with the others.
	errFileTimeout = errors.New("file operation timed out")
)

// spoolPath returns raw cleaned if it is a plain absolute path (no "." or ".." element, no NUL)
// lying inside one of the spool directories, else an error wrapping errOutsideSpool. The kernel
// resolves "link/.." through the symlink while filepath.Clean drops both, so a dot element is
// refused rather than cleaned (issue 12 point 5). It does not touch the file system.
func (c runConfig) spoolPath(raw string) (string, error) {
	if !filepath.IsAbs(raw) || strings.ContainsRune(raw, 0) {
		return "", errOutsideSpool
	}
	for _, e := range strings.Split(raw, string(filepath.Separator)) {
		if e == "." || e == ".." {
			return "", errOutsideSpool
		}
	}
	p := filepath.Clean(raw)
	for _, d := range c.spools {
		if inside(d, p) {
			return p, nil
		}
	}
	return "", errOutsideSpool
}

// resolvedInSpool checks that the directory holding p (a spoolPath result), with every symlink
// resolved, still lies in or below the resolved spool directory that contains p. It touches the
// file system: call it under the job's watchdog.
func (c runConfig) resolvedInSpool(p string) error {
	dir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return err
	}
	for _, d := range c.spools {
		if !inside(d, p) {
			continue
		}
		rd, err := filepath.EvalSymlinks(d)
		if err != nil {
			return err
		}
		if dir == rd || inside(rd, dir) {
			return nil
		}
	}
	return errOutsideSpool
}

// openSpoolWAV opens the WAV at p (a spoolPath result) for reading: the directory must resolve
// inside the spool, the last element must not be a symlink, and the open never blocks (a FIFO
// opened read-only without O_NONBLOCK waits for a writer for ever, issue 12 point 6); anything
// but a regular file is refused with errNotRegular. Errors: errOutsideSpool, errNotRegular,
// os.OpenFile's (fs.ErrNotExist for a missing file).
func (c runConfig) openSpoolWAV(p string) (*os.File, error) {
	if err := c.resolvedInSpool(p); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ELOOP) { // O_NOFOLLOW on a symlink
		return nil, errNotRegular
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = errNotRegular
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// statSpoolWAV is Lstat of p (a spoolPath result), refusing anything but a regular file.
func statSpoolWAV(p string) (fs.FileInfo, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	return fi, nil
}

// removeSpoolWAV removes the WAV at raw only if it is a regular file inside the spool (never a
// file elsewhere a hostile path points at, issue 12 point 5); a file already gone is not an
// error. It runs bounded by the file timeout.
func (c runConfig) removeSpoolWAV(ctx context.Context, raw string) error {
	p, err := c.spoolPath(raw)
	if err != nil {
		return err
	}
	return c.bounded(ctx, "remove WAV", func() error {
		if err := c.resolvedInSpool(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if _, err := statSpoolWAV(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		return removeFile(p)
	})
}

// bounded runs fn, waiting at most the file timeout for it (a call stuck on a hung mount keeps
// its goroutine, not the worker's). Errors: fn's, errFileTimeout, ctx's.
func (c runConfig) bounded(ctx context.Context, what string, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(c.fileTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("%s: %w after %v", what, errFileTimeout, c.fileTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// progress is the time of the last step a job's file work made, for its watchdog.
type progress struct{ last atomic.Int64 }

func (p *progress) touch() { p.last.Store(time.Now().UnixNano()) }

func (p *progress) since() time.Duration { return time.Since(time.Unix(0, p.last.Load())) }

// progressReader and progressWriter touch p on every read or write that moves bytes.
type progressReader struct {
	r io.ReadSeeker
	p *progress
}

func (r progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if n > 0 {
		r.p.touch()
	}
	return n, err
}

func (r progressReader) Seek(off int64, whence int) (int64, error) {
	n, err := r.r.Seek(off, whence)
	r.p.touch()
	return n, err
}

type progressWriter struct {
	w io.Writer
	p *progress
}

func (w progressWriter) Write(b []byte) (int, error) {
	n, err := w.w.Write(b)
	if n > 0 {
		w.p.touch()
	}
	if err != nil {
		err = libraryErr(err)
	}
	return n, err
}

// libraryError marks an error of an operation on library_dir (writing the MP3, its marker, its
// directories): an EACCES or EROFS there is the machine's fault, not the recording's.
type libraryError struct{ err error }

func (e libraryError) Error() string { return e.err.Error() }
func (e libraryError) Unwrap() error { return e.err }

func libraryErr(err error) error {
	if err == nil {
		return nil
	}
	var le libraryError
	if errors.As(err, &le) {
		return err
	}
	return libraryError{err}
}

// machineFault reports whether err is about the machine rather than the recording: a full or
// failing disk anywhere (ENOSPC, EDQUOT, EIO, EROFS), a library_dir callrec may not write
// (EACCES, EPERM on the library), or a file operation that hung (issue 12 point 7). Such an
// error never spends the recording's attempts.
func machineFault(err error) bool {
	for _, e := range []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS, errFileTimeout} {
		if errors.Is(err, e) {
			return true
		}
	}
	var le libraryError
	return errors.As(err, &le) && (errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM))
}

// publicReason is the plain reason a tenant is shown for err: never a server path or a byte of
// the file (issue 12 point 14); the details go to the log.
func publicReason(err error) string {
	switch {
	case errors.Is(err, errOutsideSpool):
		return "the recording file is outside the recording directories"
	case errors.Is(err, errNotRegular):
		return "the recording file is not a regular file"
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, errMissingWAV) && !errors.Is(err, audio.ErrNoAudio):
		return "the recording file was not found"
	case errors.Is(err, audio.ErrNoAudio):
		return "the recording file holds no audio"
	case errors.Is(err, audio.ErrNotWAV):
		return "the recording file is not a WAV"
	case errors.Is(err, audio.ErrUnsupported):
		return "the recording file's audio format is not supported"
	case errors.Is(err, ErrOutsideLibrary):
		return "the recording cannot be placed in the library"
	case errors.Is(err, errFileTimeout):
		return "the recording file could not be read in time"
	case machineFault(err):
		return "the library storage is unavailable"
	}
	return "the recording could not be encoded"
}
