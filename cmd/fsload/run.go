package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callrec/callrec/esl/fstest"
	"github.com/callrec/callrec/fsconf"
	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
)

type config struct {
	controller  string
	calls       int
	concurrency int
	rate        float64
	hold        time.Duration
	mix         string
	timeout     time.Duration
}

type report struct {
	cfg                                                 config
	elapsed, launch                                     time.Duration
	peak                                                int64
	placed, completed, failed                           int64
	answered, bridged                                   int64
	errors                                              map[string]int
	stats                                               fstest.Stats
	goroutinesBefore, goroutinesAfter, leakedGoroutines int
	openConns                                           int
	fdsBefore, fdsAfter                                 int
}

func (r *report) print(w io.Writer) {
	secs := r.elapsed.Seconds()
	fmt.Fprintf(w, "fsload: %d calls placed, %d completed, %d failed in %.2fs: %.1f calls/s (target %.1f), concurrency %d, hold %v, mix %s\n",
		r.placed, r.completed, r.failed, secs, float64(r.placed)/secs, r.cfg.rate, r.cfg.concurrency, r.cfg.hold, r.cfg.mix)
	fmt.Fprintf(w, "  launch rate %.1f calls/s, peak concurrent %d, answered %d, bridged %d\n",
		float64(r.placed)/r.launch.Seconds(), r.peak, r.answered, r.bridged)
	pr := func(name string, ds []time.Duration) {
		fmt.Fprintf(w, "  %-22s n=%-6d p50=%-10v p95=%-10v p99=%-10v max=%v\n", name, len(ds),
			fstest.Percentile(ds, 50), fstest.Percentile(ds, 95), fstest.Percentile(ds, 99), fstest.Percentile(ds, 100))
	}
	pr("connect->first command", r.stats.ConnectToFirst)
	pr("event->reaction", r.stats.EventToReaction)
	fmt.Fprintf(w, "  controller-visible failures: refused=%d no-connect=%d dropped-by-controller=%d\n",
		r.stats.Refused, r.stats.NoConnect, r.stats.Dropped)
	keys := make([]string, 0, len(r.errors))
	for k := range r.errors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  error %-40s %d\n", k, r.errors[k])
	}
	fmt.Fprintf(w, "  stand-in after Close: open connections %d, stand-in goroutines %d (process goroutines %d -> %d), fds %d -> %d\n",
		r.openConns, r.leakedGoroutines, r.goroutinesBefore, r.goroutinesAfter, r.fdsBefore, r.fdsAfter)
}

func parseMix(s string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		n := 1
		if ok {
			var err error
			if n, err = strconv.Atoi(w); err != nil || n < 0 {
				return nil, fmt.Errorf("bad weight in %q", part)
			}
		}
		switch name {
		case "basic", "bridge", "dtmf":
		default:
			return nil, fmt.Errorf("unknown scenario %q (basic, bridge, dtmf)", name)
		}
		for i := 0; i < n; i++ {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty mix")
	}
	return out, nil
}

// operatorPublic are the operator's own public extensions, after callrec's hand-over entry.
const operatorPublic = `<extension name="bridge"><condition field="destination_number" expression="^bridge$">` +
	`<action application="bridge" data="user/1001"/></condition></extension>` +
	`<extension name="other"><condition field="destination_number" expression="^(\w+)$">` +
	`<action application="answer"/><action application="park"/></condition></extension>`

// dialplanFor is the stand-in's dialplan: what `callrec fsconf` renders for a controller at
// addr, installed as its INSTALL.md says (fsconf.Output.InstalledDialplan), with the operator's
// extensions after it. Its hand-over entry is guarded (callrec_seen): a call the controller
// transfers back into public, as callrec does on its defaults (no esl.route_context), skips the
// entry and reaches the operator's extensions, so it is handed over once and does not loop.
func dialplanFor(addr, recPath string) (*fstest.Dialplan, error) {
	r, err := fsconf.New(fsconf.Options{ESLListen: addr, RecordPath: recPath, InboundPassword: "ClueCon"})
	if err != nil {
		return nil, fmt.Errorf("fsconf: %w", err)
	}
	out, err := r.Render()
	if err != nil {
		return nil, fmt.Errorf("fsconf: %w", err)
	}
	return fstest.ParseDialplan(out.InstalledDialplan(map[string]string{"public": operatorPublic}))
}

func countFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// standInGoroutines counts goroutines whose stack runs code of the stand-in.
func standInGoroutines() int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "esl/fstest.") {
			n++
		}
	}
	return n
}

// startBuiltin runs a trivial eslgo controller: it applies the fail-open recipe (the call is
// handed back into public, where the guarded hand-over entry lets the operator's extensions
// route it), records the call on answer and exits after CHANNEL_HANGUP_COMPLETE.
func startBuiltin(recDir string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	ln.Close()
	opts := eslgo.DefaultOutboundOptions
	opts.Logger = eslgo.NilLogger{}
	opts.ConnectionDelay = 0
	go opts.ListenAndServe(addr, func(ctx context.Context, conn *eslgo.Conn, resp *eslgo.RawResponse) {
		uuid := resp.GetHeader("Unique-ID")
		dest := resp.GetHeader("Caller-Destination-Number")
		evs := make(chan *eslgo.Event, 256)
		conn.RegisterEventListener(eslgo.EventListenAll, func(e *eslgo.Event) {
			select {
			case evs <- e:
			default:
			}
		})
		send := func(c command.Command) bool {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			_, err := conn.SendCommand(cctx, c)
			return err == nil
		}
		// filter before event: between the two, every channel's events would flow in.
		if !send(command.API{Command: "uuid_setvar", Arguments: uuid + " socket_resume false"}) ||
			!send(command.Filter{EventHeader: "Unique-ID", FilterValue: uuid}) ||
			!send(command.Event{Format: "plain", Listen: []string{"CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "RECORD_STOP", "DTMF"}}) ||
			!send(command.Linger{Enabled: true, Seconds: 30}) ||
			!send(command.API{Command: "uuid_transfer", Arguments: uuid + " " + dest + " XML public"}) {
			return
		}
		for {
			select {
			case e := <-evs:
				switch e.GetName() {
				case "CHANNEL_ANSWER":
					send(command.API{Command: "uuid_record", Arguments: uuid + " start " + recDir + "/" + uuid + ".wav"})
				case "DTMF":
					send(command.API{Command: "uuid_getvar", Arguments: uuid + " answer_state"})
				case "CHANNEL_HANGUP_COMPLETE":
					return
				}
			case <-ctx.Done():
				return
			case <-time.After(time.Minute):
				return
			}
		}
	})
	for i := 0; i < 100; i++ { // wait until eslgo listens
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "", fmt.Errorf("built-in controller did not start on %s", addr)
}

func run(ctx context.Context, cfg config) (*report, error) {
	mix, err := parseMix(cfg.mix)
	if err != nil {
		return nil, err
	}
	if cfg.concurrency <= 0 || cfg.calls <= 0 || cfg.rate <= 0 {
		return nil, fmt.Errorf("calls, concurrency and rate must be positive")
	}
	recDir, err := os.MkdirTemp("", "fsload-rec-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(recDir)
	addr := cfg.controller
	if addr == "" {
		if addr, err = startBuiltin(recDir); err != nil {
			return nil, err
		}
	}
	rep := &report{cfg: cfg, errors: map[string]int{}, goroutinesBefore: runtime.NumGoroutine(), fdsBefore: countFDs()}
	dp, err := dialplanFor(addr, recDir)
	if err != nil {
		return nil, err
	}
	fs, err := fstest.New(fstest.Options{Dialplan: dp, Phones: map[string]fstest.Phone{"1001": {ToneHz: 700}},
		ConnectTimeout: 25 * time.Second, CollectStats: true})
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	fail := func(what string) {
		mu.Lock()
		rep.errors[what]++
		mu.Unlock()
		atomic.AddInt64(&rep.failed, 1)
	}
	sem := make(chan struct{}, cfg.concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.rate))
	defer tick.Stop()
	rng := rand.New(rand.NewPCG(1, 2))
	var active int64
launch:
	for i := 0; i < cfg.calls; i++ {
		select {
		case <-ctx.Done():
			fail("timeout before all calls were placed")
			break launch
		case <-tick.C:
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		scen := mix[rng.IntN(len(mix))]
		wg.Add(1)
		atomic.AddInt64(&rep.placed, 1)
		if n := atomic.AddInt64(&active, 1); n > atomic.LoadInt64(&rep.peak) {
			atomic.StoreInt64(&rep.peak, n)
		}
		go func(i int, scen string) {
			defer wg.Done()
			defer atomic.AddInt64(&active, -1)
			defer func() { <-sem }()
			if err := oneCall(ctx, fs, scen, i, cfg.hold, rep); err != nil {
				fail(scen + ": " + err.Error())
				return
			}
			atomic.AddInt64(&rep.completed, 1)
		}(i, scen)
	}
	rep.launch = time.Since(start)
	wg.Wait()
	rep.elapsed = time.Since(start)
	rep.stats = fs.Stats()
	fs.Close()
	rep.openConns = fs.ActiveConns()
	deadline := time.Now().Add(3 * time.Second)
	for standInGoroutines() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	rep.leakedGoroutines = standInGoroutines()
	rep.goroutinesAfter = runtime.NumGoroutine()
	rep.fdsAfter = countFDs()
	return rep, nil
}

func oneCall(ctx context.Context, fs *fstest.FS, scen string, i int, hold time.Duration, rep *report) error {
	to := "basic"
	if scen == "bridge" || scen == "dtmf" {
		to = "bridge"
	}
	call, err := fs.Inbound(ctx, fstest.CallSpec{From: fmt.Sprintf("+3460%07d", i), To: to})
	if err != nil {
		return err
	}
	a := call.A
	if to == "bridge" {
		b, err := call.WaitLeg(ctx, "1001")
		if err != nil {
			a.Hangup("")
			return fmt.Errorf("no B-leg")
		}
		if _, err := a.WaitState(ctx, func(s fstest.LegState) bool { return s.PeerUUID == b.UUID() || s.Hungup }); err != nil || a.State().Hungup {
			a.Hangup("")
			return fmt.Errorf("not bridged")
		}
		atomic.AddInt64(&rep.bridged, 1)
	} else if err := a.WaitAnswer(ctx); err != nil {
		a.Hangup("")
		return fmt.Errorf("not answered")
	}
	atomic.AddInt64(&rep.answered, 1)
	if scen == "dtmf" {
		a.SendDTMF("12#")
	}
	select {
	case <-time.After(hold):
	case <-ctx.Done():
	}
	a.Hangup("NORMAL_CLEARING")
	if _, err := a.WaitHangup(ctx); err != nil {
		return fmt.Errorf("hangup not completed")
	}
	return nil
}
