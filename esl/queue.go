package esl

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// eventQueue is the bounded queue between a connection's reader and the goroutine that handles
// its events (a Session, a Node). Events are pushed in wire order by the guard (event.go), which
// is FreeSWITCH's order for the connection, and popped in the same order. push never blocks: the
// reader must go on delivering command replies to a Session that is itself waiting for one. The
// bound keeps a hostile or broken peer (a flood of events nobody handles) from growing the
// process; over it an event is dropped and told (overflow).
//
// It replaces the re-sequencer eslgo's listeners needed (one goroutine per event, so events
// raced: ESLGO.md "event order"), and its goroutine and 10 ms window per event (issue 13).
type eventQueue struct {
	// ready holds a token while events wait: the consumer selects on it and pops one event.
	ready    chan struct{}
	max      int
	overflow func() // called (without the lock) for each event dropped over max

	mu    sync.Mutex
	items []headerReader
	head  int // items[head:] wait
}

// eventQueueMax bounds a connection's queue: a Session handles its few events as they come;
// a peer gets no more than this waiting.
const eventQueueMax = 4096

func newEventQueue(max int) *eventQueue {
	return &eventQueue{ready: make(chan struct{}, 1), max: max}
}

// push appends ev; called by the connection's reader only.
func (q *eventQueue) push(ev headerReader) {
	q.mu.Lock()
	if len(q.items)-q.head >= q.max {
		q.mu.Unlock()
		if q.overflow != nil {
			q.overflow()
		}
		return
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	q.signal()
}

// pop removes and returns the oldest event, nil when none waits. While events remain the ready
// token stays set, so a consumer that handles one event per wake-up sees them all.
func (q *eventQueue) pop() headerReader {
	q.mu.Lock()
	if q.head == len(q.items) {
		q.mu.Unlock()
		return nil
	}
	ev := q.items[q.head]
	q.items[q.head] = nil // the backing array outlives the event: do not keep it alive
	q.head++
	more := q.head < len(q.items)
	if !more {
		q.head = 0
		if cap(q.items) > 64 {
			q.items = nil // a burst's array is not kept for the rest of the call
		} else {
			q.items = q.items[:0]
		}
	}
	q.mu.Unlock()
	if more {
		q.signal()
	}
	return ev
}

// len is the number of events waiting.
func (q *eventQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}

func (q *eventQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// queueOverflow is the overflow report of a connection's queue: a metric per event, a sampled
// warning (a flood would otherwise log every event).
func queueOverflow(log zerolog.Logger, m *Metrics) func() {
	sampled := log.Sample(&zerolog.BurstSampler{Burst: 1, Period: 10 * time.Second})
	return func() {
		if m != nil {
			m.EventQueueOverflow.Inc()
		}
		sampled.Warn().Int("max", eventQueueMax).Str("decision", "event_queue_overflow").
			Msg("esl: too many events waiting on one connection; dropped")
	}
}
