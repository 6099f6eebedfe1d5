package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// TmpDirName is the directory under a Dir's root that holds objects being written. Its name
// starts with a dot, which no key segment may, so it never collides with an object; a caller
// may empty it at start-up, before any Put runs.
const TmpDirName = ".tmp"

// Dir is a Store on a local directory: key "a/b/c.mp3" is the file Root/a/b/c.mp3. It is the
// default backend and keeps callrec's library layout and its write discipline (temp file, fsync,
// rename, fsync of the directory). The zero value is not usable: set Root (an existing
// directory) and use the methods; Dir holds no open resources, so there is nothing to close.
type Dir struct {
	// Root is the library directory; it must exist. Objects are its files; directories are
	// created below it as keys need them.
	Root string
}

var _ Store = (*Dir)(nil)

// path resolves key inside Root, or gives an error wrapping ErrInvalidKey. ValidKey already
// rules out "..", absolute keys and empty segments; the lexical check below is a second guard so
// that no key ever names a file outside Root.
func (d *Dir) path(key string) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	p := filepath.Join(d.Root, filepath.FromSlash(key))
	if !within(d.Root, p) {
		return "", fmt.Errorf("key %q resolves outside the root: %w", key, ErrInvalidKey)
	}
	return p, nil
}

// within reports whether p lies strictly inside dir, lexically after Clean.
func within(dir, p string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(p))
	return err == nil && rel != "." && rel != ".." && !filepath.IsAbs(rel) &&
		!strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// Put writes r to a temp file in Root/.tmp, fsyncs it, renames it to the key's path (creating
// and fsyncing any missing parent directories first) and fsyncs the target directory, so the
// object survives a power loss once Put returns. Errors: ErrInvalidKey, ctx's error, r's error,
// or the file system's; on any of them the temp file is removed.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (err error) {
	dst, err := d.path(key)
	if err != nil {
		return err
	}
	tmpDir := filepath.Join(d.Root, TmpDirName)
	if err := os.MkdirAll(tmpDir, 0o750); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	f, err := os.CreateTemp(tmpDir, "put-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("put %s: write: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: fsync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put %s: close: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := d.mkdirAllSynced(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("put %s: rename: %w", key, err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// ctxReader stops a copy at the first read after ctx ends, so a cancelled Put does not go on
// reading a long source.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// mkdirAllSynced creates dir and its missing parents below Root, fsyncing the parent of each
// directory it creates, so the new path is durable before a file is renamed into it.
func (d *Dir) mkdirAllSynced(dir string) error {
	var created []string
	for p := dir; within(d.Root, p); p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		}
		created = append(created, p)
	}
	if len(created) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, p := range created {
		if err := syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

// syncDir fsyncs directory dir so a rename or create inside it survives a power loss.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// Open opens the key's file. Errors: ErrInvalidKey, ErrNotExist (also for a directory), or the
// file system's. ctx is checked once; reads from a local file do not block on it.
func (d *Dir) Open(ctx context.Context, key string) (Object, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, notExist(err))
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file: %w", ErrNotExist)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return &dirObject{File: f, size: st.Size(), mod: st.ModTime()}, nil
}

// dirObject is an open file whose size was fixed at Open.
type dirObject struct {
	*os.File
	size int64
	mod  time.Time
}

func (o *dirObject) Size() int64 { return o.size }

func (o *dirObject) ModTime() time.Time { return o.mod }

// notExist maps the file system's "no such file" (and "not a directory", a key under a file)
// onto ErrNotExist, keeping the original in the chain.
func notExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return errors.Join(ErrNotExist, err)
	}
	return err
}

// Stat stats the key's file. Errors: ErrInvalidKey, ErrNotExist (also for a directory), or
// the file system's.
func (d *Dir) Stat(ctx context.Context, key string) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		return Info{}, fmt.Errorf("stat %s: %w", key, notExist(err))
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("stat %s: not a regular file: %w", key, ErrNotExist)
	}
	return Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// Delete removes the key's file and fsyncs its directory; a missing file is not an error.
// Empty directories are left in place (a later Put reuses them). Errors: ErrInvalidKey, ctx's,
// or the file system's.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(notExist(err), ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// List walks the deepest directory every matching key lies in and calls fn for each regular
// file whose key starts with prefix. Entries whose name starts with a dot (TmpDirName, the
// library's own markers) and anything that is not a regular file are skipped. Errors:
// ErrInvalidKey for a bad prefix, ctx's, fn's, or the file system's.
func (d *Dir) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := validPrefix(prefix); err != nil {
		return err
	}
	base := d.Root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		base = filepath.Join(d.Root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == base && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == base {
			return nil
		}
		if strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(d.Root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while walking
		}
		if err != nil {
			return err
		}
		return fn(Info{Key: key, Size: st.Size(), ModTime: st.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("list %q: %w", prefix, err)
	}
	return nil
}

// PresignGet is not supported by a local directory: it always returns an error wrapping
// ErrNotSupported (serve the bytes through Open instead), or ErrInvalidKey for a bad key.
func (d *Dir) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	return "", fmt.Errorf("presign %s: a local directory has no URLs: %w", key, ErrNotSupported)
}
