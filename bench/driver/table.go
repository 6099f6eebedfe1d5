package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/callrec/callrec/esl/fstest"
)

// figures are one run's measurements of one subject, by metric key.
type figures map[string]float64

// metric is one row of the table.
type metric struct {
	key, label, unit string
	digits           int
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// burstFigures turns a burst run into figures under prefix ("a" or "c").
func burstFigures(prefix string, r burstResult) figures {
	f := figures{}
	var toRecord, ansToStart []time.Duration
	var cmds, evs, n float64
	for _, ct := range r.times {
		if !ct.open.IsZero() && !ct.record.IsZero() {
			toRecord = append(toRecord, ct.record.Sub(ct.open))
		}
		if !ct.answer.IsZero() && !ct.recStart.IsZero() {
			ansToStart = append(ansToStart, ct.recStart.Sub(ct.answer))
		}
		if !ct.open.IsZero() {
			cmds += float64(ct.commands)
			evs += float64(ct.delivered)
			n++
		}
	}
	ok := r.placed - r.failed - r.unreleased
	f[prefix+"_cps"] = float64(ok) / r.elapsed.Seconds()
	f[prefix+"_failed"] = float64(r.failed)
	f[prefix+"_unreleased"] = float64(r.unreleased)
	f[prefix+"_rec_p50"] = ms(fstest.Percentile(toRecord, 50))
	f[prefix+"_rec_p99"] = ms(fstest.Percentile(toRecord, 99))
	f[prefix+"_ans_p99"] = ms(fstest.Percentile(ansToStart, 99))
	if r.placed > 0 {
		f[prefix+"_cpu_call"] = ms(r.cpu) / float64(r.placed)
		f[prefix+"_driver_cpu_call"] = ms(r.driverCPU) / float64(r.placed)
	}
	f[prefix+"_cpu_after"] = r.cpuAfter.Seconds()
	if n > 0 {
		f[prefix+"_cmds"] = cmds / n
		f[prefix+"_events"] = evs / n
	}
	return f
}

func heldFigures(r heldResult) figures {
	f := figures{"b_live": float64(r.live), "b_failed": float64(r.failed), "b_unreleased": float64(r.unreleased)}
	if r.live == 0 {
		return f
	}
	live := float64(r.live)
	if r.heapOK {
		f["b_heap"] = float64(r.heap1-r.heap0) / live / 1024
	}
	f["b_rss"] = float64(r.rss1-r.rss0) / live / 1024
	if r.gorOK {
		f["b_gor"] = float64(r.gor1-r.gor0) / live
	}
	f["b_cpu_call"] = ms(r.cpuTotal) / live
	if r.hold > 0 {
		f["b_cpu_hold"] = ms(r.cpuHold) * 1000 / live / r.hold.Seconds() // µs per call per second held
	}
	f["b_exit_p50"] = ms(fstest.Percentile(r.exitSamples, 50))
	f["b_exit_p99"] = ms(fstest.Percentile(r.exitSamples, 99))
	f["b_driver_cpu_call"] = ms(r.driverCPU) / live
	f["b_driver_rss_call"] = float64(r.driverRSS) / live / 1024
	return f
}

// metrics are the table's rows, in order; rows no subject measured are left out.
func metrics(cfg config) []metric {
	a := fmt.Sprintf("(a) %d calls at %d", cfg.calls, cfg.concurrency)
	b := fmt.Sprintf("(b) %d held", cfg.held)
	c := fmt.Sprintf("(c) %d calls at %d over %d nodes", cfg.calls, cfg.concurrency, cfg.nodes)
	burst := func(p, title string) []metric {
		return []metric{
			{p + "_cps", title + ": completed calls/s", "", 1},
			{p + "_failed", title + ": failed calls", "", 0},
			{p + "_unreleased", title + ": unreleased calls", "", 0},
			{p + "_rec_p50", title + ": dial → uuid_record p50", "ms", 1},
			{p + "_rec_p99", title + ": dial → uuid_record p99", "ms", 1},
			{p + "_ans_p99", title + ": CHANNEL_ANSWER → RECORD_START p99", "ms", 1},
			{p + "_cpu_call", title + ": CPU per call", "ms", 2},
			{p + "_cpu_after", title + ": CPU after the burst", "s", 2},
			{p + "_cmds", title + ": commands per call", "", 1},
			{p + "_events", title + ": events per call", "", 1},
			{p + "_driver_cpu_call", title + ": driver's CPU per call", "ms", 2},
		}
	}
	out := burst("a", a)
	out = append(out,
		metric{"b_live", b + ": calls held", "", 0},
		metric{"b_failed", b + ": failed calls", "", 0},
		metric{"b_unreleased", b + ": unreleased calls", "", 0},
		metric{"b_heap", b + ": heap per live call", "KiB", 1},
		metric{"b_rss", b + ": RSS per live call", "KiB", 1},
		metric{"b_gor", b + ": goroutines per live call", "", 2},
		metric{"b_cpu_call", b + ": CPU per held call (set-up, hold, hangup)", "ms", 2},
		metric{"b_cpu_hold", b + ": CPU while held, per call per second", "µs", 1},
		metric{"b_exit_p50", b + ": hangup → exit p50 during the hold", "ms", 1},
		metric{"b_exit_p99", b + ": hangup → exit p99 during the hold", "ms", 1},
		metric{"b_driver_cpu_call", b + ": driver's CPU per held call", "ms", 2},
		metric{"b_driver_rss_call", b + ": driver's RSS per held call", "KiB", 1},
	)
	return append(out, burst("c", c)...)
}

// summary is the median of a metric over rounds and its spread ((max−min)/median).
type summary struct {
	median, spread float64
	n              int
}

func summarise(vals []float64) summary {
	if len(vals) == 0 {
		return summary{}
	}
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	sp := 0.0
	if med != 0 {
		sp = (s[len(s)-1] - s[0]) / math.Abs(med)
	}
	return summary{median: med, spread: sp, n: len(s)}
}

// printTable writes one Markdown table: each figure's median per subject (± the spread over
// rounds) and the ratios callrec/bare and callrec/modesl.
func printTable(w io.Writer, cfg config, subjects []string, runs map[string][]figures) {
	cols := append([]string{}, subjects...)
	var ratios []string
	has := func(s string) bool { return len(runs[s]) > 0 }
	if has("callrec") {
		for _, s := range []string{"bare", "modesl"} {
			if has(s) {
				ratios = append(ratios, s)
			}
		}
	}
	fmt.Fprintf(w, "| figure (median of %d rounds, ± spread) |", cfg.rounds)
	for _, s := range cols {
		fmt.Fprintf(w, " %s |", s)
	}
	for _, s := range ratios {
		fmt.Fprintf(w, " callrec/%s |", s)
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|"+strings.Repeat("---|", len(cols)+len(ratios))+"\n")
	for _, m := range metrics(cfg) {
		sums := map[string]summary{}
		any := false
		for _, s := range cols {
			var vals []float64
			for _, f := range runs[s] {
				if v, ok := f[m.key]; ok && !math.IsNaN(v) {
					vals = append(vals, v)
				}
			}
			sums[s] = summarise(vals)
			any = any || len(vals) > 0
		}
		if !any {
			continue
		}
		label := m.label
		if m.unit != "" {
			label += " (" + m.unit + ")"
		}
		fmt.Fprintf(w, "| %s |", label)
		for _, s := range cols {
			sm := sums[s]
			if sm.n == 0 {
				fmt.Fprint(w, " – |")
				continue
			}
			cell := fmt.Sprintf("%.*f", m.digits, sm.median)
			if sm.n > 1 && sm.spread > 0 {
				cell += fmt.Sprintf(" ±%.0f%%", sm.spread*100/2)
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		for _, s := range ratios {
			a, b := sums["callrec"], sums[s]
			if a.n == 0 || b.n == 0 || b.median == 0 {
				fmt.Fprint(w, " – |")
				continue
			}
			fmt.Fprintf(w, " %.2f× |", a.median/b.median)
		}
		fmt.Fprintln(w)
	}
}
