package esl

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callrec/callrec/store"
)

// hostilePeer is a raw TCP client on callrec's outbound port that plays FreeSWITCH badly: it
// reads callrec's `connect` and answers with whatever the test sends.
type hostilePeer struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialHostile(t *testing.T, addr string) *hostilePeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	p := &hostilePeer{t: t, c: c, r: bufio.NewReader(c)}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := p.r.ReadString('\n'); err != nil || strings.TrimRight(line, "\r\n") != "connect" {
		t.Fatalf("callrec did not send connect: %q %v", line, err)
	}
	_, _ = p.r.ReadString('\n')
	return p
}

// waitClosed waits until callrec closed the connection (EOF or reset on read).
func (p *hostilePeer) waitClosed() {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		if _, err := p.r.ReadByte(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				p.t.Fatal("callrec kept the hostile connection open")
			}
			return
		}
	}
}

// connectReply is the start of a real connect reply (one header block, esl/fstest/testdata/traces).
const connectReply = "Event-Name: CHANNEL_DATA\nUnique-ID: 6b5d6fb2-0000-4000-8000-000000000001\nContent-Type: command/reply\nReply-Text: +OK\n"

// TestGuard_HostileFramesCloseOnlyThatConnection: every class of frame eslgo would panic on, or
// grow memory for, closes only the connection it came on: callrec stays up, a call already
// recording goes on, and the next call is recorded.
func TestGuard_HostileFramesCloseOnlyThatConnection(t *testing.T) {
	tests := []struct{ name, frame, reason string }{
		{"content length -1", connectReply + "Content-Length: -1\n\n", "bad_content_length"},
		{"content length max int64", connectReply + "Content-Length: 9223372036854775807\n\n", "body_too_large"},
		{"content length absurd", connectReply + fmt.Sprintf("Content-Length: %d\n\n", 1<<40), "body_too_large"},
		{"content length over the body bound", connectReply + fmt.Sprintf("Content-Length: %d\n\n", 9<<20), "body_too_large"},
		{"content length not numeric", connectReply + "Content-Length: 12abc\n\n", "bad_content_length"},
		{"content length folded into -1", connectReply + "Content-Length:\n -1\n\n", "folded_header"},
		{"event body with content length -1", eventFrame("Event-Name: CUSTOM\nContent-Length: -1\n\n"), "bad_content_length"},
		{"too many headers", connectReply + strings.Repeat("X-Header: a\n", 5000) + "\n", "too_many_headers"},
		{"header line too long", connectReply + "X-Long: " + strings.Repeat("a", 70<<10) + "\n\n", "line_too_long"},
		{"unknown content type", "Content-Type: log/data\nContent-Length: 5\n\nhello", "unknown_content_type"},
		{"no content type", "Reply-Text: +OK\n\n", "unknown_content_type"},
	}
	// A command timeout longer than waitClosed's deadline: only the guard closes a connection
	// in time (eslgo alone would wait for the body, go deaf, or take the frame as a call).
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	must(t, err)
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, commandTimeout: 30 * time.Second, metrics: metrics})
	live, _ := h.callAnswered("+34600111000", "+34911234567", "1001")
	h.waitEvent("RECORD_START", 1)
	recorded := 1
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refused := refusedCount(t, reg, tt.reason)
			p := dialHostile(t, h.srv.BoundAddr())
			if _, err := io.WriteString(p.c, tt.frame); err != nil {
				t.Fatal(err)
			}
			p.waitClosed()
			if got := refusedCount(t, reg, tt.reason); got != refused+1 {
				t.Fatalf("callrec_esl_refused_total{reason=%q} went %v -> %v: the guard did not refuse the frame", tt.reason, refused, got)
			}
			// The next call is still handled and recorded.
			call, _ := h.callAnswered(fmt.Sprintf("+3460022%04d", i), "+34911234567", "1001")
			recorded++
			h.waitEvent("RECORD_START", recorded)
			call.A.Hangup("NORMAL_CLEARING")
		})
	}
	if st := live.A.State(); st.Hungup {
		t.Fatal("the call recording before the hostile frames was harmed")
	}
	live.A.Hangup("NORMAL_CLEARING")
	h.waitRecordings(store.StateProcessing, recorded)
}

// TestGuard_EndlessLineStaysBounded: 300 MiB without a newline would be buffered whole by
// net/textproto (RSS ~720 MB); the guard closes the connection after one line's bound and the
// heap stays small.
func TestGuard_EndlessLineStaysBounded(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound})
	p := dialHostile(t, h.srv.BoundAddr())
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	chunk := []byte(strings.Repeat("a", 64<<10))
	const total = 300 << 20
	sent := 0
	_ = p.c.SetWriteDeadline(time.Now().Add(60 * time.Second))
	for sent < total {
		n, err := p.c.Write(chunk)
		sent += n
		if err != nil {
			break
		}
		if sent%(16<<20) == 0 {
			runtime.ReadMemStats(&ms)
			if grown := int64(ms.HeapInuse) - int64(base); grown > 64<<20 {
				t.Fatalf("heap grew by %d MiB after %d MiB of one line", grown>>20, sent>>20)
			}
		}
	}
	if sent >= total {
		t.Fatalf("callrec read all %d MiB of one header line", sent>>20)
	}
	p.waitClosed()
	call, _ := h.callAnswered("+34600333000", "+34911234567", "1001")
	h.waitEvent("RECORD_START", 1)
	call.A.Hangup("NORMAL_CLEARING")
	h.waitRecordings(store.StateProcessing, 1)
}

// eventFrame wraps body in a text/event-plain frame.
func eventFrame(body string) string {
	return fmt.Sprintf("Content-Type: text/event-plain\nContent-Length: %d\n\n%s", len(body), body)
}

// TestGuard_NodeConnectionSurvivesAHostileFrame: the inbound node connections go through the
// guard too. A Content-Length of -1 on a node's connection panicked eslgo's read loop (the
// process died); now only that connection closes, the node is reported down, reconnects and is
// up again.
func TestGuard_NodeConnectionSurvivesAHostileFrame(t *testing.T) {
	h := newHarness(t, harnessOptions{ddiMode: store.RecordInbound, inbound: true})
	hr := newFakeHealth()
	node := &Node{Addr: h.fs.InboundAddr(), Password: "ClueCon", DB: h.db, Logger: testLogger(t), SpoolDir: h.spool, Health: hr}
	ctx := ctxT(t, 60*time.Second)
	nodeCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { node.Run(nodeCtx); close(done) }()
	defer func() { stop(); <-done }()
	part := fmt.Sprintf(partNodeFmt, node.Addr)
	waitFor(t, func() bool { return node.connected() }, "node connected")
	for _, frame := range []string{
		"Content-Type: api/response\nContent-Length: -1\n\n",
		eventFrame("Event-Name: RECORD_STOP\nContent-Length: 9223372036854775807\n\n"),
	} {
		if n := h.fs.InjectInbound([]byte(frame)); n != 1 {
			t.Fatalf("injected into %d connections", n)
		}
		waitFor(t, func() bool { _, down := hr.isDown(part); return down }, "node reported down")
		waitFor(t, func() bool { _, down := hr.isDown(part); return !down && node.connected() }, "node reconnected")
	}
}

// TestGuard_RealCapturesPass: every byte a real FreeSWITCH 1.10 sent in the captures passes the
// guard with the default limits, frame by frame, unchanged.
func TestGuard_RealCapturesPass(t *testing.T) {
	files, err := filepath.Glob("fstest/testdata/traces/*-leg-*.txt")
	must(t, err)
	more, err := filepath.Glob("fstest/testdata/traces/*-inbound-ALL.txt")
	must(t, err)
	files = append(files, more...)
	if len(files) < 10 {
		t.Fatalf("only %d captures found", len(files))
	}
	block := regexp.MustCompile(`=== (<<< RECV|>>> SENT)[^\n]* (\d+) bytes\n`)
	for _, fn := range files {
		t.Run(filepath.Base(fn), func(t *testing.T) {
			data, err := os.ReadFile(fn)
			must(t, err)
			var stream []byte
			for pos := 0; ; {
				m := block.FindSubmatchIndex(data[pos:])
				if m == nil {
					break
				}
				n, _ := strconv.Atoi(string(data[pos+m[4] : pos+m[5]]))
				start := pos + m[1]
				if data[pos+m[2]] == '<' {
					stream = append(stream, data[start:start+n]...)
				}
				pos = start + n
			}
			r := bufio.NewReader(bytes.NewReader(stream))
			var again []byte
			frames := 0
			for {
				frame, err := readFrame(r, GuardLimits{}.withDefaults(), nil, eslgoType)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("frame %d refused: %v", frames+1, err)
				}
				again = append(again, frame...)
				frames++
			}
			if !bytes.Equal(again, stream) {
				t.Fatalf("the guard changed the stream (%d of %d bytes)", len(again), len(stream))
			}
			t.Logf("%d frames", frames)
		})
	}
}

// refusedCount reads callrec_esl_refused_total{reason} from reg.
func refusedCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	families, err := reg.Gather()
	must(t, err)
	for _, f := range families {
		if f.GetName() != "callrec_esl_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestGuard_CloseDropsTheReadBuffer: a closed guard holds no read buffer, also when a Read is
// blocked at the close (eslgo keeps a closed outbound Conn for its linger seconds, outbound.go
// dummyLoop, so a kept buffer is MaxLine bytes per call of the last 30 s).
func TestGuard_CloseDropsTheReadBuffer(t *testing.T) {
	for _, blocked := range []bool{false, true} {
		t.Run(fmt.Sprintf("read blocked %v", blocked), func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			g := guard(a, GuardLimits{}, nil)
			done := make(chan error, 1)
			if blocked {
				go func() { _, err := g.Read(make([]byte, 16)); done <- err }()
				time.Sleep(20 * time.Millisecond) // not a pass condition: the Read may start after Close too
			}
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			if blocked {
				if err := <-done; err == nil {
					t.Fatal("Read succeeded on a closed connection")
				}
			}
			g.mu.Lock()
			held := g.r != nil || g.frame != nil
			g.mu.Unlock()
			if held {
				t.Fatal("the closed guard still holds its read buffer")
			}
			if _, err := g.Read(make([]byte, 1)); err == nil {
				t.Fatal("Read after Close succeeded")
			}
		})
	}
}
