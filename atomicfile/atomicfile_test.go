package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite_NewReplaceRefuseAndFail(t *testing.T) {
	text := func(s string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
	}
	broken := errors.New("broken source")
	tests := []struct {
		name     string
		existing string // "" for none
		replace  bool
		write    func(io.Writer) error
		wantErr  bool
		want     string
	}{
		{"new file", "", false, text("new"), false, "new"},
		{"replace", "old", true, text("new"), false, "new"},
		{"no replace keeps the file", "old", false, text("new"), true, "old"},
		{"a failing write changes nothing", "old", true, func(w io.Writer) error { io.WriteString(w, "part"); return broken }, true, "old"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "sub")
			path := filepath.Join(dir, "key")
			if tc.existing != "" {
				if err := os.MkdirAll(dir, 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(path, 0o600, tc.replace, tc.write)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			b, rerr := os.ReadFile(path)
			if rerr != nil || string(b) != tc.want {
				t.Fatalf("file %q (%v), want %q", b, rerr, tc.want)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v", fi.Mode().Perm())
			}
			if es, _ := os.ReadDir(dir); len(es) != 1 {
				t.Errorf("%d entries in the directory, want only the file (no temporary left)", len(es))
			}
		})
	}
}
