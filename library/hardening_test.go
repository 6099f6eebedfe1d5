package library

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/store"
)

// TestWorker_WAVOutsideTheSpoolIsNeverTouched: a job whose WAV path leads out of the spool
// directories (issue 12 point 5: a RECORD_START path record_path/../../x/….wav was encoded and
// then deleted) fails without the file being read, encoded or removed, whatever the route out:
// "..", a symlink on the way, a symlinked directory, the file itself a symlink, another
// directory altogether.
func TestWorker_WAVOutsideTheSpoolIsNeverTouched(t *testing.T) {
	cases := []struct {
		name string
		path func(e *env, outside string) string
	}{
		{"dot-dot out of the spool", func(e *env, outside string) string {
			return e.spool + "/../outside/victim.wav"
		}},
		{"symlink then dot-dot (cleans inside)", func(e *env, outside string) string {
			must(t, os.MkdirAll(filepath.Join(outside, "sub"), 0o750))
			must(t, os.Symlink(filepath.Join(outside, "sub"), filepath.Join(e.spool, "link")))
			return e.spool + "/link/../victim.wav"
		}},
		{"symlinked directory", func(e *env, outside string) string {
			must(t, os.Symlink(outside, filepath.Join(e.spool, "dir")))
			return e.spool + "/dir/victim.wav"
		}},
		{"the WAV is a symlink", func(e *env, outside string) string {
			must(t, os.Symlink(filepath.Join(outside, "victim.wav"), filepath.Join(e.spool, "x.wav")))
			return e.spool + "/x.wav"
		}},
		{"another directory", func(e *env, outside string) string {
			return filepath.Join(outside, "victim.wav")
		}},
		{"relative", func(e *env, outside string) string {
			return "outside/victim.wav"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustOpenEnv(t)
			outside := filepath.Join(filepath.Dir(e.spool), "outside")
			must(t, os.MkdirAll(outside, 0o750))
			victim := filepath.Join(outside, "victim.wav")
			writeWAV(t, victim, 8000, 1, 8000)
			t.Chdir(filepath.Dir(e.spool))
			rec := e.queue(t, e.company.ID, tc.path(e, outside), 1000)
			drain(t, e.worker())
			got := e.recording(t, rec.ID)
			if got.State != store.StateFailed {
				t.Errorf("state %q (%s), want failed", got.State, got.Error)
			}
			if !exists(victim) {
				t.Error("the file outside the spool was removed")
			}
			if mp3s := filesUnder(t, e.lib); len(mp3s) != 0 {
				t.Errorf("library holds %v: the file outside the spool was encoded", mp3s)
			}
		})
	}
}

// TestWorker_FIFOAtTheWAVPathDoesNotHoldTheOthers: FIFOs at two WAV paths (issue 12 point 6:
// each blocked a worker's open for ever while its lease renewed, and two stopped all encoding)
// fail as not regular files, and a good recording queued after them is encoded.
func TestWorker_FIFOAtTheWAVPathDoesNotHoldTheOthers(t *testing.T) {
	e := mustOpenEnv(t)
	var fifos []*store.Recording
	for i := range 2 {
		p := filepath.Join(e.spool, fmt.Sprintf("fifo-%d.wav", i))
		must(t, syscall.Mkfifo(p, 0o640))
		t.Cleanup(func() { unblockFIFO(p) })
		fifos = append(fifos, e.queue(t, e.company.ID, p, 1000))
	}
	good, _ := e.queueWAV(t, 8000, 1, 8000)
	w := e.worker()
	w.Concurrency = 2
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()
	w.Notify()
	waitFor(t, func() bool { return e.recording(t, good.ID).State == store.StateReady })
	for _, r := range fifos {
		waitFor(t, func() bool { return e.recording(t, r.ID).State == store.StateFailed })
		if got := e.recording(t, r.ID); got.Error != "the recording file is not a regular file" {
			t.Errorf("FIFO recording error %q", got.Error)
		}
	}
}

// unblockFIFO opens the FIFO at p read-write (never blocks on Linux), so that an open stuck
// waiting for a writer (the unfixed worker) completes and the test can end.
func unblockFIFO(p string) {
	if f, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
		time.Sleep(10 * time.Millisecond)
		f.Close()
	}
}

// stuckEncoder hangs its first call, ignoring ctx, as a read from a hung NFS mount does, until
// release is closed; later calls encode with shine.
type stuckEncoder struct {
	once    sync.Once
	release chan struct{}
}

func (s *stuckEncoder) Name() string { return "stuck" }

func (s *stuckEncoder) Encode(ctx context.Context, dst io.Writer, src *audio.WAV) (audio.Result, error) {
	first := false
	s.once.Do(func() { first = true })
	if first {
		<-s.release
		return audio.Result{}, errors.New("released")
	}
	return audio.NewShineEncoder(0).Encode(ctx, dst, src)
}

// TestWorker_HungFileWorkDoesNotHoldTheWorker: a job whose file work stops making progress (a
// hung mount) is released after FileTimeout without spending its attempt, and the worker's only
// goroutine goes on with the next job (issue 12 point 6).
func TestWorker_HungFileWorkDoesNotHoldTheWorker(t *testing.T) {
	e := mustOpenEnv(t)
	stuck, _ := e.queueWAV(t, 8000, 1, 8000)
	good, _ := e.queueWAV(t, 8000, 1, 8000)
	enc := &stuckEncoder{release: make(chan struct{})}
	w := e.worker()
	w.Encoder = enc
	w.FileTimeout = 2 * time.Second // generous: a loaded machine may pause a sound encode for a while
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); close(enc.release); <-done }()
	w.Notify()
	waitFor(t, func() bool { return e.recording(t, good.ID).State == store.StateReady })
	got := e.recording(t, stuck.ID)
	if got.State != store.StateProcessing {
		t.Fatalf("hung recording %q (%s), want still processing", got.State, got.Error)
	}
	j := jobOf(t, e, stuck.ID)
	if j.Attempts != 0 || !j.LeaseUntil.IsZero() {
		t.Errorf("hung job: attempts %d lease %v, want the attempt given back and the lease released", j.Attempts, j.LeaseUntil)
	}
}

// jobOf returns the queued job of recording id, found through the worker's machine_retry
// decision (the store has no lookup by recording).
func jobOf(tb testing.TB, e *env, id string) *store.Job {
	tb.Helper()
	for _, ev := range e.logs.events("machine_retry") {
		if ev["recording_id"] == id {
			j, err := e.db.Job(context.Background(), ev["job_id"].(string))
			must(tb, err)
			return j
		}
	}
	tb.Fatalf("no machine_retry decision for %s", id)
	return nil
}

// TestWorker_DiskFullRetriesWithoutSpendingAttempts: the library disk full for a while (issue
// 12 point 7: 7 of 10 recordings ended failed for good) costs no recording its attempts: every
// one is retried after MachineRetry until space returns and ends ready; the fault is reported
// once to Health and the metric, and cleared on the first success.
func TestWorker_DiskFullRetriesWithoutSpendingAttempts(t *testing.T) {
	e := mustOpenEnv(t)
	var recs []*store.Recording
	for range 10 {
		r, _ := e.queueWAV(t, 8000, 1, 4000)
		recs = append(recs, r)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	must(t, err)
	enc := &failingEncoder{failures: 40, err: fmt.Errorf("write: %w", syscall.ENOSPC)}
	var health []error
	w := e.worker() // MaxAttempts 3
	w.Encoder, w.Metrics, w.MachineRetry = enc, m, time.Minute
	w.Health = func(err error) { health = append(health, err) }
	for round := 0; round < 20; round++ {
		drain(t, w)
		if round == 0 && metricValue(t, reg, "callrec_library_machine_fault", nil) != 1 {
			t.Error("machine fault gauge not set while the disk is full")
		}
		e.clock.Advance(time.Minute)
	}
	for _, r := range recs {
		if got := e.recording(t, r.ID); got.State != store.StateReady {
			t.Errorf("recording %s %q (%s), want ready once space returned", r.ID, got.State, got.Error)
		}
	}
	if len(health) != 2 || health[0] == nil || !errors.Is(health[0], syscall.ENOSPC) || health[1] != nil {
		t.Errorf("Health told %v, want the ENOSPC fault once, then nil", health)
	}
	if v := metricValue(t, reg, "callrec_library_machine_fault", nil); v != 0 {
		t.Errorf("machine fault gauge %v after recovery", v)
	}
	if v := metricValue(t, reg, "callrec_library_failures_total", map[string]string{"kind": "machine"}); v != 40 {
		t.Errorf("machine failures counted %v, want 40", v)
	}
}

func TestMachineFault_ClassifiesErrorsAboutTheMachine(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"disk full", fmt.Errorf("write: %w", syscall.ENOSPC), true},
		{"quota", &os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}, true},
		{"I/O error", fmt.Errorf("read: %w", syscall.EIO), true},
		{"read-only file system", fmt.Errorf("create: %w", syscall.EROFS), true},
		{"library not writable", libraryErr(&os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}), true},
		{"spool WAV not readable", &os.PathError{Op: "open", Path: "x", Err: syscall.EACCES}, false},
		{"hung mount", fmt.Errorf("x: %w", errFileTimeout), true},
		{"not a WAV", audio.ErrNotWAV, false},
		{"encoder bug", errors.New("boom"), false},
	} {
		if got := machineFault(tc.err); got != tc.want {
			t.Errorf("%s: machineFault(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// TestWorker_TenantVisibleErrorsHoldNoPathOrFileBytes: the error of a failed or discarded
// recording, which tenants see, is a plain reason: no server path, no byte of the file (issue 12
// point 14); the details are in the log.
func TestWorker_TenantVisibleErrorsHoldNoPathOrFileBytes(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, e *env, w *Worker) string // returns the WAV path to queue
		want  string
	}{
		{"missing WAV", func(t *testing.T, e *env, w *Worker) string {
			return filepath.Join(e.spool, "never.wav")
		}, "the recording file was not found"},
		{"not a WAV", func(t *testing.T, e *env, w *Worker) string {
			p := filepath.Join(e.spool, "text.wav")
			must(t, os.WriteFile(p, []byte("SECRETcontent of some other file"), 0o640))
			return p
		}, "the recording file is not a WAV"},
		{"unsupported", func(t *testing.T, e *env, w *Worker) string {
			p := filepath.Join(e.spool, "float.wav")
			writeRawWAV(t, p, 3, 8000, 1, 32, make([]byte, 4*8000))
			return p
		}, "the recording file's audio format is not supported"},
		{"header only", func(t *testing.T, e *env, w *Worker) string {
			p := filepath.Join(e.spool, "empty.wav")
			writeWAV(t, p, 8000, 1, 0)
			return p
		}, "the recording file holds no audio 1m0s after the recording ended"},
		{"outside the spool", func(t *testing.T, e *env, w *Worker) string {
			return e.spool + "/../elsewhere.wav"
		}, "the recording file is outside the recording directories"},
		{"FIFO", func(t *testing.T, e *env, w *Worker) string {
			p := filepath.Join(e.spool, "fifo.wav")
			must(t, syscall.Mkfifo(p, 0o640))
			t.Cleanup(func() { unblockFIFO(p) })
			return p
		}, "the recording file is not a regular file"},
		{"encoder error naming the path", func(t *testing.T, e *env, w *Worker) string {
			p := filepath.Join(e.spool, "ok.wav")
			writeWAV(t, p, 8000, 1, 8000)
			w.Encoder = &failingEncoder{failures: 100, err: fmt.Errorf("encoder choked on %s", p)}
			return p
		}, "the recording could not be encoded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustOpenEnv(t)
			w := e.worker()
			rec := e.queue(t, e.company.ID, tc.setup(t, e, w), 1000)
			for range 10 {
				if s := e.recording(t, rec.ID).State; s != store.StateProcessing {
					break
				}
				drain(t, w)
				e.clock.Advance(time.Minute)
			}
			got := e.recording(t, rec.ID)
			if got.State != store.StateFailed && got.State != store.StateDiscarded {
				t.Fatalf("state %q, want failed or discarded", got.State)
			}
			if got.Error != tc.want {
				t.Errorf("error %q, want %q", got.Error, tc.want)
			}
			if strings.Contains(got.Error, "/") || strings.Contains(got.Error, "SECRET") {
				t.Errorf("tenant-visible error %q holds a path or file bytes", got.Error)
			}
		})
	}
}

// TestSweeper_RemovesOnlyWAVsInsideTheSpool: a failed recording past retention whose WAV path
// leads out of the spool loses its row, but the file it names is left alone (issue 12 point 5:
// every file callrec deletes lies inside spool_dir / record_path).
func TestSweeper_RemovesOnlyWAVsInsideTheSpool(t *testing.T) {
	e := mustOpenEnv(t)
	c := e.addCompany(t, "Thirty days", 30, 0)
	victim := filepath.Join(filepath.Dir(e.spool), "victim.wav")
	writeWAV(t, victim, 8000, 1, 800)
	rec := e.queue(t, c.ID, e.spool+"/../victim.wav", 100)
	must(t, e.db.FailRecording(context.Background(), rec.ID, "x"))
	inSpool, wav := e.failed(t, c.ID)
	e.clock.Advance(40 * day)
	n, err := e.sweeper(nil).SweepOnce(context.Background())
	if n != 2 || !gone(t, e, rec.ID) || !gone(t, e, inSpool.ID) {
		t.Fatalf("removed %d (%v), want both rows", n, err)
	}
	if !exists(victim) {
		t.Error("the sweeper removed a file outside the spool")
	}
	if exists(wav) {
		t.Error("the sweeper left the WAV in the spool behind")
	}
}

// TestSweeper_RemoveFilesKeepsToTheLibraryAndSpool: the API's DELETE removes a recording's files
// through RemoveFiles, which, like the sweep, never trusts the stored paths: an MP3 outside
// library_dir and a WAV outside the spool stay, the recording's own files go.
func TestSweeper_RemoveFilesKeepsToTheLibraryAndSpool(t *testing.T) {
	e := mustOpenEnv(t)
	outside := filepath.Join(filepath.Dir(e.spool), "outside.mp3")
	victim := filepath.Join(filepath.Dir(e.spool), "victim.wav")
	writeWAV(t, victim, 8000, 1, 800)
	must(t, os.WriteFile(outside, []byte("not ours"), 0o600))
	s := e.sweeper(nil)
	err := s.RemoveFiles(context.Background(), &store.Recording{ID: "r1", MP3Path: outside, WAVPath: e.spool + "/../victim.wav"})
	if err != nil {
		t.Fatal(err)
	}
	if !exists(outside) || !exists(victim) {
		t.Fatal("RemoveFiles removed a file outside the library or the spool")
	}
	inSpool := filepath.Join(e.spool, "own.wav")
	writeWAV(t, inSpool, 8000, 1, 800)
	mp3 := filepath.Join(s.LibraryDir, "co", "own.mp3")
	must(t, os.MkdirAll(filepath.Dir(mp3), 0o750))
	must(t, os.WriteFile(mp3, []byte("mp3"), 0o600))
	if err := s.RemoveFiles(context.Background(), &store.Recording{ID: "r2", MP3Path: mp3, WAVPath: inSpool}); err != nil {
		t.Fatal(err)
	}
	if exists(inSpool) || exists(mp3) {
		t.Error("RemoveFiles left the recording's own files")
	}
}
