// Command driver is issue 13's load driver: an emulated FreeSWITCH (esl/fstest, in this
// process, on the real wire) drives each subject — callrec (`callrec serve`), the bare eslgo
// controller (bench/bare) and the Node modesl peer (bench/modesl) — each a separate process,
// over the outbound Event Socket, with the same call script, alternating subjects, and prints
// one table of medians with the ratios callrec/bare and callrec/modesl. The subjects' CPU
// (/proc/<pid>/stat), RSS (/proc/<pid>/status) and heap and goroutines (pprof, expvar, or
// callrec's /metrics) are read from outside.
//
// Scenarios: (a) -calls recorded calls at -concurrency; (b) -held recorded calls held at once
// for -hold; (c) the same as (a) spread over -nodes stand-ins, callrec connected to every one's
// inbound socket (freeswitch.nodes).
//
//	go run ./bench/driver                         # the defaults: 2,000 at 200, 1,000 held, 10 nodes, 3 rounds
//	go run ./bench/driver -calls 500 -concurrency 100 -held 1000 -subjects callrec,bare
//	go run ./bench/driver -smoke                  # a few seconds, callrec and bare, fails on a failed call
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type config struct {
	calls, concurrency  int
	talk                time.Duration
	held                int
	hold                time.Duration
	heldTimeScale       float64
	samples             int
	nodes, rounds       int
	subjects, scenarios []string
	smoke               bool
	profileDir          string
	bins                binaries
	timeout             time.Duration
}

func main() {
	var cfg config
	var subjects, scenarios string
	flag.IntVar(&cfg.calls, "calls", 2000, "(a), (c): calls placed per run")
	flag.IntVar(&cfg.concurrency, "concurrency", 200, "(a), (c): calls in progress at once; (b): set-ups and hangups at once")
	flag.DurationVar(&cfg.talk, "talk", time.Second, "(a), (c): how long each call lasts after its RECORD_START")
	// 5,000 (the figure) is past what the stand-in copes with on 2 shared cores: it offers
	// every event to every connection under one lock, its CPU per held call tripled and callrec
	// lost 786 of 5,000 calls to its 2 s plan deadline (BENCHMARKS.md). 1,000 gives the same
	// per-call figures with no failure.
	flag.IntVar(&cfg.held, "held", 1000, "(b): recorded calls held at once")
	flag.DurationVar(&cfg.hold, "hold", 20*time.Second, "(b): how long they are held (CPU while held and the hangup samples are measured over it)")
	flag.Float64Var(&cfg.heldTimeScale, "held-timescale", 0.01, "(b): the stand-ins' virtual clock speed; a held call's WAV lasts its hold times this (the stand-in renders each WAV under its lock at hangup: 1,000 WAVs of a minute stall it)")
	flag.IntVar(&cfg.samples, "samples", 100, "(b): calls hung up one by one during the hold (hangup → exit)")
	flag.IntVar(&cfg.nodes, "nodes", 10, "(c): emulated FreeSWITCH nodes")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds; subjects alternate within each round, in a rotated order")
	flag.StringVar(&subjects, "subjects", "callrec,bare,modesl", "subjects: callrec, bare, modesl")
	flag.StringVar(&scenarios, "scenarios", "a,b,c", "scenarios: a (burst), b (held), c (burst over nodes)")
	flag.BoolVar(&cfg.smoke, "smoke", false, "a few seconds: 40 calls at 10, 50 held for 2 s, 2 nodes, 1 round, callrec and bare; exit 1 on any failed or unreleased call")
	flag.StringVar(&cfg.profileDir, "profile", "", "directory for callrec's CPU profile of the first (a) run and heap profile of the first (b) run (needs callrec's pprof endpoint)")
	flag.StringVar(&cfg.bins.callrec, "callrec", "", "callrec binary (default: go build ./cmd/callrec)")
	flag.StringVar(&cfg.bins.bare, "bare", "", "bare controller binary (default: go build ./bench/bare)")
	flag.StringVar(&cfg.bins.modeslDir, "modesl-dir", "bench/modesl", "the modesl peer's directory (after npm ci)")
	flag.StringVar(&cfg.bins.node, "node", "node", "node binary")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Hour, "give up after this long")
	flag.Parse()
	cfg.subjects, cfg.scenarios = splitList(subjects), splitList(scenarios)
	if cfg.smoke {
		applySmoke(&cfg, flagsSet())
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, cfg.timeout)
	defer cancelT()
	bad, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
	if cfg.smoke && bad > 0 {
		fmt.Fprintf(os.Stderr, "driver: smoke: %d failed or unreleased calls\n", bad)
		os.Exit(1)
	}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func flagsSet() map[string]bool {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// applySmoke shrinks every size the caller did not set explicitly.
func applySmoke(cfg *config, set map[string]bool) {
	def := func(name string, apply func()) {
		if !set[name] {
			apply()
		}
	}
	def("calls", func() { cfg.calls = 40 })
	def("concurrency", func() { cfg.concurrency = 10 })
	def("talk", func() { cfg.talk = 100 * time.Millisecond })
	def("held", func() { cfg.held = 50 })
	def("hold", func() { cfg.hold = 2 * time.Second })
	def("samples", func() { cfg.samples = 5 })
	def("nodes", func() { cfg.nodes = 2 })
	def("rounds", func() { cfg.rounds = 1 })
	def("subjects", func() { cfg.subjects = []string{"callrec", "bare"} })
	def("timeout", func() { cfg.timeout = 5 * time.Minute })
}

// run builds what is missing, runs every round and prints the table; it returns the number of
// failed or unreleased calls.
func run(ctx context.Context, cfg config) (int, error) {
	raiseFileLimit()
	if abs, err := filepath.Abs(cfg.bins.modeslDir); err == nil {
		cfg.bins.modeslDir = abs // subjects run in their own directories
	}
	binDir, err := build(ctx, &cfg)
	if binDir != "" {
		defer os.RemoveAll(binDir)
	}
	if err != nil {
		return 0, err
	}
	runs := map[string][]figures{}
	notes := map[string]string{}
	bad := 0
	start := time.Now()
	load0 := loadavg()
	for r := 0; r < cfg.rounds; r++ {
		order := rotate(cfg.subjects, r)
		for _, scen := range cfg.scenarios {
			for _, s := range order {
				f, note, err := runOne(ctx, cfg, s, scen, r)
				if err != nil {
					return bad, fmt.Errorf("round %d, %s, scenario %s: %w", r+1, s, scen, err)
				}
				if note != "" {
					notes[s] = note
				}
				for k, v := range f {
					if strings.HasSuffix(k, "_failed") || strings.HasSuffix(k, "_unreleased") {
						bad += int(v)
					}
				}
				mergeRound(runs, s, r, f)
				fmt.Fprintf(os.Stderr, "driver: round %d %s (%s) done at %s\n", r+1, s, scen, time.Since(start).Round(time.Second))
			}
		}
	}
	fmt.Printf("\n%d rounds, subjects %s alternating, scenarios %s; %s, %d CPUs, load average %s before, %s after; %s\n\n",
		cfg.rounds, strings.Join(cfg.subjects, ","), strings.Join(cfg.scenarios, ","), runtime.GOOS+"/"+runtime.GOARCH, runtime.NumCPU(),
		load0, loadavg(), time.Since(start).Round(time.Second))
	printTable(os.Stdout, cfg, cfg.subjects, runs)
	fmt.Println()
	for _, s := range cfg.subjects {
		if n := notes[s]; n != "" {
			fmt.Printf("- %s heap: %s\n", s, n)
		}
	}
	return bad, nil
}

// mergeRound adds scenario figures to subject s's figures of round r.
func mergeRound(runs map[string][]figures, s string, r int, f figures) {
	for len(runs[s]) <= r {
		runs[s] = append(runs[s], figures{})
	}
	for k, v := range f {
		runs[s][r][k] = v
	}
}

func rotate(xs []string, r int) []string {
	out := make([]string, len(xs))
	for i := range xs {
		out[i] = xs[(i+r)%len(xs)]
	}
	return out
}

// runOne runs one scenario against a fresh subject process and fresh stand-ins.
func runOne(ctx context.Context, cfg config, kind, scen string, round int) (figures, string, error) {
	eslAddr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	nodes := 1
	if scen == "c" {
		nodes = cfg.nodes
	}
	col := newCollector()
	scale := 1.0
	if scen == "b" {
		scale = cfg.heldTimeScale
	}
	st, err := startStandIns(nodes, eslAddr, col, scale)
	if err != nil {
		return nil, "", err
	}
	defer st.close()
	maxConns := 4096
	if cfg.held+100 > maxConns {
		maxConns = cfg.held + 100
	}
	subj, err := startSubject(ctx, kind, cfg.bins, eslAddr, st.inboundAddrs(), maxConns)
	if err != nil {
		return nil, "", err
	}
	defer subj.stop()
	first := round == 0 && cfg.profileDir != "" && kind == "callrec"
	switch scen {
	case "a", "c":
		var profile func()
		if first && scen == "a" {
			profile = func() { takeCPUProfile(subj, cfg, estimateSeconds(cfg)) }
		}
		return burstFigures(scen, runBurst(ctx, st, subj, cfg.calls, cfg.concurrency, cfg.talk, profile)), subj.heapHow, nil
	case "b":
		var heapProfile func()
		if first {
			heapProfile = func() { takeHeapProfile(subj, cfg) }
		}
		return heldFigures(runHeld(ctx, st, subj, cfg.held, cfg.concurrency, cfg.samples, cfg.hold, heapProfile)), subj.heapHow, nil
	}
	return nil, "", fmt.Errorf("unknown scenario %q (a, b, c)", scen)
}

// estimateSeconds is a CPU profile's length for the burst: about its duration at 100 calls/s.
func estimateSeconds(cfg config) int {
	s := cfg.calls / 100
	if s < 2 {
		s = 2
	}
	if s > 30 {
		s = 30
	}
	return s
}

func takeCPUProfile(subj *subject, cfg config, secs int) {
	path := filepath.Join(cfg.profileDir, "callrec-cpu.pprof")
	if err := os.MkdirAll(cfg.profileDir, 0o755); err == nil {
		if err := subj.cpuProfile(secs, path); err != nil {
			fmt.Fprintln(os.Stderr, "driver: callrec CPU profile:", err)
			return
		}
		fmt.Fprintln(os.Stderr, "driver: callrec CPU profile in", path, "(go tool pprof -top", cfg.bins.callrec, path+")")
	}
}

func takeHeapProfile(subj *subject, cfg config) {
	if subj.debug == "" {
		fmt.Fprintln(os.Stderr, "driver: callrec heap profile: no pprof endpoint")
		return
	}
	b, err := httpGet("http://" + subj.debug + "/debug/pprof/heap?gc=1")
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver: callrec heap profile:", err)
		return
	}
	path := filepath.Join(cfg.profileDir, "callrec-heap.pprof")
	if err := os.MkdirAll(cfg.profileDir, 0o755); err == nil && os.WriteFile(path, b, 0o600) == nil {
		fmt.Fprintln(os.Stderr, "driver: callrec heap profile in", path)
	}
}

// build compiles callrec and the bare controller unless binaries were given, into a temporary
// directory it returns (the caller removes it).
func build(ctx context.Context, cfg *config) (string, error) {
	dir, err := os.MkdirTemp("", "callrec-bench-bin-")
	if err != nil {
		return "", fmt.Errorf("build dir: %w", err)
	}
	for _, b := range []struct {
		dst *string
		pkg string
	}{{&cfg.bins.callrec, "./cmd/callrec"}, {&cfg.bins.bare, "./bench/bare"}} {
		if *b.dst != "" {
			continue
		}
		out := filepath.Join(dir, filepath.Base(b.pkg))
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, b.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return dir, fmt.Errorf("go build %s (run the driver from the repository's root): %w", b.pkg, err)
		}
		*b.dst = out
	}
	return dir, nil
}

// raiseFileLimit lifts the driver's open-file limit to the hard limit: every held call is a
// connection on each side.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
