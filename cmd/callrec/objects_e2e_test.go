package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
	"github.com/callrec/callrec/objstore"
	"github.com/callrec/callrec/objstore/s3test"
)

// TestServe_EndToEnd_LibraryOnS3 is `callrec serve` with library.backend s3 against a real
// S3-compatible server (versitygw), configured the way the README says: an inbound DDI call
// ends ready with its MP3 in the bucket (none in library_dir), plays through the API (whole
// and by range), and a DELETE removes the object. A bucket that does not exist stops the start
// (exit 1) instead of failing every recording later.
func TestServe_EndToEnd_LibraryOnS3(t *testing.T) {
	s3srv := s3test.Start(t)
	bucket := s3srv.Bucket(t, "callrec-library")
	dir := t.TempDir()
	s3args := []string{"--config", writeYAML(t, dir, `
library:
  backend: s3
  s3:
    endpoint: `+s3srv.Endpoint+`
    bucket: `+bucket+`
    prefix: recordings/
    path_style: true
    access_key_id: `+s3test.AccessKey+`
    secret_access_key: `+s3test.SecretKey+`
`)}
	srv := startServe(t, append(s3args, "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json")...)
	api := srv.api
	brand := api.create("brands", map[string]any{"name": "Brand"})
	company := api.create("companies", map[string]any{"brand_id": brand, "name": "Acme"})
	api.create("ddis", map[string]any{"company_id": company, "number": "+34 911 234 567", "record_calls": "inbound"})
	api.create("users", map[string]any{"company_id": company, "name": "Ana", "extension": "1001", "sip_user": "1001"})
	fs := renderedFreeSWITCH(t, fsconf.Options{ESLListen: srv.esl, RecordPath: filepath.Join(dir, "ondemand"), InboundPassword: "ClueCon"},
		operatorBridge(`^\+34911234567$`, "1001"), fstest.Options{Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}}})

	rec := placeRecordedInboundCall(t, fs, api, "+34911234567", 3*time.Second)
	if d := api.playableMP3(rec.ID, rec.FileName); d < 2900*time.Millisecond || d > 3700*time.Millisecond {
		t.Fatalf("MP3 duration %v", d)
	}
	objects, err := objstore.NewS3(context.Background(), objstore.S3Config{Endpoint: s3srv.Endpoint, Region: s3test.Region, Bucket: bucket,
		Prefix: "recordings/", PathStyle: true, AccessKeyID: s3test.AccessKey, SecretAccessKey: s3test.SecretKey})
	must(t, err)
	var keys []string
	must(t, objects.List(context.Background(), "", func(i objstore.Info) error { keys = append(keys, i.Key); return nil }))
	if len(keys) != 1 || !strings.HasSuffix(keys[0], rec.ID+".mp3") || !strings.HasPrefix(keys[0], company+"/") {
		t.Fatalf("objects in the bucket: %v, want the recording's MP3", keys)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "library", company, "*")); len(matches) != 0 {
		t.Fatalf("MP3s in library_dir with the s3 backend: %v", matches)
	}
	status, body := api.raw("GET", "/recordings/"+rec.ID+"/audio", "Range", "bytes=100-199")
	if status != 206 || len(body) != 100 {
		t.Fatalf("range of the S3-backed MP3: %d, %d bytes", status, len(body))
	}
	if status, _ := api.raw("DELETE", "/recordings/"+rec.ID); status != 204 {
		t.Fatalf("DELETE: %d", status)
	}
	if _, err := objects.Stat(context.Background(), keys[0]); !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("the deleted recording's object is still in the bucket: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bad := []string{"serve", "--config", writeYAML(t, t.TempDir(), `
library:
  backend: s3
  s3: {endpoint: `+s3srv.Endpoint+`, bucket: no-such-bucket, path_style: true, access_key_id: `+s3test.AccessKey+`, secret_access_key: `+s3test.SecretKey+`}
`), "--data_dir", t.TempDir(), "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"}
	err = run(ctx, bad, []string{"CALLREC_FREESWITCH__NODES="}, &syncBuffer{}, &syncBuffer{})
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("serve on a missing bucket: %v, want exit 1 naming it", err)
	}
}

// writeYAML writes body as dir/callrec.yaml and returns its path.
func writeYAML(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "callrec.yaml")
	must(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

// raw sends method path with header pairs hdr and returns the status and body, whatever the
// status.
func (a *apiClient) raw(method, path string, hdr ...string) (int, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
