package fstest

import (
	"fmt"
	"net"
	"strings"
)

// apiLocked runs an API command as mod_commands would and returns its output.
func (fs *FS) apiLocked(c *conn, line string) string {
	cmd, args, _ := strings.Cut(strings.TrimSpace(line), " ")
	args = strings.TrimSpace(args)
	f := strings.Fields(args)
	leg := func() *Leg {
		if len(f) == 0 {
			return nil
		}
		l := fs.legs[f[0]]
		if l == nil || l.hungup {
			return nil
		}
		return l
	}
	switch cmd {
	case "uuid_record":
		return fs.uuidRecordLocked(f)
	case "uuid_setvar":
		if len(f) < 2 {
			return "-USAGE: <uuid> <var> [value]\n"
		}
		l := leg()
		if l == nil {
			return "-ERR No such channel!\n"
		}
		val := ""
		if parts := strings.SplitN(args, " ", 3); len(parts) == 3 {
			val = parts[2]
		}
		l.vars.set(f[1], val)
		return "+OK\n"
	case "uuid_setvar_multi":
		// mod_commands.c uuid_setvar_multi_function: "<uuid> <var>=<value>;<var>=<value>...";
		// each pair split at its first '=', no value unsets; +OK once any was set.
		const usage = "-USAGE: <uuid> <var>=<value>;<var>=<value>...\n"
		uuid, vars, ok := strings.Cut(args, " ")
		if !ok {
			return usage
		}
		l := fs.legs[uuid]
		if l == nil || l.hungup {
			return "-ERR No such channel!\n" + usage
		}
		out, set := "", 0
		for _, pair := range strings.Split(vars, ";") {
			name, value, _ := strings.Cut(pair, "=")
			if name == "" {
				out += "-ERR No variable specified\n"
				continue
			}
			l.vars.set(name, value)
			set++
		}
		if set == 0 {
			return out + usage
		}
		return out + "+OK\n"
	case "uuid_getvar":
		if len(f) < 2 {
			return "-USAGE: <uuid> <var>\n"
		}
		l := leg()
		if l == nil {
			return "-ERR No such channel!\n"
		}
		if v := l.vars.get(f[1]); v != "" {
			return v
		}
		return "_undef_"
	case "reloadxml":
		return fs.reloadXMLLocked()
	case "uuid_exists":
		if leg() != nil {
			return "true"
		}
		return "false"
	case "uuid_kill":
		l := leg()
		if l == nil {
			return "-ERR No such channel!\n"
		}
		cause := "NORMAL_CLEARING"
		if len(f) > 1 {
			cause = f[1]
		}
		l.hangupLocked(cause)
		return "+OK\n"
	case "uuid_transfer":
		l := leg()
		if l == nil {
			return "-ERR No such channel!\n"
		}
		rest := f[1:]
		which := ""
		if len(rest) > 0 && (rest[0] == "-bleg" || rest[0] == "-both") {
			which, rest = rest[0], rest[1:]
		}
		if len(rest) == 0 {
			return "-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n"
		}
		t := &transferReq{dest: rest[0], kind: "uuid_br"}
		if len(rest) > 1 {
			t.dialplan = rest[1]
		}
		if len(rest) > 2 {
			t.context = rest[2]
		}
		targets := []*Leg{l}
		if which == "-bleg" && l.peer != nil {
			targets = []*Leg{l.peer}
		} else if which == "-both" && l.peer != nil {
			targets = append(targets, l.peer)
		}
		for _, x := range targets {
			tt := *t
			x.transferLocked(&tt)
		}
		return "+OK\n"
	case "uuid_bridge":
		if len(f) < 2 {
			return "-USAGE: <uuid> <other_uuid>\n"
		}
		a, b := fs.legs[f[0]], fs.legs[f[1]]
		if a == nil || a.hungup {
			return "-ERR Invalid uuid " + f[0] + "\n"
		}
		if b == nil || b.hungup {
			return "-ERR Invalid uuid " + f[1] + "\n"
		}
		fs.uuidBridgeLocked(a, b)
		return "+OK " + b.uuid + "\n"
	case "uuid_broadcast":
		l := leg()
		if len(f) < 2 {
			return "-USAGE: <uuid> <path> [aleg|bleg|both]\n"
		}
		if l == nil {
			return "-ERR invalid uuid\n"
		}
		which := "aleg"
		if len(f) > 2 {
			which = f[2]
		}
		app, arg := "playback", f[1]
		if a, b, ok := strings.Cut(f[1], "::"); ok {
			app, arg = a, b
		}
		var targets []*Leg
		if which == "aleg" || which == "both" {
			targets = append(targets, l)
		}
		if (which == "bleg" || which == "both") && l.peer != nil {
			targets = append(targets, l.peer)
		}
		for _, x := range targets {
			x.queuePrivLocked(&packet{Command: "sendmsg", Headers: []Header{{"call-command", "execute"},
				{"execute-app-name", app}, {"execute-app-arg", arg}, {"event-lock", "true"}}})
		}
		return "+OK Message sent\n"
	case "uuid_displace":
		l := leg()
		if l == nil || len(f) < 3 {
			return "-USAGE: <uuid> [start|stop] <path> [<limit>] [mux]\n"
		}
		key := "displace:" + f[2]
		switch f[1] {
		case "start":
			if l.vars.get(key) != "" {
				return "-ERR Cannot displace session!\n"
			}
			l.vars.set(key, "true")
		case "stop":
			l.vars.unset(key)
		}
		fs.logApp(l.uuid, "uuid_displace", args)
		return "+OK\n"
	case "uuid_dump":
		l := leg()
		if l == nil {
			return "-ERR No such channel!\n"
		}
		ev := &Event{}
		l.addChannelData(ev, "Caller-", true)
		var b strings.Builder
		for _, h := range ev.Headers {
			fmt.Fprintf(&b, "%s: %s\n", h.Name, URLEncode(h.Value))
		}
		return b.String()
	case "xml_locate":
		return fs.xmlLocateLocked(args)
	case "originate":
		return fs.originateAPILocked(args)
	case "reload", "unload", "load":
		// Over an event socket connection, api and bgapi alike run in api_exec, a thread the
		// module's shutdown counts and waits for (MES ~1538, ~2329, ~2383): the full sanity wait.
		if out, ok := fs.moduleAPILocked(cmd, args, c != nil); ok {
			return out
		}
	case "global_getvar":
		return fs.globalVarLocked(args)
	case "status":
		return "UP 0 years, 0 days\nFreeSWITCH (Version 1.10.12 fstest) is ready\n"
	case "show":
		if args == "channels as json" {
			return fs.showChannelsJSONLocked()
		}
		if strings.HasPrefix(args, "channels count") || args == "calls count" {
			n := 0
			for _, l := range fs.legs {
				if !l.hungup {
					n++
				}
			}
			return fmt.Sprintf("\n%d total.\n", n)
		}
		return "-ERR no reply\n"
	}
	return "-ERR " + cmd + " Command not found!\n"
}

func (fs *FS) uuidRecordLocked(f []string) string {
	const usage = "-USAGE: <uuid> [start|stop|mask|unmask] <path> [<limit>] [<recording_vars>]\n"
	if len(f) < 3 {
		return usage
	}
	l := fs.legs[f[0]]
	if l == nil || l.hungup {
		return "-ERR Cannot locate session!\n"
	}
	path := f[2]
	switch f[1] {
	case "start":
		if _, err := l.startRecordingLocked(path); err != nil {
			return "-ERR Cannot record session!\n"
		}
	case "stop":
		if !l.stopRecordingByPathLocked(path) {
			return "-ERR Cannot stop record session!\n"
		}
	case "mask", "unmask":
		r := l.findRec(path)
		if r == nil {
			if f[1] == "mask" {
				return "-ERR Cannot mask recording session!\n"
			}
			return "-ERR Cannot unmask recording session!\n"
		}
		now := fs.clock.Now()
		open := len(r.masks) > 0 && r.masks[len(r.masks)-1].to.IsZero()
		if f[1] == "mask" && !open {
			r.masks = append(r.masks, span{from: now})
		} else if f[1] == "unmask" && open {
			r.masks[len(r.masks)-1].to = now
		}
	default:
		return usage
	}
	return "+OK Success\n"
}

// bgapiLocked runs cmd on its own goroutine and fires BACKGROUND_JOB with the output as body.
func (fs *FS) bgapiLocked(c *conn, line, job string) {
	owner := ""
	if c.leg != nil {
		owner = c.leg.uuid
	}
	fs.wg.Add(1)
	go func() {
		defer fs.wg.Done()
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if fs.closed {
			return
		}
		out := fs.apiLocked(c, line)
		cmd, arg, _ := strings.Cut(line, " ")
		ev := fs.newEventLocked("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", 1557)
		ev.add("Job-UUID", job)
		ev.add("Job-Command", cmd)
		if arg != "" {
			ev.add("Job-Command-Arg", arg)
		}
		if owner != "" {
			ev.add("Job-Owner-UUID", owner)
		}
		ev.Body = out
		fs.fireLocked(ev)
	}()
}

func (fs *FS) acceptInbound(ln net.Listener) {
	defer fs.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		fs.mu.Lock()
		if fs.closed {
			fs.mu.Unlock()
			nc.Close()
			return
		}
		fs.newConnLocked(nc, false, nil)
		fs.mu.Unlock()
	}
}

// SetFaults changes the fault injection of every connection.
func (fs *FS) SetFaults(f Faults) {
	fs.mu.Lock()
	fs.faults = f
	fs.mu.Unlock()
}

// DropConn closes, without any notice, every outbound connection controlling leg uuid (a
// crash of the network path). It returns how many it closed.
func (fs *FS) DropConn(uuid string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	if l := fs.legs[uuid]; l != nil {
		for _, c := range l.controllers {
			if !c.gone {
				c.abortLocked()
				n++
			}
		}
	}
	return n
}

// InjectFrame writes raw bytes on every live outbound connection controlling leg uuid,
// between frames — for malformed-frame tests (unknown Content-Type, bad URL encoding,
// missing headers, a lying Content-Length). It returns how many connections got it.
func (fs *FS) InjectFrame(uuid string, raw []byte) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	if l := fs.legs[uuid]; l != nil {
		for _, c := range l.controllers {
			if !c.gone && !c.shut {
				c.enqueue(append([]byte(nil), raw...), nil, false)
				n++
			}
		}
	}
	return n
}

// InjectInbound writes raw bytes, between frames, on every live authenticated inbound
// connection (a node's): the inbound counterpart of InjectFrame. It returns how many got it.
func (fs *FS) InjectInbound(raw []byte) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for c := range fs.conns {
		if !c.outbound && c.authed && !c.gone && !c.shut {
			c.enqueue(append([]byte(nil), raw...), nil, false)
			n++
		}
	}
	return n
}
