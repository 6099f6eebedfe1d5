package library

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/store"
)

func TestWorker_EncodesIntoLibraryWithExactDurationAndRemovesWAV(t *testing.T) {
	cases := []struct {
		name                   string
		rate, channels, frames int
		wantMS                 int64
	}{
		{"8 kHz mono, duration rounds down", 8000, 1, 12345, 1543},   // 1543.125 ms
		{"16 kHz stereo, duration rounds up", 16000, 2, 16009, 1001}, // 1000.5625 ms
		{"48 kHz mono", 48000, 1, 48000 * 2, 2000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustOpenEnv(t)
			rec, wav := e.queueWAV(t, tc.rate, tc.channels, tc.frames)
			if n := drain(t, e.worker()); n != 1 {
				t.Fatalf("processed %d jobs, want 1", n)
			}
			got := e.recording(t, rec.ID)
			if got.State != store.StateReady {
				t.Fatalf("state %q (%s), want ready", got.State, got.Error)
			}
			if got.DurationMS != tc.wantMS {
				t.Errorf("duration_ms %d, want %d from the WAV (FreeSWITCH said 99999)", got.DurationMS, tc.wantMS)
			}
			if got.MIME != audio.MIMEType {
				t.Errorf("mime %q", got.MIME)
			}
			want := filepath.Join(e.lib, rec.CompanyID, rec.StartedAt.Format("2006"), rec.StartedAt.Format("01"), rec.ID+".mp3")
			if got.MP3Path != want {
				t.Errorf("mp3 at %s, want %s", got.MP3Path, want)
			}
			if got.FileName != rec.DownloadName() || !strings.HasSuffix(got.FileName, ".mp3") {
				t.Errorf("file_name %q, want %q", got.FileName, rec.DownloadName())
			}
			checkMP3(t, got.MP3Path, got.FileSize, tc.wantMS)
			if exists(wav) {
				t.Error("WAV still in the spool after the recording became ready")
			}
			if n, _ := e.db.QueueDepth(context.Background()); n != 0 {
				t.Errorf("queue depth %d after the job", n)
			}
			if left := filesUnder(t, filepath.Join(e.lib, tmpDirName)); len(left) != 0 {
				t.Errorf("partial files left: %v", left)
			}
			if left := filesUnder(t, filepath.Join(e.lib, inflightDirName)); len(left) != 0 {
				t.Errorf("markers left: %v", left)
			}
		})
	}
}

// failingEncoder fails its first failures calls, then encodes with shine.
type failingEncoder struct {
	failures int32
	calls    atomic.Int32
	err      error
}

func (f *failingEncoder) Name() string { return "failing" }

func (f *failingEncoder) Encode(ctx context.Context, dst io.Writer, src *audio.WAV) (audio.Result, error) {
	if f.calls.Add(1) <= f.failures {
		_, _ = dst.Write([]byte("half an MP3"))
		return audio.Result{}, f.err
	}
	return audio.NewShineEncoder(0).Encode(ctx, dst, src)
}

func TestWorker_FailuresRetryWithBackoffThenFailKeepingWAV(t *testing.T) {
	e := mustOpenEnv(t)
	rec, wav := e.queueWAV(t, 8000, 1, 8000)
	enc := &failingEncoder{failures: 100, err: errors.New("disk on fire")}
	w := e.worker()
	w.Encoder = enc // MaxAttempts 3, back-off attempt×10 s
	ctx := context.Background()

	steps := []struct {
		advance   time.Duration
		wantCalls int32
		wantState string
	}{
		{0, 1, store.StateProcessing},                // attempt 1 fails, due again in 10 s
		{9 * time.Second, 1, store.StateProcessing},  // not yet due
		{1 * time.Second, 2, store.StateProcessing},  // attempt 2 fails, due again in 20 s
		{19 * time.Second, 2, store.StateProcessing}, // not yet due
		{1 * time.Second, 3, store.StateFailed},      // attempt 3 is the last
		{time.Hour, 3, store.StateFailed},            // nothing more
	}
	for i, s := range steps {
		e.clock.Advance(s.advance)
		drain(t, w)
		if got := enc.calls.Load(); got != s.wantCalls {
			t.Fatalf("step %d: %d encode calls, want %d", i, got, s.wantCalls)
		}
		if got := e.recording(t, rec.ID); got.State != s.wantState {
			t.Fatalf("step %d: state %q, want %q", i, got.State, s.wantState)
		}
	}
	got := e.recording(t, rec.ID)
	if got.Error != "the recording could not be encoded" {
		t.Errorf("failed reason %q, want the plain reason tenants see", got.Error)
	}
	if ev := e.logs.events("failed"); len(ev) != 1 || !strings.Contains(ev[0]["reason"].(string), "disk on fire") || !strings.Contains(ev[0]["reason"].(string), "after 3 attempts") {
		t.Errorf("failed decision logged %v, want the details", ev)
	}
	if !exists(wav) {
		t.Error("WAV removed from a failed recording")
	}
	if n, _ := e.db.QueueDepth(ctx); n != 0 {
		t.Errorf("job still queued after failing")
	}
	if mp3s := filesUnder(t, e.lib); len(mp3s) != 0 {
		t.Errorf("library holds %v after failures", mp3s)
	}
	if ev := e.logs.events("failed"); len(ev) != 1 || ev[0]["recording_id"] != rec.ID || ev[0]["company_id"] != rec.CompanyID {
		t.Errorf("failed decision logged %v", ev)
	}
	if ev := e.logs.events("retry"); len(ev) != 2 {
		t.Errorf("retry decisions logged %d times, want 2", len(ev))
	}
}

func TestWorker_TransientFailureRecoversOnRetry(t *testing.T) {
	e := mustOpenEnv(t)
	rec, wav := e.queueWAV(t, 8000, 1, 4000)
	w := e.worker()
	w.Encoder = &failingEncoder{failures: 1, err: errors.New("transient")}
	drain(t, w)
	if got := e.recording(t, rec.ID); got.State != store.StateProcessing {
		t.Fatalf("after one failure state %q", got.State)
	}
	job := retriedJob(t, e)
	if job.LastError == "" || !job.NotBefore.Equal(e.clock.Now().Add(10*time.Second)) {
		t.Fatalf("job after failure: %+v (now %s)", job, e.clock.Now())
	}
	e.clock.Advance(10 * time.Second)
	drain(t, w)
	got := e.recording(t, rec.ID)
	if got.State != store.StateReady || got.Error != "" || got.DurationMS != 500 {
		t.Fatalf("after retry %+v", got)
	}
	checkMP3(t, got.MP3Path, got.FileSize, got.DurationMS)
	if exists(wav) {
		t.Error("WAV kept after success")
	}
}

// retriedJob reads the job named by the last "retry" decision logged.
func retriedJob(tb testing.TB, e *env) *store.Job {
	tb.Helper()
	ev := e.logs.events("retry")
	if len(ev) == 0 {
		tb.Fatal("no retry logged")
	}
	id, _ := ev[len(ev)-1]["job_id"].(string)
	j, err := e.db.Job(context.Background(), id)
	must(tb, err)
	return j
}

// TestWorker_MissingWAVWaitsOutTheGraceThenSaysWhatHappened: a WAV that never appears where the
// row says is not "discarded by FreeSWITCH" (FreeSWITCH said nothing of the kind): the recording
// fails, visible to admins, naming the path callrec looked at. A header-only WAV (FreeSWITCH died
// mid-write) holds nothing to hear: discarded, saying so.
func TestWorker_MissingWAVWaitsOutTheGraceThenSaysWhatHappened(t *testing.T) {
	cases := []struct {
		name        string
		arriveAfter time.Duration // 0: never
		headerOnly  bool
		wantState   string
		wantReason  string // what tenants see (no path)
		wantLog     string // in the decision's logged reason; "%s" is the WAV path
	}{
		{"never arrives: failed, naming the path in the log", 0, false, store.StateFailed, "the recording file was not found", "%s 1m0s after the recording ended"},
		{"arrives late within the grace: encoded", 40 * time.Second, false, store.StateReady, "", ""},
		{"header only (FreeSWITCH died): discarded and removed", 0, true, store.StateDiscarded, "the recording file holds no audio 1m0s after the recording ended", "%s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := mustOpenEnv(t)
			wav := filepath.Join(e.spool, "late.wav")
			if tc.headerOnly {
				writeWAV(t, wav, 8000, 1, 0)
			}
			rec := e.queue(t, e.company.ID, wav, 700)
			w := e.worker() // grace 1 min, MaxAttempts 3, back-off attempt×10 s
			for elapsed := time.Duration(0); elapsed < 55*time.Second; elapsed += 5 * time.Second {
				if tc.arriveAfter > 0 && elapsed >= tc.arriveAfter && !exists(wav) {
					writeWAV(t, wav, 8000, 1, 8000)
				}
				drain(t, w)
				got := e.recording(t, rec.ID)
				if got.State == tc.wantState && tc.wantState == store.StateReady {
					break
				}
				if got.State != store.StateProcessing {
					t.Fatalf("at +%s (within the grace) state %q (%s)", elapsed, got.State, got.Error)
				}
				e.clock.Advance(5 * time.Second)
			}
			e.clock.Advance(time.Minute)
			drain(t, w)
			got := e.recording(t, rec.ID)
			if got.State != tc.wantState {
				t.Fatalf("after the grace state %q (%s), want %q", got.State, got.Error, tc.wantState)
			}
			if n, _ := e.db.QueueDepth(context.Background()); n != 0 {
				t.Errorf("job left in the queue")
			}
			if got.Error != tc.wantReason {
				t.Errorf("reason %q, want %q", got.Error, tc.wantReason)
			}
			if tc.wantLog != "" {
				ev := e.logs.events(tc.wantState)
				if len(ev) == 0 || !strings.Contains(ev[0]["reason"].(string), fmt.Sprintf(tc.wantLog, wav)) {
					t.Errorf("logged %v, want a reason containing %q", ev, fmt.Sprintf(tc.wantLog, wav))
				}
			}
			if strings.Contains(got.Error, "FreeSWITCH discarded") {
				t.Errorf("reason %q claims FreeSWITCH discarded it: FreeSWITCH said no such thing", got.Error)
			}
			if tc.wantState == store.StateFailed {
				if ev := e.logs.events("failed"); len(ev) != 1 {
					t.Errorf("failure logged %d times", len(ev))
				}
				return
			}
			if tc.wantState != store.StateDiscarded {
				return
			}
			if exists(wav) {
				t.Error("audio-less WAV kept")
			}
			ctx := context.Background()
			list, _, err := e.db.ListRecordings(ctx, store.RecordingFilter{CompanyID: e.company.ID})
			must(t, err)
			if len(list) != 0 {
				t.Errorf("discarded recording listed by default")
			}
			list, _, err = e.db.ListRecordings(ctx, store.RecordingFilter{CompanyID: e.company.ID, IncludeDiscarded: true})
			must(t, err)
			if len(list) != 1 {
				t.Errorf("discarded recording not listed when asked for")
			}
			if ev := e.logs.events("discarded"); len(ev) != 1 {
				t.Errorf("discard logged %d times", len(ev))
			}
		})
	}
}

func TestWorker_UnsupportedWAVFailsAtOnceKeepingIt(t *testing.T) {
	e := mustOpenEnv(t)
	wav := filepath.Join(e.spool, "float.wav")
	writeRawWAV(t, wav, 3, 8000, 1, 32, make([]byte, 4*8000))
	rec := e.queue(t, e.company.ID, wav, 1000)
	drain(t, e.worker())
	got := e.recording(t, rec.ID)
	if got.State != store.StateFailed || got.Error != "the recording file's audio format is not supported" {
		t.Fatalf("state %q error %q, want failed with the plain reason", got.State, got.Error)
	}
	if ev := e.logs.events("failed"); len(ev) != 1 || !strings.Contains(ev[0]["reason"].(string), "PCM16") {
		t.Errorf("failed decision logged %v, want the format named", ev)
	}
	if !exists(wav) {
		t.Error("WAV of a failed recording removed")
	}
}

// hookEncoder runs before() and then encodes with shine.
type hookEncoder struct{ before func() }

func (h hookEncoder) Name() string { return "hook" }

func (h hookEncoder) Encode(ctx context.Context, dst io.Writer, src *audio.WAV) (audio.Result, error) {
	h.before()
	return audio.NewShineEncoder(0).Encode(ctx, dst, src)
}

func TestWorker_RecordingChangedDuringEncodeLeavesNoMP3(t *testing.T) {
	for _, change := range []string{"deleted", "discarded"} {
		t.Run(change, func(t *testing.T) {
			e := mustOpenEnv(t)
			rec, _ := e.queueWAV(t, 8000, 1, 4000)
			w := e.worker()
			w.Encoder = hookEncoder{before: func() {
				ctx := context.Background()
				if change == "deleted" {
					_, err := e.db.DeleteRecording(ctx, rec.ID)
					must(t, err)
				} else {
					// A discard racing the worker: the row changes, the job is not yet acked.
					must(t, e.db.DiscardRecording(ctx, rec.ID, "test"))
				}
			}}
			drain(t, w)
			if left := filesUnder(t, e.lib); len(left) != 0 {
				t.Fatalf("library holds %v for a recording that is %s", left, change)
			}
			if ev := e.logs.events("dropped"); len(ev) != 1 {
				t.Errorf("dropped decisions %d", len(ev))
			}
		})
	}
}

func TestMP3Path_RefusesIDsThatEscapeTheLibrary(t *testing.T) {
	at := time.Date(2024, 2, 29, 23, 59, 0, 0, time.FixedZone("X", 3600))
	cases := []struct {
		name, company, id string
		want              string // "" = refused
	}{
		{"normal ids", "01COMPANY", "01REC", "/lib/01COMPANY/2024/02/01REC.mp3"},
		{"dot-dot company", "..", "01REC", ""},
		{"slash in company", "a/../../etc", "01REC", ""},
		{"slash in id", "01COMPANY", "../../x", ""},
		{"backslash", "01COMPANY", `a\b`, ""},
		{"leading dot collides with .tmp", ".tmp", "01REC", ""},
		{"empty company", "", "01REC", ""},
		{"NUL", "01COMPANY", "a\x00b", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MP3Path("/lib", &store.Recording{ID: tc.id, CompanyID: tc.company, StartedAt: at})
			if tc.want == "" {
				if !errors.Is(err, ErrOutsideLibrary) {
					t.Fatalf("got %q, %v; want ErrOutsideLibrary", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q (month of the UTC start)", got, err, tc.want)
			}
		})
	}
}

func TestWorker_RunNotifyWakesAnIdleWorker(t *testing.T) {
	e := mustOpenEnv(t)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	must(t, err)
	w := e.worker()
	w.Poll = time.Hour // only Notify can wake it
	w.Concurrency = 2
	w.Metrics = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	// Wait until both goroutines have found the queue empty and gone to sleep.
	waitFor(t, func() bool { return exists(filepath.Join(e.lib, inflightDirName)) })
	time.Sleep(50 * time.Millisecond)
	rec, _ := e.queueWAV(t, 8000, 1, 4000)
	w.Notify()
	waitFor(t, func() bool { return e.recording(t, rec.ID).State == store.StateReady })
	cancel()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	got := e.recording(t, rec.ID)
	if v := metricValue(t, reg, "callrec_library_jobs_total", map[string]string{"outcome": "ready"}); v != 1 {
		t.Errorf("jobs ready metric %v", v)
	}
	if v := metricValue(t, reg, "callrec_library_encode_seconds", nil); v != 1 {
		t.Errorf("encode histogram count %v", v)
	}
	if v := metricValue(t, reg, "callrec_library_bytes", map[string]string{"company_id": rec.CompanyID}); v != float64(got.FileSize) {
		t.Errorf("bytes metric %v, want %d", v, got.FileSize)
	}
}

// slowEncoder blocks until its context ends.
type slowEncoder struct{ started chan struct{} }

func (s slowEncoder) Name() string { return "slow" }

func (s slowEncoder) Encode(ctx context.Context, dst io.Writer, src *audio.WAV) (audio.Result, error) {
	close(s.started)
	<-ctx.Done()
	return audio.Result{}, fmt.Errorf("slow: %w", ctx.Err())
}

func TestWorker_ShutdownDuringEncodeReleasesTheJobForTheNextRun(t *testing.T) {
	e := mustOpenEnv(t)
	rec, wav := e.queueWAV(t, 8000, 1, 4000)
	w := e.worker()
	enc := slowEncoder{started: make(chan struct{})}
	w.Encoder = enc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case <-enc.started:
	case <-time.After(10 * time.Second):
		t.Fatal("encode never started")
	}
	cancel()
	must(t, <-done)
	if got := e.recording(t, rec.ID); got.State != store.StateProcessing {
		t.Fatalf("state %q after shutdown, want processing", got.State)
	}
	if !exists(wav) {
		t.Fatal("WAV lost on shutdown")
	}
	if left := filesUnder(t, e.lib); len(left) != 0 {
		t.Fatalf("files left by an interrupted encode: %v", left)
	}
	// The next run picks it up at once (no back-off, no lease to wait for).
	w2 := e.worker()
	drain(t, w2)
	if got := e.recording(t, rec.ID); got.State != store.StateReady {
		t.Fatalf("next run: state %q", got.State)
	}
}

func TestNewMetrics_SecondRegistrationFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := NewMetrics(reg); err == nil {
		t.Fatal("registering the library metrics twice succeeded")
	}
	var m *Metrics // nil Metrics record nothing and do not panic
	m.job("ready")
	m.setBytes("c", 1)
}

func TestDefaultBackoff_DoublesFrom2sAndIsCapped(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 3: 8 * time.Second, 9: 512 * time.Second, 10: 10 * time.Minute, 1000: 10 * time.Minute} {
		if got := DefaultBackoff(attempt); got != want {
			t.Errorf("DefaultBackoff(%d) = %s, want %s", attempt, got, want)
		}
	}
}

func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// blockingEncoder signals started, then waits for release before encoding with shine.
type blockingEncoder struct{ started, release chan struct{} }

func (b blockingEncoder) Name() string { return "blocking" }

func (b blockingEncoder) Encode(ctx context.Context, dst io.Writer, src *audio.WAV) (audio.Result, error) {
	close(b.started)
	select {
	case <-b.release:
	case <-ctx.Done():
		return audio.Result{}, ctx.Err()
	}
	return audio.NewShineEncoder(0).Encode(ctx, dst, src)
}

func TestWorker_LongEncodeKeepsRenewingItsLease(t *testing.T) {
	e := mustOpenEnv(t)
	rec, _ := e.queueWAV(t, 8000, 1, 4000)
	w := e.worker()
	w.Lease = 30 * time.Millisecond
	enc := blockingEncoder{started: make(chan struct{}), release: make(chan struct{})}
	w.Encoder = enc
	var renewals atomic.Int32
	w.hook = func(step string) {
		if step == "lease_renewed" {
			renewals.Add(1)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-enc.started
	e.clock.Advance(time.Hour) // far past the lease taken at the claim
	n := renewals.Load()
	waitFor(t, func() bool { return renewals.Load() >= n+2 }) // one renewal surely computed after the jump
	if j, err := e.db.ClaimJob(context.Background(), time.Minute); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("job of a recording still being encoded was claimable: %+v, %v", j, err)
	}
	close(enc.release)
	waitFor(t, func() bool { return e.recording(t, rec.ID).State == store.StateReady })
	cancel()
	must(t, <-done)
}
