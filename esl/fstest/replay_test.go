package fstest

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const tracesDir = "../../../shared/freeswitch/traces"

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
		t.Skip("trace not available:", err)
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

// TestReplay_TracesFromRealFreeSWITCH sends a capture's commands to the stand-in, with the
// far end's actions (DTMF, INFO, BYE) re-enacted, and compares every frame: envelope header
// names and order, reply texts, api bodies, event names, and the structural headers of each
// event in order, and the value encoding. The linger notice's place relative to the
// hangup events is a race on a real FreeSWITCH (FAILOPEN.md §2.1) and is not compared.
func TestReplay_TracesFromRealFreeSWITCH(t *testing.T) {
	for _, name := range []string{"basic-outbound-leg-a.txt", "record-order-outbound-leg-a.txt",
		"basic-readonly-outbound-leg-a.txt", "dtmf-outbound-leg-a.txt", "info-outbound-leg-a.txt",
		"fo-exp6c-record-media-uas-stereo-outbound-leg-a.txt", "fo-exp7-filter-bleg-outbound-leg-a.txt",
		"fo-exp5a-close-midbridge-resume-false-outbound-leg-a.txt"} {
		t.Run(name, func(t *testing.T) { replay(t, name) })
	}
}

func replay(t *testing.T, name string) {
	steps := loadTrace(t, name)
	ctl := newRawCtl(t)
	rec := t.TempDir()
	fs := Start(t, Options{Dialplan: socketDialplan(ctl.addr(), resumeVars), Phones: map[string]Phone{"1001": {}},
		Profile: Profile{Name: "rig", RecordPath: rec, RecordTemplate: "sofia-info-${strftime(%Y%m%d-%H%M%S)}-${uuid}.wav"}})
	call := mustInbound(t, fs, CallSpec{From: "1000", FromName: "sipp 1000", To: "1000"})
	ctl.accept()
	realUUID, realB := "", ""
	var ourB *Leg
	lastSent := ""
	infoOn := true
	var wantTail, gotTail []string
	var stash []rawFrame
	for i, st := range steps {
		if st.sent {
			cmd := st.data
			if realUUID != "" {
				cmd = strings.ReplaceAll(cmd, realUUID, call.A.UUID())
			}
			if realB != "" {
				cmd = strings.ReplaceAll(cmd, realB, ourB.UUID())
			}
			cmd = strings.ReplaceAll(cmd, "/var/fs/rec", rec)
			lastSent = cmd
			ctl.send(cmd)
			continue
		}
		want := st.frame
		wantCT := want.get("Content-Type")
		isConnect := want.get("Event-Name") == "CHANNEL_DATA"
		if isConnect {
			realUUID = want.get("Unique-ID")
			wantCT = "connect"
		}
		if wantCT == "text/disconnect-notice" && want.get("Content-Disposition") == "linger" {
			wantTail = append(wantTail, "linger-notice")
			continue
		}
		if wantCT == "text/event-plain" {
			ev := want.event()
			switch ev["Event-Name"] {
			case "DTMF":
				if ev["Unique-ID"] == realB && ourB != nil {
					ourB.SendDTMF(ev["DTMF-Digit"])
				} else {
					call.A.SendDTMF(ev["DTMF-Digit"])
				}
			case "RECORD_START", "RECORD_STOP":
				if !strings.Contains(lastSent, "uuid_record") {
					call.A.SendInfoRecord(infoOn)
					infoOn = !infoOn
				}
			case "CHANNEL_HANGUP":
				if !strings.Contains(lastSent, "hangup") && ev["Unique-ID"] == realUUID {
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
				got = ctl.mustRead()
				if got.get("Content-Disposition") == "linger" {
					gotTail = append(gotTail, "linger-notice")
					continue
				}
				if wantCT != "text/event-plain" && got.get("Content-Type") == "text/event-plain" {
					stash = append(stash, got)
					continue
				}
				break
			}
		}
		where := name + " frame " + strconv.Itoa(i) + " (" + wantCT + " " + want.event()["Event-Name"] + ")"
		if g, w := strings.Join(headerNames(got.hdr), ","), strings.Join(headerNames(want.hdr), ","); g != w && !isConnect {
			t.Fatalf("%s: envelope %s, want %s", where, g, w)
		}
		switch wantCT {
		case "connect":
			if miss := missingInOrder(want.hdr, got.hdr); len(miss) > 0 {
				t.Errorf("%s: connect reply lacks or misorders %v", where, miss)
			}
			checkEncoding(t, where, got.hdr)
		case "command/reply":
			wt := strings.ReplaceAll(want.get("Reply-Text"), realUUID, call.A.UUID())
			if realB != "" {
				wt = strings.ReplaceAll(wt, realB, ourB.UUID())
			}
			if got.get("Reply-Text") != wt {
				t.Errorf("%s: Reply-Text %q, want %q", where, got.get("Reply-Text"), wt)
			}
		case "api/response":
			if got.body != want.body {
				t.Errorf("%s: body %q, want %q", where, got.body, want.body)
			}
		case "text/disconnect-notice":
			if got.body != want.body {
				t.Errorf("%s: body %q, want %q", where, got.body, want.body)
			}
		case "text/event-plain":
			we, ge := want.event(), got.event()
			if ge["Event-Name"] != we["Event-Name"] || ge["Application"] != we["Application"] || ge["Channel-State"] != we["Channel-State"] {
				t.Fatalf("%s: got %s/%s/%s, want %s/%s/%s", where, ge["Event-Name"], ge["Application"], ge["Channel-State"],
					we["Event-Name"], we["Application"], we["Channel-State"])
			}
			if we["Event-Name"] == "CHANNEL_BRIDGE" {
				realB = we["Bridge-B-Unique-ID"]
				ourB = fs.Leg(ge["Bridge-B-Unique-ID"])
			}
			wh, gh := bodyHeaders(want.body), bodyHeaders(got.body)
			if miss := missingInOrder(wh, gh); len(miss) > 0 {
				t.Errorf("%s: lacks or misorders %v", where, miss)
			}
			checkEncoding(t, where, gh)
			if strings.Contains(want.body, "\nContent-Length: ") != strings.Contains(got.body, "\nContent-Length: ") {
				t.Errorf("%s: inner body presence differs", where)
			}
		}
	}
	if len(wantTail) != len(gotTail) {
		t.Errorf("linger notices: got %d, want %d", len(gotTail), len(wantTail))
	}
}
