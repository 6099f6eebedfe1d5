package library

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/objstore"
	"github.com/callrec/callrec/objstore/s3test"
	"github.com/callrec/callrec/store"
)

// s3Library starts a real S3-compatible server (versitygw) and returns the object store of a
// fresh bucket on it, as library.backend s3 configures it.
func s3Library(t *testing.T) *objstore.S3 {
	t.Helper()
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "recordings")
	objects, err := objstore.NewS3(context.Background(), objstore.S3Config{Endpoint: srv.Endpoint, Region: s3test.Region,
		Bucket: bucket, Prefix: "callrec/", PathStyle: true, AccessKeyID: s3test.AccessKey, SecretAccessKey: s3test.SecretKey})
	must(t, err)
	return objects
}

// objectBytes reads the object an MP3Path names, as stored.
func objectBytes(t *testing.T, objects objstore.Store, mp3Path string) []byte {
	t.Helper()
	key, ok := ObjectKey(mp3Path)
	if !ok {
		t.Fatalf("MP3Path %q names no object", mp3Path)
	}
	o, err := objects.Open(context.Background(), key)
	must(t, err)
	defer o.Close()
	b, err := io.ReadAll(io.NewSectionReader(o, 0, o.Size()))
	must(t, err)
	return b
}

// With library.backend s3 the worker puts each finished MP3 into the bucket before the row is
// ready (the row names the object; library_dir keeps nothing but its empty work directories),
// the MP3 reads back through OpenMP3 with the stored hash, a sealed company's object is sealed,
// and a deletion by the sweeper removes the object.
func TestWorker_PutsTheMP3IntoObjectStorageBeforeTheRowIsReady(t *testing.T) {
	ctx := context.Background()
	e := mustOpenEnv(t)
	objects := s3Library(t)
	keys, _, err := LoadKeys(ctx, e.db, filepath.Join(t.TempDir(), "master.key"))
	must(t, err)
	sealedCo := e.addCompany(t, "Sealed", 0, 0)
	sealedCo.EncryptAtRest = true
	must(t, e.db.UpdateCompany(ctx, sealedCo))

	w := e.worker()
	w.Objects, w.Keys = objects, keys
	var readyBeforePut bool
	committed := 0
	w.hook = func(step string) {
		switch step {
		case "renamed": // this job's object is in the bucket now; its row must not be ready yet
			recs, _ := e.db.RecordingsInState(ctx, store.StateReady, 0)
			readyBeforePut = readyBeforePut || len(recs) > committed
		case "committed":
			committed++
		}
	}
	clear, _ := e.queueWAV(t, 8000, 1, 8000*2)
	wav := filepath.Join(e.spool, "sealed.wav")
	writeWAV(t, wav, 8000, 1, 8000*2)
	sealed := e.queue(t, sealedCo.ID, wav, 2000)
	if n := drain(t, w); n != 2 {
		t.Fatalf("processed %d jobs, want 2", n)
	}
	if readyBeforePut {
		t.Fatal("a row was ready before its object was put")
	}

	c := e.recording(t, clear.ID)
	key, ok := ObjectKey(c.MP3Path)
	if c.State != store.StateReady || !ok || !strings.HasPrefix(key, c.CompanyID+"/") || !strings.HasSuffix(key, c.ID+".mp3") {
		t.Fatalf("row state %s MP3Path %q, want ready and s3:<company>/<yyyy>/<mm>/<id>.mp3", c.State, c.MP3Path)
	}
	mp3 := objectBytes(t, objects, c.MP3Path)
	sum := sha256.Sum256(mp3)
	if hex.EncodeToString(sum[:]) != c.SHA256 || int64(len(mp3)) != c.FileSize {
		t.Fatalf("the object is not the MP3 the row describes (%d bytes)", len(mp3))
	}
	src := Source{Objects: objects, Keys: keys}
	if got := readSource(t, src, c); !bytes.Equal(got, mp3) {
		t.Fatal("OpenMP3 does not give the object's bytes")
	}
	for _, d := range []string{tmpDirName, inflightDirName} {
		if left, _ := os.ReadDir(filepath.Join(e.lib, d)); len(left) != 0 {
			t.Errorf("library_dir/%s keeps %d entries after the jobs", d, len(left))
		}
	}
	if _, err := os.Stat(filepath.Join(e.lib, c.CompanyID)); err == nil {
		t.Error("an MP3 directory was made in library_dir with the s3 backend")
	}

	s := e.recording(t, sealed.ID)
	raw := objectBytes(t, objects, s.MP3Path)
	inside := readSource(t, src, s)
	if string(raw[:4]) != "CRAE" || bytes.Contains(raw, inside[:64]) || int64(len(inside)) != s.FileSize {
		t.Fatal("the sealed company's object is not sealed, or does not open to its MP3")
	}

	sw := &Sweeper{DB: e.db, LibraryDir: e.lib, SpoolDirs: []string{e.spool}, Logger: e.logger(), Objects: objects, Now: e.clock.Now}
	if _, err := e.db.DeleteRecording(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	must(t, sw.RemoveFiles(ctx, c))
	if _, err := objects.Stat(ctx, key); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("the deleted recording's object is still there: %v", err)
	}
}

// A run killed after putting the object and before committing the row leaves a marker; the next
// start finds the recording deleted meanwhile and deletes its object, so nothing in the bucket
// is named by no row.
func TestRecover_DeletesTheObjectOfARecordingGoneBeforeItsCommit(t *testing.T) {
	ctx := context.Background()
	e := mustOpenEnv(t)
	objects := s3Library(t)
	rec, _ := e.queueWAV(t, 8000, 1, 8000)
	w := e.worker()
	w.Objects = objects
	c, err := w.config()
	must(t, err)
	must(t, w.recover(ctx, c))
	job, err := e.db.ClaimJob(ctx, time.Minute)
	must(t, err)
	dst, err := w.destination(c, rec)
	must(t, err)
	if _, _, _, err := w.encode(ctx, c, job, rec, dst, sealWith{}); err != nil {
		t.Fatal(err)
	}
	key, _ := ObjectKey(dst)
	if _, err := objects.Stat(ctx, key); err != nil {
		t.Fatalf("the object was not put: %v", err)
	}
	// The process dies here; meanwhile the recording is deleted.
	if _, err := e.db.DeleteRecording(ctx, rec.ID); err != nil {
		t.Fatal(err)
	}
	w2 := e.worker()
	w2.Objects = objects
	must(t, w2.recover(ctx, c))
	if _, err := objects.Stat(ctx, key); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("the orphaned object survived the restart: %v", err)
	}
}

func readSource(t *testing.T, src Source, r *store.Recording) []byte {
	t.Helper()
	m, err := OpenMP3(context.Background(), src, r)
	if err != nil {
		t.Fatalf("OpenMP3 %s: %v", r.ID, err)
	}
	defer m.Close()
	b, err := io.ReadAll(io.NewSectionReader(m, 0, m.Size))
	must(t, err)
	return b
}
