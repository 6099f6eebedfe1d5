package fstest

import (
	"sync"
	"testing"
	"time"
)

// TestProbe_ReportsConnectionCommandsAndEvents: a controller connects, records the answered
// leg and exits; the probe sees the connection open, each command, the events fired (whether
// or not delivered), the events delivered, and the end — each with the controlled leg.
func TestProbe_ReportsConnectionCommandsAndEvents(t *testing.T) {
	ctl := newRawCtl(t)
	var mu sync.Mutex
	var got []ProbeEvent
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), ""), Probe: func(e ProbeEvent) {
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}})
	call := mustInbound(t, fs, CallSpec{From: "+34600111222", To: "1000"})
	uuid := call.A.UUID()
	ctl.accept()
	ctl.cmd("connect")
	ctl.cmd("event plain CHANNEL_ANSWER")
	ctl.cmd("sendmsg " + uuid + "\ncall-command: execute\nexecute-app-name: answer")
	ctl.until("CHANNEL_ANSWER")
	ctl.cmd("api uuid_record " + uuid + " start " + t.TempDir() + "/a.wav")
	ctl.cmd("exit")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		done := false
		for _, e := range got {
			done = done || e.Kind == ProbeEnd
		}
		mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no ProbeEnd after exit")
		}
	}
	call.A.Hangup("NORMAL_CLEARING")

	mu.Lock()
	defer mu.Unlock()
	find := func(kind ProbeKind, name string) int {
		for i, e := range got {
			if e.Kind == kind && (name == "" || e.Name == name || (kind == ProbeCommand && len(e.Name) >= len(name) && e.Name[:len(name)] == name)) {
				return i
			}
		}
		return -1
	}
	steps := []struct {
		kind ProbeKind
		name string
	}{
		{ProbeOpen, ""},
		{ProbeCommand, "connect"},
		{ProbeCommand, "sendmsg"},
		{ProbeFired, "CHANNEL_ANSWER"},
		{ProbeDelivered, "CHANNEL_ANSWER"},
		{ProbeCommand, "api uuid_record"},
		{ProbeFired, "RECORD_START"},
		{ProbeCommand, "exit"},
		{ProbeEnd, ""},
	}
	last := -1
	for _, s := range steps {
		i := find(s.kind, s.name)
		if i < 0 || i < last {
			t.Fatalf("probe step %v %q at %d (previous %d): %+v", s.kind, s.name, i, last, got)
		}
		if got[i].Leg != uuid {
			t.Errorf("probe step %v %q: leg %q, want %q", s.kind, s.name, got[i].Leg, uuid)
		}
		if got[i].At.IsZero() || time.Since(got[i].At) > time.Minute {
			t.Errorf("probe step %v %q: time %v", s.kind, s.name, got[i].At)
		}
		last = i
	}
	if i := find(ProbeDelivered, "RECORD_START"); i >= 0 {
		t.Errorf("RECORD_START delivered without a subscription: %+v", got[i])
	}
}
