package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
)

// Deadlines of one call: generous, so that a slow machine shows up as latency, not as failures.
const (
	recordDeadline  = 30 * time.Second // placed → RECORD_START
	releaseDeadline = 10 * time.Second // hangup → the subject's connection ends
)

// standIns are the emulated FreeSWITCH nodes of one run, each an esl/fstest stand-in with the
// dialplan fsconf renders for the subject's address (the hand-over entry first in public, the
// operator's own extension bridging the DDI to user/1001 after it) and an inbound listener.
type standIns struct {
	fss []*fstest.FS
	col *collector
	dir string
}

// operatorExtension is the operator's public extension the call is handed back to.
const operatorExtension = `<extension name="operator_ddi"><condition field="destination_number" expression="^\+34911234567$">` +
	`<action application="bridge" data="user/1001"/></condition></extension>`

// startStandIns starts n stand-ins whose socket application dials eslAddr; timeScale is their
// virtual clock's speed (fstest.Options.TimeScale).
func startStandIns(n int, eslAddr string, col *collector, timeScale float64) (*standIns, error) {
	dir, err := os.MkdirTemp("", "callrec-bench-fs-")
	if err != nil {
		return nil, fmt.Errorf("stand-in dir: %w", err)
	}
	st := &standIns{col: col, dir: dir}
	recPath := filepath.Join(dir, "ondemand")
	r, err := fsconf.New(fsconf.Options{ESLListen: eslAddr, RecordPath: recPath, InboundPassword: "ClueCon"})
	if err != nil {
		st.close()
		return nil, fmt.Errorf("fsconf: %w", err)
	}
	out, err := r.Render()
	if err != nil {
		st.close()
		return nil, fmt.Errorf("fsconf: %w", err)
	}
	dp, err := fstest.ParseDialplan(out.InstalledDialplan(map[string]string{"public": operatorExtension}))
	if err != nil {
		st.close()
		return nil, fmt.Errorf("dialplan: %w", err)
	}
	for i := 0; i < n; i++ {
		fs, err := fstest.New(fstest.Options{
			Profile:         fstest.Profile{Name: "internal", RecordPath: recPath, RecordTemplate: fsconf.RecordTemplate},
			Dialplan:        dp,
			Phones:          map[string]fstest.Phone{"1001": {ToneHz: 700}},
			InboundPassword: "ClueCon",
			Hostname:        fmt.Sprintf("node%d", i+1),
			BaseDir:         filepath.Join(dir, fmt.Sprintf("node%d", i+1)),
			Probe:           col.observe,
			TimeScale:       timeScale,
		})
		if err != nil {
			st.close()
			return nil, fmt.Errorf("stand-in %d: %w", i+1, err)
		}
		st.fss = append(st.fss, fs)
	}
	return st, nil
}

func (st *standIns) inboundAddrs() []string {
	var out []string
	for _, fs := range st.fss {
		out = append(out, fs.InboundAddr())
	}
	return out
}

func (st *standIns) close() {
	for _, fs := range st.fss {
		fs.Close()
	}
	os.RemoveAll(st.dir)
}

// place starts call i on node i mod n: the carrier's INVITE to the recorded DDI.
func (st *standIns) place(ctx context.Context, i int) (*fstest.Call, *callTimes, error) {
	fs := st.fss[i%len(st.fss)]
	call, err := fs.Inbound(ctx, fstest.CallSpec{From: fmt.Sprintf("+3460%07d", i), To: ddiNumber})
	if err != nil {
		return nil, nil, err
	}
	return call, st.col.get(call.A.UUID()), nil
}

// outcome of one call.
type outcome int

const (
	callOK         outcome = iota
	callFailed             // not placed, or no RECORD_START within recordDeadline
	callUnreleased         // the subject's connection still open releaseDeadline after hangup
)

// waitRecording waits for the call's RECORD_START.
func waitRecording(ctx context.Context, ct *callTimes) bool {
	t := time.NewTimer(recordDeadline)
	defer t.Stop()
	select {
	case <-ct.started:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// hangUp is the caller's BYE; it waits for the subject to release the connection.
func (st *standIns) hangUp(ctx context.Context, call *fstest.Call, ct *callTimes) bool {
	st.col.markHangup(call.A.UUID(), time.Now())
	call.A.Hangup("NORMAL_CLEARING")
	t := time.NewTimer(releaseDeadline)
	defer t.Stop()
	select {
	case <-ct.ended:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// burstResult is scenario (a) or (c): n calls at concurrency c, each recorded, talked for talk
// and hung up.
type burstResult struct {
	placed, failed, unreleased int
	elapsed                    time.Duration
	times                      []callTimes
	cpu, cpuAfter, driverCPU   time.Duration
}

// runBurst places n calls, at most c at once, each held talk after its RECORD_START.
func runBurst(ctx context.Context, st *standIns, subj *subject, n, c int, talk time.Duration, profile func()) burstResult {
	var res burstResult
	uuids := make([]string, n)
	var failed, unreleased int64
	sem := make(chan struct{}, c)
	var wg sync.WaitGroup
	cpu0, d0 := subj.cpu(), procCPU(os.Getpid())
	if profile != nil {
		go profile()
	}
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		res.placed++
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			uuid, out := st.oneCall(ctx, i, talk)
			uuids[i] = uuid
			switch out {
			case callFailed:
				atomic.AddInt64(&failed, 1)
			case callUnreleased:
				atomic.AddInt64(&unreleased, 1)
			}
		}(i)
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.cpu, res.driverCPU = subj.cpu()-cpu0, procCPU(os.Getpid())-d0
	cpu1 := subj.cpu()
	subj.idle(ctx, 2*time.Minute)
	res.cpuAfter = subj.cpu() - cpu1
	res.failed, res.unreleased = int(failed), int(unreleased)
	res.times = st.col.snapshot(uuids)
	return res
}

func (st *standIns) oneCall(ctx context.Context, i int, talk time.Duration) (string, outcome) {
	call, ct, err := st.place(ctx, i)
	if err != nil {
		return "", callFailed
	}
	out := callOK
	if !waitRecording(ctx, ct) {
		out = callFailed
	} else {
		time.Sleep(talk)
	}
	if !st.hangUp(ctx, call, ct) && out == callOK {
		out = callUnreleased
	}
	return call.A.UUID(), out
}

// heldResult is scenario (b): h recorded calls held at once.
type heldResult struct {
	live, failed, unreleased int
	heap0, heap1             int64
	heapOK                   bool
	rss0, rss1               int64
	gor0, gor1               int
	gorOK                    bool
	cpuTotal, cpuHold        time.Duration
	hold                     time.Duration
	exitSamples              []time.Duration
	driverCPU                time.Duration
	driverRSS                int64
}

// runHeld sets up h recorded calls (c set-ups at once), measures the subject with all of them
// live, holds them for hold while hanging up samples of them one by one (hangup → exit), then
// hangs up the rest. heapProfile, when set, is called while all are held.
func runHeld(ctx context.Context, st *standIns, subj *subject, h, c, samples int, hold time.Duration, heapProfile func()) heldResult {
	var res heldResult
	time.Sleep(time.Second) // let start-up work settle before the baseline
	res.heap0, res.heapOK = subj.heap()
	res.gor0, res.gorOK = subj.goroutines()
	res.rss0 = subj.rss()
	cpu0, d0 := subj.cpu(), procCPU(os.Getpid())

	type held struct {
		call *fstest.Call
		ct   *callTimes
		ok   bool
	}
	calls := make([]held, h)
	next := int64(-1)
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= h || ctx.Err() != nil {
					return
				}
				call, ct, err := st.place(ctx, i)
				if err != nil {
					continue
				}
				calls[i] = held{call: call, ct: ct, ok: waitRecording(ctx, ct)}
			}
		}()
	}
	wg.Wait()
	var live []int
	for i, hc := range calls {
		if hc.ok {
			live = append(live, i)
		} else {
			res.failed++
		}
	}
	res.live = len(live)
	time.Sleep(2 * time.Second) // the set-up's last batches and replies
	h1, ok1 := subj.heap()
	g1, okg := subj.goroutines()
	res.heap1, res.heapOK = h1, res.heapOK && ok1
	res.gor1, res.gorOK = g1, res.gorOK && okg
	res.rss1 = subj.rss()
	res.driverRSS = procRSS(os.Getpid())
	if heapProfile != nil {
		heapProfile()
	}

	// The hold: samples calls hung up one by one, evenly spread, while the others stay up.
	if samples > len(live)/2 {
		samples = len(live) / 2
	}
	sampled := live[len(live)-samples:]
	live = live[:len(live)-samples]
	holdStart, cpuH0 := time.Now(), subj.cpu()
	var mu sync.Mutex
	var swg sync.WaitGroup
	for k, i := range sampled {
		at := holdStart.Add(time.Duration(k+1) * hold / time.Duration(samples+1))
		time.Sleep(time.Until(at))
		swg.Add(1)
		go func(hc held) {
			defer swg.Done()
			t0 := time.Now()
			if st.hangUp(ctx, hc.call, hc.ct) {
				mu.Lock()
				res.exitSamples = append(res.exitSamples, hc.ct.endAt().Sub(t0))
				mu.Unlock()
			} else {
				mu.Lock()
				res.unreleased++
				mu.Unlock()
			}
		}(calls[i])
	}
	time.Sleep(time.Until(holdStart.Add(hold)))
	res.hold = time.Since(holdStart)
	res.cpuHold = subj.cpu() - cpuH0
	swg.Wait()

	// Tear down the rest (and the calls that never recorded), c at a time.
	work := make(chan int)
	var twg sync.WaitGroup
	var unrel int64
	for w := 0; w < c; w++ {
		twg.Add(1)
		go func() {
			defer twg.Done()
			for i := range work {
				if !st.hangUp(ctx, calls[i].call, calls[i].ct) && calls[i].ok {
					atomic.AddInt64(&unrel, 1)
				}
			}
		}()
	}
	for _, i := range live {
		work <- i
	}
	for i, hc := range calls {
		if !hc.ok && hc.call != nil {
			work <- i
		}
	}
	close(work)
	twg.Wait()
	res.unreleased += int(unrel)
	res.cpuTotal = subj.cpu() - cpu0
	res.driverCPU = procCPU(os.Getpid()) - d0
	return res
}

// endAt is when the connection ended (read after ended is closed).
func (ct *callTimes) endAt() time.Time {
	<-ct.ended
	return ct.end
}
