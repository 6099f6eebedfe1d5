package fstest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// tracesDir holds the real FreeSWITCH 1.10.12 captures the stand-in is checked against (copied
// into the repository: the test must not depend on anything outside it).
const tracesDir = "testdata/traces"

type traceStep struct {
	sent  bool
	data  string   // SENT: the command bytes
	frame rawFrame // RECV: one frame
}

var traceBlock = regexp.MustCompile(`(?m)^=== (>>>|<<<) .*? (\d+) bytes\n`)

// loadTrace splits a capture into commands and FreeSWITCH frames (RECV blocks are reads,
// not frames, so they are re-framed here).
func loadTrace(t *testing.T, name string) []traceStep {
	data, err := os.ReadFile(filepath.Join(tracesDir, name))
	if err != nil {
		t.Fatal("trace missing from testdata:", err)
	}
	var steps []traceStep
	var recv []byte
	pos := 0
	for {
		m := traceBlock.FindSubmatchIndex(data[pos:])
		if m == nil {
			break
		}
		n, _ := strconv.Atoi(string(data[pos+m[4] : pos+m[5]]))
		body := data[pos+m[1] : pos+m[1]+n]
		dir := string(data[pos+m[2] : pos+m[3]])
		pos += m[1] + n
		if dir == ">>>" {
			steps = append(steps, traceStep{sent: true, data: string(body)})
			continue
		}
		recv = append(recv, body...)
		for {
			f, rest, ok := splitFrame(recv)
			if !ok {
				break
			}
			recv = rest
			steps = append(steps, traceStep{frame: f})
		}
	}
	return steps
}

func splitFrame(b []byte) (rawFrame, []byte, bool) {
	b = bytes.TrimLeft(b, "\n")
	i := bytes.Index(b, []byte("\n\n"))
	if i < 0 {
		return rawFrame{}, b, false
	}
	var f rawFrame
	for _, l := range strings.Split(string(b[:i]), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		f.hdr = append(f.hdr, Header{k, v})
	}
	rest := b[i+2:]
	if cl := f.get("Content-Length"); cl != "" {
		n, _ := strconv.Atoi(cl)
		if len(rest) < n {
			return rawFrame{}, b, false
		}
		f.body = string(rest[:n])
		rest = rest[n:]
	}
	f.raw = string(b[:len(b)-len(rest)])
	return f, rest, true
}

func headerNames(h []Header) []string {
	out := make([]string, len(h))
	for i, x := range h {
		out[i] = x.Name
	}
	return out
}

func bodyHeaders(body string) []Header {
	head, _, _ := strings.Cut(body, "\n\n")
	var out []Header
	for _, l := range strings.Split(head, "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if ok {
			out = append(out, Header{k, v})
		}
	}
	return out
}

// structural says which headers of a real frame the stand-in must reproduce in order:
// everything but channel variables and the originate partner's profile (the stand-in's
// calls have other variable sets and partners than the rig's).
func structural(n string) bool {
	return !strings.HasPrefix(n, "variable_") && !strings.HasPrefix(n, "Other-Leg-") && n != "Other-Type" &&
		!strings.HasPrefix(n, "Caller-Callee-ID") && !strings.HasPrefix(n, "Channel-Callee-ID")
}

// missingInOrder returns the structural names of want that got lacks or has out of order.
func missingInOrder(want, got []Header) []string {
	var miss []string
	j := 0
	for _, w := range want {
		if !structural(w.Name) {
			continue
		}
		k := j
		for k < len(got) && got[k].Name != w.Name {
			k++
		}
		if k == len(got) {
			miss = append(miss, w.Name)
			continue
		}
		j = k + 1
	}
	return miss
}

// checkEncoding: every value must already be in switch_url_encode form.
func checkEncoding(t *testing.T, what string, h []Header) {
	for _, x := range h {
		dec, err := url.PathUnescape(x.Value)
		if err != nil {
			t.Errorf("%s: %s: bad encoding %q", what, x.Name, x.Value)
			continue
		}
		if URLEncode(dec) != x.Value && x.Value != "_undef_" {
			t.Errorf("%s: %s: %q is not encoded as FreeSWITCH would (%q)", what, x.Name, x.Value, URLEncode(dec))
		}
	}
}

// replayCase is one capture and the scenario that produced it (traces/README.md).
type replayCase struct {
	// capture is the base name: <capture>-outbound-leg-a.txt, and -leg-b.txt for the
	// transferee's own connection when the capture has one.
	capture string
	// profile is "rig" (record-template set) or "rig-norec" (none, fire-transfer-events).
	profile string
	// failopen is the fo-* dialplan: socket_resume=true and hangup_after_bridge=true before
	// the socket app; the others run `socket` alone.
	failopen bool
	// refer: the caller's phone sends a blind REFER to *1 where the capture shows its effect.
	refer bool
	// fsHangsUp: the controlled leg's hangup is FreeSWITCH's own, not the caller's BYE.
	fsHangsUp bool
	// connectTimeout shortens the 25 s connect timeout (the capture is compared, not the clock).
	connectTimeout time.Duration
	// info are the SIP answers to the phone's INFOs, from the capture's sip ladder.
	info []string
	// beforeBye runs just before the caller's BYE is re-enacted.
	beforeBye func(r *replayRun)
	// inbound is the capture of an inbound `event plain ALL` connection during the same
	// scenario: the stand-in's inbound listener must show the call's events in its order.
	inbound string
	// after checks what the README/FAILOPEN.md row states beyond the ESL frames.
	after func(t *testing.T, r *replayRun)
}

// replayExclusions are outbound captures the stand-in cannot replay, with the reason. Every
// *-outbound-leg-*.txt must be either replayed or listed here.
var replayExclusions = map[string]string{}

var replayCases = []replayCase{
	{capture: "basic", profile: "rig", failopen: true},
	{capture: "record-order", profile: "rig", failopen: true},
	{capture: "basic-readonly", profile: "rig", failopen: true},
	{capture: "dtmf", profile: "rig", failopen: true},
	{capture: "info", profile: "rig", info: []string{"200 OK", "200 OK"}, inbound: "info-inbound-ALL.txt"},
	{capture: "fo-exp6c-record-media-uas-stereo", profile: "rig", failopen: true},
	{capture: "fo-exp7-filter-bleg", profile: "rig", failopen: true},
	{capture: "fo-exp5a-close-midbridge-resume-false", profile: "rig", failopen: true},
	{capture: "info-norec", profile: "rig-norec",
		info: []string{"488 Recording not enabled", "488 Recording not enabled"}},
	{capture: "info-disabled", profile: "rig",
		info: []string{"488 Recording disabled for this channel", "488 Nothing to stop"}},
	{capture: "info-myevents-only", profile: "rig", info: []string{"200 OK", "200 OK"},
		beforeBye: func(r *replayRun) { r.sendInfo(true); r.sendInfo(false) }},
	{capture: "refer-1leg", profile: "rig", refer: true, after: wantNotify(403)},
	{capture: "refer-bridged", profile: "rig", refer: true, after: wantNotify(200)},
	// A refused confirmed blind transfer: leg b's `blind_transfer_ack false`, NOTIFY 403, the
	// transferor's intercept re-joins the parties (uuid_bridge path on both legs); leg b's
	// controller hangs B up and FreeSWITCH then hangs A up (its inline extension ran out).
	{capture: "refer-bridged-confirm-nack", profile: "rig", refer: true, fsHangsUp: true, after: wantNotify(403)},
	// refer-bridged-xferev-inbound-ALL.txt is not checked: the stand-in's B leg is created in
	// another order (CHANNEL_OUTGOING in CS_NONE first on the rig), and the rig's transfer
	// fires PRIVATE_COMMAND events the stand-in does not.
	{capture: "refer-bridged-xferev", profile: "rig-norec", refer: true, after: wantNotify(200)},
	{capture: "fo-exp2a-silent-resume", profile: "rig", failopen: true, connectTimeout: 200 * time.Millisecond,
		after: wantFallback(true)},
	{capture: "fo-exp3-connect-close", profile: "rig", failopen: true, after: wantFallback(true)},
	{capture: "fo-exp4b-transfer-linger-exit", profile: "rig", failopen: true, after: wantFallback(false)},
	{capture: "fo-exp5b-close-midbridge-resume-true", profile: "rig", failopen: true, after: wantStranded},
	{capture: "fo-exp6d-record-immediate-exit", profile: "rig", failopen: true, after: wantFallback(false)},
}

// wantNotify: the REFER's NOTIFY sipfrag carried status (sip ladder).
func wantNotify(status int) func(t *testing.T, r *replayRun) {
	return func(t *testing.T, r *replayRun) {
		r.mu.Lock()
		rf := r.refer
		r.mu.Unlock()
		if rf == nil {
			t.Fatal("no REFER was sent")
		}
		if rf.Status != 202 {
			t.Errorf("REFER answered %d, want 202", rf.Status)
		}
		if got, err := rf.WaitNotify(ctx(t)); err != nil || got != status {
			t.Errorf("NOTIFY %d (%v), want %d", got, err, status)
		}
	}
}

// wantFallback: whether the public dialplan's fallback after `socket` ran (FAILOPEN.md §1).
func wantFallback(ran bool) func(t *testing.T, r *replayRun) {
	return func(t *testing.T, r *replayRun) {
		a := r.call.A
		if ran {
			if _, err := a.WaitHangup(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		if got := a.Var("fallback_ran") == "true"; got != ran {
			t.Errorf("fallback ran: %v, want %v", got, ran)
		}
	}
}

// wantStranded is FAILOPEN.md exp5b: B gets BYE, A stays up in CS_RESET with no application.
func wantStranded(t *testing.T, r *replayRun) {
	var b *Leg
	for _, l := range r.call.Legs() {
		if l != r.call.A {
			b = l
		}
	}
	if b == nil {
		t.Fatal("no B leg")
	}
	if _, err := b.WaitHangup(ctx(t)); err != nil {
		t.Fatal(err)
	}
	s, err := r.call.A.WaitState(ctx(t), func(s LegState) bool { return s.Hungup || s.State == "CS_RESET" && s.App == "" })
	if err != nil || s.Hungup || s.App != "" {
		t.Errorf("A: %+v (%v), want up in CS_RESET with no application", s, err)
	}
	for _, v := range []string{"fallback_ran", "route_after_bridge_ran"} {
		if r.call.A.Var(v) != "" {
			t.Errorf("A: %s set: the stranded caller ran more dialplan", v)
		}
	}
}

// TestReplay_TracesFromRealFreeSWITCH sends a capture's commands to the stand-in, with the
// far end's actions (DTMF, INFO, REFER, BYE) re-enacted, and compares every frame: envelope
// header names and order, reply texts, api bodies, event names, and the structural headers of
// each event in order, and the value encoding; no frame may be left over. The linger notice's
// place relative to the hangup events is a race on a real FreeSWITCH (FAILOPEN.md §2.1) and is
// not compared. A transferee's capture (-leg-b) is replayed on the second connection at the
// same time as the transferor's.
func TestReplay_TracesFromRealFreeSWITCH(t *testing.T) {
	known := map[string]bool{}
	for _, tc := range replayCases {
		known[tc.capture] = true
		t.Run(tc.capture, func(t *testing.T) { replayScenario(t, tc) })
	}
	for name, why := range replayExclusions {
		known[name] = true
		t.Run(name, func(t *testing.T) { t.Skip("excluded: " + why) })
	}
	files, _ := filepath.Glob(filepath.Join(tracesDir, "*-outbound-leg-a.txt"))
	if len(files) == 0 {
		t.Skip("no traces")
	}
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), "-outbound-leg-a.txt")
		if !known[base] {
			t.Errorf("capture %s is neither replayed nor excluded with a reason", base)
		}
	}
}

// replayRun is the state shared by the connections of one replayed call.
type replayRun struct {
	t    *testing.T
	tc   replayCase
	fs   *FS
	call *Call
	rec  string
	ln   net.Listener

	mu      sync.Mutex
	uuids   map[string]string // real uuid -> stand-in uuid
	info    []string          // SIP answers the stand-in gave to the INFOs
	refer   *Refer
	legBErr chan error
}

func (r *replayRun) ours(real string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.uuids[real]
}

func (r *replayRun) learn(real, ours string) {
	if real == "" || ours == "" {
		return
	}
	r.mu.Lock()
	r.uuids[real] = ours
	r.mu.Unlock()
}

// mapText rewrites the rig's uuids and recording path to the stand-in's.
func (r *replayRun) mapText(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for real, ours := range r.uuids {
		s = strings.ReplaceAll(s, real, ours)
	}
	return strings.ReplaceAll(s, "/var/fs/rec", r.rec)
}

func replayDialplan(addr string, failopen bool) *Dialplan {
	extra := ""
	if failopen {
		extra = resumeVars
	}
	return rigDialplan(addr, extra, `^(\d+|\*1)$`)
}

func replayScenario(t *testing.T, tc replayCase) {
	stepsA := loadTrace(t, tc.capture+"-outbound-leg-a.txt")
	var stepsB []traceStep
	if _, err := os.Stat(filepath.Join(tracesDir, tc.capture+"-outbound-leg-b.txt")); err == nil {
		stepsB = loadTrace(t, tc.capture+"-outbound-leg-b.txt")
	}
	ctl := newRawCtl(t)
	rec := t.TempDir()
	fs := Start(t, Options{Dialplan: replayDialplan(ctl.addr(), tc.failopen), Phones: map[string]Phone{"1001": {}},
		ConnectTimeout: tc.connectTimeout, InboundPassword: "ClueCon",
		Profile:  Profile{Name: "rig", RecordPath: rec, RecordTemplate: "sofia-info-${strftime(%Y%m%d-%H%M%S)}-${uuid}.wav"},
		Profiles: []Profile{{Name: "rig-norec", RecordPath: rec, FireTransferEvents: true}}})
	var all *rawCtl
	if tc.inbound != "" {
		all = inboundAll(t, fs)
	}
	call := mustInbound(t, fs, CallSpec{From: "1000", FromName: "sipp 1000", To: "1000", Profile: tc.profile})
	r := &replayRun{t: t, tc: tc, fs: fs, call: call, rec: rec, ln: ctl.ln, uuids: map[string]string{}, legBErr: make(chan error, 1)}
	ctl.accept()
	err := r.replayConn(ctl.nc, ctl.r, "leg-a", stepsA, true, func() {
		if stepsB == nil {
			r.legBErr <- errors.New("the transfer made a second connection, but the capture has none")
			return
		}
		go func() { r.legBErr <- r.acceptAndReplay("leg-b", stepsB) }()
	})
	if err != nil {
		t.Fatal(err)
	}
	if stepsB != nil {
		select {
		case err := <-r.legBErr:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("leg-b: the transferee's connection never came")
		}
	}
	if tc.info != nil && strings.Join(r.info, ",") != strings.Join(tc.info, ",") {
		t.Errorf("SIP answers to INFO: got %q, want %q (sip ladder)", r.info, tc.info)
	}
	if tc.after != nil {
		tc.after(t, r)
	}
	if all != nil {
		checkInboundOrder(t, r, all, tc.inbound)
	}
}

// inboundAll opens an inbound connection with `event plain ALL`, as the rig's sniffer did.
func inboundAll(t *testing.T, fs *FS) *rawCtl {
	nc, err := net.Dial("tcp", fs.InboundAddr())
	if err != nil {
		t.Fatal(err)
	}
	c := &rawCtl{t: t, nc: nc, r: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	c.mustRead() // auth/request
	if f, _ := c.cmd("auth ClueCon"); f.get("Reply-Text") != "+OK accepted" {
		t.Fatal("inbound auth:", f.raw)
	}
	c.cmd("event plain ALL")
	return c
}

// inboundUnmodelled are events the rig's ALL stream carries that the stand-in does not
// fire (nothing in callrec uses them).
var inboundUnmodelled = map[string]bool{"CODEC": true, "CALL_UPDATE": true, "MEDIA_BUG_START": true,
	"MEDIA_BUG_STOP": true, "API": true, "PRESENCE_IN": true, "HEARTBEAT": true, "RE_SCHEDULE": true,
	"CHANNEL_CALLSTATE": true, "CALL_STATE": true, "RECV_RTCP_MESSAGE": true, "SEND_RTCP_MESSAGE": true,
	"CALL_SETUP_REQ": true, "CHANNEL_ORIGINATE": true, "CUSTOM sofia::notify_refer": true}

func eventKey(e map[string]string) string {
	k := e["Event-Name"]
	if e["Event-Subclass"] != "" {
		k += " " + e["Event-Subclass"]
	}
	return k
}

// checkInboundOrder compares the order of the call's events on the ALL connection with the
// capture's (events of the call's legs only; names in inboundUnmodelled left out).
func checkInboundOrder(t *testing.T, r *replayRun, all *rawCtl, capture string) {
	var want []string
	for _, st := range loadTrace(t, capture) {
		if st.sent || st.frame.get("Content-Type") != "text/event-plain" {
			continue
		}
		e := st.frame.event()
		if r.ours(e["Unique-ID"]) == "" || inboundUnmodelled[eventKey(e)] {
			continue
		}
		want = append(want, eventKey(e)+"/"+e["Channel-State"]+"/"+e["Application"])
	}
	ours := map[string]bool{}
	r.mu.Lock()
	for _, u := range r.uuids {
		ours[u] = true
	}
	r.mu.Unlock()
	var got []string
	destroyed := 0
	all.timeout = 2 * time.Second
	for destroyed < len(ours) {
		f, err := all.read()
		if err != nil {
			break
		}
		if f.get("Content-Type") != "text/event-plain" {
			continue
		}
		e := f.event()
		if !ours[e["Unique-ID"]] || inboundUnmodelled[eventKey(e)] {
			continue
		}
		if e["Event-Name"] == "CHANNEL_STATE" && e["Channel-State"] == "CS_DESTROY" {
			destroyed++
		}
		got = append(got, eventKey(e)+"/"+e["Channel-State"]+"/"+e["Application"])
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s: the call's events on the ALL connection differ:\n got: %v\nwant: %v", capture, got, want)
	}
}

func (r *replayRun) acceptAndReplay(name string, steps []traceStep) error {
	r.ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
	nc, err := r.ln.Accept()
	if err != nil {
		return fmt.Errorf("%s: accept: %w", name, err)
	}
	defer nc.Close()
	return r.replayConn(nc, newReader(nc), name, steps, false, nil)
}

// replayConn replays one connection's capture. On the controlled caller's connection
// (isA) the far end's actions are re-enacted when the capture shows their effect; onReferB
// runs when the REFER is sent.
func (r *replayRun) replayConn(nc net.Conn, br *bufio.Reader, name string, steps []traceStep, isA bool, onReferB func()) error {
	ctl := &rawCtl{t: r.t, nc: nc, r: br}
	call, fs := r.call, r.fs
	lastSent := ""
	infoOn, infoSeen := true, false
	referred := false
	var wantTail, gotTail []string
	var stash []rawFrame
	where := func(i int, what string) string {
		return fmt.Sprintf("%s %s frame %d (%s)", r.tc.capture, name, i, what)
	}
	lastWasGoodbye := false
	for i, st := range steps {
		if st.sent {
			lastSent = r.mapText(st.data)
			cmd := lastSent
			if !strings.HasSuffix(cmd, "\n\n") {
				cmd += "\n\n"
			}
			if _, err := nc.Write([]byte(cmd)); err != nil {
				return fmt.Errorf("%s: send: %w", where(i, "command"), err)
			}
			continue
		}
		want := st.frame
		wantCT := want.get("Content-Type")
		isConnect := want.get("Event-Name") == "CHANNEL_DATA"
		if isConnect {
			wantCT = "connect"
		}
		lastWasGoodbye = wantCT == "text/disconnect-notice" && want.get("Content-Disposition") == "disconnect"
		if wantCT == "text/disconnect-notice" && want.get("Content-Disposition") == "linger" {
			wantTail = append(wantTail, "linger-notice")
			continue
		}
		if wantCT == "text/event-plain" && isA {
			ev := want.event()
			switch ev["Event-Name"] {
			case "DTMF":
				if l := fs.Leg(r.ours(ev["Unique-ID"])); l != nil && l != call.A {
					l.SendDTMF(ev["DTMF-Digit"])
				} else {
					call.A.SendDTMF(ev["DTMF-Digit"])
				}
			case "RECORD_START", "RECORD_STOP":
				if !strings.Contains(lastSent, "uuid_record") {
					r.sendInfo(infoOn)
					infoOn, infoSeen = !infoOn, true
				}
			case "RECV_INFO":
				if infoSeen {
					infoSeen = false
				} else {
					r.sendInfo(infoOn)
					infoOn = !infoOn
				}
			case "CUSTOM", "CHANNEL_UNBRIDGE":
				if r.tc.refer && !referred {
					referred = true
					bridged := call.A.State().PeerUUID != ""
					rf := call.A.BlindTransfer("*1")
					r.mu.Lock()
					r.refer = rf
					r.mu.Unlock()
					if bridged && onReferB != nil {
						onReferB() // the transferee dials the controller at *1
					}
				}
			case "CHANNEL_HANGUP":
				if !r.tc.fsHangsUp && !strings.Contains(lastSent, "hangup") && r.ours(ev["Unique-ID"]) == call.A.UUID() {
					if r.tc.beforeBye != nil {
						r.tc.beforeBye(r)
					}
					call.A.Hangup("NORMAL_CLEARING")
				}
			}
		}
		// Events may overtake a command reply (timing, not protocol): stash them.
		var got rawFrame
		if wantCT == "text/event-plain" && len(stash) > 0 {
			got, stash = stash[0], stash[1:]
		} else {
			for {
				f, err := ctl.read()
				if err != nil {
					return fmt.Errorf("%s: read: %w", where(i, wantCT+" "+want.event()["Event-Name"]), err)
				}
				if f.get("Content-Disposition") == "linger" {
					gotTail = append(gotTail, "linger-notice")
					continue
				}
				if wantCT != "text/event-plain" && f.get("Content-Type") == "text/event-plain" {
					stash = append(stash, f)
					continue
				}
				got = f
				break
			}
		}
		w := where(i, wantCT+" "+want.event()["Event-Name"])
		if g, wn := strings.Join(headerNames(got.hdr), ","), strings.Join(headerNames(want.hdr), ","); g != wn && !isConnect {
			return fmt.Errorf("%s: envelope %s, want %s", w, g, wn)
		}
		switch wantCT {
		case "connect":
			r.learn(want.get("Unique-ID"), got.get("Unique-ID"))
			if miss := missingInOrder(want.hdr, got.hdr); len(miss) > 0 {
				r.t.Errorf("%s: connect reply lacks or misorders %v", w, miss)
			}
			checkEncoding(r.t, w, got.hdr)
		case "command/reply":
			if wt := r.mapText(want.get("Reply-Text")); got.get("Reply-Text") != wt {
				r.t.Errorf("%s: Reply-Text %q, want %q", w, got.get("Reply-Text"), wt)
			}
		case "api/response", "text/disconnect-notice":
			if got.body != want.body {
				r.t.Errorf("%s: body %q, want %q", w, got.body, want.body)
			}
		case "text/event-plain":
			we, ge := want.event(), got.event()
			if ge["Event-Name"] != we["Event-Name"] || ge["Event-Subclass"] != we["Event-Subclass"] ||
				ge["Application"] != we["Application"] || ge["Channel-State"] != we["Channel-State"] {
				return fmt.Errorf("%s: got %s%s/%s/%s, want %s%s/%s/%s", w, ge["Event-Name"], ge["Event-Subclass"], ge["Application"],
					ge["Channel-State"], we["Event-Name"], we["Event-Subclass"], we["Application"], we["Channel-State"])
			}
			if we["Event-Name"] == "CHANNEL_BRIDGE" {
				r.learn(we["Bridge-B-Unique-ID"], ge["Bridge-B-Unique-ID"])
			}
			wh, gh := bodyHeaders(want.body), bodyHeaders(got.body)
			if miss := missingInOrder(wh, gh); len(miss) > 0 {
				r.t.Errorf("%s: lacks or misorders %v", w, miss)
			}
			checkEncoding(r.t, w, gh)
			if strings.Contains(want.body, "\nContent-Length: ") != strings.Contains(got.body, "\nContent-Length: ") {
				r.t.Errorf("%s: inner body presence differs", w)
			}
		}
	}
	if len(wantTail) != len(gotTail) {
		r.t.Errorf("%s %s: linger notices: got %d, want %d", r.tc.capture, name, len(gotTail), len(wantTail))
	}
	var extra []string
	for _, f := range stash {
		extra = append(extra, f.event()["Event-Name"])
	}
	if lastWasGoodbye {
		// FreeSWITCH closed the socket after the goodbye: nothing may follow.
		for {
			f, err := ctl.read()
			if err != nil {
				if !errors.Is(err, io.EOF) && !isClosedErr(err) {
					extra = append(extra, "(no close: "+err.Error()+")")
				}
				break
			}
			extra = append(extra, f.get("Content-Type")+" "+f.event()["Event-Name"])
		}
	} else {
		// The controller of the capture closed the socket here.
		nc.Close()
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("%s %s: frames the real FreeSWITCH did not send: %v", r.tc.capture, name, extra)
	}
	return nil
}

func (r *replayRun) sendInfo(on bool) {
	code, reason := r.call.A.SendInfoRecord(on)
	r.mu.Lock()
	r.info = append(r.info, fmt.Sprintf("%d %s", code, reason))
	r.mu.Unlock()
}

func isClosedErr(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}
