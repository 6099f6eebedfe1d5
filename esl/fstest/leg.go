package fstest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

var stateNumbers = map[string]int{
	"CS_NEW": 0, "CS_INIT": 1, "CS_ROUTING": 2, "CS_SOFT_EXECUTE": 3, "CS_EXECUTE": 4,
	"CS_EXCHANGE_MEDIA": 5, "CS_PARK": 6, "CS_CONSUME_MEDIA": 7, "CS_HIBERNATE": 8,
	"CS_RESET": 9, "CS_HANGUP": 10, "CS_REPORTING": 11, "CS_DESTROY": 12,
}

// varMap keeps channel variables in insertion order, as FreeSWITCH lists them.
type varMap struct {
	keys []string
	m    map[string]string
}

func newVarMap() *varMap { return &varMap{m: map[string]string{}} }

func (v *varMap) set(k, val string) {
	if val == "" {
		v.unset(k)
		return
	}
	if _, ok := v.m[k]; !ok {
		v.keys = append(v.keys, k)
	}
	v.m[k] = val
}

func (v *varMap) unset(k string) {
	if _, ok := v.m[k]; !ok {
		return
	}
	delete(v.m, k)
	for i, kk := range v.keys {
		if kk == k {
			v.keys = append(v.keys[:i], v.keys[i+1:]...)
			break
		}
	}
}

func (v *varMap) get(k string) string { return v.m[k] }

// getFold looks a variable up case-insensitively (recording variables, REFERENCE.md §2).
func (v *varMap) getFold(k string) string {
	if val, ok := v.m[k]; ok {
		return val
	}
	for kk, val := range v.m {
		if strings.EqualFold(kk, k) {
			return val
		}
	}
	return ""
}

type callerProfile struct {
	Username, Dialplan, CIDName, CIDNum, OrigCIDName, OrigCIDNum, CalleeName, CalleeNum string
	Network, ANI, Dest, Source, TransferSource, Context, RDNIS                          string
	Index                                                                               int
	Created                                                                             time.Time
}

// span is a stretch of virtual time; a zero to means "still open".
type span struct {
	from, to time.Time
	peer     *Leg
}

func (s span) covers(t time.Time) bool {
	return !t.Before(s.from) && (s.to.IsZero() || t.Before(s.to))
}

// Leg is one FreeSWITCH channel (a call leg). Tests drive the far end's behaviour with its
// methods (Answer, Hangup, SendDTMF, SendInfoRecord, BlindTransfer, Hold) and inspect its
// state with Var, Vars, State, HeardDigits. All methods are safe for concurrent use.
type Leg struct {
	fs        *FS
	uuid      string
	name      string
	direction string
	profile   Profile
	cp        callerProfile
	initialCP *callerProfile // the profile before the first transfer (nil: cp)
	vars      *varMap
	call      *Call
	target    string // what was dialled to create it (ext or number)
	phone     Phone

	state, callState, answerState string
	answered, preAnswered, hungup bool
	hangupCause                   string
	createdAt, answeredAt         time.Time
	progressAt, hangupAt          time.Time
	bridgedAt, transferAt         time.Time
	completed                     bool
	destroyed                     bool

	peer       *Leg
	bridgeOrig bool
	other      *Leg
	otherType  string

	cond        *sync.Cond
	hasExec     bool // a dialplan executor goroutine runs this leg
	noExec      bool // taken over by uuid_bridge/intercept: no more dialplan
	curApp      string
	curAppData  string
	curAppUUID  string
	parked      bool
	inSocket    int
	controllers []*conn
	controlled  bool
	privQ       []*packet
	transfer    *transferReq
	stranded    bool
	resetReq    bool
	xferCtx     *blindXfer // set on a transferee in confirm mode
	// xferParked: a transferor in confirm mode; it leaves its applications and waits in
	// CS_PARK (park_timeout=600:blind_transfer) until the outcome's intercept arrives.
	xferParked bool
	// parkPending: a refused transferee is set to CS_PARK (park_timeout=10:blind_transfer);
	// it takes effect when the running application returns, unless a uuid_bridge overrides it.
	parkPending bool
	ub          *ubReq // a uuid_bridge the leg must join (intercept)
	ubReady     bool   // the originatee of ub reached CS_SOFT_EXECUTE

	spans []span
	holds []span
	recs  []*recording
	info  []string // sofia_record_file history for INFO Record: on

	inline      []Action
	stack       []appFrame
	dtmfQ       []string
	collecting  bool // an application (play_and_get_digits) takes the digits from dtmfQ
	heardDigits []string
	bindings    []binding
	bindRealm   string
	dmBuf       string
	referNotify chan int
	changed     chan struct{} // closed on every change, for WaitState
}

// notifyLocked wakes WaitState/WaitLeg pollers of this leg and its call.
func (l *Leg) notifyLocked() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	if l.call != nil {
		l.call.notifyLocked()
	}
}

func (l *Leg) changedLocked() <-chan struct{} {
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// ubReq is a uuid_bridge the leg takes part in (switch_ivr_uuid_bridge, as the intercept app
// runs it): the leg leaves what it runs and passes CS_HIBERNATE, CS_RESET, CS_SOFT_EXECUTE.
type ubReq struct {
	other      *Leg
	originator bool
}

// leavingLocked: something took the leg off what it runs (a transfer, a socket reset, a
// uuid_bridge, a confirmed blind transfer's park).
func (l *Leg) leavingLocked() bool {
	return l.transfer != nil || l.stranded || l.noExec || l.xferParked || l.ub != nil
}

type transferReq struct {
	dest, dialplan, context string
	kind                    string // "xfer" / "bl_xfer"
}

// UUID is the leg's Unique-ID.
func (l *Leg) UUID() string { return l.uuid }

// Name is the Channel-Name, e.g. "sofia/internal/1001@127.0.0.1".
func (l *Leg) Name() string { return l.name }

// Var returns a channel variable ("" when unset).
func (l *Leg) Var(name string) string {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	return l.vars.get(name)
}

// Vars returns a copy of every channel variable.
func (l *Leg) Vars() map[string]string {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	m := make(map[string]string, len(l.vars.m))
	for k, v := range l.vars.m {
		m[k] = v
	}
	return m
}

// LegState is a snapshot of a leg's state.
type LegState struct {
	State       string // CS_*
	CallState   string // DOWN RINGING EARLY ACTIVE HELD HANGUP
	Answered    bool
	Hungup      bool
	HangupCause string
	PeerUUID    string // current bridge partner
	App         string // application running now
	Destination string // Caller-Destination-Number
	Context     string
	Controlled  bool // an outbound ESL connection is attached
}

// State returns a snapshot of the leg.
func (l *Leg) State() LegState {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	return l.stateLocked()
}

func (l *Leg) stateLocked() LegState {
	s := LegState{State: l.state, CallState: l.callState, Answered: l.answered, Hungup: l.hungup,
		HangupCause: l.hangupCause, App: l.curApp, Destination: l.cp.Dest, Context: l.cp.Context,
		Controlled: l.controlled}
	if l.peer != nil {
		s.PeerUUID = l.peer.uuid
	}
	return s
}

// WaitState polls until cond is true for the leg's state or ctx ends (then it returns the
// last state and ctx's error).
func (l *Leg) WaitState(ctx context.Context, cond func(LegState) bool) (LegState, error) {
	for {
		l.fs.mu.Lock()
		s := l.stateLocked()
		ch := l.changedLocked()
		l.fs.mu.Unlock()
		if cond(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("fstest: leg %s: wait state (last %+v): %w", l.uuid, s, ctx.Err())
		case <-ch:
		case <-time.After(50 * time.Millisecond): // conditions on Var() change without events
		}
	}
}

// WaitHangup waits until the leg is hung up and returns its hangup cause.
func (l *Leg) WaitHangup(ctx context.Context) (string, error) {
	s, err := l.WaitState(ctx, func(s LegState) bool { return s.Hungup })
	return s.HangupCause, err
}

// WaitAnswer waits until the leg is answered (error if it hangs up first or ctx ends).
func (l *Leg) WaitAnswer(ctx context.Context) error {
	s, err := l.WaitState(ctx, func(s LegState) bool { return s.Answered || s.Hungup })
	if err == nil && !s.Answered {
		return fmt.Errorf("fstest: leg %s hung up (%s) before answer", l.uuid, s.HangupCause)
	}
	return err
}

// HeardDigits returns the DTMF digits that reached this leg from its bridge partner
// (digits swallowed by bind_digit_action never appear here).
func (l *Leg) HeardDigits() string {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	return strings.Join(l.heardDigits, "")
}

// Answer makes the far end of an outgoing leg answer now, or answers an incoming leg as
// the `answer` app would. No-op on a hung-up or answered leg.
func (l *Leg) Answer() {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	l.answerLocked()
}

// Hangup hangs the leg up from the far end (a BYE) with cause (default NORMAL_CLEARING).
func (l *Leg) Hangup(cause string) {
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	l.hangupLocked(cause)
}

// Hold puts the far end on hold (re-INVITE sendonly): CHANNEL_HOLD, call state HELD, and
// no audio either way until Unhold.
func (l *Leg) Hold() {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.hungup || l.callState == "HELD" {
		return
	}
	l.callState = "HELD"
	l.holds = append(l.holds, span{from: l.fs.clock.Now()})
	l.fireLocked(l.chanEvent("CHANNEL_HOLD", "sofia.c", "sofia_handle_sip_i_invite", 7930))
	l.fireCallStateLocked()
}

// Unhold takes the far end off hold: CHANNEL_UNHOLD, call state ACTIVE.
func (l *Leg) Unhold() {
	l.fs.mu.Lock()
	defer l.fs.mu.Unlock()
	if l.hungup || l.callState != "HELD" {
		return
	}
	l.callState = "ACTIVE"
	l.holds[len(l.holds)-1].to = l.fs.clock.Now()
	l.fireLocked(l.chanEvent("CHANNEL_UNHOLD", "sofia.c", "sofia_handle_sip_i_invite", 7950))
	l.fireCallStateLocked()
}

func (l *Leg) fireLocked(ev *Event) { l.fs.fireLocked(ev) }

func (l *Leg) fireCallStateLocked() {
	l.fireLocked(l.chanEvent("CHANNEL_CALLSTATE", "switch_channel.c", "switch_channel_perform_set_callstate", 350))
}

func (l *Leg) setStateLocked(st string) {
	if l.state == st {
		return
	}
	l.state = st
	l.fireLocked(l.chanEvent("CHANNEL_STATE", "switch_core_state_machine.c", "switch_core_session_run", 627))
}

// extendedEvents are the event types that carry variable_* (REFERENCE.md §1.2).
var extendedEvents = map[string]bool{
	"CHANNEL_CREATE": true, "CHANNEL_ORIGINATE": true, "CHANNEL_UUID": true, "CHANNEL_ANSWER": true,
	"CHANNEL_PARK": true, "CHANNEL_UNPARK": true, "CHANNEL_BRIDGE": true, "CHANNEL_UNBRIDGE": true,
	"CHANNEL_PROGRESS": true, "CHANNEL_PROGRESS_MEDIA": true, "CHANNEL_HANGUP": true,
	"CHANNEL_HANGUP_COMPLETE": true, "CHANNEL_DATA": true, "CHANNEL_EXECUTE": true,
	"CHANNEL_EXECUTE_COMPLETE": true, "CHANNEL_DESTROY": true, "REQUEST_PARAMS": true, "API": true,
	"RECORD_START": true, "RECORD_STOP": true, "PLAYBACK_START": true, "PLAYBACK_STOP": true,
	"CALL_UPDATE": true, "MEDIA_BUG_START": true, "MEDIA_BUG_STOP": true, "CHANNEL_HOLD": true,
	"CHANNEL_UNHOLD": true, "TEXT": true, "CUSTOM": true,
}

// chanEvent builds an event with this leg's channel data; pre headers come right after
// the core headers (Bridge-*-Unique-ID, Event-Subclass goes first, see custom events).
func (l *Leg) chanEvent(name, file, fn string, line int, pre ...Header) *Event {
	ev := l.fs.newEventLocked(name, file, fn, line)
	ev.Headers = append(ev.Headers, pre...)
	l.addChannelData(ev, "Caller-", extendedEvents[name] || isTrue(l.vars.get("verbose_events")))
	return ev
}

func usec(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return fmt.Sprint(t.UnixMicro())
}

func (l *Leg) addProfile(ev *Event, prefix string, cp *callerProfile, leg *Leg) {
	add := func(k, v string) { ev.add(prefix+k, v) }
	add("Direction", leg.direction)
	add("Logical-Direction", leg.direction)
	add("Username", cp.Username)
	add("Dialplan", cp.Dialplan)
	add("Caller-ID-Name", cp.CIDName)
	add("Caller-ID-Number", cp.CIDNum)
	add("Orig-Caller-ID-Name", cp.OrigCIDName)
	add("Orig-Caller-ID-Number", cp.OrigCIDNum)
	if cp.CalleeNum != "" {
		add("Callee-ID-Name", cp.CalleeName)
		add("Callee-ID-Number", cp.CalleeNum)
	}
	add("Network-Addr", cp.Network)
	add("ANI", cp.ANI)
	add("Destination-Number", cp.Dest)
	add("Unique-ID", leg.uuid)
	add("Source", cp.Source)
	if cp.TransferSource != "" {
		add("Transfer-Source", cp.TransferSource)
	}
	add("Context", cp.Context)
	if cp.RDNIS != "" {
		add("RDNIS", cp.RDNIS)
	}
	add("Channel-Name", leg.name)
	add("Profile-Index", fmt.Sprint(cp.Index))
	add("Profile-Created-Time", usec(cp.Created))
	add("Channel-Created-Time", usec(leg.createdAt))
	add("Channel-Answered-Time", usec(leg.answeredAt))
	add("Channel-Progress-Time", usec(leg.progressAt))
	add("Channel-Progress-Media-Time", "0")
	add("Channel-Hangup-Time", usec(leg.hangupAt))
	add("Channel-Transfer-Time", usec(leg.transferAt))
	add("Channel-Resurrect-Time", "0")
	add("Channel-Bridged-Time", usec(leg.bridgedAt))
	add("Channel-Last-Hold", "0")
	add("Channel-Hold-Accum", "0")
	add("Screen-Bit", "true")
	add("Privacy-Hide-Name", "false")
	add("Privacy-Hide-Number", "false")
}

func (l *Leg) addBasic(ev *Event) {
	ev.add("Channel-State", l.state)
	ev.add("Channel-Call-State", l.callState)
	ev.add("Channel-State-Number", fmt.Sprint(stateNumbers[l.state]))
	ev.add("Channel-Name", l.name)
	ev.add("Unique-ID", l.uuid)
	ev.add("Call-Direction", l.direction)
	ev.add("Presence-Call-Direction", l.direction)
	ev.add("Channel-HIT-Dialplan", "true")
	ev.add("Channel-Call-UUID", l.callUUID())
	ev.add("Answer-State", l.answerState)
	if l.hungup {
		ev.add("Hangup-Cause", l.hangupCause)
	}
	for _, k := range []string{"Read", "Write"} {
		ev.add("Channel-"+k+"-Codec-Name", "PCMA")
		ev.add("Channel-"+k+"-Codec-Rate", "8000")
		ev.add("Channel-"+k+"-Codec-Bit-Rate", "64000")
	}
}

func (l *Leg) addChannelData(ev *Event, prefix string, extended bool) {
	l.addBasic(ev)
	l.addProfile(ev, prefix, &l.cp, l)
	if l.other != nil {
		ev.add("Other-Type", l.otherType)
		l.addProfile(ev, "Other-Leg-", &l.other.cp, l.other)
	}
	if extended {
		for _, k := range l.vars.keys {
			ev.add("variable_"+k, l.vars.m[k])
		}
	}
}

func (l *Leg) callUUID() string {
	if v := l.vars.get("call_uuid"); v != "" {
		return v
	}
	return l.uuid
}

// answerLocked answers the leg: CHANNEL_ANSWER (still RINGING call state, FAILOPEN §2.6),
// then call state ACTIVE.
func (l *Leg) answerLocked() {
	if l.hungup || l.answered {
		return
	}
	now := l.fs.clock.Now()
	l.answered = true
	l.answeredAt = now
	l.answerState = "answered"
	l.vars.set("endpoint_disposition", "ANSWER")
	l.fireLocked(l.chanEvent("CHANNEL_ANSWER", "switch_channel.c", "switch_channel_perform_mark_answered", 3981))
	l.callState = "ACTIVE"
	l.fireCallStateLocked()
	l.wakeLocked()
}

// preAnswerLocked sends early media (183): CHANNEL_PROGRESS_MEDIA, answer state early.
func (l *Leg) preAnswerLocked() {
	if l.hungup || l.answered || l.preAnswered {
		return
	}
	l.preAnswered = true
	l.progressAt = l.fs.clock.Now()
	l.answerState = "early"
	l.callState = "EARLY"
	l.vars.set("endpoint_disposition", "EARLY MEDIA")
	l.fireLocked(l.chanEvent("CHANNEL_PROGRESS_MEDIA", "switch_channel.c", "switch_channel_perform_mark_pre_answered", 3780))
	l.fireCallStateLocked()
}

// hangupLocked hangs the leg up and runs the order FreeSWITCH uses: CHANNEL_HANGUP, the
// partner's hangup and CHANNEL_UNBRIDGE (on the originator), the running app's completion,
// CS_HANGUP, RECORD_STOP, CS_REPORTING, CHANNEL_HANGUP_COMPLETE (REFERENCE.md §1.8,
// FAILOPEN.md exp7).
func (l *Leg) hangupLocked(cause string) {
	if l.hungup {
		return
	}
	now := l.fs.clock.Now()
	l.hungup = true
	l.hangupCause = cause
	l.hangupAt = now
	l.callState = "HANGUP"
	l.answerState = "hangup"
	l.vars.set("hangup_cause", cause)
	if l.answered {
		l.vars.set("billsec", fmt.Sprint(int(now.Sub(l.answeredAt)/time.Second)))
	} else {
		l.vars.set("billsec", "0")
	}
	if len(l.holds) > 0 && l.holds[len(l.holds)-1].to.IsZero() {
		l.holds[len(l.holds)-1].to = now
	}
	l.fireLocked(l.chanEvent("CHANNEL_HANGUP", "switch_channel.c", "switch_channel_perform_hangup", 4726))
	for _, c := range l.controllers {
		c.channelDownLocked()
	}
	if p := l.peer; p != nil {
		if l.bridgeOrig || !p.hasExec || p.noExec {
			// The originatee dies with its originator; a peer with no dialplan to go back to too.
			p.startHangupLocked("NORMAL_CLEARING")
			l.unbridgeLocked()
			p.completeHangupLocked()
		} else {
			l.unbridgeLocked()
		}
	}
	l.completeHangupLocked()
	l.cond.Broadcast()
}

// startHangupLocked is the first half of hangupLocked, for a partner dying with its leg.
func (l *Leg) startHangupLocked(cause string) {
	if l.hungup {
		return
	}
	now := l.fs.clock.Now()
	l.hungup, l.hangupCause, l.hangupAt = true, cause, now
	l.callState, l.answerState = "HANGUP", "hangup"
	l.vars.set("hangup_cause", cause)
	l.fireLocked(l.chanEvent("CHANNEL_HANGUP", "switch_channel.c", "switch_channel_perform_hangup", 4726))
	for _, c := range l.controllers {
		c.channelDownLocked()
	}
}

func (l *Leg) completeHangupLocked() {
	if l.completed {
		return
	}
	l.completed = true
	for i := len(l.stack) - 1; i >= 0; i-- {
		f := l.stack[i]
		if (f.app == "socket" || f.app == "park") && l.parked {
			l.parked = false
			l.fireLocked(l.chanEvent("CHANNEL_UNPARK", "switch_ivr.c", "switch_ivr_park", 1052))
		}
		l.fireExecCompleteLocked(f.app, f.data, f.uuid)
	}
	l.stack = nil
	l.curApp = ""
	if l.parked {
		l.parked = false
		l.fireLocked(l.chanEvent("CHANNEL_UNPARK", "switch_ivr.c", "switch_ivr_park", 1052))
	}
	l.setStateLocked("CS_HANGUP")
	for _, r := range l.recs {
		l.stopRecordingLocked(r, "success-silence")
	}
	l.recs = nil
	l.setStateLocked("CS_REPORTING")
	hc := l.fs.newEventLocked("CHANNEL_HANGUP_COMPLETE", "switch_core_state_machine.c", "switch_core_session_reporting_state", 943)
	hc.add("Hangup-Cause", l.hangupCause)
	l.addChannelData(hc, "Caller-", true)
	l.fireLocked(hc)
	l.maybeDestroyLocked()
	l.wakeLocked()
}

// wakeLocked wakes every goroutine that may wait on this leg: its own, its originator's
// and its partner's.
func (l *Leg) wakeLocked() {
	l.cond.Broadcast()
	if l.other != nil {
		l.other.cond.Broadcast()
	}
	if l.peer != nil {
		l.peer.cond.Broadcast()
	}
}

// maybeDestroyLocked fires CHANNEL_DESTROY once no listener holds the session (a lingering
// listener keeps it, REFERENCE.md §1.8).
func (l *Leg) maybeDestroyLocked() {
	if !l.completed || l.destroyed {
		return
	}
	for _, c := range l.controllers {
		if !c.gone {
			return
		}
	}
	l.destroyed = true
	// traces/info-inbound-ALL: CHANNEL_DESTROY still says CS_REPORTING; CHANNEL_STATE CS_DESTROY follows.
	l.fireLocked(l.chanEvent("CHANNEL_DESTROY", "switch_core_session.c", "switch_core_session_perform_destroy", 1745))
	l.setStateLocked("CS_DESTROY")
}

func (l *Leg) fireExecCompleteLocked(app, data, appUUID string) {
	h := []Header{{"Application", app}}
	if data != "" {
		h = append(h, Header{"Application-Data", data})
	}
	h = append(h, Header{"Application-Response", "_none_"})
	if appUUID != "" {
		h = append(h, Header{"Application-UUID", appUUID})
	}
	ev := l.chanEvent("CHANNEL_EXECUTE_COMPLETE", "switch_core_session.c", "switch_core_session_exec", 3005)
	ev.Headers = append(ev.Headers, h...)
	l.fireLocked(ev)
}

// bridgeLocked joins l (the originator) and p: both get bridge variables and an audio span,
// CHANNEL_BRIDGE fires on l only (REFERENCE.md §7).
func (l *Leg) bridgeLocked(p *Leg) {
	now := l.fs.clock.Now()
	l.peer, p.peer = l, nil
	l.peer = p
	p.peer = l
	l.bridgeOrig, p.bridgeOrig = true, false
	l.bridgedAt, p.bridgedAt = now, now
	for _, x := range [][2]*Leg{{l, p}, {p, l}} {
		a, b := x[0], x[1]
		a.vars.set("bridge_uuid", b.uuid)
		a.vars.set("signal_bond", b.uuid)
		a.vars.set("bridge_channel", b.name)
		a.vars.set("bridge_to", b.uuid)
		a.vars.set("last_bridge_to", b.uuid)
		a.spans = append(a.spans, span{from: now, peer: b})
	}
	p.vars.set("call_uuid", l.uuid)
	if p.state != "CS_EXCHANGE_MEDIA" && !p.hasExec {
		p.setStateLocked("CS_EXCHANGE_MEDIA")
	}
	l.notifyLocked()
	p.notifyLocked()
	l.notifyLocked()
	p.notifyLocked()
	l.fireLocked(l.chanEvent("CHANNEL_BRIDGE", "switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689,
		Header{"Bridge-A-Unique-ID", l.uuid}, Header{"Bridge-B-Unique-ID", p.uuid}))
	l.flushDTMFLocked()
	p.flushDTMFLocked()
	l.cond.Broadcast()
	p.cond.Broadcast()
}

// unbridgeLocked ends l's bridge: CHANNEL_UNBRIDGE on the originator, bridge variables
// cleared, audio spans closed, both legs woken.
func (l *Leg) unbridgeLocked() {
	p := l.peer
	if p == nil {
		return
	}
	now := l.fs.clock.Now()
	orig, other := l, p
	if !l.bridgeOrig {
		orig, other = p, l
	}
	for _, x := range []*Leg{l, p} {
		x.peer = nil
		x.vars.unset("signal_bond")
		x.vars.unset("bridge_channel")
		if n := len(x.spans); n > 0 && x.spans[n-1].to.IsZero() {
			x.spans[n-1].to = now
		}
	}
	other.vars.unset("call_uuid")
	l.notifyLocked()
	p.notifyLocked()
	l.notifyLocked()
	p.notifyLocked()
	orig.fireLocked(orig.chanEvent("CHANNEL_UNBRIDGE", "switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1879,
		Header{"Bridge-A-Unique-ID", orig.uuid}, Header{"Bridge-B-Unique-ID", other.uuid}))
	l.cond.Broadcast()
	p.cond.Broadcast()
}
