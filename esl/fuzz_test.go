package esl

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	_ "unsafe" // go:linkname

	"github.com/percipia/eslgo"
)

// eslgoReadPlainEvent is eslgo's parser of a text/event-plain body (event.go readPlainEvent),
// which `make`s the body's own Content-Length.
//
//go:linkname eslgoReadPlainEvent github.com/percipia/eslgo.readPlainEvent
func eslgoReadPlainEvent(body []byte) (*eslgo.Event, error)

// fuzzLimits are small, so the fuzzer reaches every bound quickly.
var fuzzLimits = GuardLimits{MaxLine: 256, MaxHeaders: 16, MaxHeaderBytes: 1024, MaxBody: 4096}

// FuzzGuard: any bytes from an ESL peer go through the guard; every frame it lets through is
// then parsed the way eslgo parses it (net/textproto's header block, Atoi of Content-Length,
// make of the body; readPlainEvent itself for plain events). Nothing may panic, each frame
// stays within the limits, and the Content-Length eslgo will read is the body the guard framed.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{
		connectReply + "\n",
		"Content-Type: auth/request\n\n",
		"Content-Type: command/reply\nReply-Text: +OK\n\n",
		"Content-Type: api/response\nContent-Length: 3\n\n+OK",
		eventFrame("Event-Name: CHANNEL_ANSWER\nEvent-Sequence: 7\n\n"),
		eventFrame("Event-Name: CUSTOM\nContent-Length: 2\n\nhi"),
		"Content-Type: text/disconnect-notice\nContent-Disposition: disconnect\nContent-Length: 0\n\n",
		"Content-Length: -1\n\n",
		"Content-Length: 9223372036854775807\n\n",
		"Content-Length:\n -1\n\n",
		eventFrame("Event-Name: CUSTOM\nContent-Length: -1\n\n"),
		"content-length: 2\r\n\r\nab",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, lim := range []GuardLimits{fuzzLimits, (GuardLimits{}).withDefaults()} {
			r := bufio.NewReaderSize(bytes.NewReader(in), lim.MaxLine)
			for {
				frame, err := readFrame(r, lim, nil, eslgoType)
				if err != nil {
					if refusalReason(err) == "" && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
						t.Fatalf("unexpected error kind: %v", err)
					}
					break
				}
				if len(frame) > lim.MaxHeaderBytes+lim.MaxBody {
					t.Fatalf("frame of %d bytes passed", len(frame))
				}
				checkAsEslgo(t, frame, lim)
			}
		}
	})
}

// checkAsEslgo parses one frame the guard passed as eslgo v1.5.2 would (response.go
// readResponse, event.go readPlainEvent).
func checkAsEslgo(t *testing.T, frame []byte, lim GuardLimits) {
	br := bufio.NewReader(bytes.NewReader(frame))
	hdr, err := textproto.NewReader(br).ReadMIMEHeader()
	if err != nil {
		return // eslgo's read loop ends on this error: the connection goes deaf, nothing panics
	}
	rest, _ := io.ReadAll(br)
	var body []byte
	if cl := hdr.Get("Content-Length"); len(cl) > 0 {
		n, err := strconv.Atoi(cl)
		if err != nil {
			return // eslgo returns the error before any make
		}
		if n < 0 || n > lim.MaxBody {
			t.Fatalf("eslgo would make([]byte, %d) from %q", n, frame)
		}
		if n != len(rest) {
			t.Fatalf("eslgo reads %d body bytes, the guard framed %d: %q", n, len(rest), frame)
		}
		body = rest
	} else if len(rest) != 0 {
		t.Fatalf("the guard framed a body eslgo does not read: %q", frame)
	}
	if hdr.Get("Content-Type") == "text/event-plain" {
		_, _ = eslgoReadPlainEvent(body) // must not panic
	}
}

// FuzzSequencer: any sequence of Event-Sequence values (numbers, garbage, repeats, decreasing
// runs) pushed from racing goroutines: no panic, the buffer never exceeds its bound, and every
// event comes out once or is counted as dropped.
func FuzzSequencer(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5}, uint8(4))
	f.Add([]byte{200, 150, 100, 50, 1, 0}, uint8(2))
	f.Add([]byte("9x\x00\xff"), uint8(1))
	f.Fuzz(func(t *testing.T, seqs []byte, bound uint8) {
		if len(seqs) > 4096 {
			seqs = seqs[:4096]
		}
		s := newSequencer(time.Millisecond, 4)
		s.max = int(bound%32) + 1
		var mu sync.Mutex
		dropped := 0
		s.overflow = func(d bool) {
			if d {
				mu.Lock()
				dropped++
				mu.Unlock()
			}
		}
		stop := make(chan struct{})
		go s.run(stop)
		var delivered atomic.Int64
		consumed := make(chan struct{})
		go func() {
			defer close(consumed)
			for range s.out {
				delivered.Add(1)
			}
		}()
		var wg sync.WaitGroup
		for i, b := range seqs {
			v := strconv.Itoa(int(b))
			if b%17 == 0 {
				v = "x" + v // not a number: goes first, as events without a sequence do
			}
			ev := &eslgo.Event{Headers: textproto.MIMEHeader{"Event-Sequence": {v}}}
			if i%3 == 0 {
				s.push(ev)
			} else {
				wg.Add(1)
				go func() { defer wg.Done(); s.push(ev) }()
			}
			if n := s.pendingLen(); n > s.max {
				t.Fatalf("buffer holds %d, bound %d", n, s.max)
			}
		}
		wg.Wait()
		settled := func() bool {
			mu.Lock()
			defer mu.Unlock()
			return delivered.Load()+int64(dropped) == int64(len(seqs))
		}
		deadline := time.Now().Add(10 * time.Second)
		for !settled() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if !settled() {
			t.Fatalf("pushed %d, delivered %d, dropped %d, still held %d", len(seqs), delivered.Load(), dropped, s.pendingLen())
		}
		close(stop)
		<-consumed
	})
}
