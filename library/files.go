package library

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/callrec/callrec/store"
)

// Directories inside library_dir that hold no recordings. Their names start with a dot, which
// no company id may (see segment), so they can never collide with a company's directory.
const (
	tmpDirName      = ".tmp"      // MP3s being written; emptied at start-up
	inflightDirName = ".inflight" // one marker per job between the MP3's rename and the WAV's removal
)

// ErrOutsideLibrary is wrapped by MP3Path when a company or recording id would place the MP3
// outside library_dir (a path separator, "..", a leading dot, an empty id).
var ErrOutsideLibrary = errors.New("path escapes the library directory")

// MP3Path returns where the MP3 of recording r lives: libraryDir/<company>/<yyyy>/<mm>/<id>.mp3,
// year and month of r.StartedAt in UTC. Any caller may use it. Ids come from the store but are
// still checked: an id with a path separator, a NUL, a leading dot or that is empty gives an
// error wrapping ErrOutsideLibrary, and so does a result that would not lie inside libraryDir.
func MP3Path(libraryDir string, r *store.Recording) (string, error) {
	for _, s := range []struct{ what, v string }{{"company id", r.CompanyID}, {"recording id", r.ID}} {
		if err := segment(s.v); err != nil {
			return "", fmt.Errorf("%s %q: %w", s.what, s.v, err)
		}
	}
	t := r.StartedAt.UTC()
	p := filepath.Join(libraryDir, r.CompanyID, fmt.Sprintf("%04d", t.Year()), fmt.Sprintf("%02d", int(t.Month())), r.ID+".mp3")
	if !inside(libraryDir, p) {
		return "", fmt.Errorf("%s: %w", p, ErrOutsideLibrary)
	}
	return p, nil
}

// segment accepts a single, visible path element.
func segment(s string) error {
	if s == "" || strings.HasPrefix(s, ".") || strings.ContainsAny(s, "/\\\x00") || len(s) > 128 {
		return ErrOutsideLibrary
	}
	return nil
}

// inside reports whether path p lies strictly inside directory dir (lexically, after Clean).
func inside(dir, p string) bool {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(p))
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// syncDir fsyncs directory dir so that a rename or create inside it survives a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// mkdirAllSynced creates dir and any missing parents below root, fsyncing the parent of each
// directory it creates, so the new path is durable before a file is renamed into it.
func mkdirAllSynced(root, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	var created []string
	for d := dir; d != root && inside(root, d); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// removeFile removes path; a file already gone is not an error.
func removeFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// marker is the record of a job whose MP3 may already be in place but whose WAV may not be
// removed yet (library_dir/.inflight/<recording-id>.json).
type marker struct {
	RecordingID string `json:"recording_id"`
	JobID       string `json:"job_id"`
	WAVPath     string `json:"wav_path"`
	MP3Path     string `json:"mp3_path"`
}

func markerPath(libraryDir, recordingID string) string {
	return filepath.Join(libraryDir, inflightDirName, recordingID+".json")
}

// writeMarker writes m durably (file and directory fsynced) before the MP3 is renamed into place.
func writeMarker(libraryDir string, m marker) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	dir := filepath.Join(libraryDir, inflightDirName)
	f, err := os.CreateTemp(dir, "."+m.RecordingID+".*")
	if err != nil {
		return fmt.Errorf("marker: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), markerPath(libraryDir, m.RecordingID))
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("marker %s: %w", m.RecordingID, err)
	}
	return syncDir(dir)
}

func readMarker(path string) (marker, error) {
	var m marker
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("marker %s: %w", path, err)
	}
	return m, nil
}
