package objstore

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestDir_ReadsALibraryWrittenBeforeIt: a library directory as callrec's library package lays it
// out (<company>/<yyyy>/<mm>/<id>.mp3 beside its .tmp and .inflight directories) is readable
// through Dir unchanged, and List shows the recordings but none of the library's own files.
func TestDir_ReadsALibraryWrittenBeforeIt(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"acme/2026/01/01JABC.mp3":       "mp3 one",
		"acme/2026/02/01JDEF.mp3":       "mp3 two",
		".tmp/01JGHI.123.mp3":           "half written",
		".inflight/01JDEF.json":         `{"recording_id":"01JDEF"}`,
		"acme/2026/02/.hidden-leftover": "x",
	}
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	d := &Dir{Root: root}
	if got := mustRead(t, d, "acme/2026/01/01JABC.mp3"); string(got) != "mp3 one" {
		t.Errorf("read %q", got)
	}
	if got, want := listed(t, d, ""), []string{"acme/2026/01/01JABC.mp3:7", "acme/2026/02/01JDEF.mp3:7"}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
}
