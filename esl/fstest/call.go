package fstest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// defaultDomain is the stand-in's one directory domain for phones without Phone.Domain:
// switch_core_get_domain's default, the host's IP (vanilla vars.xml domain=$${local_ip_v4}).
const defaultDomain = "127.0.0.1"

// CallSpec describes a call entering the stand-in.
type CallSpec struct {
	// From is the caller's number (Caller-Caller-ID-Number, sip_from_user); for Outbound the
	// default is FromUser. An Outbound From other than FromUser is a phone whose From header
	// differs from the user it authenticated as (user_name, sip_auth_username stay FromUser).
	From, FromName string
	// FromUser is, for Outbound, the extension of the phone placing the call.
	FromUser string
	// Domain is, for Outbound, the directory domain of FromUser (Phone.Domain; default the
	// phone's own): the INVITE comes From <FromUser>@<Domain>.
	Domain string
	// To is the dialled number (Caller-Destination-Number, sip_to_user, sip_req_user).
	To string
	// Context is the dialplan context (default "public" for Inbound; for Outbound the phone's
	// user_context, Phone.Context, "default" unless set).
	Context string
	// Profile is the sofia profile name (default Options.Profile).
	Profile string
	// ToneHz is the caller's tone (default 440 Hz for Inbound, the phone's ToneHz for Outbound).
	ToneHz float64
	// Vars are channel variables set before routing (as if set by the profile or INVITE).
	Vars map[string]string
	// Headers are INVITE X-headers, stored as sip_h_<Name>.
	Headers map[string]string
	// NetworkAddr is Caller-Network-Addr (default 127.0.0.1).
	NetworkAddr string
}

// Call is a call and every leg it created. Legs created by bridges or transfers of its
// legs belong to it too.
type Call struct {
	fs *FS
	// A is the leg that entered the stand-in.
	A       *Leg
	legs    []*Leg
	changed chan struct{}
}

func (c *Call) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Legs returns every leg of the call, oldest first.
func (c *Call) Legs() []*Leg {
	c.fs.mu.Lock()
	defer c.fs.mu.Unlock()
	return append([]*Leg(nil), c.legs...)
}

// WaitAnswered is WaitLeg, then the leg's WaitAnswer: the leg the call dialled to target, once
// its far end has answered. Errors when ctx ends first.
func (c *Call) WaitAnswered(ctx context.Context, target string) (*Leg, error) {
	l, err := c.WaitLeg(ctx, target)
	if err != nil {
		return nil, err
	}
	if err := l.WaitAnswer(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// WaitLeg waits for a leg the call dialled to target (an extension of user/<ext>, or the
// number of a gateway dial string) and returns the newest such leg that is still up (or
// the newest at all). Errors when ctx ends first.
func (c *Call) WaitLeg(ctx context.Context, target string) (*Leg, error) {
	for {
		c.fs.mu.Lock()
		var found, up *Leg
		for _, l := range c.legs {
			if l.target == target && l != c.A {
				found = l
				if !l.hungup {
					up = l
				}
			}
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		ch := c.changed
		c.fs.mu.Unlock()
		if up != nil {
			return up, nil
		}
		select {
		case <-ctx.Done():
			if found != nil {
				return found, nil
			}
			return nil, fmt.Errorf("fstest: no leg to %q: %w", target, ctx.Err())
		case <-ch:
		}
	}
}

// Inbound brings a call in from outside (a carrier INVITE on a profile): the leg is
// created, routed through the dialplan in spec.Context and run on its own goroutine.
// It returns at once. Errors: ErrClosed.
func (fs *FS) Inbound(ctx context.Context, spec CallSpec) (*Call, error) {
	if spec.Context == "" {
		spec.Context = "public"
	}
	if spec.ToneHz == 0 {
		spec.ToneHz = 440
	}
	return fs.startCall(spec, fs.profile(spec.Profile), spec.From, "")
}

// Outbound is a registered phone (spec.FromUser of spec.Domain) placing a call to spec.To in
// spec.Context (default: the phone's user_context). As after sofia's digest auth, the leg
// carries the directory user's variables (user_name, domain_name, user_context:
// sofia_reg.c sofia_reg_parse_auth ~3445–3475), and its context is user_context
// (sofia.c sofia_handle_sip_i_invite ~11200). Errors: ErrClosed.
func (fs *FS) Outbound(ctx context.Context, spec CallSpec) (*Call, error) {
	ph, _ := fs.phone(spec.FromUser, spec.Domain)
	if spec.Domain == "" {
		spec.Domain = ph.Domain
	}
	if spec.Context == "" {
		spec.Context = ph.userContext()
	}
	if spec.From == "" {
		spec.From = spec.FromUser
	}
	if spec.ToneHz == 0 {
		spec.ToneHz = ph.ToneHz
	}
	if spec.ToneHz == 0 {
		spec.ToneHz = 600
	}
	call, err := fs.startCall(spec, fs.profile(spec.Profile), spec.From, spec.FromUser)
	if err == nil {
		fs.mu.Lock()
		call.A.vars.set("user_context", ph.userContext())
		fs.mu.Unlock()
	}
	return call, err
}

func (fs *FS) startCall(spec CallSpec, prof Profile, from, user string) (*Call, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return nil, ErrClosed
	}
	call := &Call{fs: fs}
	addr := spec.NetworkAddr
	if addr == "" {
		addr = "127.0.0.1"
	}
	l := fs.newLegLocked(call, "inbound", prof, fmt.Sprintf("sofia/%s/%s@%s", prof.Name, from, addr))
	call.A = l
	l.phone = Phone{ToneHz: spec.ToneHz}
	name := spec.FromName
	if name == "" {
		name = from
	}
	l.cp = callerProfile{Username: from, Dialplan: "XML", CIDName: name, CIDNum: from, OrigCIDName: name,
		OrigCIDNum: from, Network: addr, ANI: from, Dest: spec.To, Source: "mod_sofia", Context: spec.Context,
		Index: 1, Created: l.createdAt}
	v := l.vars
	v.set("direction", "inbound")
	v.set("uuid", l.uuid)
	v.set("session_id", fmt.Sprint(fs.nextSession()))
	v.set("sip_from_user", from)
	v.set("sip_from_port", "5060")
	fromHost := addr
	if user != "" && spec.Domain != "" {
		fromHost = spec.Domain // a registered phone's From is <user>@<its domain>
	}
	v.set("sip_from_uri", from+"@"+fromHost)
	v.set("sip_from_host", fromHost)
	v.set("channel_name", l.name)
	v.set("sip_call_id", newUUID()+"@"+addr)
	v.set("sip_local_network_addr", "127.0.0.1")
	v.set("sip_network_ip", addr)
	v.set("sip_network_port", "5060")
	v.set("sip_received_ip", addr)
	v.set("sip_received_port", "5060")
	v.set("sip_via_protocol", "udp")
	v.set("sofia_profile_name", prof.Name)
	v.set("sip_from_display", name)
	v.set("sip_req_user", spec.To)
	v.set("sip_req_port", "5060")
	v.set("sip_req_uri", spec.To+"@127.0.0.1:5060")
	v.set("sip_req_host", "127.0.0.1")
	v.set("sip_to_user", spec.To)
	v.set("sip_to_port", "5060")
	v.set("sip_to_uri", spec.To+"@127.0.0.1:5060")
	v.set("sip_to_host", "127.0.0.1")
	v.set("sip_contact_user", from)
	v.set("sip_contact_port", "5060")
	v.set("sip_contact_uri", from+"@"+addr+":5060")
	v.set("sip_contact_host", addr)
	v.set("sip_user_agent", "fstest")
	if user != "" {
		// sofia_reg.c sofia_reg_parse_auth ~3444–3449: after digest auth the directory user and
		// domain the phone authenticated as (not its From header) go on the channel
		// (sofia.c sofia_handle_sip_i_invite ~10833 copies them as channel variables).
		domain := spec.Domain
		if domain == "" {
			domain = defaultDomain
		}
		v.set("user_name", user)
		v.set("domain_name", domain)
		v.set("sip_auth_username", user)
		v.set("sip_auth_realm", domain)
		v.set("effective_caller_id_number", from)
	}
	hdrs := make([]string, 0, len(spec.Headers))
	for k := range spec.Headers {
		hdrs = append(hdrs, k)
	}
	sort.Strings(hdrs)
	for _, k := range hdrs {
		v.set("sip_h_"+k, spec.Headers[k])
	}
	v.set("read_codec", "PCMA")
	v.set("read_rate", "8000")
	v.set("write_codec", "PCMA")
	v.set("write_rate", "8000")
	v.set("dtmf_type", "rfc2833")
	v.set("endpoint_disposition", "RECEIVED")
	keys := make([]string, 0, len(spec.Vars))
	for k := range spec.Vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.set(k, spec.Vars[k])
	}
	v.set("call_uuid", l.uuid)
	l.callState = "RINGING"
	l.answerState = "ringing"
	// traces/info-inbound-ALL: CHANNEL_STATE CS_NEW, CHANNEL_STATE CS_INIT, then CHANNEL_CREATE.
	l.fireLocked(l.chanEvent("CHANNEL_STATE", "switch_core_state_machine.c", "switch_core_session_run", 627))
	l.setStateLocked("CS_INIT")
	l.fireLocked(l.chanEvent("CHANNEL_CREATE", "switch_core_state_machine.c", "switch_core_session_run", 600))
	l.startExecLocked()
	return call, nil
}

func (fs *FS) nextSession() int { return len(fs.legOrder) }

// newLegLocked creates a leg in CS_NEW and registers it.
func (fs *FS) newLegLocked(call *Call, dir string, prof Profile, name string) *Leg {
	l := &Leg{fs: fs, uuid: newUUID(), name: name, direction: dir, profile: prof, vars: newVarMap(),
		call: call, state: "CS_NEW", callState: "DOWN", answerState: "ringing", createdAt: fs.clock.Now()}
	l.cond = sync.NewCond(&fs.mu)
	fs.legs[l.uuid] = l
	fs.legOrder = append(fs.legOrder, l)
	if call != nil {
		call.legs = append(call.legs, l)
		call.notifyLocked()
	}
	return l
}

// startExecLocked starts the dialplan executor goroutine of l.
func (l *Leg) startExecLocked() {
	if l.hasExec {
		return
	}
	l.hasExec = true
	l.fs.wg.Add(1)
	go l.run()
}

// originateLocked dials one target of a bridge for a: user/<ext>, sofia/gateway/<gw>/<num>,
// sofia/<profile>/<num>, with optional {k=v,…} and [k=v] variables in front. It returns the
// new leg (ringing) or a hangup cause.
func (fs *FS) originateLocked(a *Leg, target string) (*Leg, string) {
	vars, target := splitDialVars(target)
	var ph Phone
	var dest, prof string
	var dialed, dialedDomain string // user/<ext>@<domain>: the directory user reached
	switch {
	case strings.HasPrefix(target, "user/"):
		dest = strings.TrimPrefix(target, "user/")
		dest, dialedDomain, _ = strings.Cut(dest, "@")
		p, ok := fs.phone(dest, dialedDomain)
		if !ok {
			return nil, "USER_NOT_REGISTERED"
		}
		if p.Unregistered {
			return nil, "USER_NOT_REGISTERED"
		}
		if dialedDomain == "" {
			dialedDomain = p.Domain
		}
		if dialedDomain == "" {
			dialedDomain = defaultDomain
		}
		ph, prof, dialed = p, fs.opts.Profile.Name, dest
	case strings.HasPrefix(target, "sofia/gateway/"):
		parts := strings.SplitN(strings.TrimPrefix(target, "sofia/gateway/"), "/", 2)
		if len(parts) < 2 {
			return nil, "INVALID_GATEWAY"
		}
		dest, ph, prof = parts[1], fs.opts.External, "external"
	case strings.HasPrefix(target, "sofia/"):
		parts := strings.SplitN(strings.TrimPrefix(target, "sofia/"), "/", 2)
		if len(parts) < 2 {
			return nil, "INVALID_NUMBER_FORMAT"
		}
		dest, ph, prof = parts[1], fs.opts.External, parts[0]
		dest = strings.TrimPrefix(dest, "sip:")
		dest, _, _ = strings.Cut(dest, "@")
	default:
		return nil, "CHAN_NOT_IMPLEMENTED"
	}
	if ph.Reject != "" {
		return nil, ph.Reject
	}
	b := fs.newLegLocked(a.call, "outbound", fs.profile(prof), fmt.Sprintf("sofia/%s/%s", prof, dest))
	b.target = dest
	b.phone = ph
	if b.phone.ToneHz == 0 {
		b.phone.ToneHz = 1000 + float64(100*len(a.call.legs))
	}
	cid, cidName := a.vars.get("effective_caller_id_number"), a.vars.get("effective_caller_id_name")
	if cid == "" {
		cid = a.cp.CIDNum
	}
	if cidName == "" {
		cidName = a.cp.CIDName
	}
	b.cp = callerProfile{Username: a.cp.Username, Dialplan: "XML", CIDName: cidName, CIDNum: cid,
		OrigCIDName: a.cp.CIDName, OrigCIDNum: a.cp.CIDNum, CalleeName: "Outbound Call", CalleeNum: dest,
		Network: a.cp.Network, ANI: a.cp.ANI, Dest: dest, Source: "mod_sofia", Context: a.cp.Context,
		RDNIS: a.cp.RDNIS, Index: 1, Created: b.createdAt}
	b.other, b.otherType = a, "originator"
	a.other, a.otherType = b, "originatee"
	v := b.vars
	v.set("direction", "outbound")
	v.set("uuid", b.uuid)
	v.set("session_id", fmt.Sprint(fs.nextSession()))
	v.set("sip_profile_name", prof)
	v.set("channel_name", b.name)
	v.set("sip_destination_url", "sip:"+dest+"@127.0.0.1")
	v.set("sip_to_user", dest)
	v.set("sip_req_user", dest)
	v.set("sip_call_id", newUUID()+"@127.0.0.1")
	v.set("originator", a.uuid)
	v.set("originating_leg_uuid", a.uuid)
	// export semantics (REFERENCE.md §9): export_vars names travel to new legs.
	for _, name := range strings.Split(a.vars.get("export_vars"), ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if val := a.vars.get(name); val != "" {
			v.set(strings.TrimPrefix(name, "nolocal:"), val)
		}
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.set(k, vars[k])
	}
	if dialed != "" {
		// mod_dptools.c user_outgoing_channel: dialed_user/dialed_domain go on the new leg with
		// the originate variables (~4410) and on the originator too (~4441); the directory
		// user's <variables> (the stock user_context among them) are set on the new leg after
		// the originate (~4510–4517), so its caller profile keeps the originator's context.
		v.set("dialed_user", dialed)
		v.set("dialed_domain", dialedDomain)
		a.vars.set("dialed_user", dialed)
		a.vars.set("dialed_domain", dialedDomain)
		v.set("user_context", ph.userContext())
		if ph.Domain != "" {
			v.set("domain_name", ph.Domain)
		}
	}
	b.state = "CS_INIT"
	b.fireLocked(b.chanEvent("CHANNEL_CREATE", "switch_core_state_machine.c", "switch_core_session_run", 600))
	b.fireLocked(b.chanEvent("CHANNEL_OUTGOING", "switch_core_session.c", "switch_core_session_outgoing_channel", 739))
	b.callState = "RINGING"
	b.progressAt = fs.clock.Now()
	b.fireLocked(b.chanEvent("CHANNEL_PROGRESS", "switch_channel.c", "switch_channel_perform_mark_ring_ready_value", 3642))
	b.setStateLocked("CS_ROUTING")
	b.setStateLocked("CS_CONSUME_MEDIA")
	if !ph.NoAnswer {
		d := ph.AnswerAfter
		fs.wg.Add(1)
		go func() {
			defer fs.wg.Done()
			if fs.clock.sleep(fs.ctx, d) != nil {
				return
			}
			fs.mu.Lock()
			b.answerLocked()
			fs.mu.Unlock()
		}()
	}
	return b, ""
}
