package esl

import (
	"container/heap"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// sequencer is the bounded queue between a connection's reader and the goroutine that handles
// its events. Sessions and nodes take their events from the guard, in wire order (event.go), and
// use it with a zero window: the reader never blocks on a busy Session (which may itself wait for
// a command reply that reader must deliver). With a window it also puts events back in
// FreeSWITCH order, as eslgo's listeners need: eslgo hands every event to each listener in its
// own goroutine, so they race (ESLGO.md "event order": 964 of 2,000 out of order); the
// goroutines start in wire order within microseconds of each other, so holding each event for a
// short window and releasing the lowest Event-Sequence first restores the order. Event-Sequence
// is global to a FreeSWITCH core, so gaps are normal and cannot be waited for.
//
// The buffer is bounded (max events): a peer that sends ever-decreasing sequence numbers keeps
// the lowest event always younger than the window, so nothing would ever be released. Over the
// bound the lowest event is released at once (out of the window); when out is full too it is
// dropped. Either way overflow is told (a log and a metric at the caller).
type sequencer struct {
	window time.Duration
	out    chan headerReader
	max    int
	// overflow, when set, is called (without the lock) for each event released early, with
	// dropped true when it could not be delivered.
	overflow func(dropped bool)

	mu      sync.Mutex
	pending eventHeap
	wake    chan struct{}
	closed  bool
	arrival uint64
}

// sequencerMax bounds a connection's re-ordering buffer: FreeSWITCH's own order needs a few
// events at a time (a window of 10 ms), a hostile or broken peer gets no more than this.
const sequencerMax = 4096

func newSequencer(window time.Duration, buffer int) *sequencer {
	return &sequencer{window: window, out: make(chan headerReader, buffer), max: sequencerMax, wake: make(chan struct{}, 1)}
}

// push is the eslgo listener: called from many goroutines.
func (s *sequencer) push(ev headerReader) {
	seq, err := strconv.ParseUint(ev.GetHeader("Event-Sequence"), 10, 64)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.arrival++
	if err != nil {
		seq = 0 // events without a sequence (plain CHANNEL_DATA from bind_digit_action) go first
	}
	heap.Push(&s.pending, pendingEvent{ev: ev, seq: seq, arrival: s.arrival, at: time.Now()})
	overflowed, dropped := false, false
	if len(s.pending) > s.max {
		// Sent under the lock, so close (which closes out under it) cannot race the send; the
		// select never blocks.
		overflowed = true
		select {
		case s.out <- heap.Pop(&s.pending).(pendingEvent).ev:
		default:
			dropped = true
		}
	}
	s.mu.Unlock()
	if overflowed && s.overflow != nil {
		s.overflow(dropped)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run releases events to out until stop is closed, then closes out (in close, under the lock).
func (s *sequencer) run(stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next, ev := s.pop()
		if ev != nil {
			select {
			case s.out <- ev:
				continue
			case <-stop:
				s.close()
				return
			}
		}
		if next > 0 {
			timer.Reset(next)
		}
		select {
		case <-stop:
			s.close()
			return
		case <-s.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// pop returns the lowest-sequence event once it has waited the window, or how long until it has.
func (s *sequencer) pop() (time.Duration, headerReader) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return 0, nil
	}
	if wait := s.window - time.Since(s.pending[0].at); wait > 0 {
		return wait, nil
	}
	return 0, heap.Pop(&s.pending).(pendingEvent).ev
}

// pendingLen is the number of events held.
func (s *sequencer) pendingLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func (s *sequencer) close() {
	s.mu.Lock()
	s.closed = true
	s.pending = nil
	close(s.out)
	s.mu.Unlock()
}

type pendingEvent struct {
	ev      headerReader
	seq     uint64
	arrival uint64
	at      time.Time
}

type eventHeap []pendingEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].seq != h[j].seq {
		return h[i].seq < h[j].seq
	}
	return h[i].arrival < h[j].arrival
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(pendingEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	// Clear the slot: the backing array outlives the burst, and a popped event left in it keeps
	// its ~100 parsed headers alive for the rest of the call (issue 13: 58 → 15 MB live heap at
	// 1,000 held calls).
	old[len(old)-1] = pendingEvent{}
	*h = old[:len(old)-1]
	return x
}

// seqOverflow is the overflow report of a connection's sequencer: a metric per event, a sampled
// warning (a flood would otherwise log every event).
func seqOverflow(log zerolog.Logger, m *Metrics) func(dropped bool) {
	sampled := log.Sample(&zerolog.BurstSampler{Burst: 1, Period: 10 * time.Second})
	return func(dropped bool) {
		if m != nil {
			m.SequencerOverflow.Inc()
		}
		sampled.Warn().Bool("dropped", dropped).Int("max", sequencerMax).Str("decision", "sequencer_overflow").
			Msg("esl: too many out-of-order events on one connection; released early")
	}
}
