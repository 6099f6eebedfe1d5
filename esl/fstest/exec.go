package fstest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

type appFrame struct{ app, data, uuid string }

// run is the leg's state machine: route, execute, repeat on transfer (switch_core_state_machine).
func (l *Leg) run() {
	defer l.fs.wg.Done()
	fs := l.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if l.state == "CS_NEW" {
		l.setStateLocked("CS_INIT")
	}
	for {
		if l.hungup {
			return
		}
		if l.ub != nil {
			l.runUUIDBridgeLocked()
			continue
		}
		if l.xferParked || l.parkPending {
			l.stateParkLocked()
			continue
		}
		var acts []Action
		if len(l.inline) > 0 {
			// switch_ivr_session_transfer(…, "inline"): routed again, to the given apps.
			acts, l.inline = l.inline, nil
			l.noExec, l.stranded = false, false
			l.setStateLocked("CS_ROUTING")
			// The inline dialplan puts the destination back (traces/refer-bridged-confirm-nack
			// leg a: Caller-Destination-Number intercept:<uuid> in CS_ROUTING, 1000 again after).
			l.cp.Dest, l.cp.RDNIS = l.cp.RDNIS, ""
		} else {
			if l.transfer == nil && (l.noExec || l.stranded) {
				l.cond.Wait()
				continue
			}
			if t := l.transfer; t != nil {
				l.transfer = nil
				l.noExec, l.stranded = false, false
				if !l.applyTransferLocked(t) {
					return // max_forwards exhausted: hung up
				}
			}
			l.setStateLocked("CS_ROUTING")
			acts = fs.dialplan.Hunt(l.cp.Context, l.fieldLocked, func(a Action) { l.runInlineLocked(a) })
			if len(acts) == 0 {
				if x := l.xferCtx; x != nil && !x.done && !x.transferor.hungup {
					// switch_core_standard_on_routing (switch_core_state_machine.c ~305): no
					// route, but switch_ivr_blind_transfer_ack(false) reached the transferor, so
					// no hangup: the leg stays in CS_ROUTING until the intercept takes it.
					l.blindTransferResultLocked(false)
					for !l.hungup && l.ub == nil && l.transfer == nil && len(l.inline) == 0 {
						l.cond.Wait()
					}
					continue
				}
				l.hangupLocked("NO_ROUTE_DESTINATION")
				return
			}
		}
		l.setStateLocked("CS_EXECUTE")
		for _, a := range acts {
			if l.hungup || l.leavingLocked() || l.parkPending || len(l.inline) > 0 {
				break
			}
			l.execLocked(a.App, a.Data, "")
		}
		if l.hungup {
			return
		}
		if l.leavingLocked() || l.parkPending || len(l.inline) > 0 {
			continue
		}
		// switch_core_standard_on_execute: the dialplan ran out in CS_EXECUTE. A transferee
		// still in confirm mode fails the transfer and parks; any other leg is hung up
		// (switch_core_state_machine.c ~362-382).
		if l.failedAtExtensionEndLocked() {
			continue
		}
		l.hangupLocked("NORMAL_CLEARING")
		return
	}
}

// stateParkLocked is CS_PARK entered by the state machine (a confirmed blind transfer's
// transferor, a refused transferee): CHANNEL_STATE CS_PARK, CHANNEL_PARK, queued sendmsgs run,
// until an inline transfer (the intercept), a transfer, a uuid_bridge or the hangup.
func (l *Leg) stateParkLocked() {
	l.setStateLocked("CS_PARK")
	l.parkLoopLocked(func() bool { return false })
	if !l.hungup {
		l.xferParked, l.parkPending = false, false
	}
}

// runUUIDBridgeLocked is the uuid_bridge state path as traces/refer-bridged-confirm-nack shows
// it on both legs: CS_HIBERNATE, CS_RESET, CS_SOFT_EXECUTE and a CHANNEL_EXECUTE uuid_bridge that
// never completes. The originator waits for the other leg to get there, bridges (CHANNEL_BRIDGE
// on it; the other leg enters CS_EXCHANGE_MEDIA and has no dialplan left), and when the bridge
// ends without a hangup or a transfer returns to CS_EXECUTE: the rest of its extension runs.
func (l *Leg) runUUIDBridgeLocked() {
	u := l.ub
	l.ub = nil
	l.xferParked, l.parkPending, l.noExec = false, false, false
	for _, st := range []string{"CS_HIBERNATE", "CS_RESET", "CS_SOFT_EXECUTE"} {
		l.setStateLocked(st)
	}
	o := u.other
	execEv := func() {
		ev := l.chanEvent("CHANNEL_EXECUTE", "switch_core_session.c", "switch_core_session_exec", 2944)
		ev.Headers = append(ev.Headers, Header{"Application", "uuid_bridge"}, Header{"Application-Data", o.uuid},
			Header{"Application-UUID", newUUID()})
		l.fireLocked(ev)
	}
	if !u.originator {
		execEv()
		l.noExec = true // CS_EXCHANGE_MEDIA: the originator's bridge decides what follows
		l.ubReady = true
		o.cond.Broadcast()
		return
	}
	for !l.hungup && !o.hungup && !o.ubReady && l.ub == nil && l.transfer == nil {
		l.cond.Wait()
	}
	o.ubReady = false
	if l.hungup || l.ub != nil || l.transfer != nil {
		return
	}
	if o.hungup {
		l.setStateLocked("CS_EXECUTE")
		return
	}
	execEv()
	l.answerLocked()
	o.answerLocked()
	l.bridgeLocked(o)
	o.setStateLocked("CS_EXCHANGE_MEDIA")
	if l.whileBridgedLocked(o) {
		return
	}
	l.setStateLocked("CS_EXECUTE")
}

// whileBridgedLocked is the bridge loop of l with p: it runs l's queued private events (sendmsg
// apps run mid-bridge) until the bridge ends, l hangs up or leaves its dialplan, then applies
// hangup_after_bridge. It reports whether l's dialplan is over.
func (l *Leg) whileBridgedLocked(p *Leg) (over bool) {
	for l.peer == p && !l.hungup && !l.leavingLocked() {
		if len(l.privQ) > 0 {
			q := l.privQ[0]
			l.privQ = l.privQ[1:]
			l.runPrivLocked(q)
			continue
		}
		l.cond.Wait()
	}
	if l.hungup || l.leavingLocked() {
		return true
	}
	l.vars.set("last_bridge_hangup_cause", p.hangupCause)
	if isTrue(l.vars.get("hangup_after_bridge")) {
		l.hangupLocked("NORMAL_CLEARING")
		return true
	}
	return false
}

// applyTransferLocked is switch_ivr_session_transfer (switch_ivr.c ~2163–2230): each transfer
// uses up one max_forwards (the INVITE's, 70 unless set); none left hangs the leg up
// EXCHANGE_ROUTING_ERROR and reports false. An empty context is force_transfer_context when
// set, else the caller profile's.
func (l *Leg) applyTransferLocked(t *transferReq) bool {
	forward := 70
	if v, err := strconv.Atoi(l.vars.get("max_forwards")); err == nil {
		forward = v
	}
	if forward--; forward <= 0 {
		l.hangupLocked("EXCHANGE_ROUTING_ERROR")
		return false
	}
	now := l.fs.clock.Now()
	if l.initialCP == nil {
		first := l.cp // the channels table's initial_* columns
		l.initialCP = &first
	}
	if t.context == "" {
		t.context = l.vars.get("force_transfer_context")
	}
	if t.context == "" {
		t.context = l.cp.Context
	}
	if t.dialplan == "" {
		t.dialplan = "XML"
	}
	src := fmt.Sprintf("%d:%s:%s:%s/%s/%s", now.Unix(), newUUID(), t.kind, t.dest, t.context, t.dialplan)
	l.cp.RDNIS = l.cp.Dest
	l.cp.Dest = t.dest
	l.cp.Context = t.context
	l.cp.Dialplan = t.dialplan
	l.cp.TransferSource = src
	l.cp.Index++
	l.cp.Created = now
	l.transferAt = now
	l.vars.set("transfer_source", src)
	if h := l.vars.get("transfer_history"); h != "" {
		l.vars.set("transfer_history", h+"|"+src)
	} else {
		l.vars.set("transfer_history", src)
	}
	l.vars.set("max_forwards", strconv.Itoa(forward))
	return true
}

func (l *Leg) runInlineLocked(a Action) {
	l.fs.logApp(l.uuid, a.App, l.expandLocked(a.Data))
	switch a.App {
	case "set", "export", "unset", "log", "info":
		l.appSimpleLocked(a.App, l.expandLocked(a.Data))
	}
}

// execLocked runs one application with CHANNEL_EXECUTE / CHANNEL_EXECUTE_COMPLETE around it.
func (l *Leg) execLocked(app, data, appUUID string) {
	if l.hungup {
		return
	}
	data = l.expandLocked(data)
	if app == "socket" && l.fs.esUnloaded {
		// mod_event_socket unloaded: "Invalid Application socket" (switch_core_session.c ~2771).
		l.fs.logApp(l.uuid, app, data)
		l.hangupLocked("DESTINATION_OUT_OF_ORDER")
		return
	}
	if appUUID == "" {
		appUUID = newUUID() // FreeSWITCH always reports an Application-UUID
	}
	l.fs.logApp(l.uuid, app, data)
	l.vars.set("current_application", app)
	l.vars.set("current_application_data", data)
	h := []Header{{"Application", app}}
	if data != "" {
		h = append(h, Header{"Application-Data", data})
	}
	if appUUID != "" {
		h = append(h, Header{"Application-UUID", appUUID})
	}
	ev := l.chanEvent("CHANNEL_EXECUTE", "switch_core_session.c", "switch_core_session_exec", 2944)
	ev.Headers = append(ev.Headers, h...)
	l.fireLocked(ev)
	l.stack = append(l.stack, appFrame{app, data, appUUID})
	l.curApp, l.curAppData, l.curAppUUID = app, data, appUUID
	l.appLocked(app, data)
	if l.completed {
		return
	}
	l.stack = l.stack[:len(l.stack)-1]
	l.fireExecCompleteLocked(app, data, appUUID)
	if n := len(l.stack); n > 0 {
		f := l.stack[n-1]
		l.curApp, l.curAppData, l.curAppUUID = f.app, f.data, f.uuid
		return
	}
	l.curApp, l.curAppData, l.curAppUUID = "", "", ""
	if l.ub != nil && !l.hungup {
		// The applications have returned: the state machine takes the uuid_bridge path.
		l.runUUIDBridgeLocked()
	}
}

func (l *Leg) appLocked(app, data string) {
	switch app {
	case "socket":
		l.appSocketLocked(data)
	case "bridge":
		l.appBridgeLocked(data)
	case "park":
		l.parkLoopLocked(func() bool { return false })
	case "answer":
		l.answerLocked()
	case "pre_answer":
		l.preAnswerLocked()
	case "ring_ready":
		if l.callState == "DOWN" {
			l.callState = "RINGING"
		}
	case "hangup":
		cause := strings.TrimSpace(data)
		if cause == "" {
			cause = "NORMAL_CLEARING"
		}
		l.hangupLocked(cause)
	case "transfer":
		f := strings.Fields(data)
		if len(f) == 0 {
			return
		}
		t := &transferReq{dest: f[0], kind: "xfer"}
		if len(f) > 1 {
			t.dialplan = f[1]
		}
		if len(f) > 2 {
			t.context = f[2]
		}
		l.transferLocked(t)
	case "play_and_get_digits":
		l.playAndGetDigitsLocked(data)
	case "playback", "gentones", "sleep", "endless_playback", "say", "phrase":
		l.flushDTMFLocked()
	case "blind_transfer_ack":
		if l.xferCtx != nil {
			l.blindTransferResultLocked(isTrue(strings.TrimSpace(data)))
		}
	case "intercept":
		if t := l.fs.legs[strings.TrimSpace(data)]; t != nil && !t.hungup {
			l.interceptLocked(t)
		}
	case "bind_digit_action":
		l.bindDigitActionLocked(data)
	case "clear_digit_action":
		l.bindings = nil
		l.dmBuf = ""
	case "digit_action_set_realm":
		realm, _, _ := strings.Cut(data, ",")
		l.bindRealm = realm
	case "record_session":
		f := strings.Fields(data)
		if len(f) > 0 {
			l.startRecordingLocked(f[0])
		}
	case "stop_record_session":
		l.stopRecordingByPathLocked(strings.TrimSpace(data))
	case "uuid_record":
	default:
		l.appSimpleLocked(app, data)
	}
}

// appSimpleLocked runs the variable apps (shared with inline execution).
func (l *Leg) appSimpleLocked(app, data string) {
	switch app {
	case "set":
		k, v, _ := strings.Cut(data, "=")
		l.vars.set(k, v)
	case "unset":
		l.vars.unset(strings.TrimSpace(data))
	case "export":
		// REFERENCE.md §9: `export nolocal:x=y` stores the literal name on this leg.
		k, v, _ := strings.Cut(data, "=")
		local := !strings.HasPrefix(k, "nolocal:")
		if local {
			l.vars.set(k, v)
		} else {
			l.vars.set(k, v)
		}
		ev := l.vars.get("export_vars")
		found := false
		for _, n := range strings.Split(ev, ",") {
			if n == k {
				found = true
			}
		}
		if !found {
			if ev != "" {
				ev += ","
			}
			l.vars.set("export_vars", ev+k)
		}
	}
}

// parkLoopLocked is switch_ivr_park: CHANNEL_PARK, then run queued sendmsgs and read
// DTMF until done() or a transfer, reset or hangup ends it.
func (l *Leg) parkLoopLocked(done func() bool) {
	if l.hungup {
		return
	}
	if !l.parked {
		l.parked = true
		l.fireLocked(l.chanEvent("CHANNEL_PARK", "switch_ivr.c", "switch_ivr_park", 1009))
	}
	l.flushDTMFLocked()
	for !l.hungup {
		if len(l.privQ) > 0 {
			p := l.privQ[0]
			l.privQ = l.privQ[1:]
			l.runPrivLocked(p)
			continue
		}
		if l.transfer != nil || l.stranded || l.noExec || len(l.inline) > 0 || l.ub != nil ||
			(l.xferParked && len(l.stack) > 0) || done() {
			break
		}
		l.cond.Wait()
	}
	if !l.hungup && l.parked {
		l.parked = false
		l.fireLocked(l.chanEvent("CHANNEL_UNPARK", "switch_ivr.c", "switch_ivr_park", 1052))
	}
}

// queuePrivLocked queues a sendmsg for the leg's reader (park/bridge loop).
func (l *Leg) queuePrivLocked(p *packet) {
	if l.hasExec && !l.noExec && !l.stranded {
		l.privQ = append(l.privQ, p)
		l.cond.Broadcast()
		return
	}
	// A leg with no dialplan thread (a B-leg): run it right away.
	l.runPrivLocked(p)
}

// runPrivLocked executes a sendmsg (switch_ivr_parse_event).
func (l *Leg) runPrivLocked(p *packet) {
	switch strings.ToLower(p.get("call-command")) {
	case "execute":
		app := p.get("execute-app-name")
		arg := p.get("execute-app-arg")
		if arg == "" && p.Body != "" {
			arg = strings.TrimRight(p.Body, "\n")
		}
		appUUID := p.get("Event-UUID")
		if appUUID != "" {
			l.vars.set("app_uuid", appUUID)
		}
		loops := 1
		fmt.Sscan(p.get("loops"), &loops)
		if loops < 1 {
			loops = 1
		}
		for i := 0; i < loops && !l.hungup; i++ {
			if app == "bridge" && !l.hasExec {
				continue // a bridge needs a dialplan thread; not modelled on B-legs
			}
			l.execLocked(app, arg, appUUID)
		}
	case "hangup":
		cause := p.get("hangup-cause")
		if cause == "" {
			cause = "NORMAL_CLEARING"
		}
		l.hangupLocked(cause)
	case "unicast", "nomedia", "xferext":
	}
}

// appSocketLocked is mod_event_socket's socket app (REFERENCE.md §1.3, §1.9, FAILOPEN.md).
func (l *Leg) appSocketLocked(data string) {
	f := strings.Fields(data)
	if len(f) == 0 {
		return
	}
	async, full := false, false
	for _, x := range f[1:] {
		switch strings.ToLower(x) {
		case "async":
			async = true
		case "full":
			full = true
		}
	}
	var nc net.Conn
	var err error
	for _, hp := range strings.Split(f[0], "|") {
		host, _, _ := strings.Cut(hp, ":")
		l.vars.set("socket_host", host)
		l.fs.mu.Unlock()
		nc, err = net.DialTimeout("tcp", hp, 2*time.Second)
		l.fs.mu.Lock()
		if err == nil {
			break
		}
	}
	if err != nil || l.fs.closed {
		if nc != nil {
			nc.Close()
		}
		l.fs.stats.Refused++
		return // "Socket Error!": the next action runs at once (FAILOPEN.md exp1)
	}
	if l.hungup {
		nc.Close()
		return
	}
	c := l.fs.newConnLocked(nc, true, l)
	c.async, c.full = async, full
	l.controllers = append(l.controllers, c)
	l.inSocket++
	defer func() { l.inSocket-- }()
	for !c.connected && !c.gone && !l.hungup {
		l.cond.Wait()
	}
	if l.hungup {
		return
	}
	if !c.connected {
		if isTrue(l.vars.get("socket_resume")) {
			l.setStateLocked("CS_RESET")
			l.setStateLocked("CS_EXECUTE")
			return
		}
		l.parkLoopLocked(func() bool { return false }) // parked forever (FAILOPEN.md exp2b)
		return
	}
	l.parkLoopLocked(func() bool { return !l.controlled || l.resetReq })
	if l.resetReq && !l.hungup {
		l.resetReq = false
		l.setStateLocked("CS_RESET")
		l.setStateLocked("CS_EXECUTE")
	}
}

// connectedLocked: the listener got `connect` (LFLAG_CONNECTED; CF_CONTROLLED).
func (l *Leg) connectedLocked(c *conn) {
	l.controlled = true
	if l.inSocket > 0 && !l.parked {
		// The async socket app parks as soon as LFLAG_CONNECTED is set, before the connect
		// reply reaches the controller (FAILOPEN.md exp3).
		l.parked = true
		l.fireLocked(l.chanEvent("CHANNEL_PARK", "switch_ivr.c", "switch_ivr_park", 1009))
	}
	l.notifyLocked()
	l.cond.Broadcast()
}

// listenerGoneLocked is the end of listener_run for a leg (REFERENCE.md §1.9).
func (l *Leg) listenerGoneLocked(c *conn) {
	defer l.cond.Broadcast()
	if l.hungup {
		l.maybeDestroyLocked()
		return
	}
	if !c.connected {
		return
	}
	l.controlled = false
	l.notifyLocked()
	if !isTrue(l.vars.get("socket_resume")) {
		return
	}
	// CS_RESET makes switch_channel_ready false: a running bridge is torn down (exp5b).
	if p := l.peer; p != nil {
		if l.bridgeOrig {
			p.hangupLocked("NORMAL_CLEARING")
		} else {
			l.unbridgeLocked()
		}
	}
	if l.inSocket > 0 {
		l.resetReq = true
		return
	}
	l.stranded = true
	l.setStateLocked("CS_RESET")
}

// transferLocked moves the leg to a new extension (switch_ivr_session_transfer).
func (l *Leg) transferLocked(t *transferReq) {
	if l.hungup {
		return
	}
	if p := l.peer; p != nil {
		l.unbridgeLocked()
		if (!p.hasExec || p.noExec) && !p.xferParked {
			p.hangupLocked("NORMAL_CLEARING")
		}
	}
	l.transfer = t
	l.parked = l.parked && false
	if !l.hasExec {
		l.startExecLocked()
	}
	l.cond.Broadcast()
}

// appBridgeLocked is the bridge app: originate, wait for answer, bridge, wait for the end.
func (l *Leg) appBridgeLocked(data string) {
	lastCause := "NO_ROUTE_DESTINATION"
	targets := strings.FieldsFunc(data, func(r rune) bool { return r == '|' || r == ',' })
	for _, tg := range targets {
		b, cause := l.fs.originateLocked(l, strings.TrimSpace(tg))
		if b == nil {
			lastCause = cause
			continue
		}
		if b.phone.NoAnswer {
			timeout := 60 * time.Second
			var secs int
			if _, err := fmt.Sscan(l.vars.get("call_timeout"), &secs); err == nil && secs > 0 {
				timeout = time.Duration(secs) * time.Second
			}
			l.fs.wg.Add(1)
			go func() {
				defer l.fs.wg.Done()
				if l.fs.clock.sleep(l.fs.ctx, timeout) != nil {
					return
				}
				l.fs.mu.Lock()
				if !b.answered {
					b.hangupLocked("NO_ANSWER")
				}
				l.fs.mu.Unlock()
			}()
		}
		for !b.answered && !b.hungup && !l.hungup && !l.leavingLocked() {
			l.cond.Wait()
		}
		if !b.answered || l.hungup || l.leavingLocked() {
			if !b.hungup {
				b.hangupLocked("ORIGINATOR_CANCEL")
			}
			if l.hungup || l.leavingLocked() {
				return
			}
			lastCause = b.hangupCause
			continue
		}
		l.answerLocked()
		l.bridgeLocked(b)
		// The transferee's INDICATE_BRIDGE completes a confirmed blind transfer (REFERENCE.md §5):
		// l is the transferee here, b the leg it just reached.
		if l.xferCtx != nil {
			l.blindTransferResultLocked(true)
		}
		l.whileBridgedLocked(b)
		return
	}
	l.vars.set("originate_disposition", lastCause)
	l.vars.set("DIALSTATUS", lastCause)
	if l.xferCtx != nil {
		l.blindTransferResultLocked(false)
	}
	if !isTrue(l.vars.get("continue_on_fail")) && !isTrue(l.vars.get("failure_causes")) {
		l.hangupLocked(lastCause)
	}
}

// interceptLocked is switch_ivr_intercept_session: t's current partner is hung up PICKED_OFF
// and l and t are joined by uuid_bridge with l as the originator; the app itself returns at
// once (traces/refer-bridged-confirm-nack: EXECUTE intercept, EXECUTE_COMPLETE, CS_HIBERNATE…).
func (l *Leg) interceptLocked(t *Leg) {
	if p := t.peer; p != nil && p != l {
		p.hangupLocked("PICKED_OFF")
	}
	if t.hungup {
		return
	}
	if l.peer != nil {
		l.unbridgeLocked()
	}
	l.answerLocked()
	// switch_ivr_uuid_bridge gives the originator a new caller profile (Transfer-Source
	// <epoch>:<uuid>:uuid_br:<other>), before the intercept app completes.
	now := l.fs.clock.Now()
	src := fmt.Sprintf("%d:%s:uuid_br:%s", now.Unix(), newUUID(), t.uuid)
	l.cp.TransferSource, l.cp.Created = src, now
	l.cp.Index++
	l.vars.set("transfer_source", src)
	l.vars.set("transfer_history", l.vars.get("transfer_history")+"|"+src)
	l.ub = &ubReq{other: t, originator: true}
	t.ub = &ubReq{other: l}
	t.ubReady = false
	if !t.hasExec {
		t.startExecLocked()
	}
	t.cond.Broadcast()
}
