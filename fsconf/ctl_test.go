package fsconf_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A small controller speaking the outbound ESL protocol over raw TCP (it must not import
// package esl: these tests are about the rendered dialplan, not callrec's controller).

// ctlMode is how the test controller treats each connection.
type ctlMode int

const (
	// ctlHandOver does what callrec does with a call: connect, uuid_setvar socket_resume false,
	// uuid_transfer <uuid> <destination> XML <the call's context>, then stays attached.
	// In the transfer context it behaves as ctlCodeDone instead.
	ctlHandOver ctlMode = iota
	// ctlSilent accepts and never sends a byte.
	ctlSilent
	// ctlCloseBeforeConnect accepts and closes at once.
	ctlCloseBeforeConnect
	// ctlCloseAfterConnect sends connect, reads the channel data and closes.
	ctlCloseAfterConnect
)

// seenCall is what the controller learnt from one connect reply.
type seenCall struct {
	UUID, Context, Destination, Direction, OutgoingDDI, BlindTransferUUID string
}

type testCtl struct {
	tb   testing.TB
	ln   net.Listener
	mode ctlMode
	// transferContext is the context whose calls get the code treatment (connect, note, close).
	transferContext string

	mu    sync.Mutex
	calls []seenCall
	conns []net.Conn
	wg    sync.WaitGroup
}

func startCtl(tb testing.TB, mode ctlMode, transferContext string) *testCtl {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	c := &testCtl{tb: tb, ln: ln, mode: mode, transferContext: transferContext}
	c.wg.Add(1)
	go c.acceptLoop()
	tb.Cleanup(c.close)
	return c
}

// refusedAddr returns a loopback address where nothing listens (connect is refused).
func refusedAddr(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func (c *testCtl) addr() string { return c.ln.Addr().String() }

func (c *testCtl) close() {
	c.ln.Close()
	c.mu.Lock()
	for _, nc := range c.conns {
		nc.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

func (c *testCtl) seen() []seenCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]seenCall(nil), c.calls...)
}

func (c *testCtl) acceptLoop() {
	defer c.wg.Done()
	for {
		nc, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.conns = append(c.conns, nc)
		c.mu.Unlock()
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.serve(nc)
		}()
	}
}

func (c *testCtl) serve(nc net.Conn) {
	defer nc.Close()
	switch c.mode {
	case ctlSilent:
		_, _ = io.Copy(io.Discard, nc) // until FreeSWITCH gives up and closes
		return
	case ctlCloseBeforeConnect:
		return
	}
	r := bufio.NewReader(nc)
	if _, err := io.WriteString(nc, "connect\n\n"); err != nil {
		return
	}
	hdr, err := readFrame(r)
	if err != nil {
		c.tb.Logf("test controller: connect reply: %v", err)
		return
	}
	call := seenCall{
		UUID:              hdr["Unique-ID"],
		Context:           hdr["Caller-Context"],
		Destination:       hdr["Caller-Destination-Number"],
		Direction:         hdr["variable_callrec_direction"],
		OutgoingDDI:       hdr["variable_callrec_outgoing_ddi"],
		BlindTransferUUID: hdr["variable_blind_transfer_uuid"],
	}
	c.mu.Lock()
	c.calls = append(c.calls, call)
	c.mu.Unlock()
	if c.mode == ctlCloseAfterConnect || call.Context == c.transferContext {
		// The code extension: nothing more to do here than callrec's toggle, which these tests
		// do not need. Closing ends the socket app, the extension, and so the blind transfer.
		return
	}
	for _, cmd := range []string{
		"api uuid_setvar " + call.UUID + " socket_resume false",
		"api uuid_transfer " + call.UUID + " " + call.Destination + " XML " + call.Context,
	} {
		if _, err := io.WriteString(nc, cmd+"\n\n"); err != nil {
			return
		}
		reply, err := readFrame(r)
		if err != nil {
			return
		}
		if !strings.HasPrefix(reply["_body"], "+OK") && !strings.HasPrefix(reply["Reply-Text"], "+OK") {
			c.tb.Errorf("test controller: %s: %v", cmd, reply)
		}
	}
	_, _ = io.Copy(io.Discard, r) // stay attached until FreeSWITCH closes
}

// readFrame reads one ESL frame: a header block (values URL-decoded) and, with Content-Length,
// a body kept under "_body". A text/event-plain or connect body's headers are merged in.
func readFrame(r *bufio.Reader) (map[string]string, error) {
	m := map[string]string{}
	if err := readHeaders(r, m); err != nil {
		return nil, err
	}
	if n, err := strconv.Atoi(m["Content-Length"]); err == nil && n > 0 {
		body := make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		m["_body"] = string(body)
	}
	return m, nil
}

func readHeaders(r *bufio.Reader, m map[string]string) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(m) == 0 {
				continue
			}
			return nil
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			return fmt.Errorf("bad header line %q", line)
		}
		if d, err := url.PathUnescape(v); err == nil {
			v = d
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
}

// fsAPI runs one api command over the stand-in's inbound Event Socket, as fs_cli would.
func fsAPI(tb testing.TB, addr, password, cmd string) string {
	tb.Helper()
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(nc)
	if _, err := readFrame(r); err != nil { // auth/request
		tb.Fatal(err)
	}
	fmt.Fprintf(nc, "auth %s\n\n", password)
	if f, err := readFrame(r); err != nil || !strings.HasPrefix(f["Reply-Text"], "+OK") {
		tb.Fatalf("inbound auth: %v %v", f, err)
	}
	fmt.Fprintf(nc, "api %s\n\n", cmd)
	f, err := readFrame(r)
	if err != nil {
		tb.Fatal(err)
	}
	return f["_body"]
}
