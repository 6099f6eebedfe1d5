package fstest

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults makes the stand-in misbehave on ESL connections, for tests of the controller's
// defences. Set with FS.SetFaults; it applies to commands read after the call.
type Faults struct {
	// ReplyDelay delays every command reply (events keep flowing meanwhile).
	ReplyDelay time.Duration
	// DropReplies makes the stand-in never answer commands (eslgo's "reply shift" trap).
	DropReplies bool
	// CloseOn closes the TCP connection, without any notice, when a command starting with
	// this text arrives (case-insensitive), e.g. "api uuid_record".
	CloseOn string
}

// conn is one ESL connection: an outbound one that the socket app dialled for a leg, or an
// inbound one accepted on InboundAddr.
type conn struct {
	fs       *FS
	id       int
	nc       net.Conn
	outbound bool
	leg      *Leg

	async, full, authed, connected bool
	gone, down, shut               bool

	all      bool
	events   map[string]bool
	customs  map[string]bool
	myevents bool
	filters  []Header
	divert   bool
	linger   bool
	lingerN  int

	inCmd   bool
	pending []*Event
	// holdTail: the linger notice is out and the teardown events after it are held for
	// lingerTailDelay; an `exit` meanwhile loses them (FAILOPEN.md §2.1, exp4b/exp6d).
	holdTail bool
	tail     []*Event

	connectAt, lastEventAt time.Time // wall clock, for Stats

	qmu    sync.Mutex
	qcond  *sync.Cond
	q      []outFrame
	wdone  bool
	closed chan struct{}
}

type outFrame struct {
	data  []byte
	ev    *Event
	close bool
}

func (fs *FS) newConnLocked(nc net.Conn, outbound bool, leg *Leg) *conn {
	fs.nextConn++
	c := &conn{fs: fs, id: fs.nextConn, nc: nc, outbound: outbound, leg: leg,
		events: map[string]bool{}, customs: map[string]bool{}, closed: make(chan struct{})}
	c.qcond = sync.NewCond(&c.qmu)
	fs.conns[c] = struct{}{}
	fs.connList = append(fs.connList, c)
	c.probeLocked(ProbeOpen, "")
	fs.wg.Add(2)
	go c.writeLoop()
	go c.readLoop()
	return c
}

// enqueue queues raw bytes for the writer; ev is kept for the transcript.
func (c *conn) enqueue(data []byte, ev *Event, closeAfter bool) {
	c.qmu.Lock()
	if !c.wdone {
		c.q = append(c.q, outFrame{data: data, ev: ev, close: closeAfter})
		c.qcond.Signal()
	}
	c.qmu.Unlock()
}

func (c *conn) writeLoop() {
	defer c.fs.wg.Done()
	for {
		c.qmu.Lock()
		for len(c.q) == 0 && !c.wdone {
			c.qcond.Wait()
		}
		if len(c.q) == 0 {
			c.qmu.Unlock()
			break
		}
		f := c.q[0]
		c.q = c.q[1:]
		c.qmu.Unlock()
		if f.data == nil && f.ev != nil {
			f.data = eventFrame(f.ev)
		}
		if len(f.data) > 0 {
			c.fs.transcript.add(c.id, c.kind(), FromFS, c.fs.clock.Now(), f.data, f.ev)
			_ = c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.nc.Write(f.data); err != nil {
				c.stopWriter()
				break
			}
		}
		if f.close {
			c.stopWriter()
			break
		}
	}
	c.nc.Close()
}

func (c *conn) stopWriter() {
	c.qmu.Lock()
	c.wdone = true
	c.q = nil
	c.qmu.Unlock()
	c.nc.Close()
}

func (c *conn) kind() string {
	if c.outbound {
		return "outbound"
	}
	return "inbound"
}

// shutdownLocked sends the goodbye notice and closes (FS.Close, linger expiry, exit).
func (c *conn) shutdownLocked() {
	if c.shut {
		return
	}
	c.shut = true
	uuid := ""
	if c.leg != nil {
		uuid = c.leg.uuid
	}
	c.enqueue(disconnectNotice(uuid), nil, true)
}

// abortLocked drops the TCP connection without a word (fault injection).
func (c *conn) abortLocked() {
	c.shut = true
	c.stopWriter()
}

func (c *conn) readLoop() {
	defer c.fs.wg.Done()
	r := bufio.NewReaderSize(c.nc, 16<<10)
	if c.outbound {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.fs.opts.ConnectTimeout))
	} else {
		c.enqueue([]byte("Content-Type: auth/request\n\n"), nil, false)
	}
	for {
		p, err := readPacket(r)
		if err != nil {
			break
		}
		c.fs.transcript.add(c.id, c.kind(), ToFS, c.fs.clock.Now(), p.Raw, nil)
		if c.outbound && !c.connected {
			// listener_run: the first packet is parsed but only `connect` produces output.
			if !strings.EqualFold(strings.TrimSpace(p.Command), "connect") {
				continue
			}
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		if !c.handle(p) {
			break
		}
	}
	c.fs.mu.Lock()
	if c.outbound && !c.connected && !c.shut {
		// No connect within the timeout: FS says goodbye and closes (FAILOPEN.md exp2a).
		c.shutdownLocked()
	}
	c.probeLocked(ProbeEnd, "")
	if c.outbound && !c.connected {
		c.fs.stats.NoConnect++
	} else if c.outbound && !c.shut && c.leg != nil && !c.leg.hungup {
		c.fs.stats.Dropped++
	}
	c.shut = true
	c.stopWriterIfIdleLocked()
	c.goneLocked()
	c.fs.mu.Unlock()
	<-c.closed
}

func (c *conn) stopWriterIfIdleLocked() {
	c.qmu.Lock()
	if len(c.q) == 0 || !c.q[len(c.q)-1].close {
		c.q = append(c.q, outFrame{close: true})
		c.qcond.Signal()
	}
	c.qmu.Unlock()
}

// goneLocked detaches the connection: the listener thread has ended.
func (c *conn) goneLocked() {
	if c.gone {
		return
	}
	c.gone = true
	delete(c.fs.conns, c)
	c.fs.rebuildConnListLocked()
	close(c.closed)
	if c.leg != nil {
		c.leg.listenerGoneLocked(c)
	}
}

// lingerTailDelay is how long after the linger notice the last events of a hangup (UNBRIDGE,
// RECORD_STOP, HANGUP_COMPLETE) reach a lingering connection: 17–30 ms on the rig
// (FAILOPEN.md §2.1). Wall time: it is thread scheduling in FreeSWITCH, not call time.
const lingerTailDelay = 20 * time.Millisecond

// channelDownLocked is read_packet noticing the channel went down (REFERENCE.md §1.8).
func (c *conn) channelDownLocked() {
	if c.down || c.gone || !c.connected {
		return
	}
	c.down = true
	if !c.linger {
		c.shutdownLocked()
		return
	}
	c.enqueue(lingerNotice(c.leg.uuid, c.leg.name, c.lingerN), nil, false)
	c.holdTail = true
	c.fs.wg.Add(1)
	go func() {
		defer c.fs.wg.Done()
		t := time.NewTimer(lingerTailDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.closed:
			return
		case <-c.fs.ctx.Done():
			return
		}
		c.fs.mu.Lock()
		defer c.fs.mu.Unlock()
		c.holdTail = false
		tail := c.tail
		c.tail = nil
		for _, ev := range tail {
			c.deliverLocked(ev)
		}
	}()
	if c.lingerN >= 0 {
		d := time.Duration(c.lingerN) * time.Second
		c.fs.wg.Add(1)
		go func() {
			defer c.fs.wg.Done()
			if !c.fs.clock.sleepOr(c.fs.ctx, d, c.closed) {
				return
			}
			c.fs.mu.Lock()
			c.shutdownLocked()
			c.fs.mu.Unlock()
		}()
	}
}

// offerLocked applies subscriptions, myevents and filters (REFERENCE.md §1.4).
func (c *conn) offerLocked(ev *Event) {
	if c.gone || c.shut || (c.outbound && !c.connected) || (c.down && !c.linger) {
		return
	}
	if c.outbound && !c.full && !c.myevents {
		return
	}
	name, _ := ev.getLower("event-name")
	if name == "" {
		return
	}
	if name == "CUSTOM" {
		sub, _ := ev.getLower("event-subclass")
		if !c.all && !c.customs[sub] {
			return
		}
	} else if !c.all && !c.events[name] {
		return
	}
	if c.myevents && c.leg != nil {
		u, _ := ev.getLower("unique-id")
		j, _ := ev.getLower("job-owner-uuid")
		if u != c.leg.uuid && j != c.leg.uuid {
			return
		}
	}
	if !c.passFilters(ev) {
		return
	}
	c.deliverLocked(ev)
}

func (c *conn) deliverLocked(ev *Event) {
	if c.holdTail {
		c.tail = append(c.tail, ev)
		return
	}
	if c.fs.opts.CollectStats && c.lastEventAt.IsZero() {
		c.lastEventAt = time.Now()
	}
	if c.fs.opts.Probe != nil {
		c.probeLocked(ProbeDelivered, ev.Name())
	}
	if c.inCmd {
		c.pending = append(c.pending, ev)
		return
	}
	// Fired events are never modified again, so connections share them and the writer
	// serialises outside fs.mu.
	c.enqueue(nil, ev, false)
}

func (c *conn) passFilters(ev *Event) bool {
	if len(c.filters) == 0 {
		return true
	}
	pos, neg := false, false
	for _, f := range c.filters {
		v, ok := ev.getLower(strings.ToLower(f.Name))
		if !ok {
			continue
		}
		want, negative := f.Value, false
		if strings.HasPrefix(want, "-") {
			want, negative = want[1:], true
		}
		match := v == want
		if strings.HasPrefix(want, "/") && strings.HasSuffix(want, "/") && len(want) > 1 {
			if re, err := regexp.Compile(want[1 : len(want)-1]); err == nil {
				match = re.MatchString(v)
			}
		}
		if match && negative {
			neg = true
		} else if match {
			pos = true
		}
	}
	if neg {
		return false
	}
	if !pos {
		for _, f := range c.filters {
			if !strings.HasPrefix(f.Value, "-") {
				return false
			}
		}
		// only negative filters: events lacking every filtered header are dropped
		for _, f := range c.filters {
			if _, ok := ev.Get(f.Name); ok {
				return true
			}
		}
		return false
	}
	return true
}

func hasPrefixFold(s, p string) bool {
	return len(s) >= len(p) && strings.EqualFold(s[:len(p)], p)
}

// handle runs one command; false means the reader must stop.
func (c *conn) handle(p *packet) bool {
	c.fs.mu.Lock()
	faults := c.fs.faults
	c.fs.mu.Unlock()
	cmd := strings.TrimSpace(p.Command)
	if faults.CloseOn != "" && hasPrefixFold(cmd, faults.CloseOn) {
		c.fs.mu.Lock()
		c.abortLocked()
		c.fs.mu.Unlock()
		return false
	}
	if faults.ReplyDelay > 0 {
		time.Sleep(faults.ReplyDelay)
	}
	c.fs.mu.Lock()
	defer c.fs.mu.Unlock()
	if c.gone || c.shut {
		return false
	}
	if c.connected {
		c.observeCommandLocked(time.Now())
	}
	c.probeLocked(ProbeCommand, cmd)
	c.inCmd = true
	reply, cont := c.execLocked(cmd, p)
	c.inCmd = false
	if reply != nil && !faults.DropReplies {
		c.enqueue(reply, nil, false)
	}
	for _, ev := range c.pending {
		c.enqueue(nil, ev, false)
	}
	c.pending = nil
	return cont
}

func (c *conn) execLocked(cmd string, p *packet) ([]byte, bool) {
	if !c.outbound && !c.authed {
		if hasPrefixFold(cmd, "auth ") {
			if strings.TrimSpace(cmd[5:]) == c.fs.opts.InboundPassword {
				c.authed = true
				return commandReply("+OK accepted"), true
			}
			c.enqueue(commandReply("-ERR invalid"), nil, false)
			c.shutdownLocked()
			return nil, false
		}
		return commandReply("-ERR invalid"), true
	}
	switch {
	case strings.EqualFold(cmd, "exit") || strings.EqualFold(cmd, "..."):
		c.holdTail, c.tail = false, nil // events still held after the linger notice are lost
		c.enqueue(commandReply("+OK bye"), nil, false)
		c.shutdownLocked()
		return nil, false
	case c.outbound && strings.EqualFold(cmd, "connect"):
		if c.connected {
			return commandReply("+OK"), true
		}
		c.connected = true
		c.connectAt = time.Now()
		c.leg.connectedLocked(c)
		return c.connectReplyLocked(), true
	case hasPrefixFold(cmd, "getvar"):
		if c.leg == nil {
			return commandReply("-ERR command not found"), true
		}
		v := c.leg.vars.get(strings.TrimSpace(cmd[len("getvar"):]))
		if v == "" {
			return commandReply("-ERR command not found"), true
		}
		return commandReply(v), true
	case hasPrefixFold(cmd, "myevents"):
		if c.myevents {
			return commandReply("-ERR aready enabled."), true
		}
		c.myevents = true
		for _, n := range strings.Fields("CHANNEL_ANSWER CHANNEL_APPLICATION CHANNEL_BRIDGE CHANNEL_CREATE CHANNEL_DATA CHANNEL_DESTROY CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_ORIGINATE CHANNEL_UUID CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_STATE CHANNEL_UNBRIDGE CHANNEL_UNPARK DETECTED_SPEECH DTMF NOTALK TALK") {
			c.events[n] = true
		}
		return commandReply("+OK Events Enabled"), true
	case hasPrefixFold(cmd, "divert_events"):
		on := strings.EqualFold(strings.TrimSpace(cmd[len("divert_events"):]), "on")
		c.divert = on
		if on {
			return commandReply("+OK events diverted"), true
		}
		return commandReply("+OK events not diverted"), true
	case hasPrefixFold(cmd, "filter"):
		return commandReply(c.filterLocked(strings.TrimSpace(cmd[len("filter"):]))), true
	case hasPrefixFold(cmd, "sendmsg"):
		return commandReply(c.sendmsgLocked(strings.TrimSpace(cmd[len("sendmsg"):]), p)), true
	case hasPrefixFold(cmd, "resume"):
		if c.leg != nil {
			c.leg.vars.set("socket_resume", "true")
		}
		return commandReply("+OK"), true
	}
	if c.outbound && !c.full {
		return commandReply("-ERR command not found"), true // the async full gate, MES:2236
	}
	switch {
	case hasPrefixFold(cmd, "api "):
		out := c.fs.apiLocked(c, strings.TrimSpace(cmd[4:]))
		return apiResponse(out), true
	case hasPrefixFold(cmd, "bgapi "):
		job := p.get("Job-UUID")
		if job == "" {
			job = newUUID()
		}
		c.fs.bgapiLocked(c, strings.TrimSpace(cmd[6:]), job)
		return commandReply("+OK Job-UUID: "+job, Header{"Job-UUID", job}), true
	case hasPrefixFold(cmd, "linger"):
		arg := strings.TrimSpace(cmd[len("linger"):])
		c.linger = true
		c.lingerN = -1
		if n, err := strconv.Atoi(arg); err == nil && n > 0 {
			c.lingerN = n
			return commandReply(fmt.Sprintf("+OK will linger %d seconds", n)), true
		}
		return commandReply("+OK will linger"), true
	case hasPrefixFold(cmd, "nolinger"):
		c.linger = false
		return commandReply("+OK will not linger"), true
	case hasPrefixFold(cmd, "nixevent"):
		for _, n := range strings.Fields(cmd[len("nixevent"):]) {
			delete(c.events, n)
			if n == "ALL" {
				c.all = false
			}
		}
		return commandReply("+OK events nixed"), true
	case hasPrefixFold(cmd, "noevents"):
		c.all = false
		c.events = map[string]bool{}
		c.customs = map[string]bool{}
		return commandReply("+OK no longer listening for events"), true
	case hasPrefixFold(cmd, "event"):
		return commandReply(c.eventCmdLocked(strings.Fields(cmd[len("event"):]))), true
	}
	return commandReply("-ERR command not found"), true
}

func (c *conn) eventCmdLocked(toks []string) string {
	format := "plain"
	if len(toks) > 0 {
		switch strings.ToLower(toks[0]) {
		case "plain", "json", "xml":
			format = strings.ToLower(toks[0])
			toks = toks[1:]
		}
	}
	if len(toks) == 0 {
		return "-ERR no keywords supplied"
	}
	custom := false
	for _, t := range toks {
		switch {
		case custom:
			c.customs[t] = true
		case strings.EqualFold(t, "CUSTOM"):
			custom = true
		case strings.EqualFold(t, "ALL"):
			c.all = true
		default:
			c.events[strings.ToUpper(t)] = true
		}
	}
	return "+OK event listener enabled " + format
}

func (c *conn) filterLocked(arg string) string {
	name, val, ok := strings.Cut(arg, " ")
	if !ok {
		return "-ERR invalid syntax"
	}
	if strings.EqualFold(name, "delete") {
		h, v, _ := strings.Cut(val, " ")
		if strings.EqualFold(h, "all") {
			c.filters = nil
		} else {
			kept := c.filters[:0]
			for _, f := range c.filters {
				if strings.EqualFold(f.Name, h) && (v == "" || f.Value == v) {
					continue
				}
				kept = append(kept, f)
			}
			c.filters = kept
		}
		return fmt.Sprintf("+OK filter deleted. [%s][%s]", h, v)
	}
	if strings.EqualFold(name, "add") {
		name, val, _ = strings.Cut(val, " ")
	}
	c.filters = append(c.filters, Header{name, val})
	return fmt.Sprintf("+OK filter added. [%s]=[%s]", name, val)
}

func (c *conn) sendmsgLocked(uuid string, p *packet) string {
	target := c.leg
	if uuid != "" {
		target = c.fs.legs[uuid]
		if target == nil || target.hungup {
			return fmt.Sprintf("-ERR invalid session id [%s]", uuid)
		}
	}
	if target == nil {
		return "-ERR invalid session id [" + uuid + "]"
	}
	target.queuePrivLocked(p)
	return "+OK"
}

// connectReplyLocked is the CHANNEL_DATA block sent for `connect` (REFERENCE.md §1.3).
func (c *conn) connectReplyLocked() []byte {
	l := c.leg
	c.fs.seq++
	ev := c.fs.newEventLocked("CHANNEL_DATA", "mod_event_socket.c", "parse_command", 2021)
	ev.set("Event-Sequence", fmt.Sprint(c.fs.seq))
	l.addProfile(ev, "Channel-", &l.cp, l)
	l.addChannelData(ev, "Caller-", true)
	ev.add("Content-Type", "command/reply")
	ev.add("Reply-Text", "+OK\n")
	if c.async {
		ev.add("Socket-Mode", "async")
	} else {
		ev.add("Socket-Mode", "static")
	}
	if c.full {
		ev.add("Control", "full")
	} else {
		ev.add("Control", "single-channel")
	}
	return ev.serializePlain()
}
