package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/percipia/eslgo"
)

// GuardLimits bound what one Event Socket peer may send in a frame. eslgo v1.5.2 trusts the
// peer: it reads header lines of any length, any number of them, and `make`s a body of the
// peer's Content-Length (negative → panic in a library goroutine, huge → unbounded allocation;
// docs/freeswitch/ESLGO.md). The guard checks every frame against these bounds before eslgo sees
// a byte of it. Zero fields take the defaults.
type GuardLimits struct {
	// MaxLine is the longest header line in bytes, line end included (default 64 KiB). Real
	// FreeSWITCH 1.10 lines are at most ~400 bytes (esl/fstest/testdata/traces; values are
	// URL-encoded on one line, mod_event_socket.c / switch_event_serialize).
	MaxLine int
	// MaxHeaders is the number of header lines in one frame (default 1024; the connect reply of a
	// plain call in the captures has 199, one per channel variable, so a call with many variables
	// needs headroom).
	MaxHeaders int
	// MaxHeaderBytes bounds one header block (default 1 MiB; the captures' largest is 8.7 KiB).
	MaxHeaderBytes int
	// MaxBody is the largest Content-Length (default 8 MiB; the captures' largest is 12 KiB, an
	// inbound `api` answer such as `show channels` on a busy node can be a few MiB).
	MaxBody int
}

func (l GuardLimits) withDefaults() GuardLimits {
	if l.MaxLine <= 0 {
		l.MaxLine = 64 << 10
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = 1024
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 1 << 20
	}
	if l.MaxBody <= 0 {
		l.MaxBody = 8 << 20
	}
	return l
}

// eslgoType reports whether eslgo v1.5.2 has a channel for frames of Content-Type ct
// (connection.go newConnection).
func eslgoType(ct string) bool {
	switch ct {
	case eslgo.TypeReply, eslgo.TypeAPIResponse, eslgo.TypeEventPlain, eslgo.TypeEventXML,
		eslgo.TypeEventJSON, eslgo.TypeAuthRequest, eslgo.TypeDisconnect:
		return true
	}
	return false
}

// greetingType reports whether ct may open an inbound connection: auth/request, or the refusals
// mod_event_socket sends instead (text/rude-rejection for its ACL, listener_run ~2677; a
// disconnect notice).
func greetingType(ct string) bool {
	return ct == eslgo.TypeAuthRequest || ct == "text/rude-rejection" || ct == eslgo.TypeDisconnect
}

// ErrFrameRefused is wrapped by every error of the guard: the peer sent a frame outside the
// protocol or the limits, and its connection is closed.
var ErrFrameRefused = errors.New("esl: frame refused")

// refusal is why a frame was refused; reason is a short, fixed label (a metric label).
type refusal struct {
	reason string
	detail string
}

func (r *refusal) Error() string {
	return fmt.Sprintf("%v: %s: %s", ErrFrameRefused, r.reason, r.detail)
}
func (r *refusal) Unwrap() error { return ErrFrameRefused }

func refuse(reason, format string, args ...any) error {
	return &refusal{reason: reason, detail: fmt.Sprintf(format, args...)}
}

// refusalReason is the metric label of a guard error ("" when err is not a refusal).
func refusalReason(err error) string {
	var r *refusal
	if errors.As(err, &r) {
		return r.reason
	}
	return ""
}

// guardConn is the net.Conn eslgo reads from: Read hands out only whole frames that passed
// readFrame. On a refused frame it closes the connection and reports io.EOF, which eslgo's
// receive loop treats as the peer's disconnect (connection.go receiveLoop), so only this
// connection ends and its handler returns.
type guardConn struct {
	net.Conn
	lim      GuardLimits
	r        *bufio.Reader
	frame    []byte // the frame being read (reused)
	pending  []byte // validated bytes eslgo has not read yet
	err      error  // sticky: the first read error or refusal
	onRefuse func(error)
	once     sync.Once
	// events, when set, receives every text/event-plain event instead of eslgo, in the order
	// FreeSWITCH sent them, from the goroutine reading the connection (eslgo's receive loop):
	// it must not block (the Session's queue is bounded, eventQueue.push).
	events atomic.Pointer[func(*plainEvent)]
	// mu is held while reading (by eslgo's receive loop, or greeting before it) and by Close,
	// which drops the buffers once the read has ended.
	mu sync.Mutex
}

// guardReadBuffer is the read buffer of one connection: real frames' lines are at most ~400
// bytes, and every live call holds one (a buffer of MaxLine, 64 KiB, was most of a held call's heap).
const guardReadBuffer = 4 << 10

// guard wraps c. onRefuse (optional) is called once with the refusal when a frame is refused.
func guard(c net.Conn, lim GuardLimits, onRefuse func(error)) *guardConn {
	lim = lim.withDefaults()
	return &guardConn{Conn: c, lim: lim, r: bufio.NewReaderSize(c, guardReadBuffer), onRefuse: onRefuse}
}

// Read implements net.Conn for eslgo.
func (g *guardConn) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.pending) == 0 {
		if g.err != nil {
			return 0, g.err
		}
		frame, eventAt, err := readFrameParts(g.r, g.lim, g.frame[:0], eslgoType)
		if err != nil {
			g.fail(err)
			continue
		}
		if sink := g.events.Load(); sink != nil && eventAt >= 0 {
			// The event goes to the Session in wire order; eslgo never sees it. The event owns
			// the frame's buffer: the next frame gets a new one, and an idle connection holds none.
			(*sink)(&plainEvent{raw: frame[eventAt:]})
			g.frame = nil
			continue
		}
		g.frame, g.pending = frame, frame
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	if len(g.pending) == 0 && cap(g.frame) > 8<<10 {
		g.frame = nil // do not keep a large frame's buffer (a connect reply, a big api answer) on an idle connection
	}
	return n, nil
}

// divert hands the connection's events to fn from now on (nil: back to eslgo).
func (g *guardConn) divert(fn func(*plainEvent)) {
	if fn == nil {
		g.events.Store(nil)
		return
	}
	g.events.Store(&fn)
}

// greeting reads the first frame itself (it is not passed to eslgo) and returns its
// Content-Type: an inbound connection's auth/request.
func (g *guardConn) greeting() (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return "", g.err
	}
	frame, err := readFrame(g.r, g.lim, nil, greetingType)
	if err != nil {
		if refusalReason(err) != "" {
			g.fail(err)
		}
		return "", err
	}
	for _, line := range bytes.Split(frame, []byte("\n")) {
		text := trimEOL(line)
		if len(text) == 0 {
			break
		}
		if key, value, err := headerLine(text); err == nil && bytes.EqualFold(key, []byte("Content-Type")) {
			return string(value), nil
		}
	}
	return "", nil
}

// Close closes the connection (ending a Read in progress) and then drops the read buffers: eslgo
// keeps a closed outbound Conn, and so this guard, for its linger seconds after the disconnect
// notice (outbound.go dummyLoop's time.AfterFunc), and its receive loop can end without a read
// error ("no response channels"), so at a high call rate every call of the last 30 s would
// still hold MaxLine bytes. Safe to call twice and concurrently with Read.
func (g *guardConn) Close() error {
	err := g.Conn.Close()
	g.mu.Lock()
	if g.err == nil {
		g.err = net.ErrClosed
	}
	g.release()
	g.mu.Unlock()
	return err
}

// release drops the buffers of a connection that is read no more. Called with mu held.
func (g *guardConn) release() { g.r, g.frame, g.pending = nil, nil, nil }

// fail makes err sticky. A refusal closes the connection and reads as EOF from then on; a peer
// gone in the middle of a frame reads as EOF too (eslgo's receive loop reports a disconnect only
// for an error whose text is "EOF"); another transport error is passed on as it is.
func (g *guardConn) fail(err error) {
	g.release()
	if refusalReason(err) == "" {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		g.err = err
		return
	}
	g.err = io.EOF
	g.once.Do(func() {
		// Told before the close: whoever sees the connection end also sees the refusal counted.
		if g.onRefuse != nil {
			g.onRefuse(err)
		}
		_ = g.Conn.Close()
	})
}

// readFrame reads one whole frame (header block, then Content-Length bytes of body) from r into
// buf and checks it; types says which Content-Types are allowed. Errors: a refusal
// (ErrFrameRefused), or r's error (io.EOF between frames, io.ErrUnexpectedEOF inside one).
func readFrame(r *bufio.Reader, lim GuardLimits, buf []byte, types func(contentType string) bool) ([]byte, error) {
	buf, _, err := readFrameParts(r, lim, buf, types)
	return buf, err
}

// readFrameParts is readFrame that also tells where the body of a text/event-plain frame starts
// (eventAt; -1 for any other frame).
func readFrameParts(r *bufio.Reader, lim GuardLimits, buf []byte, types func(contentType string) bool) (frame []byte, eventAt int, err error) {
	eventAt = -1
	var (
		lines, bodyLen int
		seenLength     bool
		seenType       bool
		contentType    string
		eventPlain     bool
	)
	for {
		// A line longer than r's buffer comes in parts (the buffer is small: every held call
		// has one); it is bounded by MaxLine as it grows.
		start := len(buf)
		for {
			part, err := r.ReadSlice('\n')
			buf = append(buf, part...)
			if len(buf)-start > lim.MaxLine {
				return nil, -1, refuse("line_too_long", "header line longer than %d bytes", lim.MaxLine)
			}
			if len(buf) > lim.MaxHeaderBytes {
				return nil, -1, refuse("header_too_large", "header block over %d bytes", lim.MaxHeaderBytes)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if err != nil {
				if err == io.EOF && len(buf) > 0 {
					err = io.ErrUnexpectedEOF
				}
				return nil, -1, err
			}
			break
		}
		line := buf[start:]
		text := trimEOL(line)
		if len(text) == 0 {
			if lines == 0 {
				return nil, -1, refuse("empty_frame", "blank line where a frame should start")
			}
			break
		}
		if lines++; lines > lim.MaxHeaders {
			return nil, -1, refuse("too_many_headers", "over %d header lines", lim.MaxHeaders)
		}
		key, value, err := headerLine(text)
		if err != nil {
			return nil, -1, err
		}
		switch {
		case bytes.EqualFold(key, []byte("Content-Length")):
			if seenLength {
				return nil, -1, refuse("bad_content_length", "two Content-Length headers")
			}
			seenLength = true
			if bodyLen, err = contentLength(value, lim.MaxBody); err != nil {
				return nil, -1, err
			}
		case bytes.EqualFold(key, []byte("Content-Type")):
			if seenType {
				return nil, -1, refuse("unknown_content_type", "two Content-Type headers")
			}
			seenType, contentType = true, string(value)
		}
	}
	// eslgo routes a frame by its Content-Type; any other type (log/data, none at all) ends its
	// read loop and leaves the connection deaf (connection.go doMessage, ESLGO.md): close it now.
	if !types(contentType) {
		return nil, -1, refuse("unknown_content_type", "Content-Type %.64q", contentType)
	}
	eventPlain = contentType == eslgo.TypeEventPlain
	head := len(buf)
	if bodyLen > 0 {
		buf = grow(buf, bodyLen)
		if _, err := io.ReadFull(r, buf[head:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, -1, err
		}
	}
	if eventPlain {
		eventAt = head
		// eslgo parses a plain event's body as a second header block with its own Content-Length
		// (event.go readPlainEvent): the same checks apply inside it.
		if err := checkEventBody(buf[head:], lim); err != nil {
			return nil, -1, err
		}
	}
	return buf, eventAt, nil
}

// checkEventBody checks the header block at the start of a text/event-plain body: the lines are
// bounded by the body already; a continuation line or a bad Content-Length is refused, and the
// inner body must fit in what is left.
func checkEventBody(body []byte, lim GuardLimits) error {
	rest := body
	inner := -1
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i+1], rest[i+1:]
		}
		text := trimEOL(line)
		if len(text) == 0 {
			break
		}
		key, value, err := headerLine(text)
		if err != nil {
			return err
		}
		if bytes.EqualFold(key, []byte("Content-Length")) {
			if inner >= 0 {
				return refuse("bad_content_length", "two Content-Length headers in an event")
			}
			if inner, err = contentLength(value, lim.MaxBody); err != nil {
				return err
			}
		}
	}
	if inner > len(rest) {
		return refuse("bad_content_length", "event body of %d bytes announces %d", len(rest), inner)
	}
	return nil
}

// headerLine splits "Key: value". A line starting with a space or tab would continue the previous
// header in net/textproto (and could so build a Content-Length the line checks never saw);
// FreeSWITCH never folds lines (it URL-encodes values, switch_event.c switch_event_serialize), so
// both are refused, as is a line without a colon.
func headerLine(text []byte) (key, value []byte, err error) {
	if text[0] == ' ' || text[0] == '\t' {
		return nil, nil, refuse("folded_header", "continuation line")
	}
	i := bytes.IndexByte(text, ':')
	if i <= 0 {
		return nil, nil, refuse("malformed_header", "header line without a key")
	}
	return text[:i], bytes.Trim(text[i+1:], " \t"), nil
}

// contentLength parses a Content-Length value: decimal digits only, at most max. An empty value
// means no body, as in eslgo (response.go readResponse reads a body only for a non-empty value).
func contentLength(v []byte, max int) (int, error) {
	if len(v) == 0 {
		return 0, nil
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, refuse("bad_content_length", "Content-Length %.32q is not a decimal number", v)
		}
		n = n*10 + int(c-'0')
		if n > max {
			return 0, refuse("body_too_large", "Content-Length over %d bytes", max)
		}
	}
	return n, nil
}

func trimEOL(line []byte) []byte {
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r"))
}

// grow extends buf by n bytes.
func grow(buf []byte, n int) []byte {
	if cap(buf)-len(buf) < n {
		nb := make([]byte, len(buf), len(buf)+n)
		copy(nb, buf)
		buf = nb
	}
	return buf[:len(buf)+n]
}
