package envelope

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func seal(t testing.TB, keyID string, key, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, keyID, key)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes, so chunk boundaries fall inside writes.
	for p := plain; len(p) > 0; {
		n := min(len(p), 7919)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Plaintext() != int64(len(plain)) {
		t.Fatalf("Plaintext() = %d, want %d", w.Plaintext(), len(plain))
	}
	return buf.Bytes()
}

func open(sealed []byte, key []byte) (*Reader, error) {
	return OpenReader(bytes.NewReader(sealed), int64(len(sealed)), func(string) ([]byte, error) { return key, nil })
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealedFile_RoundTripAtEverySizeAndOffset(t *testing.T) {
	key := randomBytes(t, KeySize)
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 2 * chunkSize, 3*chunkSize + 17} {
		plain := randomBytes(t, n)
		sealed := seal(t, "dk_test", key, plain)
		if bytes.Contains(sealed, plain[:min(n, 64)]) && n >= 16 {
			t.Fatalf("size %d: the plaintext appears in the sealed file", n)
		}
		r, err := open(sealed, key)
		if err != nil {
			t.Fatalf("size %d: %v", n, err)
		}
		if r.Size() != int64(n) || r.KeyID() != "dk_test" {
			t.Fatalf("size %d: Size %d KeyID %q", n, r.Size(), r.KeyID())
		}
		got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: whole read differs (err %v)", n, err)
		}
		for _, span := range [][2]int{{0, 1}, {chunkSize - 3, 10}, {chunkSize, 5}, {n / 2, n / 3}, {n - 1, 1}} {
			off, l := span[0], span[1]
			if off < 0 || off+l > n || l == 0 {
				continue
			}
			p := make([]byte, l)
			if k, err := r.ReadAt(p, int64(off)); err != nil || k != l || !bytes.Equal(p, plain[off:off+l]) {
				t.Fatalf("size %d: ReadAt(%d, %d) = %d, %v, differs=%v", n, off, l, k, err, !bytes.Equal(p, plain[off:off+l]))
			}
		}
		if k, err := r.ReadAt(make([]byte, 4), int64(n)); k != 0 || err != io.EOF {
			t.Fatalf("size %d: ReadAt at the end = %d, %v; want 0, EOF", n, k, err)
		}
	}
}

func TestSealedFile_EveryAlterationFailsToOpenOrRead(t *testing.T) {
	key := randomBytes(t, KeySize)
	plain := randomBytes(t, 3*chunkSize+100)
	sealed := seal(t, "dk_a", key, plain)
	hlen := len(magic) + 2 + len("dk_a") + saltSize
	c := chunkSize + tagSize
	swap := append([]byte(nil), sealed...)
	copy(swap[hlen:hlen+c], sealed[hlen+c:hlen+2*c])
	copy(swap[hlen+c:hlen+2*c], sealed[hlen:hlen+c])
	flip := func(i int) []byte {
		b := append([]byte(nil), sealed...)
		b[i] ^= 1
		return b
	}
	cases := []struct {
		name string
		file []byte
		key  []byte
		want error
	}{
		{"bit flipped in the first chunk", flip(hlen + 10), key, ErrCorrupt},
		{"bit flipped in the last chunk", flip(len(sealed) - 1), key, ErrCorrupt},
		{"bit flipped in the salt", flip(hlen - 1), key, ErrCorrupt},
		{"key id changed", bytes.Replace(sealed, []byte("dk_a"), []byte("dk_b"), 1), key, ErrCorrupt},
		{"cut at a chunk boundary", sealed[:hlen+3*c], key, ErrCorrupt},
		{"cut inside a chunk", sealed[:hlen+c+100], key, ErrCorrupt},
		{"cut into the header", sealed[:hlen-5], key, ErrCorrupt},
		{"two chunks swapped", swap, key, ErrCorrupt},
		{"bytes appended", append(append([]byte(nil), sealed...), make([]byte, 40)...), key, ErrCorrupt},
		{"another data key", sealed, randomBytes(t, KeySize), ErrCorrupt},
		{"a plain MP3", []byte("\xff\xfb\x90\x00 not sealed at all"), key, ErrNotSealed},
		{"empty", nil, key, ErrNotSealed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := open(tc.file, tc.key)
			if err == nil {
				_, err = io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSealedFile_SameKeyNeverSameCiphertext(t *testing.T) {
	key := randomBytes(t, KeySize)
	plain := randomBytes(t, 1000)
	a, b := seal(t, "dk_x", key, plain), seal(t, "dk_x", key, plain)
	if bytes.Equal(a, b) {
		t.Fatal("two sealings of the same bytes with the same key are equal: the salt is not random")
	}
}

func TestMasterRing_WrapRotatePrune(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if _, err := LoadMasterRing(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadMasterRing of a missing file: %v", err)
	}
	r1, err := CreateMasterRing(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := CreateMasterRing(path); err == nil {
		t.Fatal("CreateMasterRing replaced an existing master key file")
	}
	dk, _ := NewDataKey()
	m1, w1, err := r1.Wrap("co_1", "dk_1", dk)
	if err != nil || m1 != r1.Current() {
		t.Fatal(m1, err)
	}
	loaded, err := LoadMasterRing(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := loaded.Unwrap(m1, "co_1", "dk_1", w1); err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("Unwrap after reload: %v", err)
	}
	for _, tc := range []struct{ company, key string }{{"co_2", "dk_1"}, {"co_1", "dk_2"}} {
		if _, err := loaded.Unwrap(m1, tc.company, tc.key, w1); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a wrapped key moved to %s/%s unwrapped: %v", tc.company, tc.key, err)
		}
	}
	r2, err := loaded.Rotate(path)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Current() == m1 || len(r2.IDs()) != 2 {
		t.Fatalf("after Rotate: current %s ids %v", r2.Current(), r2.IDs())
	}
	if got, err := r2.Unwrap(m1, "co_1", "dk_1", w1); err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("the old master key no longer unwraps after Rotate: %v", err)
	}
	m2, w2, _ := r2.Wrap("co_1", "dk_1", dk)
	r3, dropped, err := r2.Without(path, func(id string) bool { return id == m2 })
	if err != nil || len(dropped) != 1 || dropped[0] != m1 {
		t.Fatalf("Without: dropped %v, %v", dropped, err)
	}
	reloaded, err := LoadMasterRing(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reloaded.Unwrap(m1, "co_1", "dk_1", w1); !errors.Is(err, ErrUnknownMasterKey) {
		t.Fatalf("a dropped master key still unwraps: %v", err)
	}
	if got, err := r3.Unwrap(m2, "co_1", "dk_1", w2); err != nil || !bytes.Equal(got, dk) {
		t.Fatalf("the current key no longer unwraps: %v", err)
	}
}

func TestLoadMasterRing_RefusesAMalformedFile(t *testing.T) {
	for name, body := range map[string]string{
		"empty":        "# nothing\n",
		"short key":    ringLine + " mk_1 AAAA\n",
		"bad id":       ringLine + " mk/1 " + strings.Repeat("A", 43) + "=\n",
		"other format": "hello world\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadMasterRing(path); err == nil {
				t.Fatal("a malformed master key file loaded")
			}
		})
	}
}

func FuzzOpenReader(f *testing.F) {
	key := make([]byte, KeySize)
	f.Add(seal(f, "dk_f", key, []byte("some mp3 bytes")))
	f.Add(seal(f, "dk_f", key, nil))
	f.Add([]byte("CRAE\x01\x04dk_f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := open(b, key)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotSealed) {
				t.Fatalf("an unexpected kind of error: %v", err)
			}
			return
		}
		if r.Size() < 0 || r.Size() > int64(len(b)) {
			t.Fatalf("Size %d of %d bytes", r.Size(), len(b))
		}
		_, _ = io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	})
}
