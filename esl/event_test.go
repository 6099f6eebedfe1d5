package esl

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/percipia/eslgo"
)

// TestPlainEvent_ReadsWhatEslgoReads: for every event of the real FreeSWITCH captures and every
// header in it (asked as sent, lower-case and canonicalised), plainEvent gives the value eslgo's
// Event gives (eslgo event.go readPlainEvent: textproto.ReadMIMEHeader, then PathUnescape).
func TestPlainEvent_ReadsWhatEslgoReads(t *testing.T) {
	files, err := filepath.Glob("fstest/testdata/traces/*.txt")
	must(t, err)
	block := regexp.MustCompile(`=== <<< RECV[^\n]* (\d+) bytes\n`)
	events, lookups := 0, 0
	for _, fn := range files {
		data, err := os.ReadFile(fn)
		must(t, err)
		var stream []byte
		for _, m := range block.FindAllSubmatchIndex(data, -1) {
			n, _ := strconv.Atoi(string(data[m[2]:m[3]]))
			if m[1]+n <= len(data) {
				stream = append(stream, data[m[1]:m[1]+n]...)
			}
		}
		r := bufio.NewReader(bytes.NewReader(stream))
		for {
			frame, at, err := readFrameParts(r, GuardLimits{}.withDefaults(), nil, eslgoType)
			if err != nil {
				break
			}
			if at < 0 {
				continue
			}
			body := frame[at:]
			hdr, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(body))).ReadMIMEHeader()
			if err != nil && err != io.EOF {
				t.Fatalf("%s: eslgo would not parse an event: %v", fn, err)
			}
			want := eslgo.Event{Headers: hdr}
			got := &plainEvent{raw: body}
			events++
			for _, line := range strings.Split(string(body), "\n") {
				key, _, ok := strings.Cut(line, ":")
				if !ok {
					break
				}
				for _, k := range []string{key, strings.ToLower(key), textproto.CanonicalMIMEHeaderKey(key)} {
					lookups++
					if g, w := got.GetHeader(k), want.GetHeader(k); g != w {
						t.Fatalf("%s: GetHeader(%q) = %q, eslgo %q", filepath.Base(fn), k, g, w)
					}
				}
			}
			if g, w := got.GetHeader("No-Such-Header"), want.GetHeader("No-Such-Header"); g != w {
				t.Fatalf("absent header: %q, eslgo %q", g, w)
			}
		}
	}
	if events < 100 {
		t.Fatalf("only %d events in the captures", events)
	}
	t.Logf("%d events, %d lookups", events, lookups)
}

func TestPlainEvent_GetHeader(t *testing.T) {
	raw := "Event-Name: RECORD_STOP\r\nUnique-ID: abc\nRecord-File-Path: %2Ftmp%2Fa%20b.wav\n" +
		"variable_x: a+b\nBad: %zz\nDup: first\nDup: second\nSpaced:   v  \nContent-Length: 9\n\nInner: no\n"
	ev := &plainEvent{raw: []byte(raw)}
	for _, tc := range []struct{ name, want string }{
		{"Event-Name", "RECORD_STOP"}, // a CRLF line
		{"unique-id", "abc"},          // any case
		{"UNIQUE-ID", "abc"},          //
		{"Record-File-Path", "/tmp/a b.wav"},
		{"variable_x", "a+b"},  // PathUnescape: + stays
		{"Bad", ""},            // does not decode
		{"Dup", "first"},       // the first value
		{"Spaced", "v"},        // trimmed
		{"Inner", ""},          // the inner body is not headers
		{"Unique", ""},         // a prefix of a key is not the key
		{"Unique-ID-More", ""}, //
	} {
		if got := ev.GetHeader(tc.name); got != tc.want {
			t.Errorf("GetHeader(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestGuard_DivertsEventsInWireOrder: with a sink set, the connection's events go to it in the
// order they were sent and never reach eslgo's reader; replies and api responses still do.
func TestGuard_DivertsEventsInWireOrder(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	g := guard(server, GuardLimits{}, nil)
	defer g.Close()
	var got []string
	done := make(chan struct{})
	g.divert(func(ev *plainEvent) {
		got = append(got, ev.GetHeader("Event-Sequence"))
		if len(got) == 50 {
			close(done)
		}
	})
	var stream strings.Builder
	stream.WriteString("Content-Type: command/reply\nReply-Text: +OK\n\n")
	for i := 1; i <= 50; i++ {
		stream.WriteString(eventFrame("Event-Name: CHANNEL_ANSWER\nEvent-Sequence: " + strconv.Itoa(i) + "\n"))
	}
	api := "Content-Type: api/response\nContent-Length: 3\n\n+OK"
	stream.WriteString(api)
	go io.WriteString(client, stream.String())
	var passed []byte
	buf := make([]byte, 4096)
	for !bytes.HasSuffix(passed, []byte("+OK")) || !bytes.Contains(passed, []byte("api/response")) {
		_ = g.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := g.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (passed %q)", err, passed)
		}
		passed = append(passed, buf[:n]...)
	}
	<-done
	if want := "Content-Type: command/reply\nReply-Text: +OK\n\n" + api; string(passed) != want {
		t.Fatalf("eslgo read %q, want only the reply and the api response", passed)
	}
	for i, seq := range got {
		if seq != strconv.Itoa(i+1) {
			t.Fatalf("event %d has sequence %s: not in wire order (%v)", i+1, seq, got)
		}
	}
}

// TestGuard_LongLinesThroughASmallBuffer: the guard reads with a small buffer (every held call
// has one), so a line longer than the buffer comes in parts: it passes whole up to MaxLine, and
// one byte more is refused.
func TestGuard_LongLinesThroughASmallBuffer(t *testing.T) {
	lim := GuardLimits{}.withDefaults()
	for _, tc := range []struct {
		name    string
		lineLen int // bytes of the header line, its newline included
		refused bool
	}{
		{"buffer size", guardReadBuffer, false},
		{"five buffers", 5 * guardReadBuffer, false},
		{"MaxLine", lim.MaxLine, false},
		{"MaxLine+1", lim.MaxLine + 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := "X-Long: " + strings.Repeat("a", tc.lineLen-len("X-Long: ")-1) + "\n"
			frame := "Content-Type: command/reply\n" + line + "Reply-Text: +OK\n\n"
			r := bufio.NewReaderSize(strings.NewReader(frame), guardReadBuffer)
			got, err := readFrame(r, lim, nil, eslgoType)
			if tc.refused {
				if refusalReason(err) != "line_too_long" {
					t.Fatalf("got %v, want line_too_long", err)
				}
				return
			}
			if err != nil || string(got) != frame {
				t.Fatalf("frame changed or refused: %v (%d of %d bytes)", err, len(got), len(frame))
			}
		})
	}
}
