package fstest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
)

// ---- DTMF (REFERENCE.md §3) ----------------------------------------------------------------

type binding struct {
	realm, digits string
	re            *regexp.Regexp
	str, value    string
}

// SendDTMF sends RFC 2833 digits from this leg's far end. Each digit is dequeued — and
// its DTMF event fired — only while something reads the channel (park, bridge, an app);
// until then it waits in the queue, as in switch_channel_dequeue_dtmf.
func (l *Leg) SendDTMF(digits string) {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	for _, d := range digits {
		l.dtmfQ = append(l.dtmfQ, string(d))
	}
	l.flushDTMFLocked()
}

func (l *Leg) readingLocked() bool {
	if l.hungup {
		return false
	}
	return l.parked || l.peer != nil
}

func (l *Leg) flushDTMFLocked() {
	if l.collecting { // an application reads them (play_and_get_digits)
		l.cond.Broadcast()
		return
	}
	if !l.readingLocked() {
		return
	}
	q := l.dtmfQ
	l.dtmfQ = nil
	for _, d := range q {
		l.processDigitLocked(d, "RTP")
	}
}

func (l *Leg) activeBindings() []binding {
	var out []binding
	for _, b := range l.bindings {
		if l.bindRealm == "" || b.realm == l.bindRealm {
			out = append(out, b)
		}
	}
	return out
}

// processDigitLocked runs a digit through bind_digit_action's dmachine, then fires it and
// passes it to the partner.
func (l *Leg) processDigitLocked(d, source string) {
	if bs := l.activeBindings(); len(bs) > 0 && source == "RTP" {
		l.dmBuf += d
		prefix := false
		for _, b := range bs {
			if (b.re != nil && b.re.MatchString(l.dmBuf)) || (b.re == nil && b.digits == l.dmBuf) {
				l.digitMatchLocked(b, l.dmBuf)
				l.dmBuf = ""
				return
			}
			if b.re == nil && strings.HasPrefix(b.digits, l.dmBuf) {
				prefix = true
			}
		}
		if prefix {
			return // swallowed, waiting for more digits
		}
		buf := l.dmBuf
		l.dmBuf = ""
		for _, x := range buf {
			l.deliverDigitLocked(string(x), "APP") // re-queued, REFERENCE.md §9
		}
		return
	}
	l.deliverDigitLocked(d, source)
}

// dtmfEvent is the DTMF event switch_channel_dequeue_dtmf fires for digit d.
func (l *Leg) dtmfEvent(d, source string) *Event {
	ev := l.chanEvent("DTMF", "switch_channel.c", "switch_channel_dequeue_dtmf", 677)
	ev.add("DTMF-Digit", d)
	ev.add("DTMF-Duration", "2000")
	ev.add("DTMF-Source", source)
	return ev
}

func (l *Leg) deliverDigitLocked(d, source string) {
	ev := l.dtmfEvent(d, source)
	if c := l.diverter(); c != nil {
		c.deliverLocked(ev)
	} else {
		l.fireLocked(ev)
	}
	if l.peer != nil {
		l.peer.heardDigits = append(l.peer.heardDigits, d)
	}
}

func (l *Leg) diverter() *conn {
	for _, c := range l.controllers {
		if c.divert && !c.gone && c.connected && !c.shut {
			return c
		}
	}
	return nil
}

func (l *Leg) digitMatchLocked(b binding, digits string) {
	l.vars.set("last_matching_digits", digits)
	ev := &Event{}
	ev.add(b.str, b.value)
	ev.add("digits", digits)
	if strings.HasPrefix(b.str, "exec:") {
		ev.add("execute", "non-blocking")
	}
	switch {
	case l.diverter() != nil:
		l.diverter().deliverLocked(ev)
	case l.parked && l.peer == nil:
		for _, c := range l.fs.sortedConns() {
			if c.all || c.events["CHANNEL_DATA"] {
				c.deliverLocked(ev)
			}
		}
	}
	if app, ok := strings.CutPrefix(b.str, "exec:"); ok {
		name, arg, _ := strings.Cut(app, " ")
		if b.value != "" && arg == "" {
			arg = b.value
		}
		// exec: broadcasts the app: it runs from the leg's reading loop (park or bridge).
		l.queuePrivLocked(&packet{Command: "sendmsg", Headers: []Header{{"call-command", "execute"},
			{"execute-app-name", name}, {"execute-app-arg", arg}}})
	} else if cmd, ok := strings.CutPrefix(b.str, "api:"); ok {
		l.vars.set("bind_digit_action_api_result", l.fs.apiLocked(nil, strings.TrimSpace(cmd+" "+b.value)))
	}
}

// bind_digit_action <realm>,<digits|~regex>,<string>[,<value>]…
func (l *Leg) bindDigitActionLocked(data string) {
	f := strings.Split(data, ",")
	if len(f) < 3 {
		return
	}
	b := binding{realm: f[0], digits: f[1], str: f[2]}
	if len(f) > 3 {
		b.value = f[3]
	}
	if strings.HasPrefix(b.digits, "~") {
		re, err := regexp.Compile("^(?:" + b.digits[1:] + ")$")
		if err != nil {
			return
		}
		b.re = re
	}
	l.bindings = append(l.bindings, b)
	if l.bindRealm == "" {
		l.bindRealm = b.realm
	}
}

// ---- SIP INFO Record: (REFERENCE.md §4) ---------------------------------------------------

// SendInfoRecord is the phone sending SIP INFO with `Record: on` (on) or `Record: off`.
// It returns the SIP status and reason the stand-in answered (200 "OK" — also when the
// recording could not start, as mod_sofia does — or 488 with "Recording not enabled",
// "Recording disabled for this channel", "Nothing to stop").
func (l *Leg) SendInfoRecord(on bool) (int, string) {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.hungup {
		return 481, "Call Does Not Exist"
	}
	status, reason := 200, "OK"
	switch {
	case l.profile.RecordTemplate == "":
		status, reason = 488, "Recording not enabled"
	case on && isTrue(l.vars.get("sip_disable_recording")):
		status, reason = 488, "Recording disabled for this channel"
	case on:
		dir := l.profile.RecordPath
		if dir == "" {
			dir = l.vars.get("recordings_dir")
		}
		// sofia.c sofia_handle_sip_i_info (~10192–10201): record-path (or ${recordings_dir}),
		// "/", the template, expanded; switch_ivr_record_session's result is not checked (200
		// either way) and sofia_record_file keeps the path as given, so with a relative
		// record-path the file lands under sound_prefix / the base dir and `off` stops nothing.
		path := l.expandLocked(dir + "/" + l.profile.RecordTemplate)
		_, _ = l.startRecordingLocked(path)
		l.vars.set("sofia_record_file", path)
	default:
		f := l.vars.get("sofia_record_file")
		if f == "" {
			status, reason = 488, "Nothing to stop"
		} else {
			l.stopRecordingByPathLocked(f)
		}
	}
	ev := l.fs.newEventLocked("RECV_INFO", "sofia.c", "create_info_event", 9721)
	for _, h := range [][2]string{{"SIP-From-User", l.vars.get("sip_from_user")}, {"SIP-From-Host", l.vars.get("sip_from_host")},
		{"SIP-To-User", l.vars.get("sip_to_user")}, {"SIP-To-Host", l.vars.get("sip_to_host")},
		{"SIP-Contact-User", l.vars.get("sip_contact_user")}, {"SIP-Contact-Host", l.vars.get("sip_contact_host")}} {
		ev.add(h[0], h[1])
	}
	l.addChannelData(ev, "Caller-", false)
	l.fireLocked(ev)
	return status, reason
}

// ---- REFER (REFERENCE.md §5) ---------------------------------------------------------------

type blindXfer struct {
	transferor *Leg
	refer      *Refer
	done       bool
}

// Refer is what the transferring phone saw for its REFER.
type Refer struct {
	// Status is the answer to the REFER itself: 202, or 403 with disable-transfer.
	Status int
	notify chan int
}

// WaitNotify waits for the NOTIFY sipfrag status (200 or 403). Errors when ctx ends first
// or the REFER was not accepted.
func (r *Refer) WaitNotify(ctx context.Context) (int, error) {
	if r.notify == nil {
		return 0, fmt.Errorf("fstest: REFER answered %d, no NOTIFY", r.Status)
	}
	select {
	case s := <-r.notify:
		r.notify <- s
		return s, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("fstest: waiting for NOTIFY: %w", ctx.Err())
	}
}

func (l *Leg) customEvent(sub, fn string, line int, extra ...Header) *Event {
	ev := l.fs.newEventLocked("CUSTOM", "sofia.c", fn, line)
	ev.Headers = append([]Header{{"Event-Subclass", sub}}, ev.Headers...)
	ev.Headers = append(ev.Headers, extra...)
	l.addChannelData(ev, "Caller-", true)
	return ev
}

// BlindTransfer is this leg's phone sending REFER to dest (sofia_handle_sip_i_refer, blind
// path): the partner (signal_bond) is transferred to dest in force_transfer_context or its
// own context. With confirm_blind_transfer on this leg (or the profile), the NOTIFY waits
// for the transferee's outcome and a failure re-joins the two parties through intercept.
// The phone does not hang up by itself: call Hangup after the NOTIFY if the test wants it.
func (l *Leg) BlindTransfer(dest string) *Refer {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.profile.DisableTransfer || l.hungup {
		return &Refer{Status: 403}
	}
	r := &Refer{Status: 202, notify: make(chan int, 1)}
	referTo := fmt.Sprintf("<sip:%s@127.0.0.1>", dest)
	l.vars.set("transfer_disposition", "recv_replace")
	b := l.peer
	if b == nil {
		l.vars.set("transfer_to", "blind:"+dest)
		l.vars.set("transfer_destination", "blind:"+dest)
		l.fireLocked(l.customEvent("sofia::error", "sofia_handle_sip_i_refer", 9686,
			Header{"Error-Type", "blind_transfer"}, Header{"Transfer-Exten", dest}, Header{"Full-Refer-To", referTo}))
		r.notify <- 403
		return r
	}
	l.vars.set("transfer_to", "blind:"+b.uuid)
	l.vars.set("transfer_destination", "blind:"+dest)
	l.vars.set("transfer_fallback_extension", l.cp.CIDNum)
	l.vars.set("endpoint_disposition", "BLIND_TRANSFER")
	b.vars.set("sip_h_Referred-By", fmt.Sprintf("<sip:%s@%s>", l.cp.CIDNum, l.cp.Network))
	b.vars.set("sip_refer_to", referTo)
	if l.profile.FireTransferEvents {
		l.fireLocked(l.customEvent("sofia::transferor", "sofia_handle_sip_i_refer", 9670))
		l.fireLocked(b.customEvent("sofia::transferee", "sofia_handle_sip_i_refer", 9675))
	}
	confirm := isTrue(l.vars.get("confirm_blind_transfer")) || l.profile.ConfirmBlindTransfer
	if confirm {
		b.xferCtx = &blindXfer{transferor: l, refer: r}
		b.vars.set("blind_transfer_uuid", l.uuid)
		l.vars.set("blind_transfer_uuid", b.uuid)
		l.vars.set("park_timeout", "600:blind_transfer")
		l.xferParked = true // the transferor leaves its applications and waits in CS_PARK
	} else {
		r.notify <- 200
	}
	ctx := b.vars.get("force_transfer_context")
	b.transferLocked(&transferReq{dest: dest, context: ctx, kind: "bl_xfer"})
	if confirm && !l.hungup {
		// traces/refer-bridged-confirm-nack leg a: CHANNEL_UNBRIDGE, the running applications
		// complete (bridge, then the socket app's UNPARK and completion), then CS_PARK and
		// CHANNEL_PARK from the state machine. A leg with no dialplan thread (an originated
		// B-leg) gets one to park in.
		if !l.hasExec {
			l.startExecLocked()
		}
		l.cond.Broadcast()
	}
	return r
}

// blindTransferResultLocked is BLIND_TRANSFER_RESPONSE on a transferee in confirm mode, as every
// sender of it does (switch_ivr_blind_transfer_ack, switch_ivr.c ~4410): the confirm flag is
// cleared, then NOTIFY 200, or NOTIFY 403 and the transferor intercepts the transferee back
// (mod_sofia.c ~1447-1502). It does not park the transferee: only the end of its extension
// does that (switch_core_state_machine.c ~362-378, see failedAtExtensionEndLocked).
func (l *Leg) blindTransferResultLocked(ok bool) {
	x := l.xferCtx
	if x == nil || x.done {
		return
	}
	x.done = true
	l.xferCtx = nil
	t := x.transferor
	if ok {
		x.refer.notify <- 200 // the transferor stays parked until its phone hangs up
		return
	}
	x.refer.notify <- 403
	if t.hungup {
		return
	}
	// mod_sofia.c ~1500: switch_ivr_session_transfer(transferor, "intercept:<transferee>",
	// "inline"). The transferor's own thread leaves CS_PARK, routes and runs the intercept: that
	// takes a while (a real switch's log: more than 20 ms), during which the transferee goes on
	// with its extension. The capture shows no CS_PARK on leg b: its socket app ends, then
	// CS_HIBERNATE from the intercept's uuid_bridge.
	l.fs.laterLocked(l.fs.interceptDelay(), func() {
		if t.hungup {
			return
		}
		t.applyTransferLocked(&transferReq{dest: "intercept:" + l.uuid, dialplan: "inline", kind: "bl_xfer"})
		t.inline = append(t.inline, Action{App: "intercept", Data: l.uuid})
		if !t.hasExec {
			t.startExecLocked()
		}
		t.cond.Broadcast()
	})
}

// failedAtExtensionEndLocked is switch_core_standard_on_execute (switch_core_state_machine.c
// ~362-378) when a transferee's extension runs out: while the confirm flag is still set and the
// transferor exists, the blind transfer fails (NOTIFY 403, intercept) and the transferee is put
// in CS_PARK (park_timeout=10:blind_transfer), where the intercept finds it. It reports whether
// the transferee parks; false means the caller hangs it up ("has executed the last dialplan
// instruction", NORMAL_CLEARING, :382) — as after `blind_transfer_ack false`, which cleared the
// flag, unless the intercept has already taken the leg.
func (l *Leg) failedAtExtensionEndLocked() bool {
	x := l.xferCtx
	if x == nil || x.done {
		return false
	}
	if x.transferor.hungup {
		// switch_core_session_locate finds no transferor: no response, no park.
		return false
	}
	l.blindTransferResultLocked(false)
	l.vars.set("park_timeout", "10:blind_transfer")
	l.parkPending = true
	l.cond.Broadcast()
	return true
}

// AttendedTransfer is the phone of leg a completing an attended transfer to its consult
// leg b (REFER with Replaces): the two far ends are bridged (a's partner as originator),
// a and b are hung up with endpoint_disposition ATTENDED_TRANSFER. Errors when a leg has
// no partner.
func (fs *FS) AttendedTransfer(a, b *Leg) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	p1, p2 := a.peer, b.peer
	if p1 == nil || p2 == nil {
		return fmt.Errorf("fstest: attended transfer needs both legs bridged")
	}
	for _, x := range []*Leg{a, b} {
		x.vars.set("endpoint_disposition", "ATTENDED_TRANSFER")
	}
	if a.profile.FireTransferEvents {
		a.fireLocked(a.customEvent("sofia::transferor", "sofia_handle_sip_i_refer", 9211,
			Header{"att_xfer_original_call_id", a.uuid}, Header{"att_xfer_destination_call_id", b.uuid},
			Header{"att_xfer_destination_peer_uuid", p2.uuid}))
		p1.fireLocked(p1.customEvent("sofia::transferee", "sofia_handle_sip_i_refer", 9220,
			Header{"att_xfer_replaced_call_id", b.uuid}))
		b.fireLocked(b.customEvent("sofia::replaced", "sofia_handle_sip_i_refer", 9230,
			Header{"att_xfer_replaced_by", a.uuid}))
	}
	fs.uuidBridgeLocked(p1, p2)
	a.hangupLocked("NORMAL_CLEARING")
	b.hangupLocked("NORMAL_CLEARING")
	return nil
}

// uuidBridgeLocked joins x (originator) and y, taking both off their dialplans.
func (fs *FS) uuidBridgeLocked(x, y *Leg) {
	for _, l := range []*Leg{x, y} {
		l.noExec = true
		l.parked = false
		if l.peer != nil && l.peer != x && l.peer != y {
			l.unbridgeLocked()
		}
		l.cond.Broadcast()
	}
	if x.peer == y {
		return
	}
	x.answerLocked()
	y.answerLocked()
	x.bridgeLocked(y)
}
