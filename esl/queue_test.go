package esl

import (
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
	"weak"
)

func queueEvent(n int) *plainEvent {
	return &plainEvent{raw: []byte("Event-Sequence: " + strconv.Itoa(n) + "\n")}
}

// TestEventQueue_KeepsWireOrderAcrossWakeUps: a consumer that handles one event per wake-up, as
// a Session does, gets every event in the order pushed, also when it stops taking for a while
// (the announcement's pump returns mid-burst) and a burst lands meanwhile.
func TestEventQueue_KeepsWireOrderAcrossWakeUps(t *testing.T) {
	q := newEventQueue(eventQueueMax)
	const n = eventQueueMax // all of them fit, however slow the consumer
	go func() {
		for i := 1; i <= n; i++ {
			q.push(queueEvent(i))
			if i == n/2 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	deadline := time.After(20 * time.Second)
	for want := 1; want <= n; {
		select {
		case <-q.ready:
			if ev := q.pop(); ev != nil {
				if got := ev.GetHeader("Event-Sequence"); got != strconv.Itoa(want) {
					t.Fatalf("event %d came as %s", want, got)
				}
				want++
			}
		case <-deadline:
			t.Fatalf("stuck after %d events with %d waiting: a wake-up was lost", want-1, q.len())
		}
	}
}

// TestEventQueue_FloodStaysBounded: a peer flooding a connection nobody reads (300,000 events)
// holds at most the bound, and every event over it is counted as dropped.
func TestEventQueue_FloodStaysBounded(t *testing.T) {
	q := newEventQueue(512)
	var mu sync.Mutex
	dropped := 0
	q.overflow = func() { mu.Lock(); dropped++; mu.Unlock() }
	const n = 300_000
	for i := 0; i < n; i++ {
		q.push(queueEvent(i))
	}
	if q.len() != 512 || dropped != n-512 {
		t.Fatalf("holds %d, dropped %d; want 512 and %d", q.len(), dropped, n-512)
	}
}

// TestEventQueue_PopReleasesTheEvent: a popped event is not kept alive by the queue's array,
// which lives as long as the call (the sequencer's heap kept each call's last burst: issue 13).
func TestEventQueue_PopReleasesTheEvent(t *testing.T) {
	q := newEventQueue(16)
	ev := queueEvent(1)
	ref := weak.Make(ev)
	q.push(ev)
	q.push(queueEvent(2))
	ev = nil
	if q.pop() == nil {
		t.Fatal("nothing popped")
	}
	for i := 0; i < 5 && ref.Value() != nil; i++ {
		runtime.GC()
	}
	if ref.Value() != nil {
		t.Fatal("the popped event is still reachable from the queue")
	}
	_ = q.pop()
}
