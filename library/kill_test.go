//go:build unix

package library

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/store"
)

// The kill test re-executes this test binary as a worker process (TestMain sees
// killChildEnv) and SIGKILLs it, either from inside at a named step of a job or from outside
// at a random moment.
const (
	killChildEnv = "CALLREC_LIBRARY_KILL_CHILD"
	killDBEnv    = "CALLREC_LIBRARY_KILL_DB"
	killLibEnv   = "CALLREC_LIBRARY_KILL_LIB"
	killSpoolEnv = "CALLREC_LIBRARY_KILL_SPOOL"
	killAtEnv    = "CALLREC_LIBRARY_KILL_AT"    // "step:n": die at the n-th time any job reaches step
	killDrainEnv = "CALLREC_LIBRARY_KILL_DRAIN" // "1": exit 0 once the queue is empty
)

func TestMain(m *testing.M) {
	if os.Getenv(killChildEnv) != "" {
		os.Exit(killChild())
	}
	os.Exit(m.Run())
}

// killChild runs a Worker on the store and library named by the environment.
func killChild() int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db, err := store.Open(ctx, os.Getenv(killDBEnv), store.Options{NoSync: true, MaxBatchDelay: time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	defer db.Close()
	w := &Worker{DB: db, LibraryDir: os.Getenv(killLibEnv), SpoolDirs: []string{os.Getenv(killSpoolEnv)}, Concurrency: 2, Poll: 5 * time.Millisecond, Logger: zerolog.Nop()}
	if at := os.Getenv(killAtEnv); at != "" {
		step, nStr, _ := strings.Cut(at, ":")
		n, _ := strconv.Atoi(nStr)
		var seen atomic.Int32
		w.hook = func(s string) {
			if s == step && int(seen.Add(1)) == n {
				fmt.Fprintf(os.Stdout, "crash at %s\n", s)
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	if os.Getenv(killDrainEnv) == "1" {
		go func() {
			for ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
				if n, err := db.QueueDepth(ctx); err == nil && n == 0 {
					cancel()
				}
			}
		}()
	}
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

// killFixture is a store of queued recordings on disk, shared by parent and children.
type killFixture struct {
	dir, dbPath, lib, spool string
	companyID               string
	wantMS                  map[string]int64 // recording id -> exact WAV duration
}

func newKillFixture(t *testing.T, jobs int) *killFixture {
	dir := t.TempDir()
	f := &killFixture{dir: dir, dbPath: filepath.Join(dir, "data", "callrec.db"), lib: filepath.Join(dir, "library"),
		spool: filepath.Join(dir, "spool"), wantMS: map[string]int64{}}
	must(t, os.MkdirAll(f.spool, 0o750))
	ctx := context.Background()
	db, err := store.Open(ctx, f.dbPath, store.Options{NoSync: true, MaxBatchDelay: time.Millisecond})
	must(t, err)
	defer db.Close()
	b := &store.Brand{Name: "B"}
	must(t, db.CreateBrand(ctx, b))
	c := &store.Company{BrandID: b.ID, Name: "C"}
	must(t, db.CreateCompany(ctx, c))
	f.companyID = c.ID
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range jobs {
		rate, channels := 8000, 1
		if i%5 == 4 {
			rate, channels = 16000, 2
		}
		frames := rate/5 + rng.IntN(rate*3/2) // 0.2–1.7 s
		wav := filepath.Join(f.spool, fmt.Sprintf("rec-%03d.wav", i))
		writeWAV(t, wav, rate, channels, frames)
		r := &store.Recording{CompanyID: c.ID, CallID: fmt.Sprint("call-", i), Type: store.TypeDDI, Trigger: store.TriggerDDI,
			Direction: store.DirectionInbound, Recorder: "+34911234567", Caller: "+34600111222", Callee: "+34911234567"}
		must(t, db.CreateRecording(ctx, r))
		must(t, db.FinishRecording(ctx, r.ID, time.Now(), 123456, wav))
		f.wantMS[r.ID] = (int64(frames)*1000 + int64(rate)/2) / int64(rate)
	}
	return f
}

// runChild starts a worker process and returns it with its captured stdout.
func (f *killFixture) runChild(t *testing.T, env ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{killChildEnv + "=1", killDBEnv + "=" + f.dbPath, killLibEnv + "=" + f.lib, killSpoolEnv + "=" + f.spool}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	return cmd, &out
}

// wait waits for cmd at most limit, SIGKILLing it when the limit passes, and reports whether it
// died of SIGKILL.
func wait(t *testing.T, cmd *exec.Cmd, limit time.Duration) (killed, timedOut bool) {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		timedOut = true
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ws.Signaled() && ws.Signal() == syscall.SIGKILL, timedOut
}

// killState is what the parent sees between runs.
type killState struct {
	ready, processing int
	readyWithWAV      int // ready rows whose WAV is still in the spool (allowed only with a marker)
	processingWithMP3 int // processing rows whose final MP3 a dead attempt already placed
	markers, tmpFiles int
}

// check opens the store between runs and verifies the invariants of a crash at any point:
// a ready row has its complete MP3 (size, decodable, exact duration); every queued job belongs
// to a processing row; a ready row's WAV survives only with the marker that lets the next run
// remove it; every MP3 in the library is referenced by a ready row or is the final file of a
// processing row (which the redo overwrites). With final set, all work must be done and clean.
func (f *killFixture) check(t *testing.T, final bool) killState {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, f.dbPath, store.Options{NoSync: true, Timeout: 10 * time.Second})
	must(t, err)
	defer db.Close()
	rs, err := db.CompanyRecordingsOldestFirst(ctx, f.companyID, "", 0)
	must(t, err)
	if len(rs) != len(f.wantMS) {
		t.Fatalf("%d recordings in the store, want %d", len(rs), len(f.wantMS))
	}
	var st killState
	owned := map[string]bool{}
	for _, r := range rs {
		path, err := MP3Path(f.lib, r)
		must(t, err)
		owned[path] = true
		switch r.State {
		case store.StateReady:
			st.ready++
			if r.MP3Path != path {
				t.Fatalf("ready %s: mp3 %q, want %q", r.ID, r.MP3Path, path)
			}
			if r.DurationMS != f.wantMS[r.ID] {
				t.Fatalf("ready %s: duration_ms %d, want %d (exact, from the WAV)", r.ID, r.DurationMS, f.wantMS[r.ID])
			}
			checkMP3(t, r.MP3Path, r.FileSize, r.DurationMS)
			if exists(r.WAVPath) {
				st.readyWithWAV++
				if final {
					t.Fatalf("ready %s: WAV still in the spool after the final run", r.ID)
				}
				if !exists(markerPath(f.lib, r.ID)) {
					t.Fatalf("ready %s: WAV left without the marker that gets it removed", r.ID)
				}
			}
		case store.StateProcessing:
			st.processing++
			if !exists(r.WAVPath) {
				t.Fatalf("processing %s: WAV lost", r.ID)
			}
			if exists(path) {
				st.processingWithMP3++
			}
		default:
			t.Fatalf("recording %s ended %s (%s): nothing in this test should fail", r.ID, r.State, r.Error)
		}
	}
	depth, err := db.QueueDepth(ctx)
	must(t, err)
	if depth != st.processing {
		t.Fatalf("queue holds %d jobs for %d processing recordings", depth, st.processing)
	}
	for _, rel := range filesUnder(t, f.lib) {
		switch {
		case strings.HasPrefix(rel, tmpDirName+string(filepath.Separator)):
			st.tmpFiles++
		case strings.HasPrefix(rel, inflightDirName+string(filepath.Separator)):
			st.markers++
		case !owned[filepath.Join(f.lib, rel)]:
			t.Fatalf("library file %s belongs to no recording", rel)
		}
	}
	if final && (st.processing != 0 || st.markers != 0 || st.tmpFiles != 0 || st.processingWithMP3 != 0) {
		t.Fatalf("after the final run: %+v", st)
	}
	return st
}

func TestWorker_SIGKILLAtAnyPointLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary many times")
	}
	f := newKillFixture(t, 120)

	// Deterministic kills at every step where a crash leaves a different state behind.
	windows := map[string]func(killState) bool{
		"claimed":     func(killState) bool { return true },
		"encoded":     func(s killState) bool { return s.tmpFiles > 0 },          // a complete MP3 still in .tmp
		"renamed":     func(s killState) bool { return s.processingWithMP3 > 0 }, // final MP3 placed, row not ready
		"committed":   func(s killState) bool { return s.readyWithWAV > 0 },      // ready, WAV not yet removed
		"wav_removed": func(s killState) bool { return s.markers > 0 },           // done, marker not yet removed
	}
	for _, step := range []string{"claimed", "encoded", "renamed", "committed", "wav_removed"} {
		for _, n := range []int{1, 3} {
			cmd, out := f.runChild(t, fmt.Sprintf("%s=%s:%d", killAtEnv, step, n))
			killed, timedOut := wait(t, cmd, 30*time.Second)
			if timedOut || !killed || !strings.Contains(out.String(), "crash at "+step) {
				t.Fatalf("kill at %s:%d: killed=%v timed out=%v output:\n%s", step, n, killed, timedOut, out)
			}
			st := f.check(t, false)
			if !windows[step](st) {
				t.Errorf("kill at %s:%d did not leave the state that step should: %+v", step, n, st)
			}
		}
	}

	// Kills from outside at random moments.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for i := 0; i < 15; i++ {
		cmd, out := f.runChild(t)
		time.Sleep(time.Duration(20+rng.IntN(250)) * time.Millisecond) // start-up takes tens of ms
		_ = cmd.Process.Signal(syscall.SIGKILL)
		if killed, _ := wait(t, cmd, 30*time.Second); killed {
			kills++
		} else {
			t.Fatalf("child ended on its own: %v\n%s", cmd.ProcessState, out)
		}
		st := f.check(t, false)
		t.Logf("random kill %d: %+v", i, st)
		if st.processing == 0 {
			break
		}
	}

	// A last run that is left alone finishes everything and cleans up.
	cmd, out := f.runChild(t, killDrainEnv+"=1")
	if killed, timedOut := wait(t, cmd, 60*time.Second); killed || timedOut || !cmd.ProcessState.Success() {
		t.Fatalf("final run: %v timed out=%v\n%s", cmd.ProcessState, timedOut, out)
	}
	st := f.check(t, true)
	if st.ready != len(f.wantMS) {
		t.Fatalf("%d of %d recordings ready", st.ready, len(f.wantMS))
	}
	if wavs := filesUnder(t, f.spool); len(wavs) != 0 {
		t.Fatalf("WAVs left in the spool: %v", wavs)
	}
	t.Logf("%d deterministic and %d random SIGKILLs over %d jobs", 10, kills, len(f.wantMS))
}
