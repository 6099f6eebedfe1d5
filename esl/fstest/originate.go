package fstest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// originateSyntax is ORIGINATE_SYNTAX of mod_commands.c (~line 5079).
const originateSyntax = "<call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]"

// originateAPILocked is the api originate (mod_commands.c originate_function, ~line 5080) for
// the endpoints the stand-in has: mod_loopback's null/<dest> (Options.NoLoopback takes it
// away). FreeSWITCH answers once the new channel is up: "+OK <uuid>"; a channel that cannot be
// created answers "-ERR <CAUSE>" (an unknown endpoint CHAN_NOT_IMPLEMENTED, switch_core_session.c
// switch_core_session_outgoing_channel). The exten "&app(args)" runs that one application on
// the new channel, which hangs up (NORMAL_CLEARING) when it returns; any other exten routes the
// channel through the dialplan (dialplan XML, context default unless given).
//
// The null endpoint (mod_loopback.c null_channel_outgoing_channel, ~line 1736) reads silence,
// answers at once (null_enable_auto_answer, null_auto_answer_delay are not simulated) and
// fails with the cause named by null_hangup_cause or by a destination "cause-<CAUSE>".
func (fs *FS) originateAPILocked(args string) string {
	argv := strings.Fields(args)
	if len(argv) < 2 || len(argv) > 7 {
		return "-USAGE: " + originateSyntax + "\n"
	}
	for i, a := range argv {
		if strings.EqualFold(a, "undef") {
			argv[i] = ""
		}
	}
	vars, url := splitDialVars(argv[0])
	exten := argv[1]
	dp, ctx := "XML", "default"
	if len(argv) > 2 && argv[2] != "" {
		dp = argv[2]
	}
	if len(argv) > 3 && argv[3] != "" {
		ctx = argv[3]
	}
	cidName, cidNum := "FreeSWITCH", "0000000000"
	if v := vars["origination_caller_id_name"]; v != "" {
		cidName = v
	}
	if v := vars["origination_caller_id_number"]; v != "" {
		cidNum = v
	}
	if len(argv) > 4 && argv[4] != "" {
		cidName = argv[4]
	}
	if len(argv) > 5 && argv[5] != "" {
		cidNum = argv[5]
	}
	dest, ok := strings.CutPrefix(url, "null/")
	if !ok || fs.opts.NoLoopback {
		return "-ERR CHAN_NOT_IMPLEMENTED\n"
	}
	if cause := vars["null_hangup_cause"]; cause != "" {
		return "-ERR " + strings.ToUpper(cause) + "\n"
	}
	if cause, ok := strings.CutPrefix(dest, "cause-"); ok {
		return "-ERR " + strings.ToUpper(cause) + "\n"
	}
	l := fs.newNullLegLocked(dest, vars, cidName, cidNum, ctx)
	if app, ok := strings.CutPrefix(exten, "&"); ok && app != "" {
		name, arg, _ := strings.Cut(app, "(")
		arg, _, _ = strings.Cut(arg, ")")
		l.hasExec = true
		fs.wg.Add(1)
		go l.runOriginatedApp(name, arg)
	} else {
		l.cp.Dest, l.cp.Dialplan, l.cp.Context = exten, dp, ctx
		l.startExecLocked()
	}
	return "+OK " + l.uuid + "\n"
}

// splitDialVars takes the {k=v,…} and [k=v,…] blocks off the front of a dial string.
func splitDialVars(s string) (map[string]string, string) {
	vars := map[string]string{}
	for len(s) > 0 && (s[0] == '{' || s[0] == '[') {
		end := strings.IndexAny(s, "}]")
		if end < 0 {
			break
		}
		for _, kv := range strings.Split(s[1:end], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				vars[strings.TrimSpace(k)] = v
			}
		}
		s = s[end+1:]
	}
	return vars, s
}

// newNullLegLocked creates an answered null/<dest> channel: CHANNEL_CREATE, CS_INIT, CS_ROUTING
// (null_channel_on_init), CS_CONSUME_MEDIA, CHANNEL_ANSWER (null_channel_on_consume_media).
// This event order is the source's, not checked against a capture.
func (fs *FS) newNullLegLocked(dest string, vars map[string]string, cidName, cidNum, ctx string) *Leg {
	call := &Call{fs: fs}
	l := fs.newLegLocked(call, "outbound", Profile{}, "null/"+dest)
	call.A = l
	if u := vars["origination_uuid"]; u != "" && fs.legs[u] == nil {
		delete(fs.legs, l.uuid)
		l.uuid = u
		fs.legs[u] = l
	}
	l.target = dest
	l.cp = callerProfile{Dialplan: "XML", CIDName: cidName, CIDNum: cidNum, OrigCIDName: cidName,
		OrigCIDNum: cidNum, CalleeNum: dest, ANI: cidNum, Dest: dest, Source: "mod_loopback", Context: ctx,
		Index: 1, Created: l.createdAt}
	v := l.vars
	v.set("direction", "outbound")
	v.set("uuid", l.uuid)
	v.set("session_id", fmt.Sprint(fs.nextSession()))
	v.set("channel_name", l.name)
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.set(k, vars[k])
	}
	v.set("read_codec", "L16")
	v.set("read_rate", "8000")
	v.set("write_codec", "L16")
	v.set("write_rate", "8000")
	l.fireLocked(l.chanEvent("CHANNEL_CREATE", "switch_core_state_machine.c", "switch_core_session_run", 600))
	l.setStateLocked("CS_INIT")
	l.setStateLocked("CS_ROUTING")
	l.setStateLocked("CS_CONSUME_MEDIA")
	l.answerLocked()
	return l
}

// runOriginatedApp runs the application an originate gave the channel, then hangs it up
// NORMAL_CLEARING. playback of a tone_stream:// plays for the tone's length in virtual time
// (forever with loops=-1), and while it plays the channel's audio is the tone's first
// frequency: the stand-in renders no cadence, and a recording of the channel hears the tone
// (mono recordings mix what the channel reads and writes, so which side carries it does not
// show; RECORD_STEREO would put it on the wrong side). park waits for the hangup.
func (l *Leg) runOriginatedApp(app, arg string) {
	defer l.fs.wg.Done()
	fs := l.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if l.hungup {
		return
	}
	l.setStateLocked("CS_EXECUTE")
	hz, d, isTone := toneStream(arg)
	if app != "playback" || !isTone {
		l.execLocked(app, arg, "")
		l.hangupLocked("NORMAL_CLEARING")
		return
	}
	appUUID := newUUID()
	fs.logApp(l.uuid, app, arg)
	ev := l.chanEvent("CHANNEL_EXECUTE", "switch_core_session.c", "switch_core_session_exec", 2944)
	ev.Headers = append(ev.Headers, Header{"Application", app}, Header{"Application-Data", arg}, Header{"Application-UUID", appUUID})
	l.fireLocked(ev)
	l.stack = append(l.stack, appFrame{app, arg, appUUID})
	l.curApp, l.curAppData, l.curAppUUID = app, arg, appUUID
	l.phone.ToneHz = hz
	end := fs.clock.Now().Add(d)
	for !l.hungup && (d < 0 || fs.clock.Now().Before(end)) {
		wait := time.Hour
		if d >= 0 {
			wait = end.Sub(fs.clock.Now())
		}
		changed := l.changedLocked()
		fs.mu.Unlock()
		fs.clock.sleepOr(fs.ctx, wait, changed)
		fs.mu.Lock()
		if fs.ctx.Err() != nil {
			return
		}
	}
	if l.hungup {
		return
	}
	l.phone.ToneHz = 0
	l.stack = l.stack[:len(l.stack)-1]
	l.curApp, l.curAppData, l.curAppUUID = "", "", ""
	l.fireExecCompleteLocked(app, arg, appUUID)
	l.hangupLocked("NORMAL_CLEARING")
}

// toneStream reads a tone_stream:// TGML string (mod_tone_stream): segments "%(on,off,hz…)"
// separated by ';' and an optional "loops=N" (-1: forever). It returns the first frequency and
// the total length (negative: forever).
func toneStream(s string) (hz float64, d time.Duration, ok bool) {
	body, ok := strings.CutPrefix(s, "tone_stream://")
	if !ok {
		return 0, 0, false
	}
	loops := 1
	var once time.Duration
	for _, seg := range strings.Split(body, ";") {
		seg = strings.TrimSpace(seg)
		if n, ok := strings.CutPrefix(seg, "loops="); ok {
			if v, err := strconv.Atoi(n); err == nil {
				loops = v
			}
			continue
		}
		inner, ok := strings.CutPrefix(seg, "%(")
		if !ok {
			continue
		}
		inner, _, _ = strings.Cut(inner, ")")
		f := strings.Split(inner, ",")
		if len(f) < 2 {
			continue
		}
		on, _ := strconv.Atoi(strings.TrimSpace(f[0]))
		off, _ := strconv.Atoi(strings.TrimSpace(f[1]))
		once += time.Duration(on+off) * time.Millisecond
		if hz == 0 && len(f) > 2 {
			hz, _ = strconv.ParseFloat(strings.TrimSpace(f[2]), 64)
		}
	}
	switch {
	case loops < 0:
		return hz, -1, true
	case loops > 1:
		return hz, once * time.Duration(loops), true
	}
	return hz, once, true
}
