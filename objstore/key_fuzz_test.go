package objstore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzKey: for any string, ValidKey and the Dir's resolution agree, a valid key is also a valid
// List prefix and resolves strictly inside the root, and a Put under it writes exactly one file
// there and nothing beside the root. A refused key writes nothing at all.
func FuzzKey(f *testing.F) {
	for _, k := range append([]string{"acme/2026/01/r.mp3", "a", "a/b", "a.b/c..d/e...", "ü/ß.mp3", "a/b/c/d/e/f"}, badKeys...) {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		parent := t.TempDir()
		root := filepath.Join(parent, "root")
		if err := os.Mkdir(root, 0o750); err != nil {
			t.Fatal(err)
		}
		d := &Dir{Root: root}
		verr := ValidKey(key)
		p, perr := d.path(key)
		if (verr == nil) != (perr == nil) {
			t.Fatalf("ValidKey(%q) = %v but Dir resolves it with %v", key, verr, perr)
		}
		if verr != nil && !errors.Is(verr, ErrInvalidKey) {
			t.Fatalf("ValidKey(%q) = %v, not wrapping ErrInvalidKey", key, verr)
		}
		if verr == nil {
			if err := validPrefix(key); err != nil {
				t.Fatalf("valid key %q is not a valid prefix: %v", key, err)
			}
			rel, err := filepath.Rel(root, p)
			if err != nil || rel == "." || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) || filepath.ToSlash(rel) != key {
				t.Fatalf("key %q resolves to %q (rel %q, %v), not root/key", key, p, rel, err)
			}
		}
		err := d.Put(t.Context(), key, bytes.NewReader([]byte("x")))
		if (err == nil) != (verr == nil) {
			t.Fatalf("Put(%q) = %v, ValidKey %v", key, err, verr)
		}
		// Beside the root: nothing. Inside: the one file, at the key's path (and .tmp, empty).
		if es, _ := os.ReadDir(parent); len(es) != 1 {
			t.Fatalf("Put(%q) created %d entries beside the root", key, len(es)-1)
		}
		var files []string
		_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				rel, _ := filepath.Rel(root, p)
				files = append(files, filepath.ToSlash(rel))
			}
			return nil
		})
		want := 0
		if verr == nil {
			want = 1
		}
		if len(files) != want || (want == 1 && files[0] != key) {
			t.Fatalf("Put(%q) left files %q, want exactly the key's", key, files)
		}
	})
}
