package web

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// integrityWorld is the test world with a log, the integrity metrics and a signing key.
type integrityWorld struct {
	*world
	logs *lockedBuffer
	reg  *prometheus.Registry
	key  *SigningKey
}

func newIntegrityWorld(t *testing.T) *integrityWorld {
	t.Helper()
	iw := &integrityWorld{logs: &lockedBuffer{}, reg: prometheus.NewRegistry()}
	m, err := NewIntegrityMetrics(iw.reg)
	must(t, err)
	iw.key, err = NewSigningKey()
	must(t, err)
	iw.world = newWorld(t, func(s *Server) {
		s.Logger = zerolog.New(iw.logs)
		s.IntegrityMetrics = m
		s.SigningKey = iw.key
	})
	return iw
}

// mismatches is callrec_integrity_mismatches_total{where}.
func (iw *integrityWorld) mismatches(t *testing.T, where string) float64 {
	t.Helper()
	mfs, err := iw.reg.Gather()
	must(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "callrec_integrity_mismatches_total" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "where" && l.GetValue() == where {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no callrec_integrity_mismatches_total{where=%q}", where)
	return 0
}

// mismatchLogs are the logged integrity_mismatch decisions.
func (iw *integrityWorld) mismatchLogs(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(iw.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["decision"] == "integrity_mismatch" {
			out = append(out, m)
		}
	}
	return out
}

// rawGet is a GET whose body may end short: the read error is returned, not fatal.
func rawGet(t *testing.T, url, token string, hdr ...string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	must(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// flipByte alters one byte in the middle of the file at path, keeping its size (and moving its
// modification time on, as any write does).
func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	b[len(b)/2] ^= 0xff
	must(t, os.WriteFile(path, b, 0o644))
	later := time.Now().Add(2 * time.Second)
	must(t, os.Chtimes(path, later, later))
}

// rowOf reads a recording's JSON through the API.
func rowOf(t *testing.T, c *client, id string) map[string]any {
	t.Helper()
	resp, b := c.do("GET", "/api/v1/recordings/"+id, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET recording: %d %s", resp.StatusCode, b)
	}
	var m map[string]any
	must(t, json.Unmarshal(b, &m))
	return m
}

// A full GET streams the file with its Repr-Digest (RFC 9530) and sha256 in the row; once the
// file is altered in the library the altered bytes are never delivered whole (the body ends
// short), the mismatch is logged with the recording and company, counted, and shown on the row,
// and every later request for it (full, range, archive) is refused with 409.
func TestAudio_TamperedMP3IsRefusedFlaggedAndCounted(t *testing.T) {
	iw := newIntegrityWorld(t)
	a1 := iw.co("A1")
	admin := newClient(t, iw.srv, a1.adminTok)
	rec := a1.recDDI
	url := iw.srv.URL() + "/api/v1/recordings/" + rec.ID + "/audio"
	sum := sha256.Sum256(iw.mp3)

	resp, body, err := rawGet(t, url, a1.adminTok)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, iw.mp3) {
		t.Fatalf("untouched file: %v %d, %d bytes", err, resp.StatusCode, len(body))
	}
	if got, want := resp.Header.Get("Repr-Digest"), "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":"; got != want {
		t.Errorf("Repr-Digest %q, want %q", got, want)
	}
	if row := rowOf(t, admin, rec.ID); row["sha256"] != hex.EncodeToString(sum[:]) || row["integrity"] != "" {
		t.Errorf("row sha256 %v integrity %v", row["sha256"], row["integrity"])
	}

	flipByte(t, rec.MP3Path)
	resp, body, err = rawGet(t, url, a1.adminTok)
	if err == nil && resp.StatusCode == 200 && len(body) == len(iw.mp3) {
		t.Fatalf("the altered file was served whole (%d bytes, no error)", len(body))
	}
	logs := iw.mismatchLogs(t)
	if len(logs) != 1 || logs[0]["recording_id"] != rec.ID || logs[0]["company_id"] != rec.CompanyID || logs[0]["level"] != "error" {
		t.Fatalf("mismatch log %v", logs)
	}
	if n := iw.mismatches(t, "audio"); n != 1 {
		t.Errorf("callrec_integrity_mismatches_total{where=audio} = %v, want 1", n)
	}
	if row := rowOf(t, admin, rec.ID); row["integrity"] != store.IntegrityMismatch || row["state"] != store.StateReady {
		t.Errorf("row integrity %v state %v, want mismatch, ready", row["integrity"], row["state"])
	}
	for _, tc := range []struct {
		name string
		hdr  []string
	}{{"full", nil}, {"range", []string{"Range", "bytes=0-99"}}} {
		resp, body, err := rawGet(t, url, a1.adminTok, tc.hdr...)
		if err != nil || resp.StatusCode != 409 || apiErr(t, body).Code != "integrity_mismatch" {
			t.Errorf("%s after the mismatch: %v %d %s, want 409 integrity_mismatch", tc.name, err, resp.StatusCode, body)
		}
	}
	resp, b := admin.do("POST", "/api/v1/recordings/archive", map[string]any{"ids": []string{a1.recOwn.ID, rec.ID}})
	if resp.StatusCode != 409 || apiErr(t, b).Code != "integrity_mismatch" {
		t.Errorf("archive with the altered file: %d %s, want 409", resp.StatusCode, b)
	}

	// An operator restores the file from a backup: it matches again, is served, the mark goes.
	must(t, os.WriteFile(rec.MP3Path, iw.mp3, 0o644))
	later := time.Now().Add(4 * time.Second)
	must(t, os.Chtimes(rec.MP3Path, later, later))
	resp, body, err = rawGet(t, url, a1.adminTok)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, iw.mp3) {
		t.Fatalf("restored file: %v %d, %d bytes", err, resp.StatusCode, len(body))
	}
	if row := rowOf(t, admin, rec.ID); row["integrity"] != "" {
		t.Errorf("row integrity %v after the restore, want empty", row["integrity"])
	}
	if !strings.Contains(iw.logs.String(), `"decision":"integrity_restored"`) {
		t.Error("the restore is not logged")
	}
	if n := iw.mismatches(t, "audio"); n != 1 {
		t.Errorf("mismatches %v after the restore, want still 1", n)
	}
}

// A Range request cannot hash the file per range: the whole file is verified once per version
// (ETag) before its first range is served, so an altered file is refused there too; the
// untouched one is served in ranges with its Repr-Digest.
func TestAudio_RangeOfAnAlteredFileIsRefused(t *testing.T) {
	iw := newIntegrityWorld(t)
	a1 := iw.co("A1")
	url := func(r *store.Recording) string { return iw.srv.URL() + "/api/v1/recordings/" + r.ID + "/audio" }

	resp, body, err := rawGet(t, url(a1.recOwn), a1.adminTok, "Range", "bytes=10-19")
	if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, iw.mp3[10:20]) || resp.Header.Get("Repr-Digest") == "" {
		t.Fatalf("range of an untouched file: %v %d %q digest %q", err, resp.StatusCode, body, resp.Header.Get("Repr-Digest"))
	}
	flipByte(t, a1.recDDI.MP3Path)
	resp, body, err = rawGet(t, url(a1.recDDI), a1.adminTok, "Range", "bytes=0-9")
	if err != nil || resp.StatusCode != 409 || apiErr(t, body).Code != "integrity_mismatch" {
		t.Fatalf("range of an altered file: %v %d %s, want 409", err, resp.StatusCode, body)
	}
	if n := iw.mismatches(t, "audio"); n != 1 {
		t.Errorf("mismatches %v, want 1", n)
	}
	if got, _ := iw.db.Recording(context.Background(), a1.recDDI.ID); got.Integrity != store.IntegrityMismatch {
		t.Errorf("row integrity %q", got.Integrity)
	}
}

// A row made ready before hashes were stored gets the SHA-256 of its file on its first full
// serve; from then on it is served with its Repr-Digest and checked like any other.
func TestAudio_OldRowGetsItsHashOnItsFirstFullServe(t *testing.T) {
	iw := newIntegrityWorld(t)
	a1 := iw.co("A1")
	r := &store.Recording{CompanyID: a1.co.ID, CallID: "old", Type: store.TypeDDI, Trigger: store.TriggerDDI, DDIID: a1.ddi.ID,
		Direction: store.DirectionInbound, Recorder: a1.ddi.Number, Caller: "+34600111222", Callee: a1.ddi.Number,
		StartedAt: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	old := readyRecording(t, iw.db, iw.dir, r, iw.mp3, "")
	url := iw.srv.URL() + "/api/v1/recordings/" + old.ID + "/audio"
	resp, body, err := rawGet(t, url, a1.adminTok)
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, iw.mp3) {
		t.Fatalf("first serve: %v %d", err, resp.StatusCode)
	}
	got, err := iw.db.Recording(context.Background(), old.ID)
	must(t, err)
	if got.SHA256 != hexSHA256(iw.mp3) {
		t.Fatalf("sha256 after the first full serve %q, want %q", got.SHA256, hexSHA256(iw.mp3))
	}
	resp, _, err = rawGet(t, url, a1.adminTok)
	if err != nil || resp.Header.Get("Repr-Digest") != reprDigest(got.SHA256) {
		t.Errorf("second serve: %v, Repr-Digest %q", err, resp.Header.Get("Repr-Digest"))
	}
}

// signingKeyOf reads GET /api/v1/signing-key without a token.
func signingKeyOf(t *testing.T, s *Server) (ed25519.PublicKey, signingKeyReply) {
	t.Helper()
	resp, body, err := rawGet(t, s.URL()+"/api/v1/signing-key", "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("signing-key: %v %d %s", err, resp.StatusCode, body)
	}
	var k signingKeyReply
	must(t, json.Unmarshal(body, &k))
	pub, err := base64.StdEncoding.DecodeString(k.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("public_key %q: %v", k.PublicKey, err)
	}
	return ed25519.PublicKey(pub), k
}

// rezip rebuilds a ZIP with change applied to each entry's bytes (nil: entry dropped) and
// extra entries added.
func rezip(t *testing.T, b []byte, change func(name string, body []byte) []byte, extra map[string][]byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	put := func(name string, body []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		must(t, err)
		_, err = w.Write(body)
		must(t, err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		must(t, err)
		body, err := io.ReadAll(rc)
		must(t, err)
		rc.Close()
		if body = change(f.Name, body); body != nil {
			put(f.Name, body)
		}
	}
	for name, body := range extra {
		put(name, body)
	}
	must(t, zw.Close())
	return out.Bytes()
}

// Every archive carries manifest.json, listing exactly its MP3s with their recording, company,
// start, size and SHA-256, and manifest.json.sig, which verifies with the public key anyone can
// fetch from /signing-key; a manifest, a file or the file list altered afterwards fails.
func TestArchive_ManifestIsSignedAndListsExactlyTheFiles(t *testing.T) {
	iw := newIntegrityWorld(t)
	a1 := iw.co("A1")
	admin := newClient(t, iw.srv, a1.adminTok)
	recs := []*store.Recording{a1.recDDI, a1.recOwn, a1.recOther}
	ids := []string{recs[0].ID, recs[1].ID, recs[2].ID}
	resp, b := admin.do("POST", "/api/v1/recordings/archive", map[string]any{"ids": ids})
	if resp.StatusCode != 200 {
		t.Fatalf("archive: %d %.200s", resp.StatusCode, b)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	must(t, err)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if len(names) != 5 || names[3] != ManifestName || names[4] != ManifestSigName {
		t.Fatalf("entries %v, want 3 MP3s, then %s and %s", names, ManifestName, ManifestSigName)
	}

	pub, k := signingKeyOf(t, iw.srv)
	if k.KeyID != iw.key.ID() || k.Algorithm != "ed25519" || !strings.Contains(k.PublicKeyPEM, "BEGIN PUBLIC KEY") {
		t.Errorf("signing key reply %+v", k)
	}
	// The signature, checked by hand: Ed25519 over manifest.json's exact bytes.
	entry := func(name string) []byte {
		rc, err := zr.Open(name)
		must(t, err)
		defer rc.Close()
		body, err := io.ReadAll(rc)
		must(t, err)
		return body
	}
	raw, sigText := entry(ManifestName), entry(ManifestSigName)
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigText)))
	if err != nil || !ed25519.Verify(pub, raw, sig) {
		t.Fatalf("manifest signature does not verify with /signing-key's key: %v", err)
	}
	m, err := VerifyArchive(bytes.NewReader(b), int64(len(b)), pub)
	if err != nil {
		t.Fatalf("VerifyArchive: %v", err)
	}
	if m.KeyID != k.KeyID || m.Version != 1 || m.CreatedAt.IsZero() || len(m.Files) != 3 {
		t.Fatalf("manifest %+v", m)
	}
	for i, f := range m.Files {
		r := recs[i]
		onDisk, err := os.ReadFile(r.MP3Path)
		must(t, err)
		if f.RecordingID != r.ID || f.CompanyID != r.CompanyID || !f.StartedAt.Equal(r.StartedAt) ||
			f.Size != int64(len(onDisk)) || f.SHA256 != hexSHA256(onDisk) || !bytes.Equal(entry(f.Name), onDisk) {
			t.Errorf("manifest file %d: %+v, recording %s", i, f, r.ID)
		}
	}

	other, err := NewSigningKey()
	must(t, err)
	for _, tc := range []struct {
		name, want string
		zip        []byte
		key        ed25519.PublicKey
	}{
		{"manifest altered", "signature", rezip(t, b, func(n string, body []byte) []byte {
			if n == ManifestName {
				return bytes.Replace(body, []byte(m.Files[0].SHA256), []byte(hexSHA256([]byte("x"))), 1)
			}
			return body
		}, nil), pub},
		{"another key", "signature", b, other.Public()},
		{"an MP3 altered", "altered", rezip(t, b, func(n string, body []byte) []byte {
			if n == m.Files[1].Name {
				body = slices.Clone(body)
				body[len(body)/2] ^= 1
			}
			return body
		}, nil), pub},
		{"an MP3 dropped", "missing from the archive", rezip(t, b, func(n string, body []byte) []byte {
			if n == m.Files[2].Name {
				return nil
			}
			return body
		}, nil), pub},
		{"a file added", "not in the manifest", rezip(t, b, func(_ string, body []byte) []byte { return body },
			map[string][]byte{"extra.mp3": []byte("x")}), pub},
		{"no manifest", "missing", rezip(t, b, func(n string, body []byte) []byte {
			if n == ManifestName {
				return nil
			}
			return body
		}, nil), pub},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyArchive(bytes.NewReader(tc.zip), int64(len(tc.zip)), tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("VerifyArchive: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// An archive whose file was altered in the library is cut short (no readable ZIP, no manifest
// vouching for it); the mismatch is counted and marked, and the next archive of it is refused.
func TestArchive_AlteredFileCutsTheArchiveShort(t *testing.T) {
	iw := newIntegrityWorld(t)
	a1 := iw.co("A1")
	admin := newClient(t, iw.srv, a1.adminTok)
	flipByte(t, a1.recOwn.MP3Path)
	ids := []string{a1.recDDI.ID, a1.recOwn.ID}
	resp, b := admin.do("POST", "/api/v1/recordings/archive", map[string]any{"ids": ids})
	if resp.StatusCode == 200 {
		if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err == nil {
			t.Fatalf("an archive with an altered file is a readable ZIP: %v", zipNames(t, b))
		}
	}
	if n := iw.mismatches(t, "archive"); n != 1 {
		t.Errorf("mismatches{archive} %v, want 1", n)
	}
	if got, _ := iw.db.Recording(context.Background(), a1.recOwn.ID); got.Integrity != store.IntegrityMismatch {
		t.Errorf("row integrity %q", got.Integrity)
	}
	resp, b = admin.do("POST", "/api/v1/recordings/archive", map[string]any{"ids": ids})
	if resp.StatusCode != 409 {
		t.Errorf("second archive: %d %.200s, want 409", resp.StatusCode, b)
	}
}

// The signing key is made once, 0600, and read back the same at every later start; a key file
// that is corrupt or not an Ed25519 key stops the start with a message naming it, and is never
// replaced.
func TestLoadSigningKey_PersistsAndACorruptKeyIsNeverReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "signing.key")
	k1, created, err := LoadSigningKey(path)
	if err != nil || !created {
		t.Fatalf("first load: %v created %v", err, created)
	}
	fi, err := os.Stat(path)
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "data", ".signing.key.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	k2, created, err := LoadSigningKey(path)
	if err != nil || created || k2.ID() != k1.ID() || !k2.Public().Equal(k1.Public()) {
		t.Fatalf("second load: %v created %v, id %s want %s", err, created, k2.ID(), k1.ID())
	}
	msg := []byte("manifest")
	if !ed25519.Verify(k1.Public(), msg, k2.Sign(msg)) {
		t.Fatal("the reloaded key signs differently")
	}

	good, err := os.ReadFile(path)
	must(t, err)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"garbage", []byte("not a key\n")},
		{"truncated", good[:len(good)/2]},
		{"empty", nil},
		{"a public key", []byte("-----BEGIN PRIVATE KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PRIVATE KEY-----\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "signing.key")
			must(t, os.WriteFile(p, tc.body, 0o600))
			_, _, err := LoadSigningKey(p)
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "never replaces") {
				t.Fatalf("error %v, want one naming %s as corrupt", err, p)
			}
			if after, _ := os.ReadFile(p); !bytes.Equal(after, tc.body) {
				t.Error("the corrupt key file was changed")
			}
		})
	}
	t.Run("a directory", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "signing.key")
		must(t, os.Mkdir(p, 0o700))
		if _, _, err := LoadSigningKey(p); err == nil || !strings.Contains(err.Error(), "cannot be read") {
			t.Fatalf("error %v", err)
		}
	})
}

// signedArchive is a small archive as streamArchive writes it: one file and the signed
// manifest, by key.
func signedArchive(tb testing.TB, key *SigningKey, body []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "a.mp3", Method: zip.Store})
	must(tb, err)
	_, err = w.Write(body)
	must(tb, err)
	s := &Server{SigningKey: key}
	must(tb, s.addManifest(zw, []ManifestFile{{Name: "a.mp3", RecordingID: "r", CompanyID: "c", Size: int64(len(body)), SHA256: hexSHA256(body)}}))
	must(tb, zw.Close())
	return buf.Bytes()
}

// FuzzVerifyArchive: any bytes given to VerifyArchive (what `callrec verify` reads from a
// tenant's disk) end in an answer, never a panic; whatever verifies holds exactly the signed
// manifest's one file with its bytes (a fuzzer cannot forge the signature).
func FuzzVerifyArchive(f *testing.F) {
	key := newSigningKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize)))
	body := []byte("an mp3")
	good := signedArchive(f, key, body)
	f.Add(good)
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := VerifyArchive(bytes.NewReader(b), int64(len(b)), key.Public())
		if err != nil {
			return
		}
		if m == nil || len(m.Files) != 1 || m.Files[0].Name != "a.mp3" || m.Files[0].SHA256 != hexSHA256(body) {
			t.Fatalf("verified an archive with manifest %+v", m)
		}
		zr, zerr := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if zerr != nil {
			t.Fatalf("verified bytes that are no ZIP: %v", zerr)
		}
		rc, oerr := zr.Open("a.mp3")
		if oerr != nil {
			t.Fatalf("verified without a.mp3: %v", oerr)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, body) {
			t.Fatalf("verified an altered a.mp3: %q", got)
		}
	})
}
