package library

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/callrec/callrec/objstore"
	"github.com/callrec/callrec/store"
)

// The library on object storage (issue 16 item 1, library.backend s3). library_dir stays where
// the worker writes each MP3 first (.tmp) and keeps its in-flight markers (.inflight); the
// finished MP3 is then put into the object store, durable before its row is committed, under
// the key <company>/<yyyy>/<mm>/<id>.mp3 (the layout of library_dir), and the row's MP3Path
// names it as "s3:" and the key. A row whose MP3Path is an absolute path still names a file in
// library_dir: recordings made before a move to object storage stay where they are and play.

// objectScheme starts the MP3Path of an MP3 kept in the object store.
const objectScheme = "s3:"

// ObjectKey reports the object-store key an MP3Path names, and whether it names one.
func ObjectKey(mp3Path string) (string, bool) {
	k, ok := strings.CutPrefix(mp3Path, objectScheme)
	return k, ok && k != ""
}

// objectKeyOf is where recording r's MP3 goes in the object store: its path under library_dir.
func objectKeyOf(r *store.Recording) (string, error) {
	p, err := MP3Path("/", r)
	if err != nil {
		return "", err
	}
	key := strings.TrimPrefix(p, "/")
	if err := objstore.ValidKey(key); err != nil {
		return "", fmt.Errorf("%w: %w", ErrOutsideLibrary, err)
	}
	return key, nil
}

// putObject puts the finished MP3 at tmp into objects under key, durable when it returns,
// touching p as the upload reads (the worker's watchdog sees an upload that makes progress).
func putObject(ctx context.Context, objects objstore.Store, key, tmp string, p *progress) error {
	f, err := os.Open(tmp)
	if err != nil {
		return libraryErr(fmt.Errorf("open the encoded MP3: %w", err))
	}
	defer f.Close()
	if err := objects.Put(ctx, key, progressReader{f, p}); err != nil {
		return libraryErr(fmt.Errorf("put the MP3 into the object store: %w", err))
	}
	return nil
}

// removeObject deletes the object an MP3Path names (deleting a missing one is not an error).
// Errors: no object store configured, the store's.
func removeObject(ctx context.Context, objects objstore.Store, mp3Path string) error {
	key, _ := ObjectKey(mp3Path)
	if objects == nil {
		return fmt.Errorf("MP3 %s is in an object store and library.backend is not s3", mp3Path)
	}
	if err := objects.Delete(ctx, key); err != nil && !errors.Is(err, objstore.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", mp3Path, err)
	}
	return nil
}
