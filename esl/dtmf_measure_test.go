package esl

import (
	"bufio"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrec/callrec/esl/fstest"
)

// TestDTMFMechanisms_Measure compares, on the stand-in, the two ways of catching the on-demand
// code during a bridged call (issue 6): DTMF events matched by callrec, and bind_digit_action
// matched by FreeSWITCH with divert_events. It prints what each costs the controller (frames and
// bytes per digit the user types) and the latency from the user's last digit to the controller
// seeing the match, and pins the behavioural difference: bind_digit_action swallows the code,
// DTMF events let it reach the far end. README.md "DTMF" records the choice.
func TestDTMFMechanisms_Measure(t *testing.T) {
	for _, mech := range []string{"events", "bind_digit_action"} {
		t.Run(mech, func(t *testing.T) {
			ctl := newRawController(t, mech)
			fs := fstest.Start(t, fstest.Options{
				Dialplan: fstest.MustParseDialplan([]byte(`<include><context name="public">
<extension name="in"><condition field="destination_number" expression="^(.+)$">
<action application="socket" data="` + ctl.addr + ` async full"/></condition></extension>
</context></include>`)),
				Phones: map[string]fstest.Phone{"1001": {ToneHz: tone1001}},
			})
			ctx := ctxT(t, 20*time.Second)
			call, err := fs.Inbound(ctx, fstestSpec("+34600111222", "+34911234567"))
			must(t, err)
			b, err := call.WaitLeg(ctx, "1001")
			must(t, err)
			must(t, b.WaitAnswer(ctx))
			waitFor(t, func() bool { return ctl.ready.Load() }, "controller bound to the user's leg")

			// The user talks to an IVR-ish far end: 30 ordinary digits, then the code.
			ordinary := strings.Repeat("123456789#", 3)
			framesBefore, bytesBefore := ctl.frames.Load(), ctl.bytes.Load()
			b.SendDTMF(ordinary)
			waitFor(t, func() bool { return len(call.A.HeardDigits()) >= len(ordinary) }, "ordinary digits reach the caller")
			time.Sleep(50 * time.Millisecond)
			perDigitFrames := float64(ctl.frames.Load()-framesBefore) / float64(len(ordinary))
			perDigitBytes := float64(ctl.bytes.Load()-bytesBefore) / float64(len(ordinary))

			start := time.Now()
			b.SendDTMF("*7")
			matched := "never (within 1 s)"
			select {
			case <-ctl.matched:
				matched = time.Since(start).Round(10 * time.Microsecond).String()
			case <-time.After(time.Second):
			}
			time.Sleep(50 * time.Millisecond)
			heard := strings.Contains(call.A.HeardDigits(), "*7")
			t.Logf("%s: %.2f frames and %.0f bytes reach the controller per ordinary digit; the controller saw the match: %s; the far end heard the code: %v",
				mech, perDigitFrames, perDigitBytes, matched, heard)
			switch mech {
			case "events":
				if matched == "never (within 1 s)" || !heard {
					t.Error("DTMF events: the code must be matched and still reach the far end")
				}
			case "bind_digit_action":
				// FreeSWITCH matches and swallows the code, but the match is a CHANNEL_DATA event
				// queued to the user's own leg: during a bridge only divert_events on *that* leg's
				// connection would deliver it, and the bridge loop destroys it (REFERENCE.md §1.4).
				// The user's leg is not the controlled one on inbound calls, so callrec would
				// never see the request.
				if heard || matched != "never (within 1 s)" {
					t.Errorf("bind_digit_action on the bridged user leg: swallowed=%v, match delivered=%s", !heard, matched)
				}
			}
		})
	}
}

// rawController is a minimal outbound-socket controller speaking the wire protocol directly, so
// the bytes it receives can be counted.
type rawController struct {
	addr          string
	frames, bytes atomic.Int64
	ready         atomic.Bool
	matched       chan struct{}
}

func newRawController(t *testing.T, mech string) *rawController {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	rc := &rawController{addr: ln.Addr().String(), matched: make(chan struct{}, 1)}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := textproto.NewReader(bufio.NewReader(c))
		send := func(s string) { fmt.Fprintf(c, "%s\n\n", s) }
		read := func() (textproto.MIMEHeader, string, error) {
			h, err := r.ReadMIMEHeader()
			if err != nil {
				return nil, "", err
			}
			n, _ := strconv.Atoi(h.Get("Content-Length"))
			body := make([]byte, n)
			if _, err := ioReadFull(r, body); err != nil {
				return nil, "", err
			}
			rc.frames.Add(1)
			size := n
			for k, vs := range h {
				for _, v := range vs {
					size += len(k) + len(v) + 3
				}
			}
			rc.bytes.Add(int64(size))
			return h, string(body), nil
		}
		send("connect")
		h, _, err := read()
		if err != nil {
			return
		}
		a := h.Get("Unique-Id")
		send("filter Unique-ID " + a)
		send("event plain CHANNEL_BRIDGE DTMF")
		fmt.Fprintf(c, "sendmsg %s\ncall-command: execute\nexecute-app-name: bridge\nexecute-app-arg: user/1001\n\n", a)
		var matcherBuf string
		bound := false
		for {
			h, body, err := read()
			if err != nil {
				return
			}
			if h.Get("Content-Type") != "text/event-plain" {
				continue
			}
			ev, _ := textproto.NewReader(bufio.NewReader(strings.NewReader(body))).ReadMIMEHeader()
			switch {
			case ev.Get("Event-Name") == "CHANNEL_BRIDGE" && !bound:
				bound = true
				peer := ev.Get("Bridge-B-Unique-Id")
				if mech == "events" {
					send("filter Unique-ID " + peer)
				} else {
					send("divert_events on")
					fmt.Fprintf(c, "sendmsg %s\ncall-command: execute\nexecute-app-name: bind_digit_action\nexecute-app-arg: callrec,*7,exec:log,self\n\n", peer)
				}
				rc.ready.Store(true)
			case ev.Get("Event-Name") == "DTMF" && mech == "events":
				d, _ := urlDecode(ev.Get("Dtmf-Digit"))
				matcherBuf += d
				if strings.HasSuffix(matcherBuf, "*7") {
					rc.matched <- struct{}{}
				}
			case ev.Get("Digits") == "*7":
				rc.matched <- struct{}{}
			}
		}
	}()
	return rc
}

func ioReadFull(r *textproto.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.R.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func urlDecode(s string) (string, error) { return url.PathUnescape(s) }
