package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/library"
	"github.com/callrec/callrec/store"
)

// MustOpenStore opens a fresh store in a temporary directory, closed when the test ends.
func MustOpenStore(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "callrec.db"), store.Options{DefaultCountry: "ES", NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustServe opens a Server on 127.0.0.1:0 over db (configured by opt), shut down when the test ends.
func MustServe(tb testing.TB, db *store.DB, opt ...func(*Server)) *Server {
	tb.Helper()
	s := &Server{Addr: "127.0.0.1:0", DB: db, Logger: zerolog.New(io.Discard),
		// What cmd wires (library.Sweeper.RemoveFiles, which also keeps removals inside the
		// library and spool directories: tested there); here the files are the test's own.
		RemoveFiles: func(_ context.Context, r *store.Recording) error {
			for _, p := range []string{r.MP3Path, r.WAVPath} {
				if p != "" {
					if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
						return err
					}
				}
			}
			return nil
		}}
	keys, _, err := library.LoadKeys(context.Background(), db, filepath.Join(tb.TempDir(), "master.key"))
	if err != nil {
		tb.Fatal(err)
	}
	s.Keys = keys
	for _, o := range opt {
		o(s)
	}
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// mustToken creates a token and returns its secret.
func mustToken(tb testing.TB, db *store.DB, t store.Token) string {
	tb.Helper()
	secret, hash, err := store.NewTokenSecret()
	must(tb, err)
	t.Hash = hash
	if t.Name == "" {
		t.Name = "test " + t.Role
	}
	must(tb, db.CreateToken(context.Background(), &t))
	return secret
}

// testMP3 returns a real MP3 of about seconds long (a tone sweep at 8 kHz encoded by package
// audio).
func testMP3(tb testing.TB, seconds int) []byte {
	tb.Helper()
	const rate = 8000
	n := rate * seconds
	var data bytes.Buffer
	for i := 0; i < n; i++ {
		f := 300 + 500*float64(i)/float64(n)
		v := int16(8000 * math.Sin(2*math.Pi*f*float64(i)/rate))
		binary.Write(&data, binary.LittleEndian, v)
	}
	var w bytes.Buffer
	le := binary.LittleEndian
	w.WriteString("RIFF")
	binary.Write(&w, le, uint32(36+data.Len()))
	w.WriteString("WAVEfmt ")
	binary.Write(&w, le, uint32(16))
	binary.Write(&w, le, uint16(1))
	binary.Write(&w, le, uint16(1))
	binary.Write(&w, le, uint32(rate))
	binary.Write(&w, le, uint32(rate*2))
	binary.Write(&w, le, uint16(2))
	binary.Write(&w, le, uint16(16))
	w.WriteString("data")
	binary.Write(&w, le, uint32(data.Len()))
	w.Write(data.Bytes())
	dir := tb.TempDir()
	wav, mp3 := filepath.Join(dir, "t.wav"), filepath.Join(dir, "t.mp3")
	must(tb, os.WriteFile(wav, w.Bytes(), 0o644))
	if _, err := audio.EncodeFile(context.Background(), audio.NewShineEncoder(0), wav, mp3); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(mp3)
	must(tb, err)
	return b
}

// mustReadyRecording stores r and walks it through the real lifecycle (recording → processing →
// ready) with content as its MP3 file in dir and its SHA-256 on the row, as the audio worker
// leaves it.
func mustReadyRecording(tb testing.TB, db *store.DB, dir string, r *store.Recording, content []byte) *store.Recording {
	tb.Helper()
	return readyRecording(tb, db, dir, r, content, hexSHA256(content))
}

// hexSHA256 is the lower-case hex SHA-256 of b.
func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// readyRecording is mustReadyRecording with sum as the row's SHA-256 ("": a row made ready
// before hashes were stored).
func readyRecording(tb testing.TB, db *store.DB, dir string, r *store.Recording, content []byte, sum string) *store.Recording {
	tb.Helper()
	ctx := context.Background()
	must(tb, db.CreateRecording(ctx, r))
	wav := filepath.Join(dir, r.ID+".wav")
	must(tb, os.WriteFile(wav, []byte("RIFF"), 0o644))
	must(tb, db.FinishRecording(ctx, r.ID, r.StartedAt.Add(5*time.Second), 5000, wav))
	job, err := db.ClaimJob(ctx, time.Minute)
	must(tb, err)
	if job.RecordingID != r.ID {
		tb.Fatalf("claimed job of %s, want %s", job.RecordingID, r.ID)
	}
	mp3 := filepath.Join(dir, r.ID+".mp3")
	must(tb, os.WriteFile(mp3, content, 0o644))
	must(tb, db.CompleteRecording(ctx, job.ID, store.RecordingResult{MP3Path: mp3, DurationMS: 5000, FileSize: int64(len(content)), SHA256: sum}))
	must(tb, os.Remove(wav))
	got, err := db.Recording(ctx, r.ID)
	must(tb, err)
	return got
}

// client calls the API with a token.
type client struct {
	tb    testing.TB
	base  string
	token string
	hc    *http.Client
}

func newClient(tb testing.TB, s *Server, token string) *client {
	return &client{tb: tb, base: s.URL(), token: token, hc: &http.Client{Timeout: 20 * time.Second}}
}

// do sends a request; body is JSON-encoded unless it is a string or []byte. hdr are extra
// headers as key, value pairs.
func (c *client) do(method, path string, body any, hdr ...string) (*http.Response, []byte) {
	c.tb.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		must(c.tb, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	must(c.tb, err)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	must(c.tb, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	must(c.tb, err)
	return resp, out
}

// apiErr decodes SPEC's error body.
func apiErr(tb testing.TB, b []byte) errorDetail {
	tb.Helper()
	var e errorBody
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		tb.Fatalf("not an error body: %s", b)
	}
	return e.Error
}

func zerologTo(w io.Writer) zerolog.Logger { return zerolog.New(w) }

func httptestGet(path string) *http.Request {
	req, _ := http.NewRequest("GET", path, nil)
	return req
}
