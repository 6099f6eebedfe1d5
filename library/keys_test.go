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
	"testing"

	"github.com/callrec/callrec/envelope"
	"github.com/callrec/callrec/store"
)

// readMP3 opens r through OpenMP3 and returns its MP3 bytes.
func readMP3(t *testing.T, keys *Keys, r *store.Recording) []byte {
	t.Helper()
	m, err := OpenMP3(context.Background(), Source{Keys: keys}, r)
	if err != nil {
		t.Fatalf("OpenMP3 %s: %v", r.ID, err)
	}
	defer m.Close()
	b, err := io.ReadAll(io.NewSectionReader(m, 0, m.Size))
	must(t, err)
	return b
}

// A company with encrypt_at_rest gets its MP3s sealed: nothing on disk is the MP3, the row
// names the key, the size and hash are of the MP3 inside, OpenMP3 gives it back; a company
// without it still gets clear MP3s. A rotation seals the next one with a new key while the
// older one still opens; a master rotation rewraps both keys and everything still opens after
// a reload of the ring; a store with keys refuses a missing master key file.
func TestWorker_SealsTheMP3sOfACompanyThatEncryptsAtRest(t *testing.T) {
	ctx := context.Background()
	e := mustOpenEnv(t)
	keyPath := filepath.Join(t.TempDir(), "master.key")
	keys, created, err := LoadKeys(ctx, e.db, keyPath)
	must(t, err)
	if !created {
		t.Fatal("LoadKeys did not report the new master key file")
	}
	clear := e.company
	sealedCo := e.addCompany(t, "Sealed", 0, 0)
	sealedCo.EncryptAtRest = true
	must(t, e.db.UpdateCompany(ctx, sealedCo))

	queue := func(co *store.Company) *store.Recording {
		wav := filepath.Join(e.spool, co.Name+e.clock.Now().Format("150405.000000000")+".wav")
		writeWAV(t, wav, 8000, 1, 8000*2)
		e.clock.Advance(1)
		return e.queue(t, co.ID, wav, 2000)
	}
	run := func() {
		w := e.worker()
		w.Keys = keys
		if n := drain(t, w); n != 1 {
			t.Fatalf("processed %d jobs, want 1", n)
		}
	}
	plainRec := queue(clear)
	run()
	first := queue(sealedCo)
	run()

	p := e.recording(t, plainRec.ID)
	if p.EncryptionKeyID != "" {
		t.Fatalf("a company without encrypt_at_rest got a sealed MP3 (%s)", p.EncryptionKeyID)
	}
	if raw, _ := os.ReadFile(p.MP3Path); !bytes.Equal(raw, readMP3(t, keys, p)) {
		t.Fatal("a clear MP3 does not read back as itself")
	}
	s1 := e.recording(t, first.ID)
	if s1.State != store.StateReady || s1.EncryptionKeyID == "" {
		t.Fatalf("sealed company's recording: state %s key %q (%s)", s1.State, s1.EncryptionKeyID, s1.Error)
	}
	onDisk, err := os.ReadFile(s1.MP3Path)
	must(t, err)
	mp3 := readMP3(t, keys, s1)
	if bytes.Contains(onDisk, mp3[:64]) || string(onDisk[:4]) != "CRAE" {
		t.Fatal("the file on disk is not sealed: it holds the MP3's bytes")
	}
	sum := sha256.Sum256(mp3)
	if s1.SHA256 != hex.EncodeToString(sum[:]) || s1.FileSize != int64(len(mp3)) {
		t.Fatalf("row sha256/size %s/%d, the MP3 inside %x/%d", s1.SHA256, s1.FileSize, sum, len(mp3))
	}
	if !(mp3[0] == 0xff && mp3[1]&0xe0 == 0xe0) && string(mp3[:3]) != "ID3" {
		t.Fatalf("what OpenMP3 gives back does not start like an MP3: % x", mp3[:4])
	}
	if _, err := OpenMP3(ctx, Source{}, s1); err == nil {
		t.Fatal("a sealed MP3 opened without keys")
	}

	rotated, err := keys.Rotate(ctx, sealedCo.ID)
	must(t, err)
	second := queue(sealedCo)
	run()
	s2 := e.recording(t, second.ID)
	if s2.EncryptionKeyID != rotated.ID || s2.EncryptionKeyID == s1.EncryptionKeyID {
		t.Fatalf("after rotation sealed with %s, want the new key %s", s2.EncryptionKeyID, rotated.ID)
	}
	dks, err := e.db.DataKeys(ctx, sealedCo.ID)
	must(t, err)
	if len(dks) != 2 || dks[0].RetiredAt == nil || dks[1].RetiredAt != nil {
		t.Fatalf("keys after rotation: %+v", dks)
	}

	oldMaster := keys.MasterKeyID()
	newMaster, n, err := keys.RotateMaster(ctx)
	must(t, err)
	if n != 2 || newMaster == oldMaster {
		t.Fatalf("RotateMaster: %s rewrapped %d, want a new key and 2", newMaster, n)
	}
	reloaded, _, err := LoadKeys(ctx, e.db, keyPath) // a fresh process: nothing cached
	must(t, err)
	if !bytes.Equal(readMP3(t, reloaded, s1), mp3) || len(readMP3(t, reloaded, s2)) == 0 {
		t.Fatal("after a master rotation and a reload the sealed MP3s no longer read")
	}
	ring, err := envelope.LoadMasterRing(keyPath)
	must(t, err)
	if ids := ring.IDs(); len(ids) != 1 || ids[0] != newMaster {
		t.Fatalf("the master key file keeps %v after the rotation; want only %s", ids, newMaster)
	}

	must(t, os.Rename(keyPath, keyPath+".away"))
	if _, _, err := LoadKeys(ctx, e.db, keyPath); !errors.Is(err, ErrMasterKeyMissing) {
		t.Fatalf("a store with data keys and no master key file: %v, want ErrMasterKeyMissing", err)
	}
	if _, err := os.Stat(keyPath); err == nil {
		t.Fatal("LoadKeys made a new master key file over a store whose keys need the old one")
	}
	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := envelope.CreateMasterRing(other); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadKeys(ctx, e.db, other); err == nil {
		t.Fatal("a master key file without the store's master key was accepted")
	}
}

// A sealed file altered on disk does not open (envelope.ErrCorrupt), so it is never served as
// if it were the recording.
func TestOpenMP3_AlteredSealedFileIsCorrupt(t *testing.T) {
	ctx := context.Background()
	e := mustOpenEnv(t)
	keys, _, err := LoadKeys(ctx, e.db, filepath.Join(t.TempDir(), "master.key"))
	must(t, err)
	e.company.EncryptAtRest = true
	must(t, e.db.UpdateCompany(ctx, e.company))
	rec, _ := e.queueWAV(t, 8000, 1, 8000)
	w := e.worker()
	w.Keys = keys
	drain(t, w)
	r := e.recording(t, rec.ID)
	b, err := os.ReadFile(r.MP3Path)
	must(t, err)
	b[len(b)/2] ^= 0x40
	must(t, os.WriteFile(r.MP3Path, b, 0o640))
	if _, err := OpenMP3(ctx, Source{Keys: keys}, r); !errors.Is(err, envelope.ErrCorrupt) {
		t.Fatalf("an altered sealed file: %v, want ErrCorrupt", err)
	}
}

// Without Keys the worker never writes a sealed company's MP3 in the clear: the job is retried.
func TestWorker_WithoutKeysNeverWritesASealedCompanyInTheClear(t *testing.T) {
	ctx := context.Background()
	e := mustOpenEnv(t)
	e.company.EncryptAtRest = true
	must(t, e.db.UpdateCompany(ctx, e.company))
	rec, _ := e.queueWAV(t, 8000, 1, 8000)
	drain(t, e.worker())
	r := e.recording(t, rec.ID)
	if r.State == store.StateReady {
		t.Fatalf("made ready without a key (sealed with %q)", r.EncryptionKeyID)
	}
	if r.MP3Path != "" {
		if _, err := os.Stat(r.MP3Path); err == nil {
			t.Fatal("an MP3 was written")
		}
	}
}

// A master rotation that cannot rewrap every data key (one no longer unwraps) stores none of
// them rewrapped and keeps both master keys in the file: after a restart every key still opens
// with the old master key, and nothing is lost.
func TestKeys_FailedMasterRotationLosesNothing(t *testing.T) {
	ctx := context.Background()
	e := mustOpenEnv(t)
	path := filepath.Join(t.TempDir(), "master.key")
	keys, _, err := LoadKeys(ctx, e.db, path)
	must(t, err)
	other := e.addCompany(t, "Other", 0, 0)
	for _, co := range []*store.Company{e.company, other} {
		if _, _, err := keys.SealingKey(ctx, co.ID); err != nil {
			t.Fatal(err)
		}
	}
	// Damage one wrapped key in the store: the rotation must refuse rather than store half.
	dk, err := e.db.CurrentDataKey(ctx, other.ID)
	must(t, err)
	good := append([]byte(nil), dk.Wrapped...)
	dk.Wrapped[len(dk.Wrapped)-1] ^= 1
	_, err = e.db.RewrapDataKeys(ctx, func(k *store.DataKey) (string, []byte, error) {
		if k.ID == dk.ID {
			return k.MasterKeyID, dk.Wrapped, nil
		}
		return k.MasterKeyID, k.Wrapped, nil
	})
	must(t, err)
	oldMaster := keys.MasterKeyID()
	fresh, _, err := LoadKeys(ctx, e.db, path) // nothing cached: the damaged key is read
	must(t, err)
	if _, _, err := fresh.RotateMaster(ctx); err == nil {
		t.Fatal("a master rotation with a key that does not unwrap succeeded")
	}
	ring, err := envelope.LoadMasterRing(path)
	must(t, err)
	if ids := ring.IDs(); len(ids) != 2 || ids[0] != oldMaster {
		t.Fatalf("master keys in the file after the failed rotation: %v, want the old and the new", ids)
	}
	used, err := e.db.MasterKeysInUse(ctx)
	must(t, err)
	if len(used) != 1 || !used[oldMaster] {
		t.Fatalf("data keys wrapped by %v after the failed rotation, want all still by the old key", used)
	}
	// Repair the damaged key and restart: both companies' keys open again.
	_, err = e.db.RewrapDataKeys(ctx, func(k *store.DataKey) (string, []byte, error) {
		if k.ID == dk.ID {
			return k.MasterKeyID, good, nil
		}
		return k.MasterKeyID, k.Wrapped, nil
	})
	must(t, err)
	again, _, err := LoadKeys(ctx, e.db, path)
	must(t, err)
	for _, co := range []*store.Company{e.company, other} {
		if _, _, err := again.SealingKey(ctx, co.ID); err != nil {
			t.Fatalf("company %s's key does not open after the failed rotation: %v", co.Name, err)
		}
	}
}
