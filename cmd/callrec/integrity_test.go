package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/envelope"
	"github.com/callrec/callrec/library"
	"github.com/callrec/callrec/store"
	"github.com/callrec/callrec/web"
)

// signingKeyID starts serve on dir, reads key_id from /api/v1/signing-key (no token) and stops it.
func signingKeyID(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"},
			[]string{"CALLREC_FREESWITCH__NODES="}, &stdout, &stderr)
	}()
	url := waitForLog(t, &stderr, `"http":"(http://[^"]+)"`, done)
	resp, err := http.Get(url + "/api/v1/signing-key")
	must(t, err)
	defer resp.Body.Close()
	var k struct {
		KeyID string `json:"key_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil || resp.StatusCode != 200 || k.KeyID == "" {
		t.Fatalf("signing-key: %d %v %+v", resp.StatusCode, err, k)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	return k.KeyID
}

// The archive signing key is made at the first start next to the store (0600) and is the same
// after a restart; a key file that is corrupt stops the start (exit 1, naming the file) and is
// left as it was, never replaced by a new key.
func TestServe_SigningKeyPersistsAndACorruptOneRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	first := signingKeyID(t, dir)
	path := filepath.Join(dir, "signing.key")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no key file next to the store: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	if again := signingKeyID(t, dir); again != first {
		t.Fatalf("key id %s after a restart, was %s", again, first)
	}

	corrupt := []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	must(t, os.WriteFile(path, corrupt, 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"},
		[]string{"CALLREC_FREESWITCH__NODES="}, &syncBuffer{}, &syncBuffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("serve with a corrupt key: %v, want exit 1 naming %s as corrupt", err, path)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, corrupt) {
		t.Fatal("the corrupt key file was replaced")
	}
}

// archiveWorld is a store with one ready recording (mp3) served by a web.Server with key; it
// returns the server, a platform token and the URL of that recording's archive.
func archiveWorld(t *testing.T, key *web.SigningKey, mp3 []byte) (srv *web.Server, token, archiveURL string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "callrec.db"), store.Options{NoSync: true})
	must(t, err)
	t.Cleanup(func() { db.Close() })
	b := &store.Brand{Name: "B"}
	must(t, db.CreateBrand(ctx, b))
	c := &store.Company{BrandID: b.ID, Name: "C"}
	must(t, db.CreateCompany(ctx, c))
	secret, hash, err := store.NewTokenSecret()
	must(t, err)
	must(t, db.CreateToken(ctx, &store.Token{Name: "p", Role: store.RolePlatform, Hash: hash}))
	r := &store.Recording{CompanyID: c.ID, CallID: "x", Type: store.TypeDDI, Trigger: store.TriggerDDI, Direction: store.DirectionInbound,
		Recorder: "+34911234567", Caller: "+34600111222", Callee: "+34911234567"}
	must(t, db.CreateRecording(ctx, r))
	must(t, db.FinishRecording(ctx, r.ID, r.StartedAt.Add(time.Second), 1000, filepath.Join(dir, "x.wav")))
	job, err := db.ClaimJob(ctx, time.Minute)
	must(t, err)
	mp3Path := filepath.Join(dir, r.ID+".mp3")
	must(t, os.WriteFile(mp3Path, mp3, 0o640))
	sum := sha256.Sum256(mp3)
	must(t, db.CompleteRecording(ctx, job.ID, store.RecordingResult{MP3Path: mp3Path, DurationMS: 1000, FileSize: int64(len(mp3)), SHA256: hex.EncodeToString(sum[:])}))
	srv = &web.Server{Addr: "127.0.0.1:0", DB: db, Logger: zerolog.New(io.Discard), SigningKey: key}
	must(t, srv.Open())
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv, secret, srv.URL() + "/api/v1/recordings/archive?ids=" + r.ID
}

// `callrec verify` accepts an archive callrec made, with the key given or fetched from
// /signing-key, and refuses (exit 1, saying why) one altered after the fact or checked against
// another key; usage errors are exit 2.
func TestVerify_ChecksAnArchiveAgainstThePublishedKey(t *testing.T) {
	key, err := web.NewSigningKey()
	must(t, err)
	mp3 := bytes.Repeat([]byte("ID3 not really an mp3 "), 200)
	srv, tok, url := archiveWorld(t, key, mp3)
	req, err := http.NewRequest("GET", url, nil)
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	zipBytes, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("archive: %v %d", err, resp.StatusCode)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.zip")
	must(t, os.WriteFile(good, zipBytes, 0o600))
	altered := bytes.Replace(zipBytes, []byte("not really"), []byte("NOT really"), 1)
	if bytes.Equal(altered, zipBytes) {
		t.Fatal("test MP3 not found in the archive")
	}
	bad := filepath.Join(dir, "altered.zip")
	must(t, os.WriteFile(bad, altered, 0o600))
	other, err := web.NewSigningKey()
	must(t, err)
	b64 := func(k *web.SigningKey) string { return base64.StdEncoding.EncodeToString(k.Public()) }

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"the key given", []string{"--key", b64(key), good}, 0, "OK " + good + ": 1 files, manifest signed by key " + key.ID()},
		{"the key fetched", []string{"--key-url", srv.URL(), good}, 0, "1 files"},
		{"an altered MP3", []string{"--key", b64(key), bad}, 1, "FAIL"},
		{"another key", []string{"--key", b64(other), good}, 1, "signature does not verify"},
		{"no key", []string{good}, 2, ""},
		{"both keys", []string{"--key", b64(key), "--key-url", srv.URL(), good}, 2, ""},
		{"a bad key", []string{"--key", "abc", good}, 2, ""},
		{"no such file", []string{"--key", b64(key), filepath.Join(dir, "none.zip")}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"verify"}, tc.args...), nil, &out, io.Discard)
			code := 0
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			} else if err != nil {
				code = -1
			}
			if code != tc.code || !strings.Contains(out.String(), tc.contains) {
				t.Fatalf("exit %d (%v), output %q; want exit %d with %q", code, err, out.String(), tc.code, tc.contains)
			}
		})
	}
}

// serve makes DATA/master.key at the first start (0600); once the store holds a data key
// wrapped by it, a start without the file, or with another master key file, exits 1 naming
// the file, and no new master key file is made in its place.
func TestServe_MasterKeyMadeOnceAndAMissingOneRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	signingKeyID(t, dir) // one start and stop
	path := filepath.Join(dir, "master.key")
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file after the first start: %v %v, want mode 0600", fi, err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "callrec.db"), store.Options{})
	must(t, err)
	b := &store.Brand{Name: "B"}
	must(t, db.CreateBrand(ctx, b))
	c := &store.Company{BrandID: b.ID, Name: "C", EncryptAtRest: true}
	must(t, db.CreateCompany(ctx, c))
	keys, _, err := library.LoadKeys(ctx, db, path)
	must(t, err)
	_, _, err = keys.SealingKey(ctx, c.ID) // the company's first data key
	must(t, err)
	must(t, db.Close())
	original, err := os.ReadFile(path)
	must(t, err)

	serve := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"},
			[]string{"CALLREC_FREESWITCH__NODES="}, &syncBuffer{}, &syncBuffer{})
	}
	must(t, os.Rename(path, path+".away"))
	var ee *exitError
	if err := serve(); !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), path) {
		t.Fatalf("serve without the master key file: %v, want exit 1 naming %s", err, path)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("serve made a new master key file over a store whose data keys need the old one")
	}
	if _, err := envelope.CreateMasterRing(path); err != nil { // another installation's file
		t.Fatal(err)
	}
	if err := serve(); !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "lacks master key") {
		t.Fatalf("serve with another master key file: %v, want exit 1", err)
	}
	must(t, os.Rename(path+".away", path))
	if after, _ := os.ReadFile(path); !bytes.Equal(after, original) {
		t.Fatal("the master key file changed")
	}
}
