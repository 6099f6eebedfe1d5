package esl

import (
	"container/heap"
	"math/rand"
	"net/textproto"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/percipia/eslgo"
)

func seqEvent(n int) *eslgo.Event {
	return &eslgo.Event{Headers: textproto.MIMEHeader{"Event-Sequence": {strconv.Itoa(n)}}}
}

// TestSequencer_RestoresOrderOfRacingDeliveries mimics eslgo: each event is handed over in its own
// goroutine, started in wire order, and the call logic must still see FreeSWITCH's order.
func TestSequencer_RestoresOrderOfRacingDeliveries(t *testing.T) {
	s := newSequencer(10*time.Millisecond, 16)
	stop := make(chan struct{})
	go s.run(stop)
	defer close(stop)

	const n = 2000
	var wg sync.WaitGroup
	seq := 1000
	for i := 0; i < n; i++ {
		seq += 1 + rand.Intn(3) // global sequence: gaps are normal
		wg.Add(1)
		go func(ev *eslgo.Event) { defer wg.Done(); s.push(ev) }(seqEvent(seq))
		if i%100 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	last := 0
	for i := 0; i < n; i++ {
		select {
		case ev := <-s.out:
			got, _ := strconv.Atoi(ev.GetHeader("Event-Sequence"))
			if got <= last {
				t.Fatalf("event %d: sequence %d after %d", i, got, last)
			}
			last = got
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d events released", i, n)
		}
	}
}

func TestSequencer_StopClosesOutput(t *testing.T) {
	s := newSequencer(time.Millisecond, 1)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { s.run(stop); close(done) }()
	for i := 0; i < 5; i++ {
		s.push(seqEvent(i + 1))
	}
	close(stop)
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("run did not return after stop")
	}
	s.push(seqEvent(99)) // after close: dropped, no panic
	for range s.out {
	}
}

func BenchmarkSequencerPush(b *testing.B) {
	s := newSequencer(time.Millisecond, 1024)
	stop := make(chan struct{})
	go s.run(stop)
	defer close(stop)
	go func() {
		for range s.out {
		}
	}()
	evs := make([]*eslgo.Event, 1024)
	for i := range evs {
		evs[i] = seqEvent(i)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.push(evs[i%len(evs)])
	}
}

// TestSequencer_DecreasingFloodStaysBounded: a peer sending ever-lower Event-Sequence numbers
// keeps the lowest event always younger than the window. The buffer must stay at its bound, the
// surplus released early (or dropped when nobody reads) and told through overflow.
func TestSequencer_DecreasingFloodStaysBounded(t *testing.T) {
	tests := []struct {
		name    string
		consume bool
	}{
		{"consumer reading", true},
		{"nobody reading", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSequencer(time.Hour, 16) // the window never ends during the test
			s.max = 512
			var mu sync.Mutex
			early, dropped := 0, 0
			s.overflow = func(d bool) {
				mu.Lock()
				early++
				if d {
					dropped++
				}
				mu.Unlock()
			}
			stop := make(chan struct{})
			go s.run(stop)
			defer close(stop)
			got := make(chan int, 1)
			if tt.consume {
				go func() {
					n := 0
					for range s.out {
						n++
					}
					got <- n
				}()
			}
			const n = 300_000
			peak := 0
			for i := n; i > 0; i-- {
				s.push(seqEvent(i))
				if i%1000 == 0 {
					peak = max(peak, s.pendingLen())
				}
			}
			if peak > s.max {
				t.Fatalf("the buffer held %d events, bound %d", peak, s.max)
			}
			mu.Lock()
			defer mu.Unlock()
			if early < n-s.max {
				t.Fatalf("overflow told %d times, want >= %d", early, n-s.max)
			}
			if !tt.consume && dropped < n-s.max-16 {
				t.Fatalf("dropped %d with nobody reading, want >= %d", dropped, n-s.max-16)
			}
		})
	}
}

// TestEventHeap_PopReleasesTheEvent: a popped event is not kept alive by the heap's backing
// array, which lives as long as the call's sequencer.
func TestEventHeap_PopReleasesTheEvent(t *testing.T) {
	var h eventHeap
	for i := 3; i > 0; i-- {
		heap.Push(&h, pendingEvent{seq: uint64(i), ev: &eslgo.Event{}})
	}
	for h.Len() > 0 {
		heap.Pop(&h)
	}
	for i, p := range h[:cap(h)] {
		if p.ev != nil {
			t.Fatalf("slot %d of the backing array still holds a popped event", i)
		}
	}
}
