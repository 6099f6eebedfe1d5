package library

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callrec/callrec/store"
)

const day = 24 * time.Hour

// ready seeds a ready recording of companyID started now (fake clock) whose MP3 has size
// bytes, as the worker would leave it.
func (e *env) ready(tb testing.TB, companyID string, size int) *store.Recording {
	tb.Helper()
	ctx := context.Background()
	rec := e.queue(tb, companyID, filepath.Join(e.spool, "gone.wav"), 1000)
	var job *store.Job
	var others []*store.Job
	for job == nil {
		j, err := e.db.ClaimJob(ctx, time.Minute)
		must(tb, err)
		if j.RecordingID == rec.ID {
			job = j
		} else {
			others = append(others, j)
		}
	}
	for _, j := range others { // give back the jobs of other seeded recordings
		must(tb, e.db.RetryJob(ctx, j.ID, j.NotBefore, j.LastError))
	}
	p, err := MP3Path(e.lib, rec)
	must(tb, err)
	must(tb, os.MkdirAll(filepath.Dir(p), 0o750))
	must(tb, os.WriteFile(p, nil, 0o640))
	must(tb, os.Truncate(p, int64(size))) // sparse: the sweeper only reads sizes from the rows
	must(tb, e.db.CompleteRecording(ctx, job.ID, store.RecordingResult{MP3Path: p, DurationMS: 1000, FileSize: int64(size)}))
	return e.recording(tb, rec.ID)
}

// failed seeds a failed recording of companyID that kept its WAV.
func (e *env) failed(tb testing.TB, companyID string) (*store.Recording, string) {
	tb.Helper()
	wav := filepath.Join(e.spool, "kept-"+e.clock.Now().Format("20060102150405")+".wav")
	writeWAV(tb, wav, 8000, 1, 800)
	rec := e.queue(tb, companyID, wav, 100)
	must(tb, e.db.FailRecording(context.Background(), rec.ID, "encoder exploded"))
	return e.recording(tb, rec.ID), wav
}

func (e *env) sweeper(m *Metrics) *Sweeper {
	return &Sweeper{DB: e.db, LibraryDir: e.lib, SpoolDirs: []string{e.spool}, Logger: e.logger(), Metrics: m, Now: e.clock.Now}
}

func gone(tb testing.TB, e *env, id string) bool {
	tb.Helper()
	_, err := e.db.Recording(context.Background(), id)
	if err != nil && store.ErrorCode(err) != store.ENOTFOUND {
		tb.Fatal(err)
	}
	return err != nil
}

func TestSweeper_RemovesRecordingsOlderThanRetentionWithTheirFiles(t *testing.T) {
	e := mustOpenEnv(t)
	c := e.addCompany(t, "Thirty days", 30, 0)
	keepAll := e.company // retention 0: keeps everything

	oldReady := e.ready(t, c.ID, 1000)
	oldOther := e.ready(t, keepAll.ID, 1000)
	e.clock.Advance(day)
	oldFailed, oldWAV := e.failed(t, c.ID)
	e.clock.Advance(day)
	oldProcessing := e.queue(t, c.ID, filepath.Join(e.spool, "never.wav"), 100)
	e.clock.Advance(18 * day)
	recent := e.ready(t, c.ID, 1000)
	e.clock.Advance(20*day + time.Hour) // now: 40 days after the first

	n, err := e.sweeper(nil).SweepOnce(context.Background())
	must(t, err)
	if n != 2 {
		t.Fatalf("removed %d, want 2 (the old ready and the old failed recording)", n)
	}
	for _, r := range []*store.Recording{oldReady, oldFailed} {
		if !gone(t, e, r.ID) {
			t.Errorf("recording %s (%s, started %s) kept past retention", r.ID, r.State, r.StartedAt)
		}
	}
	for _, r := range []*store.Recording{oldOther, oldProcessing, recent} {
		if gone(t, e, r.ID) {
			t.Errorf("recording %s (%s) removed", r.ID, r.State)
		}
	}
	if exists(oldReady.MP3Path) || exists(oldWAV) {
		t.Error("files of removed recordings left behind")
	}
	if !exists(recent.MP3Path) || !exists(oldOther.MP3Path) {
		t.Error("files of kept recordings removed")
	}
	ev := e.logs.events("removed")
	if len(ev) != 2 {
		t.Fatalf("removals logged %d times, want 2", len(ev))
	}
	for _, m := range ev {
		if r, _ := m["reason"].(string); !strings.HasPrefix(r, "retention") || m["company_id"] != c.ID || m["recording_id"] == nil {
			t.Errorf("removal logged as %v", m)
		}
	}
	if n, err := e.sweeper(nil).SweepOnce(context.Background()); err != nil || n != 0 {
		t.Errorf("second sweep removed %d (%v)", n, err)
	}
}

func TestSweeper_QuotaRemovesOldestReadyFirstUntilUnder(t *testing.T) {
	e := mustOpenEnv(t)
	c := e.addCompany(t, "One MB", 0, 1) // 1 MB = 1,048,576 bytes
	failedFirst, wav := e.failed(t, c.ID)
	var rs []*store.Recording
	for range 5 {
		e.clock.Advance(time.Hour)
		rs = append(rs, e.ready(t, c.ID, 300_000)) // 1,500,000 bytes in all
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	must(t, err)

	n, err := e.sweeper(m).SweepOnce(context.Background())
	must(t, err)
	if n != 2 {
		t.Fatalf("removed %d, want the 2 oldest (1.5 MB - 0.6 MB = 0.9 MB <= 1 MiB)", n)
	}
	for i, r := range rs {
		if want := i < 2; gone(t, e, r.ID) != want || exists(r.MP3Path) == want {
			t.Errorf("recording %d: removed=%v, want %v", i, gone(t, e, r.ID), want)
		}
	}
	if gone(t, e, failedFirst.ID) || !exists(wav) {
		t.Error("quota removed a failed recording, which holds no MP3")
	}
	u, err := e.db.CompanyUsage(context.Background(), c.ID)
	must(t, err)
	if u.Bytes != 900_000 || u.Ready != 3 {
		t.Errorf("usage after sweep %+v", u)
	}
	if v := metricValue(t, reg, "callrec_library_bytes", map[string]string{"company_id": c.ID}); v != 900_000 {
		t.Errorf("bytes metric %v", v)
	}
	if v := metricValue(t, reg, "callrec_library_removed_total", map[string]string{"reason": "quota"}); v != 2 {
		t.Errorf("removed metric %v", v)
	}
	for _, m := range e.logs.events("removed") {
		if r, _ := m["reason"].(string); !strings.HasPrefix(r, "quota") {
			t.Errorf("removal logged with reason %q", r)
		}
	}
}

func TestSweeper_PagesThroughManyRecordings(t *testing.T) {
	e := mustOpenEnv(t)
	c := e.addCompany(t, "Tiny", 0, 1)
	const n, size = sweepPage + 7, 200_000 // the removals run past the first page
	for range n {
		e.ready(t, c.ID, size)
	}
	removed, err := e.sweeper(nil).SweepOnce(context.Background())
	must(t, err)
	u, err := e.db.CompanyUsage(context.Background(), c.ID)
	must(t, err)
	if want := n - BytesPerQuotaMB/size; removed != want || u.Bytes > BytesPerQuotaMB || u.Bytes+size <= BytesPerQuotaMB {
		t.Fatalf("removed %d (want %d), %d bytes left", removed, want, u.Bytes)
	}
}

func TestSweeper_RunSweepsAtOnceAndStopsOnCancel(t *testing.T) {
	e := mustOpenEnv(t)
	c := e.addCompany(t, "Week", 7, 0)
	r := e.ready(t, c.ID, 100)
	e.clock.Advance(8 * day)
	s := e.sweeper(nil)
	s.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, func() bool { return gone(t, e, r.ID) })
	cancel()
	select {
	case err := <-done:
		must(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}

// With several instances only the sweep leader sweeps (Sweeper.Leading): an instance that does
// not hold the duty removes nothing, and one that loses it mid-sweep stops before the next
// company; the leader's sweep removes what is due.
func TestSweeper_OnlyTheLeaderSweeps(t *testing.T) {
	e := mustOpenEnv(t)
	first := e.addCompany(t, "First", 30, 0)
	second := e.addCompany(t, "Second", 30, 0)
	a, b := e.ready(t, first.ID, 1000), e.ready(t, second.ID, 1000)
	e.clock.Advance(40 * day)

	follower := e.sweeper(nil)
	follower.Leading = func() bool { return false }
	if n, err := follower.SweepOnce(context.Background()); err != nil || n != 0 || gone(t, e, a.ID) || gone(t, e, b.ID) {
		t.Fatalf("a sweep without the duty removed %d (%v)", n, err)
	}
	asked := 0
	deposed := e.sweeper(nil)
	deposed.Leading = func() bool { asked++; return asked <= 2 } // companies by id: Acme, First, then the duty is lost
	n, err := deposed.SweepOnce(context.Background())
	must(t, err)
	if n != 1 || gone(t, e, a.ID) == gone(t, e, b.ID) {
		t.Fatalf("a sweep that lost the duty before the last company removed %d (first gone %v, second gone %v), want 1", n, gone(t, e, a.ID), gone(t, e, b.ID))
	}
	leader := e.sweeper(nil)
	leader.Leading = func() bool { return true }
	if n, err := leader.SweepOnce(context.Background()); err != nil || n != 1 || !gone(t, e, a.ID) || !gone(t, e, b.ID) {
		t.Fatalf("the leader's sweep removed %d (%v), want the other one", n, err)
	}
}
