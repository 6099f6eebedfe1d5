package web

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callrec/callrec/envelope"
	"github.com/callrec/callrec/store"
)

// workerRecording makes a ready DDI recording of tc as the audio worker would: the row is
// created, finished and its job claimed, place stores the MP3 of the row and says what the
// worker reports, and the job is completed with that. It returns the ready row.
func (w *world) workerRecording(t *testing.T, tc *tenantCo, callID string, place func(r *store.Recording) store.RecordingResult) *store.Recording {
	t.Helper()
	ctx := context.Background()
	r := &store.Recording{CompanyID: tc.co.ID, CallID: callID, Type: store.TypeDDI, Trigger: store.TriggerDDI, DDIID: tc.ddi.ID,
		Direction: store.DirectionInbound, Recorder: tc.ddi.Number, Caller: "+34600111222", Callee: tc.ddi.Number, StartedAt: time.Now().Add(-time.Minute)}
	must(t, w.db.CreateRecording(ctx, r))
	wav := filepath.Join(w.dir, r.ID+".wav")
	must(t, os.WriteFile(wav, []byte("RIFF"), 0o644))
	must(t, w.db.FinishRecording(ctx, r.ID, time.Now(), 5000, wav))
	job, err := w.db.ClaimJob(ctx, time.Minute)
	must(t, err)
	must(t, w.db.CompleteRecording(ctx, job.ID, place(r)))
	got, err := w.db.Recording(ctx, r.ID)
	must(t, err)
	return got
}

// sealedRecording makes a ready recording of tc whose MP3 (content) is sealed on disk with the
// company's current data key, as the audio worker writes it for encrypt_at_rest.
func (w *world) sealedRecording(t *testing.T, tc *tenantCo, content []byte) *store.Recording {
	t.Helper()
	return w.workerRecording(t, tc, "call-sealed", func(r *store.Recording) store.RecordingResult {
		keyID, key, err := w.srv.Keys.SealingKey(context.Background(), tc.co.ID)
		must(t, err)
		var sealed bytes.Buffer
		sw, err := envelope.NewWriter(&sealed, keyID, key)
		must(t, err)
		_, err = sw.Write(content)
		must(t, err)
		must(t, sw.Close())
		mp3 := filepath.Join(w.dir, r.ID+".mp3")
		must(t, os.WriteFile(mp3, sealed.Bytes(), 0o644))
		return store.RecordingResult{MP3Path: mp3, DurationMS: 5000, FileSize: int64(len(content)), SHA256: hexSHA256(content), EncryptionKeyID: keyID}
	})
}

// A recording sealed at rest plays whole and by ranges across chunk boundaries, downloads, goes
// into an archive whose manifest hashes the MP3 inside, and once its sealed file is altered is
// refused as an integrity mismatch (row marked, counted), like a clear MP3 whose hash fails.
func TestSealed_PlaysRangesArchivesAndRefusesWhenAltered(t *testing.T) {
	iw := newIntegrityWorld(t)
	a1 := iw.co("A1")
	content := make([]byte, 200_000) // more than three 64 KiB chunks
	_, err := rand.Read(content)
	must(t, err)
	content[0], content[1] = 0xff, 0xf3
	rec := iw.sealedRecording(t, a1, content)
	if onDisk, _ := os.ReadFile(rec.MP3Path); bytes.Contains(onDisk, content[100:200]) {
		t.Fatal("the MP3 is in the clear on disk")
	}
	url := iw.srv.URL() + "/api/v1/recordings/" + rec.ID + "/audio"

	resp, body, err := rawGet(t, url, a1.adminTok)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, content) {
		t.Fatalf("full GET: %v %d, %d bytes (equal %v)", err, resp.StatusCode, len(body), bytes.Equal(body, content))
	}
	if cl := resp.Header.Get("Content-Length"); cl != fmt.Sprint(len(content)) {
		t.Errorf("Content-Length %s, want the MP3's %d (not the sealed file's)", cl, len(content))
	}
	for _, tc := range []struct {
		rng        string
		start, end int
	}{{"bytes=65530-65545", 65530, 65545}, {"bytes=-100", len(content) - 100, len(content) - 1}, {"bytes=131072-", 131072, len(content) - 1}, {"bytes=0-0", 0, 0}} {
		resp, body, err := rawGet(t, url, a1.adminTok, "Range", tc.rng)
		want := content[tc.start : tc.end+1]
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, want) {
			t.Errorf("%s: %v %d, %d bytes, want 206 and %d exact bytes", tc.rng, err, resp.StatusCode, len(body), len(want))
		}
		if cr := resp.Header.Get("Content-Range"); cr != fmt.Sprintf("bytes %d-%d/%d", tc.start, tc.end, len(content)) {
			t.Errorf("%s: Content-Range %q", tc.rng, cr)
		}
	}
	admin := newClient(t, iw.srv, a1.adminTok)
	if row := rowOf(t, admin, rec.ID); row["encryption_key_id"] != rec.EncryptionKeyID || row["file_size"] != float64(len(content)) {
		t.Errorf("row encryption_key_id %v file_size %v", row["encryption_key_id"], row["file_size"])
	}

	resp2, b := admin.do("POST", "/api/v1/recordings/archive", map[string]any{"ids": []string{rec.ID, a1.recDDI.ID}})
	if resp2.StatusCode != 200 {
		t.Fatalf("archive: %d %.200s", resp2.StatusCode, b)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	var manifest Manifest
	var inZip []byte
	for _, f := range zr.File {
		rc, err := f.Open()
		must(t, err)
		data, err := io.ReadAll(rc)
		rc.Close()
		must(t, err)
		switch {
		case f.Name == ManifestName:
			must(t, json.Unmarshal(data, &manifest))
		case f.Name == rec.FileName:
			inZip = data
		}
	}
	if !bytes.Equal(inZip, content) {
		t.Fatalf("the archive's entry %s is not the MP3 (%d bytes)", rec.FileName, len(inZip))
	}
	found := false
	for _, f := range manifest.Files {
		if f.RecordingID == rec.ID {
			found = f.SHA256 == rec.SHA256 && f.Size == int64(len(content))
		}
	}
	if !found {
		t.Errorf("manifest %+v does not list the MP3 inside with its hash and size", manifest.Files)
	}

	flipByte(t, rec.MP3Path) // a middle chunk: opening authenticates only the last one
	if resp, body, err := rawGet(t, url, a1.adminTok); err == nil && resp.StatusCode == 200 && bytes.Equal(body, content) {
		t.Fatal("the altered sealed file was served whole")
	}
	for _, hdr := range [][]string{nil, {"Range", "bytes=0-9"}} {
		resp, body, err := rawGet(t, url, a1.adminTok, hdr...)
		if err != nil || resp.StatusCode != 409 || apiErr(t, body).Code != codeIntegrity {
			t.Errorf("altered sealed file %v: %v %d %s, want 409 integrity_mismatch", hdr, err, resp.StatusCode, body)
		}
	}
	if row := rowOf(t, admin, rec.ID); row["integrity"] != store.IntegrityMismatch {
		t.Errorf("row integrity %v, want mismatch", row["integrity"])
	}
	if n := iw.mismatches(t, "audio"); n < 1 {
		t.Errorf("callrec_integrity_mismatches_total{where=audio} = %v, want ≥ 1", n)
	}
}

// Company admins list and rotate their company's data keys (ids and dates only, never key
// bytes); turning encrypt_at_rest on is a brand admin's; the master rotation is the platform
// admin's, and afterwards every sealed recording still plays.
func TestKeys_ListRotateAndMasterRotation(t *testing.T) {
	w := newWorld(t)
	a1 := w.co("A1")
	admin := newClient(t, w.srv, a1.adminTok)
	resp, b := admin.do("PATCH", "/api/v1/companies/"+a1.co.ID, map[string]any{"encrypt_at_rest": true})
	if resp.StatusCode != 403 || apiErr(t, b).Field != "encrypt_at_rest" {
		t.Fatalf("a company admin turned encrypt_at_rest on: %d %s", resp.StatusCode, b)
	}
	brand := newClient(t, w.srv, w.brandTok["A"])
	if resp, b := brand.do("PATCH", "/api/v1/companies/"+a1.co.ID, map[string]any{"encrypt_at_rest": true}); resp.StatusCode != 200 {
		t.Fatalf("brand admin PATCH encrypt_at_rest: %d %s", resp.StatusCode, b)
	}
	content := bytes.Repeat([]byte("mp3!"), 5000)
	first := w.sealedRecording(t, a1, content)

	resp, b = admin.do("POST", "/api/v1/companies/"+a1.co.ID+"/keys/rotate", nil)
	if resp.StatusCode != 201 {
		t.Fatalf("rotate: %d %s", resp.StatusCode, b)
	}
	var rotated map[string]any
	must(t, json.Unmarshal(b, &rotated))
	second := w.sealedRecording(t, a1, content)
	if second.EncryptionKeyID != rotated["id"] || first.EncryptionKeyID == second.EncryptionKeyID {
		t.Fatalf("after rotation sealed with %s, want %v", second.EncryptionKeyID, rotated["id"])
	}
	resp, b = admin.do("GET", "/api/v1/companies/"+a1.co.ID+"/keys", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list keys: %d %s", resp.StatusCode, b)
	}
	var list struct {
		Items         []map[string]any `json:"items"`
		EncryptAtRest bool             `json:"encrypt_at_rest"`
	}
	must(t, json.Unmarshal(b, &list))
	if len(list.Items) != 2 || list.Items[0]["retired_at"] == nil || list.Items[1]["retired_at"] != nil || !list.EncryptAtRest {
		t.Fatalf("keys %s", b)
	}
	for _, it := range list.Items {
		if len(it) != 3 && len(it) != 4 { // id, company_id, created_at (and retired_at)
			t.Errorf("a data key carries more than its id and dates: %v", it)
		}
	}

	for _, tok := range []string{a1.adminTok, w.brandTok["A"]} {
		if resp, _ := newClient(t, w.srv, tok).do("POST", "/api/v1/encryption/master/rotate", nil); resp.StatusCode != 403 {
			t.Errorf("master rotation by a non-platform admin: %d", resp.StatusCode)
		}
	}
	resp, b = newClient(t, w.srv, w.platform).do("POST", "/api/v1/encryption/master/rotate", nil)
	var mr masterRotation
	if resp.StatusCode != 200 || json.Unmarshal(b, &mr) != nil || mr.Rewrapped != 2 {
		t.Fatalf("master rotation: %d %s", resp.StatusCode, b)
	}
	for _, r := range []*store.Recording{first, second} {
		resp, body, err := rawGet(t, w.srv.URL()+"/api/v1/recordings/"+r.ID+"/audio", a1.adminTok)
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, content) {
			t.Errorf("%s after the master rotation: %v %d", r.ID, err, resp.StatusCode)
		}
	}
}
