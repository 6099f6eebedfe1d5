package library

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/store"
)

// fakeClock is a settable clock shared by the store and the code under test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a store in a temp dir with one company, a spool and a library directory.
type env struct {
	db      *store.DB
	clock   *fakeClock
	company *store.Company
	spool   string
	lib     string
	logs    *syncBuffer
}

// syncBuffer collects zerolog JSON lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// events returns the logged JSON objects whose "decision" is decision.
func (s *syncBuffer) events(decision string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(s.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["decision"] == decision {
			out = append(out, m)
		}
	}
	return out
}

func mustOpenEnv(tb testing.TB) *env {
	tb.Helper()
	dir := tb.TempDir()
	clk := newClock()
	db, err := store.Open(context.Background(), filepath.Join(dir, "data", "callrec.db"),
		store.Options{NoSync: true, Now: clk.Now, MaxBatchDelay: time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	e := &env{db: db, clock: clk, spool: filepath.Join(dir, "spool"), lib: filepath.Join(dir, "library"), logs: &syncBuffer{}}
	must(tb, os.MkdirAll(e.spool, 0o750))
	e.company = e.addCompany(tb, "Acme", 0, 0)
	return e
}

func (e *env) addCompany(tb testing.TB, name string, retentionDays, quotaMB int) *store.Company {
	tb.Helper()
	ctx := context.Background()
	b := &store.Brand{Name: "Brand " + name}
	must(tb, e.db.CreateBrand(ctx, b))
	c := &store.Company{BrandID: b.ID, Name: name, RetentionDays: retentionDays, QuotaMB: quotaMB}
	must(tb, e.db.CreateCompany(ctx, c))
	return c
}

func (e *env) logger() zerolog.Logger { return zerolog.New(e.logs) }

// worker returns a Worker on e with a fast, deterministic set-up; tests adjust fields.
func (e *env) worker() *Worker {
	return &Worker{DB: e.db, LibraryDir: e.lib, SpoolDirs: []string{e.spool}, Concurrency: 1, MaxAttempts: 3, Lease: time.Minute,
		Backoff:         func(a int) time.Duration { return time.Duration(a) * 10 * time.Second },
		MissingWAVGrace: time.Minute, Poll: 10 * time.Millisecond, Logger: e.logger(), Now: e.clock.Now}
}

// queue creates a recording of companyID that FreeSWITCH stopped, reporting recordMS (its
// record_ms, deliberately not the WAV's length), with its WAV expected at wav.
func (e *env) queue(tb testing.TB, companyID, wav string, recordMS int64) *store.Recording {
	tb.Helper()
	ctx := context.Background()
	r := &store.Recording{CompanyID: companyID, CallID: "call-1", Type: store.TypeDDI, Trigger: store.TriggerDDI,
		Direction: store.DirectionInbound, Recorder: "+34911234567", Caller: "+34600111222", Callee: "+34911234567",
		StartedAt: e.clock.Now()}
	must(tb, e.db.CreateRecording(ctx, r))
	must(tb, e.db.FinishRecording(ctx, r.ID, e.clock.Now(), recordMS, wav))
	got, err := e.db.Recording(ctx, r.ID)
	must(tb, err)
	return got
}

// queueWAV writes a WAV of frames frames and queues its recording.
func (e *env) queueWAV(tb testing.TB, rate, channels, frames int) (*store.Recording, string) {
	tb.Helper()
	wav := filepath.Join(e.spool, strings.ReplaceAll(tb.Name(), "/", "_")+"-"+time.Now().Format("150405.000000000")+".wav")
	writeWAV(tb, wav, rate, channels, frames)
	return e.queue(tb, e.company.ID, wav, 99999), wav
}

func (e *env) recording(tb testing.TB, id string) *store.Recording {
	tb.Helper()
	r, err := e.db.Recording(context.Background(), id)
	must(tb, err)
	return r
}

// drain runs the worker's steps until no job is due (at the fake clock's time).
func drain(tb testing.TB, w *Worker) int {
	tb.Helper()
	c, err := w.config()
	must(tb, err)
	must(tb, w.recover(context.Background(), c))
	n := 0
	for {
		did, err := w.step(context.Background(), c)
		must(tb, err)
		if !did {
			return n
		}
		n++
		if n > 1000 {
			tb.Fatal("worker never became idle")
		}
	}
}

// writeWAV writes a PCM16 WAV holding a 440 Hz tone.
func writeWAV(tb testing.TB, path string, rate, channels, frames int) {
	tb.Helper()
	data := make([]byte, frames*channels*2)
	for i := range frames {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for ch := range channels {
			binary.LittleEndian.PutUint16(data[(i*channels+ch)*2:], uint16(v))
		}
	}
	writeRawWAV(tb, path, 1, rate, channels, 16, data)
}

func writeRawWAV(tb testing.TB, path string, format, rate, channels, bits int, data []byte) {
	tb.Helper()
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(36 + len(data)))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(format))
	le(uint16(channels))
	le(uint32(rate))
	le(uint32(rate * channels * bits / 8))
	le(uint16(channels * bits / 8))
	le(uint16(bits))
	b.WriteString("data")
	le(uint32(len(data)))
	b.Write(data)
	must(tb, os.WriteFile(path, b.Bytes(), 0o640))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// filesUnder lists the regular files below dir (relative paths).
func filesUnder(tb testing.TB, dir string) []string {
	tb.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	must(tb, err)
	return out
}

// checkMP3 verifies that the file at path is a complete MP3 of size bytes lasting about ms.
func checkMP3(tb testing.TB, path string, size, ms int64) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("MP3 of a ready recording: %v", err)
	}
	defer f.Close()
	d, n, err := audio.MP3Duration(f)
	if err != nil {
		tb.Fatalf("MP3 %s does not decode: %v", path, err)
	}
	if fi, _ := f.Stat(); fi.Size() != size {
		tb.Fatalf("MP3 %s has %d bytes, row says %d", path, fi.Size(), size)
	}
	// The MP3 carries the encoder's delay and frame padding: up to a few frames more.
	if got := d.Milliseconds(); got < ms || got > ms+200 {
		tb.Fatalf("MP3 %s lasts %d ms (%d bytes), WAV %d ms", path, got, n, ms)
	}
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// metricValue returns the value of the counter or gauge name{labels} in reg (0 when absent),
// or the sample count of a histogram.
func metricValue(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	must(tb, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
