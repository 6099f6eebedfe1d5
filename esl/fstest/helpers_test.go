package fstest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawFrame is a frame as a controller reads it.
type rawFrame struct {
	hdr  []Header
	body string
	raw  string
}

func (f rawFrame) get(n string) string {
	for _, h := range f.hdr {
		if strings.EqualFold(h.Name, n) {
			return h.Value
		}
	}
	return ""
}

// eventHeaders parses a text/event-plain body, URL-decoding values.
func (f rawFrame) event() map[string]string {
	m := map[string]string{}
	head, _, _ := strings.Cut(f.body, "\n\n")
	for _, l := range strings.Split(head, "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			continue
		}
		if d, err := url.PathUnescape(v); err == nil {
			v = d
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m
}

// rawCtl is a bare-TCP controller: every byte is visible to the test.
type rawCtl struct {
	t  testing.TB
	ln net.Listener
	nc net.Conn
	r  *bufio.Reader
	// timeout bounds each read (default 5 s).
	timeout time.Duration
}

func newRawCtl(t testing.TB) *rawCtl {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &rawCtl{t: t, ln: ln}
	t.Cleanup(func() {
		ln.Close()
		if c.nc != nil {
			c.nc.Close()
		}
	})
	return c
}

func (c *rawCtl) addr() string { return c.ln.Addr().String() }

func (c *rawCtl) accept() {
	c.t.Helper()
	c.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	nc, err := c.ln.Accept()
	if err != nil {
		c.t.Fatal("accept:", err)
	}
	c.nc = nc
	c.r = bufio.NewReader(nc)
}

func (c *rawCtl) send(cmd string) {
	c.t.Helper()
	if !strings.HasSuffix(cmd, "\n\n") {
		cmd += "\n\n"
	}
	if _, err := c.nc.Write([]byte(cmd)); err != nil {
		c.t.Fatal("send:", err)
	}
}

func (c *rawCtl) read() (rawFrame, error) {
	d := c.timeout
	if d == 0 {
		d = 5 * time.Second
	}
	c.nc.SetReadDeadline(time.Now().Add(d))
	var f rawFrame
	var raw strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		raw.WriteString(line)
		if err != nil {
			return f, err
		}
		line = strings.TrimRight(line, "\n")
		if line == "" {
			if len(f.hdr) == 0 {
				continue
			}
			break
		}
		k, v, _ := strings.Cut(line, ": ")
		f.hdr = append(f.hdr, Header{k, v})
	}
	if cl := f.get("Content-Length"); cl != "" {
		n, _ := strconv.Atoi(cl)
		b := make([]byte, n)
		if _, err := io.ReadFull(c.r, b); err != nil {
			return f, err
		}
		f.body = string(b)
		raw.Write(b)
	}
	f.raw = raw.String()
	return f, nil
}

func (c *rawCtl) mustRead() rawFrame {
	c.t.Helper()
	f, err := c.read()
	if err != nil {
		c.t.Fatal("read:", err)
	}
	return f
}

// cmd sends a command and returns the next non-event frame (events before it are returned
// in evs).
func (c *rawCtl) cmd(cmd string) (reply rawFrame, evs []rawFrame) {
	c.t.Helper()
	c.send(cmd)
	for {
		f := c.mustRead()
		if f.get("Content-Type") == "text/event-plain" {
			evs = append(evs, f)
			continue
		}
		return f, evs
	}
}

// until reads frames until one is an event named name (returns all read, the match last).
func (c *rawCtl) until(name string) []rawFrame {
	c.t.Helper()
	var out []rawFrame
	for {
		f := c.mustRead()
		out = append(out, f)
		if f.get("Content-Type") == "text/event-plain" && f.event()["Event-Name"] == name {
			return out
		}
	}
}

func socketDialplan(addr string, extra string) *Dialplan {
	return rigDialplan(addr, extra, `^(\d+)$`)
}

// rigDialplan is the dialplan of the rig that recorded the traces (FAILOPEN.md): public numbers
// matching dest go to the socket with extra actions before it and a fallback after it; context
// route bridges "bleg" to user/1001.
func rigDialplan(addr, extra, dest string) *Dialplan {
	return MustParseDialplan([]byte(fmt.Sprintf(`<include><context name="public">
  <extension name="rec"><condition field="destination_number" expression="%s">
    %s
    <action application="socket" data="%s async full"/>
    <action application="set" data="fallback_ran=true"/>
    <action application="answer"/>
    <action application="hangup"/>
  </condition></extension></context>
  <context name="route">
  <extension name="bleg"><condition field="destination_number" expression="^bleg$">
    <action application="set" data="route_ran=true"/>
    <action application="bridge" data="user/1001"/>
    <action application="set" data="route_after_bridge_ran=true"/>
    <action application="hangup"/>
  </condition></extension></context></include>`, dest, extra, addr)))
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustInbound(t testing.TB, fs *FS, spec CallSpec) *Call {
	t.Helper()
	c, err := fs.Inbound(ctx(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type netDialer struct{}

func (netDialer) dial(addr string) (net.Conn, error) {
	return net.DialTimeout("tcp", addr, time.Second)
}

func newReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }

// inboundCtl opens an authenticated raw inbound connection to fs.
func inboundCtl(t *testing.T, fs *FS, password string) *rawCtl {
	t.Helper()
	ctl := &rawCtl{t: t}
	nc, err := (&netDialer{}).dial(fs.InboundAddr())
	if err != nil {
		t.Fatal(err)
	}
	ctl.nc, ctl.r = nc, newReader(nc)
	t.Cleanup(func() { nc.Close() })
	if f := ctl.mustRead(); f.get("Content-Type") != "auth/request" {
		t.Fatalf("greeting %q", f.raw)
	}
	if f, _ := ctl.cmd("auth " + password); f.get("Reply-Text") != "+OK accepted" {
		t.Fatalf("auth: %q", f.raw)
	}
	return ctl
}
