package esl

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/textproto"
	"strconv"
	"testing"
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

// FuzzEventQueue: any interleaving of pushes and pops with any bound keeps FIFO order, never
// holds more than the bound, and counts every event it drops.
func FuzzEventQueue(f *testing.F) {
	f.Add([]byte{1, 1, 0, 1, 0, 0}, uint8(2))
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 0}, uint8(3))
	f.Add([]byte{0, 0, 1}, uint8(0))
	f.Fuzz(func(t *testing.T, ops []byte, bound uint8) {
		if len(ops) > 1<<14 {
			ops = ops[:1<<14]
		}
		q := newEventQueue(int(bound%32) + 1)
		dropped := 0
		q.overflow = func() { dropped++ }
		var want []int // what the queue should hold, oldest first
		next, popped := 0, 0
		for _, op := range ops {
			if op%2 == 1 {
				next++
				ev := &plainEvent{raw: []byte("Event-Sequence: " + strconv.Itoa(next) + "\n")}
				if len(want) < q.max {
					want = append(want, next)
				}
				q.push(ev)
			} else {
				ev := q.pop()
				if len(want) == 0 {
					if ev != nil {
						t.Fatalf("popped %v from an empty queue", ev.GetHeader("Event-Sequence"))
					}
					continue
				}
				if ev == nil || ev.GetHeader("Event-Sequence") != strconv.Itoa(want[0]) {
					t.Fatalf("popped %v, want %d", ev, want[0])
				}
				want = want[1:]
				popped++
			}
			if q.len() != len(want) || q.len() > q.max {
				t.Fatalf("holds %d, want %d (bound %d)", q.len(), len(want), q.max)
			}
			if ready := len(q.ready) == 1; len(want) > 0 && !ready {
				t.Fatal("events wait but the ready token is not set")
			}
		}
		if next != popped+dropped+len(want) {
			t.Fatalf("pushed %d = popped %d + dropped %d + held %d does not add up", next, popped, dropped, len(want))
		}
	})
}
