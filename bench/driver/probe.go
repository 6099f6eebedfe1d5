package main

import (
	"strings"
	"sync"
	"time"

	"github.com/callrec/callrec/esl/fstest"
)

// callTimes is what the stand-in saw of one call's A-leg (the leg the socket application hands
// to the subject), all wall clock.
type callTimes struct {
	open      time.Time // the socket application dialled the subject
	record    time.Time // the subject's first `api uuid_record … start`
	answer    time.Time // CHANNEL_ANSWER fired on the A-leg
	recStart  time.Time // RECORD_START fired on the A-leg
	hangup    time.Time // the driver hung the caller up
	end       time.Time // the outbound connection ended (exit or close)
	commands  int       // commands the subject sent on the connection, `connect` and `exit` included
	delivered int       // events the stand-in queued on the connection
	started   chan struct{}
	ended     chan struct{}
}

// collector gathers fstest probe observations of every stand-in of a run, keyed by leg uuid.
// Safe for concurrent use; observe is called under a stand-in's lock and only does map work.
type collector struct {
	mu    sync.Mutex
	calls map[string]*callTimes
}

func newCollector() *collector { return &collector{calls: map[string]*callTimes{}} }

func (c *collector) getLocked(uuid string) *callTimes {
	ct := c.calls[uuid]
	if ct == nil {
		ct = &callTimes{started: make(chan struct{}), ended: make(chan struct{})}
		c.calls[uuid] = ct
	}
	return ct
}

// get returns the (possibly not yet observed) record of leg uuid.
func (c *collector) get(uuid string) *callTimes {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.getLocked(uuid)
}

// markHangup notes when the driver hung up leg uuid.
func (c *collector) markHangup(uuid string, at time.Time) {
	c.mu.Lock()
	c.getLocked(uuid).hangup = at
	c.mu.Unlock()
}

// observe is the stand-ins' Options.Probe.
func (c *collector) observe(e fstest.ProbeEvent) {
	if e.Leg == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ct := c.getLocked(e.Leg)
	switch e.Kind {
	case fstest.ProbeOpen:
		if ct.open.IsZero() {
			ct.open = e.At
		}
	case fstest.ProbeCommand:
		ct.commands++
		if ct.record.IsZero() && strings.HasPrefix(e.Name, "api uuid_record ") && strings.Contains(e.Name, " start ") {
			ct.record = e.At
		}
	case fstest.ProbeDelivered:
		ct.delivered++
	case fstest.ProbeFired:
		switch e.Name {
		case "CHANNEL_ANSWER":
			if ct.answer.IsZero() {
				ct.answer = e.At
			}
		case "RECORD_START":
			if ct.recStart.IsZero() {
				ct.recStart = e.At
				close(ct.started)
			}
		}
	case fstest.ProbeEnd:
		if ct.end.IsZero() {
			ct.end = e.At
			close(ct.ended)
		}
	}
}

// snapshot copies the records of the given legs (those the driver placed).
func (c *collector) snapshot(uuids []string) []callTimes {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]callTimes, 0, len(uuids))
	for _, u := range uuids {
		if ct := c.calls[u]; ct != nil {
			out = append(out, *ct)
		}
	}
	return out
}
