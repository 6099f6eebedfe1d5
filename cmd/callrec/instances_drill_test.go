//go:build !race

// Built without -race like the other drills: the child serve processes hold eslgo connections
// (README Known limits); .ci/run runs it in its non-race line.

package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
	"github.com/callrec/callrec/store/postgres"
	"github.com/callrec/callrec/store/postgres/pgtest"
)

// TestDrill_ThreeInstancesOnPostgreSQLOneSIGKILLedUnderLoad (issue 16 item 4): three child
// `callrec serve` processes share one PostgreSQL store, one library_dir and one spool_dir, and
// follow the same FreeSWITCH node; fsconf's dialplan lists the three ESL listeners in order.
// A steady stream of recorded DDI calls goes to the first instance; it is SIGKILLed while
// several of its calls are recording, and calls keep coming (to the second instance). The calls
// live at the kill are taken over by the duty leader's node connection (their owner mark moves
// to a surviving instance) and then hang up. In the end, through a survivor's API: one recording
// per call placed (by caller number and by call id), every one ready with an MP3 that plays, no
// job left in the queue, no WAV left in the spool, and the calls placed after the kill owned by
// the second instance.
func TestDrill_ThreeInstancesOnPostgreSQLOneSIGKILLedUnderLoad(t *testing.T) {
	const (
		calls     = 36              // placed in all
		parallel  = 4               // calls live at a time
		killAfter = 12              // calls placed before the kill is due
		talk      = 2 * time.Second // each call talks this long once its recording started
		token     = "crt_drill-platform-token-0123456789"
		ddi       = "+34911234567"
	)
	dsn := pgtest.Database(t, pgtest.Options{})
	root := t.TempDir()
	spool, library, masterKey := filepath.Join(root, "spool"), filepath.Join(root, "library"), filepath.Join(root, "master.key")
	var httpAddrs, eslAddrs []string
	for i := 0; i < 3; i++ {
		httpAddrs, eslAddrs = append(httpAddrs, freeAddr(t)), append(eslAddrs, freeAddr(t))
	}
	fs := renderedFreeSWITCH(t, fsconf.Options{ESLListen: eslAddrs[0], Instances: eslAddrs, RecordPath: filepath.Join(spool, "ondemand"), InboundPassword: "ClueCon"},
		operatorBridge(`^\`+ddi+`$`, "1001"), fstest.Options{Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}}, InboundPassword: "ClueCon"})

	instanceID := regexp.MustCompile(`"decision":"store_backend"[^\n]*"instance":"(i[0-9a-z]+)"`)
	start := func(n int) (*drillCallrec, string) {
		dataDir := filepath.Join(root, fmt.Sprintf("instance%d", n+1))
		must(t, os.MkdirAll(dataDir, 0o700))
		cfg := writeYAML(t, dataDir, fmt.Sprintf(`
data_dir: %q
spool_dir: %q
library_dir: %q
master_key_file: %q
bootstrap_token: %q
store:
  backend: postgres
  postgres:
    dsn: %q
esl:
  instances: [%s]
freeswitch:
  nodes:
    - addr: %q
      password: ClueCon
`, dataDir, spool, library, masterKey, token, dsn, strings.Join(eslAddrs, ", "), fs.InboundAddr()))
		c := startDrillCallrec(t, []string{"serve", "--config", cfg, "--http.listen", httpAddrs[n], "--esl.listen", eslAddrs[n], "--log.format", "json"}, nil)
		m := instanceID.FindStringSubmatch(c.stderr.String())
		if m == nil {
			t.Fatalf("instance %d logged no instance id:\n%s", n+1, tail(c.stderr.String()))
		}
		return c, m[1]
	}
	// The first start makes the master key file; the others must find it (they refuse another).
	inst := make([]*drillCallrec, 3)
	ids := make([]string, 3)
	inst[0], ids[0] = start(0)
	var wg sync.WaitGroup
	for n := 1; n < 3; n++ {
		wg.Add(1)
		go func(n int) { defer wg.Done(); inst[n], ids[n] = start(n) }(n)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	apis := make([]*apiClient, 3)
	for n := range apis {
		apis[n] = &apiClient{t: t, base: "http://" + httpAddrs[n] + "/api/v1", token: token}
	}
	seedDrillTenant(apis[0])
	t.Logf("instances %v on ESL %v", ids, eslAddrs)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	started := newRecordStarts(fs)

	// gate keeps the kill out of two windows of a call: from its arrival until its recording
	// started, and its hangup (the killed instance then has 300 ms to finish what it had). A call
	// caught in either window is a different drill (see the report of issue 16 item 4); here
	// the calls live at the kill are calls recording.
	var gate sync.RWMutex
	var killed atomic.Bool
	var killAt time.Time // set under gate's write lock, read under its read lock
	type placedCall struct {
		from       string
		call       *fstest.Call
		owner      string        // callrec_owner once its recording started
		afterKill  bool          // placed after the kill
		liveAtKill bool          // recording on the first instance when it was killed
		readopter  string        // the owner after the take-over, for liveAtKill
		recovered  time.Duration // from the kill to the take-over, for liveAtKill
	}
	var mu sync.Mutex
	var placed []*placedCall
	var next, liveOnFirst atomic.Int32
	errs := make(chan error, calls)
	worker := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= calls {
				return
			}
			pc := &placedCall{from: fmt.Sprintf("+346001%05d", i)}
			gate.RLock()
			pc.afterKill = killed.Load()
			call, err := fs.Inbound(ctx, fstest.CallSpec{From: pc.from, To: ddi})
			var user *fstest.Leg
			if err == nil {
				user, err = call.WaitAnswered(ctx, "1001")
			}
			if err == nil {
				err = started.wait(ctx, call.A.UUID(), user.UUID())
			}
			if err != nil {
				gate.RUnlock()
				errs <- fmt.Errorf("call %d from %s: %w", i, pc.from, err)
				return
			}
			pc.call, pc.owner = call, call.A.Var(dialplan.VarOwner)
			mu.Lock()
			placed = append(placed, pc)
			mu.Unlock()
			if pc.owner == ids[0] {
				liveOnFirst.Add(1)
			}
			gate.RUnlock()

			time.Sleep(talk)
			gate.RLock()
			if killed.Load() && call.A.Var(dialplan.VarOwner) == ids[0] {
				pc.liveAtKill = true
				at := killAt
				gate.RUnlock()
				for call.A.Var(dialplan.VarOwner) == ids[0] && ctx.Err() == nil {
					time.Sleep(50 * time.Millisecond)
				}
				pc.readopter, pc.recovered = call.A.Var(dialplan.VarOwner), time.Since(at)
				gate.RLock()
			}
			if pc.owner == ids[0] && !pc.liveAtKill {
				liveOnFirst.Add(-1)
			}
			call.A.Hangup("NORMAL_CLEARING")
			gate.RUnlock()
			if _, err := call.A.WaitHangup(ctx); err != nil {
				errs <- fmt.Errorf("call from %s: hangup: %w", pc.from, err)
				return
			}
		}
	}
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() { defer wg.Done(); worker() }()
	}

	// The kill: once killAfter calls have arrived and the first instance has several recording.
	waitDrill(t, time.Minute, func() bool { return next.Load() >= killAfter && liveOnFirst.Load() >= 3 }, "calls recording on the first instance")
	gate.Lock()
	time.Sleep(300 * time.Millisecond)
	leader := dutyLeaderOf(inst)
	liveAtKill := int(liveOnFirst.Load())
	must(t, inst[0].cmd.Process.Signal(syscall.SIGKILL))
	<-inst[0].done
	killAt = time.Now()
	killed.Store(true)
	gate.Unlock()
	t.Logf("first instance %s SIGKILLed with %d of its calls recording", ids[0], liveAtKill)

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	survivor := apis[1]
	waitDrill(t, 2*time.Minute, func() bool {
		return len(instanceRecordings(survivor, "recording"))+len(instanceRecordings(survivor, "processing")) == 0
	}, "every recording settled")

	// Who took which call.
	var before, after, tookOver int
	var slowest time.Duration
	for _, pc := range placed {
		switch {
		case pc.afterKill:
			after++
			if pc.owner != ids[1] {
				t.Errorf("call from %s placed after the kill is owned by %q, want the second instance %s", pc.from, pc.owner, ids[1])
			}
		default:
			before++
			if pc.owner != ids[0] {
				t.Errorf("call from %s placed before the kill is owned by %q, want the first instance %s", pc.from, pc.owner, ids[0])
			}
		}
		if pc.liveAtKill {
			tookOver++
			if pc.readopter != ids[1] && pc.readopter != ids[2] {
				t.Errorf("call from %s live at the kill: owner after the take-over %q, want a surviving instance", pc.from, pc.readopter)
			}
			slowest = max(slowest, pc.recovered)
		}
	}
	if len(placed) != calls || tookOver != liveAtKill || tookOver < 3 || after == 0 {
		t.Errorf("%d calls placed (%d before the kill, %d after), %d live at the kill of which %d taken over", len(placed), before, after, liveAtKill, tookOver)
	}

	// One ready recording per call, with an MP3 that plays.
	rows := instanceRecordings(apis[2], "")
	byCaller, byCall := map[string][]instanceRecording{}, map[string]int{}
	for _, r := range rows {
		byCaller[r.Caller] = append(byCaller[r.Caller], r)
		byCall[r.CallID]++
	}
	for _, pc := range placed {
		recs := byCaller[pc.from]
		if len(recs) != 1 {
			t.Errorf("call from %s (live at the kill: %v, after it: %v): %d recordings %+v", pc.from, pc.liveAtKill, pc.afterKill, len(recs), recs)
			continue
		}
		r := recs[0]
		if r.CallID != pc.call.A.UUID() || byCall[r.CallID] != 1 {
			t.Errorf("call from %s (leg %s): recording %s of call %s (%d rows for that call)", pc.from, pc.call.A.UUID(), r.ID, r.CallID, byCall[r.CallID])
		}
		if r.State != "ready" {
			t.Errorf("call from %s: recording %s is %s (%s)", pc.from, r.ID, r.State, r.Error)
			continue
		}
		if d := apis[2].playableMP3(r.ID, r.FileName); d < talk-200*time.Millisecond {
			t.Errorf("call from %s: recording %s plays %v, want at least %v", pc.from, r.ID, d, talk)
		}
	}
	if len(rows) != len(placed) {
		t.Errorf("%d recordings for %d calls", len(rows), len(placed))
	}
	mp3s, _ := filepath.Glob(filepath.Join(library, "*", "*", "*", "*.mp3"))
	if len(mp3s) != len(placed) {
		t.Errorf("%d MP3s in the shared library for %d calls", len(mp3s), len(placed))
	}
	wavs, _ := filepath.Glob(filepath.Join(spool, "*.wav"))
	if len(wavs) != 0 {
		t.Errorf("%d WAVs left in the shared spool, e.g. %s", len(wavs), wavs[0])
	}
	expectEmptyQueue(ctx, t, dsn)
	// Each call of the dead instance is taken over once, by one survivor.
	readopted := regexp.MustCompile(`"decision":"readopt_from_dead_instance"`)
	by2, by3 := inst[1].count(readopted), inst[2].count(readopted)
	if by2+by3 != tookOver {
		t.Errorf("%d take-overs logged (instance 2: %d, instance 3: %d) for %d calls live at the kill", by2+by3, by2, by3, tookOver)
	}
	t.Logf("%d calls (%d before the kill, %d after, on instance 2), %d recordings; duty leader at the kill: instance %d, after: instance %d; %d calls live at the kill taken over (instance 2: %d, instance 3: %d), the last %v after the kill",
		len(placed), before, after, len(rows), leader+1, dutyLeaderOf(inst[1:])+2, tookOver, by2, by3, slowest.Round(10*time.Millisecond))
	for _, c := range inst[1:] {
		c.stop(t)
	}
}

// dutyLeaderOf is the index in inst of the instance whose log says it leads the duties now
// (its last "leadership changed" says leading), or -1.
func dutyLeaderOf(inst []*drillCallrec) int {
	change := regexp.MustCompile(`"duty":"duties"[^\n]*"leading":(true|false)`)
	for n, c := range inst {
		if m := change.FindAllStringSubmatch(c.stderr.String(), -1); len(m) > 0 && m[len(m)-1][1] == "true" {
			return n
		}
	}
	return -1
}

// recordStarts follows the stand-in's transcript for RECORD_START events by leg.
type recordStarts struct {
	fs *fstest.FS
	mu sync.Mutex
}

func newRecordStarts(fs *fstest.FS) *recordStarts { return &recordStarts{fs: fs} }

// wait returns once one of legs has started recording, or ctx's error (or after 20 s).
func (r *recordStarts) wait(ctx context.Context, legs ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		r.mu.Lock() // one scan of the transcript at a time
		for _, ev := range r.fs.Events(0) {
			if ev.Name() != "RECORD_START" {
				continue
			}
			for _, l := range legs {
				if ev.Value("Unique-ID") == l {
					r.mu.Unlock()
					return nil
				}
			}
		}
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("no RECORD_START on legs %v: %w", legs, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// instanceRecording is what the three-instance drill reads of a recording.
type instanceRecording struct {
	ID         string `json:"id"`
	CallID     string `json:"call_id"`
	Caller     string `json:"caller"`
	State      string `json:"state"`
	FileName   string `json:"file_name"`
	DurationMS int64  `json:"duration_ms"`
	Error      string `json:"error"`
}

// instanceRecordings pages through every recording in state ("" = any) through api.
func instanceRecordings(api *apiClient, state string) []instanceRecording {
	var all []instanceRecording
	cursor := ""
	for {
		q := url.Values{"limit": {"200"}}
		if state != "" {
			q.Set("state", state)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items      []instanceRecording `json:"items"`
			NextCursor string              `json:"next_cursor"`
		}
		api.get("/recordings?"+q.Encode(), &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// expectEmptyQueue fails t when the job queue of the PostgreSQL store at dsn holds a job.
func expectEmptyQueue(ctx context.Context, t *testing.T, dsn string) {
	t.Helper()
	db, err := postgres.Open(ctx, dsn, postgres.Options{})
	must(t, err)
	depth, err := db.QueueDepth(ctx)
	must(t, err)
	must(t, db.Close())
	if depth != 0 {
		t.Errorf("%d jobs left in the queue", depth)
	}
}
