package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRun_SmallLoadCompletesWithoutLeaks(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := run(ctx, config{calls: 30, concurrency: 30, rate: 300, hold: 50 * time.Millisecond, mix: "basic=1,bridge=1,dtmf=1"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.print(&out)
	t.Log(out.String())
	if rep.completed != 30 || rep.failed != 0 {
		t.Errorf("completed %d failed %d: %v", rep.completed, rep.failed, rep.errors)
	}
	if len(rep.stats.ConnectToFirst) != 30 {
		t.Errorf("connect->first samples %d, want one per call", len(rep.stats.ConnectToFirst))
	}
	if rep.leakedGoroutines != 0 || rep.openConns != 0 {
		t.Errorf("stand-in left %d goroutines, %d connections", rep.leakedGoroutines, rep.openConns)
	}
	if !strings.Contains(out.String(), "p99=") {
		t.Error("report lacks percentiles")
	}
}

func TestParseMix_RejectsUnknownScenario(t *testing.T) {
	if _, err := parseMix("basic=1,frobnicate=2"); err == nil {
		t.Error("unknown scenario accepted")
	}
	m, err := parseMix("basic=2,dtmf")
	if err != nil || len(m) != 3 {
		t.Errorf("mix %v %v", m, err)
	}
}
