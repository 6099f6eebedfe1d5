package web

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/objstore"
	"github.com/callrec/callrec/objstore/s3test"
	"github.com/callrec/callrec/store"
)

// objectRecording makes a ready recording of tc whose MP3 (content) is an object in objects, as
// the audio worker leaves it with library.backend s3.
func (w *world) objectRecording(t *testing.T, tc *tenantCo, objects objstore.Store, content []byte) *store.Recording {
	t.Helper()
	return w.workerRecording(t, tc, "call-s3", func(r *store.Recording) store.RecordingResult {
		key := tc.co.ID + "/2026/12/" + r.ID + ".mp3"
		must(t, objects.Put(context.Background(), key, bytes.NewReader(content)))
		return store.RecordingResult{MP3Path: "s3:" + key, DurationMS: 5000, FileSize: int64(len(content)), SHA256: hexSHA256(content)}
	})
}

// With library.presign_ttl an inline playback of an MP3 kept in object storage is a 302 to a
// pre-signed URL of the object (audited once, like a streamed one) that serves the bytes and
// ranges without a token; a download is streamed with its file name; the page's
// Content-Security-Policy allows the object store's origin as a media source.
func TestAudio_PresignedRedirectToTheObject(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "library")
	objects, err := objstore.NewS3(context.Background(), objstore.S3Config{Endpoint: srv.Endpoint, Region: s3test.Region, Bucket: bucket,
		PathStyle: true, AccessKeyID: s3test.AccessKey, SecretAccessKey: s3test.SecretKey})
	must(t, err)
	w := newWorld(t, func(s *Server) { s.Objects, s.PresignAudio = objects, time.Minute })
	a1 := w.co("A1")
	content := bytes.Repeat([]byte{0xff, 0xf3, 1, 2, 3, 4, 5, 6}, 3000)
	rec := w.objectRecording(t, a1, objects, content)

	noFollow := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(url, token string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := noFollow.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	audio := w.srv.URL() + "/api/v1/recordings/" + rec.ID + "/audio"
	resp, _ := get(audio, a1.adminTok)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 302 || !strings.HasPrefix(loc, srv.Endpoint+"/") {
		t.Fatalf("inline playback: %d Location %q, want 302 to the object store", resp.StatusCode, loc)
	}
	if resp, body := get(loc, ""); resp.StatusCode != 200 || !bytes.Equal(body, content) {
		t.Fatalf("the pre-signed URL answers %d (%d bytes), want the MP3", resp.StatusCode, len(body))
	}
	if resp, body := get(loc, "", "Range", "bytes=8-15"); resp.StatusCode != 206 || !bytes.Equal(body, content[8:16]) {
		t.Fatalf("a range of the pre-signed URL: %d %v", resp.StatusCode, body)
	}
	page, _, err := w.db.AuditPage(context.Background(), store.AuditChain("", a1.co.ID), 0, 10)
	must(t, err)
	plays := 0
	for _, e := range page {
		if e.Action == store.AuditPlay && e.RecordingID == rec.ID {
			plays++
		}
	}
	if plays != 1 {
		t.Errorf("%d play entries for one redirected playback, want 1", plays)
	}
	resp, body := get(audio+"?download=1", a1.adminTok)
	if resp.StatusCode != 200 || !bytes.Equal(body, content) || !strings.Contains(resp.Header.Get("Content-Disposition"), rec.FileName) {
		t.Fatalf("download: %d %q (%d bytes), want it streamed with its name", resp.StatusCode, resp.Header.Get("Content-Disposition"), len(body))
	}
	resp, _ = get(w.srv.URL()+"/", "")
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "media-src 'self' blob: "+srv.Endpoint) {
		t.Errorf("the page's CSP %q does not allow the object store as a media source", csp)
	}
}
