package esl

import (
	"container/heap"
	"strconv"
	"sync"
	"time"

	"github.com/percipia/eslgo"
)

// sequencer puts events back in FreeSWITCH order. eslgo hands every event to each listener in
// its own goroutine, so they race (ESLGO.md "event order": 964 of 2,000 out of order). The
// goroutines are started in wire order within microseconds of each other, so holding each event
// for a short window and releasing the lowest Event-Sequence first restores the order.
// Event-Sequence is global to a FreeSWITCH core, so gaps are normal and cannot be waited for.
type sequencer struct {
	window time.Duration
	out    chan *eslgo.Event

	mu      sync.Mutex
	pending eventHeap
	wake    chan struct{}
	closed  bool
	arrival uint64
}

func newSequencer(window time.Duration, buffer int) *sequencer {
	return &sequencer{window: window, out: make(chan *eslgo.Event, buffer), wake: make(chan struct{}, 1)}
}

// push is the eslgo listener: called from many goroutines.
func (s *sequencer) push(ev *eslgo.Event) {
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
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run releases events to out until stop is closed, then closes out.
func (s *sequencer) run(stop <-chan struct{}) {
	defer close(s.out)
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
func (s *sequencer) pop() (time.Duration, *eslgo.Event) {
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

func (s *sequencer) close() {
	s.mu.Lock()
	s.closed = true
	s.pending = nil
	s.mu.Unlock()
}

type pendingEvent struct {
	ev      *eslgo.Event
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
	*h = old[:len(old)-1]
	return x
}
