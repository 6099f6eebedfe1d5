package esl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/store"
)

// subscribedEvents are the events every Session follows. Never `myevents`: it cannot be undone
// and drops the other legs' events (REFERENCE.md §1.4). Each event costs both ends (FreeSWITCH
// serialises every channel variable into most channel events): a leg's end is its
// CHANNEL_HANGUP_COMPLETE alone (CHANNEL_HANGUP comes a moment before it, with the same facts),
// CHANNEL_UNBRIDGE tells nothing a Session uses, CHANNEL_EXECUTE_COMPLETE is asked for only when
// an announcement is awaited and DTMF only for key_dtmf companies (Session.events).
var subscribedEvents = []string{
	"CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_HANGUP_COMPLETE", "RECORD_START", "RECORD_STOP",
}

// legInfo is what a Session knows about one channel of its call.
type legInfo struct {
	uuid     string
	role     dialplan.Leg
	user     *store.User // set for a platform user's leg
	external bool
	answered bool
	gone     bool
	matcher  *dialplan.CodeMatcher // key_dtmf: this user leg's digits
}

// activeRec is a recording this Session started or booked and has not seen stop yet.
type activeRec struct {
	id        string
	leg       string // the channel whose media bug records
	path      string // Record-File-Path as FreeSWITCH reports it
	typ       string
	trigger   string
	requester string // on-demand: the requesting user's leg
	startedAt time.Time
	stopping  bool
	// stored, until rowStored has asked it, waits for the commit of the row (store.StartRecording);
	// nil for a row already stored. unbooked: the row could not be stored.
	stored       func() error
	unbooked     bool
	masks        []store.MaskSpan // spans masked so far (mask.go), as stored on the row
	masksWritten <-chan struct{}  // closed when the last span write is done (mask.go storeMasks)
}

// Session follows one call handed to callrec: connect → facts → plan → apply → follow events →
// finish. One goroutine (run) owns all of its state; events reach it in FreeSWITCH order through
// its event queue, and other sessions talk to it only through requests.
type Session struct {
	srv   *Server
	att   *attachment // the connection the call is followed on; replaced when it is lost (adopt.go)
	cmd   *commander  // att's commander
	log   zerolog.Logger
	info  callInfo
	queue *eventQueue

	rules   *store.Rules
	company *store.Company
	ddi     *store.DDI
	user    *store.User
	plan    dialplan.Plan

	legs            map[string]*legInfo
	recs            map[string]*activeRec    // by path
	duplicates      map[string]bool          // media bugs stopped unbooked (a repeated Record key `on`, a row not stored): RECORD_STOP removes their WAV
	ddiStarted      bool                     // one automatic recording per external party
	masked          bool                     // a user masked the call's recordings (mask.go)
	maskedBy        string                   // the user who did
	startedAt       time.Time                // when the Session took the call
	snap            atomic.Pointer[LiveCall] // the call as LiveCalls shows it (live.go)
	consent         *store.Consent           // how the caller consented to the DDI recording (announce)
	consentKey      string                   // the digit play_and_get_digits left in VarConsent (OptIn)
	consentDeclined bool                     // the caller did not opt in: nothing is recorded on purpose (not missing)
	announcing      bool                     // the announcement plays: the answer it caused must not start the recording
	hungUp          bool
	hangupAt        time.Time
	requests        chan func(context.Context)
	pendingApps     map[string]chan struct{}

	adopted bool  // rebuilt from FreeSWITCH and the store after a restart: the plan is not applied again
	home    *Node // the node the call lives on, once known (adopt.go)
	linger  int   // seconds of `linger` asked for on the outbound connection

	resumeRearm bool // a loop's release left socket_resume true: set it false again (handover.go)
}

// newSession prepares the Session of a call: conn is its outbound connection, or nil for a call
// re-adopted through a node (connect is then the controlled leg's uuid_dump).
func newSession(srv *Server, conn *eslgo.Conn, g *guardConn, connect *eslgo.RawResponse) *Session {
	info := parseCallInfo(connect)
	s := &Session{
		srv:        srv,
		info:       info,
		log:        srv.Logger.With().Str("call_id", info.CallUUID).Str("leg", info.UUID).Logger(),
		queue:      newEventQueue(eventQueueMax), // from the guard, in wire order (event.go)
		legs:       map[string]*legInfo{},
		recs:       map[string]*activeRec{},
		duplicates: map[string]bool{},
		requests:   make(chan func(context.Context), 8),
		startedAt:  time.Now().UTC(),
	}
	s.queue.overflow = queueOverflow(s.log, srv.Metrics)
	if conn != nil {
		s.cmd = &commander{conn: conn, timeout: srv.CommandTimeout}
		if srv.Metrics != nil {
			s.cmd.observe = srv.Metrics.observeCommand
		}
		s.att = &attachment{conn: conn, guard: g, cmd: s.cmd}
	}
	return s
}

// run is the whole life of the Session of an outbound connection; ctx is eslgo's, which ends
// with that connection. When it returns, eslgo sends `exit` and closes. Once the call is handed
// on, the Session outlives its connection: a lost connection is replaced through the node
// (adopt.go) and only the Server's Close ends the Session early.
func (s *Session) run(ctx context.Context) {
	s.att.lost = ctx.Done()
	if err := checkArg(s.info.UUID); err != nil {
		s.log.Warn().Err(err).Str("decision", "refused_connect").Msg("connect reply without a usable Unique-ID")
		return
	}
	// The watchdog: everything up to handing the call on must finish within PlanDeadline, else
	// the command in flight times out, the connection closes and FreeSWITCH runs the fallback
	// (a connection that stays open but idle parks the caller forever: FAILOPEN.md exp 3b).
	setup, cancel := context.WithTimeout(ctx, s.srv.PlanDeadline)
	defer cancel()
	if s.info.Taken {
		// Another instance took this hand-over and closed (a toggled code, a release):
		// FreeSWITCH goes on with the entry's next action, as that instance meant.
		s.log.Info().Str("decision", "taken_by_another_instance").Msg("hand-over already taken by another callrec instance: closed")
		return
	}
	if s.info.Handovers >= maxHandovers && !s.isTransferCode() {
		s.releaseLoop(setup)
		return
	}
	// First command after connect: with socket_resume still true, a later close of this
	// connection mid-bridge hangs up the user and strands the caller (FAILOPEN.md exp 5b).
	first := []dialplan.Var{{Name: "socket_resume", Value: "false"}}
	if s.srv.MarkTaken && !s.isTransferCode() {
		// A code's transfer is taken only by the instance whose session follows the
		// transferor (frustratedTransfer): another closes unmarked, so the next is reached.
		first = append(first, dialplan.Var{Name: dialplan.VarTaken, Value: "true"})
	}
	if s.srv.Instance != "" && !s.isTransferCode() {
		first = append(first, dialplan.Var{Name: dialplan.VarOwner, Value: s.srv.Instance})
	}
	if err := s.cmd.setVars(setup, s.info.UUID, first); err != nil {
		s.log.Warn().Err(err).Str("decision", "released_to_fallback").Msg("socket_resume false failed")
		return
	}
	if s.isTransferCode() {
		s.frustratedTransfer(ctx, setup)
		return
	}
	if s.followedElsewhere() != nil {
		s.handOnAgain(ctx, setup)
		return
	}
	s.srv.register(s.info.UUID, s)
	defer s.srv.unregister(s.info.UUID, s)
	s.legs[s.info.UUID] = &legInfo{uuid: s.info.UUID, role: dialplan.LegControlled, answered: s.info.Answered}

	s.att.listen(s.queue.push)
	defer func() { s.att.release() }() // the attachment in use at the end

	s.decide()
	defer s.reportMissing(ctx, time.Now()) // recording.missing when a due recording never came (missing.go)
	if err := s.subscribe(setup); err != nil {
		s.log.Warn().Err(err).Str("decision", "released_to_fallback").Msg("subscribe failed")
		return
	}
	if err := s.apply(ctx, setup); err != nil {
		s.log.Warn().Err(err).Str("decision", "released_to_fallback").Msg("plan not applied; FreeSWITCH continues with the fallback")
		s.abandonRecordings(ctx, "call released before it was handed on") // err is logged above, not shown to tenants
		return
	}
	cancel()
	s.publish()
	life := s.srv.lifetime()
	s.follow(life)
	s.finish(life)
}

// decide builds the facts from the connect data and the rules snapshot, and asks the policy.
func (s *Session) decide() {
	s.rules = s.srv.DB.Rules()
	f := dialplan.Facts{
		Direction:       s.info.Direction,
		Destination:     s.info.Destination,
		Caller:          s.info.CallerNumber,
		OutgoingDDI:     s.info.OutgoingDDI,
		DefaultCountry:  s.srv.DefaultCountry,
		TransferContext: s.srv.TransferContext,
	}
	switch s.info.Direction {
	case dialplan.DirectionInbound:
		if d, c, ok := s.lookupDDI(s.info.Destination); ok {
			s.ddi, s.company = &d, &c
		}
		f.UserContext = s.srv.UserContext // until the user leg tells its own (onBridge)
	default:
		if u, c, ok := s.rules.UserBySIP(s.info.identity()); ok {
			s.user, s.company = &u, &c
			f.User = userRule(&u)
			f.Country = s.rules.CompanyCountry(c.ID)
			// The context the user's call came in: where the transfer catch-all continues an
			// ordinary blind transfer of this call (issue 11 point 5).
			f.UserContext = s.info.Context
			if callee, ok := s.rules.UserByExtension(c.ID, s.info.Destination); ok {
				f.Callee = userRule(&callee)
			}
			// Whether the call is outbound is Decide's to say; the outgoing DDI is a fact it
			// uses only then.
			for _, cand := range s.info.OutgoingDDIs {
				if d, dc, ok := s.lookupDDI(cand); ok && dc.ID == c.ID {
					s.ddi, s.info.OutgoingDDI, f.OutgoingDDI = &d, cand, cand
					break
				}
			}
			s.legs[s.info.UUID].user = s.user
		}
	}
	if s.ddi != nil {
		f.DDI = &dialplan.DDIRule{ID: s.ddi.ID, Number: s.ddi.Number, CompanyID: s.ddi.CompanyID,
			Record: dialplan.RecordMode(s.ddi.RecordCalls), Announcement: s.ddi.Announcement,
			OptIn: s.ddi.Consent == store.ConsentPress1}
	}
	if s.company != nil {
		f.Company = companyRule(s.company)
		s.log = s.log.With().Str("company", s.company.ID).Logger()
	}
	s.plan = dialplan.Decide(f)
	if s.info.Direction != dialplan.DirectionInbound {
		s.info.Direction = s.plan.Direction // the user call as classified (internal or outbound)
		if s.plan.Direction != dialplan.DirectionOutbound {
			s.ddi = nil
		}
	}
	if ctl := s.legs[s.info.UUID]; ctl.user != nil && s.plan.OnDemand.InspectsDigitsFrom(dialplan.LegControlled) {
		s.newMatcher(ctl) // outbound and internal calls: the user is the controlled leg
	}
	if s.adopted {
		return // the call was counted and its decision logged when it arrived (adopt.go logs "readopted")
	}
	s.srv.Metrics.call(string(s.plan.Decision))
	s.log.Info().Str("decision", string(s.plan.Decision)).Str("direction", string(s.info.Direction)).
		Str("record_leg", string(s.plan.Record.Leg)).Str("on_demand", string(s.plan.OnDemand.Mode)).
		Str("destination", s.plan.Callee).Str("caller", s.plan.Caller).Msg("call decided")
}

func userRule(u *store.User) *dialplan.UserRule {
	return &dialplan.UserRule{ID: u.ID, Extension: u.Extension, SIPUser: u.SIPUser, CompanyID: u.CompanyID}
}

// subscribe asks for this call's events: positive filters on the controlled leg and on the
// bridge headers, then `event plain` (CHANNEL_BRIDGE fires on the originator only, REFERENCE.md §7),
// then `linger 30` so the events after hangup still arrive (a bare `linger` lingers forever).
func (s *Session) subscribe(ctx context.Context) error {
	// Filters first: between `event plain` and the first filter this connection would receive
	// every channel's events (with hundreds of calls, a flood).
	for _, h := range []string{"Unique-ID", "Bridge-A-Unique-ID", "Bridge-B-Unique-ID"} {
		if err := s.filter(ctx, h, s.info.UUID); err != nil {
			return err
		}
	}
	if _, err := s.cmd.send(ctx, "event", command.Event{Format: "plain", Listen: s.events()}); err != nil {
		return err
	}
	s.linger = s.srv.lingerFor()
	_, err := s.cmd.send(ctx, "linger", command.Linger{Enabled: true, Seconds: time.Duration(s.linger)})
	return err
}

// events are the events the Session subscribes to.
func (s *Session) events() []string {
	events := append([]string{}, subscribedEvents...)
	if s.plan.OnDemand.InspectDTMF {
		events = append(events, "DTMF")
	}
	if s.plan.Record.Leg == dialplan.LegControlled && s.plan.Record.Announcement != "" {
		events = append(events, "CHANNEL_EXECUTE_COMPLETE") // announce waits for the playback's end
	}
	return events
}

func (s *Session) filter(ctx context.Context, hdr, value string) error {
	if err := checkArg(value); err != nil {
		return fmt.Errorf("filter %s: %w", hdr, err)
	}
	_, err := s.cmd.send(ctx, "filter", command.Filter{EventHeader: hdr, FilterValue: value})
	return err
}

// apply carries out the plan on the controlled leg and hands the call on with uuid_transfer: the
// operator's routing runs as before and this connection stays attached until hangup
// (FAILOPEN.md exp 4).
func (s *Session) apply(ctx, setup context.Context) error {
	// The hand-over count travels with the plan's variables (one command): the next arrival of
	// this channel reads it (handover.go).
	vars := append(s.plan.SetVars[:len(s.plan.SetVars):len(s.plan.SetVars)],
		dialplan.Var{Name: VarHandovers, Value: strconv.Itoa(s.info.Handovers + 1)})
	if err := s.cmd.setVars(setup, s.info.UUID, vars); err != nil {
		return err
	}
	if s.plan.Record.Leg == dialplan.LegControlled {
		if ann := s.plan.Record.Announcement; ann != "" {
			s.announcing = true
			err := s.announce(ctx, setup, ann)
			s.announcing = false
			if err != nil {
				return err
			}
			if s.hungUp {
				return nil
			}
			// The announcement took its own time: the rest of the set-up gets a fresh deadline.
			var cancel context.CancelFunc
			setup, cancel = context.WithTimeout(ctx, s.srv.PlanDeadline)
			defer cancel()
			if !s.ddiStarted && s.consent != nil {
				s.startDDIRecording(ctx, s.info.UUID)
			}
		} else if s.info.Answered {
			s.startDDIRecording(ctx, s.info.UUID)
		}
	}
	route := s.routeContext()
	if _, err := s.cmd.api(setup, "uuid_transfer", s.info.UUID, s.info.Destination, "XML", route); err != nil {
		return err
	}
	s.log.Debug().Str("decision", "handed_on").Str("context", route).Msg("call handed to the route")
	return nil
}

// announce answers the caller and plays the DDI's announcement before the recording starts
// (SPEC.md §3.1), and records the caller's consent in s.consent: by staying on the line
// (ConsentNotice), or, for an OptIn DDI, by pressing 1 — the announcement is then played by
// play_and_get_digits (1 digit, 1 try, OptInTimeout after the prompt, regex ^1$), which leaves
// the digit in VarConsent only when it is a 1 (switch_ivr_play_say.c switch_play_and_get_digits
// ~2630); CHANNEL_EXECUTE_COMPLETE carries the channel's variables. No 1: s.consent stays nil
// and the call is not recorded. It waits for CHANNEL_EXECUTE_COMPLETE, handling other events
// meanwhile; the watchdog covers only queueing the two applications.
func (s *Session) announce(ctx, setup context.Context, ann string) error {
	if err := s.cmd.execute(setup, s.info.UUID, "answer", "", ""); err != nil {
		return err
	}
	appID := ulid.Make().String()
	done := make(chan struct{})
	s.pendingApps = map[string]chan struct{}{appID: done}
	app, arg, method := "playback", ann, store.ConsentNotice
	if s.plan.Record.OptIn {
		app, method = "play_and_get_digits", store.ConsentPress1
		arg = fmt.Sprintf("1 1 1 %d # %s silence_stream://250 %s ^1$", OptInTimeout.Milliseconds(), ann, VarConsent)
	}
	if err := s.cmd.execute(setup, s.info.UUID, app, arg, appID); err != nil {
		return err
	}
	playedAt := time.Now().UTC()
	s.log.Info().Str("decision", "announcement").Str("sound", ann).Str("consent", method).Msg("announcement before recording")
	wait, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	err := s.pump(wait, func() bool {
		select {
		case <-done:
			return true
		default:
			return s.hungUp
		}
	})
	if err != nil || s.hungUp {
		return err
	}
	if method == store.ConsentPress1 && s.consentKey != "1" {
		s.consentDeclined = true
		s.log.Info().Str("decision", "consent_declined").Msg("the caller did not press 1: the call is not recorded")
		return nil
	}
	s.consent = &store.Consent{Method: method, Announcement: ann, PlayedAt: playedAt}
	return nil
}

// pump handles events until until() holds, the connection ends or ctx ends.
func (s *Session) pump(ctx context.Context, until func() bool) error {
	for !until() {
		select {
		case <-s.queue.ready:
			if ev := s.queue.pop(); ev != nil {
				s.handle(ctx, ev)
				s.publish()
			}
		case req := <-s.requests:
			req(ctx)
			s.publish()
		case <-s.att.lost:
			return ErrConnDead
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// follow handles the call's events until the controlled leg has hung up and every recording has
// reported RECORD_STOP. At hangup it keeps reading after the linger notice: an `exit` on the
// notice loses RECORD_STOP (FAILOPEN.md §2.1). A recording whose own leg is gone gets
// HangupDrain for its RECORD_STOP; one whose leg is still up (the external party of an outbound
// call the user transferred away) is followed for as long as FreeSWITCH keeps this connection
// (linger 30 s), then left to the node connection and reconcile — unless the Server can
// re-attach: then a lost connection (that one, or one lost mid-call) is replaced by an inbound
// connection to the call's node and the call is followed to its end (adopt.go). ctx is the
// Server's lifetime.
func (s *Session) follow(ctx context.Context) {
	heartbeat := time.NewTicker(s.srv.Heartbeat)
	defer heartbeat.Stop()
	var drain, outlive <-chan time.Time
	for {
		if s.hungUp {
			if len(s.recs) == 0 {
				return
			}
			if s.recordedLegsUp() == 0 {
				if drain == nil {
					drain = time.After(s.srv.HangupDrain)
				}
			} else if outlive == nil && !s.att.inbound && !s.srv.canReattach() {
				outlive = time.After(time.Duration(s.linger)*time.Second + s.srv.HangupDrain)
			}
		}
		select {
		case <-s.queue.ready:
			if ev := s.queue.pop(); ev != nil {
				s.handle(ctx, ev)
				s.publish()
			}
		case req := <-s.requests:
			req(ctx)
			s.publish()
		case <-heartbeat.C:
			// A connection can die without a word (no FIN): a probe either answers or times
			// out, and a timeout closes the connection, which att.lost then reports.
			s.probe(ctx)
		case <-s.att.lost:
			if ctx.Err() != nil {
				return // the Server closes
			}
			if !s.hungUp || s.recordedLegsUp() > 0 {
				if s.reattach(ctx) {
					continue
				}
			}
			if s.hungUp {
				s.log.Debug().Int("recordings", len(s.recs)).Msg("connection closed after the hangup")
			} else {
				s.log.Warn().Int("recordings", len(s.recs)).Msg("event socket connection lost")
			}
			return
		case <-drain:
			s.log.Warn().Int("recordings", len(s.recs)).Msg("no RECORD_STOP after hangup")
			return
		case <-outlive:
			return
		case <-ctx.Done():
			return
		}
	}
}

// lingerSeconds is the `linger` the Session asks for when it cannot re-attach: how long
// FreeSWITCH keeps delivering events after the controlled leg is gone. eslgo closes the
// connection this long after FreeSWITCH's first disconnect notice or EOF (outbound.go dummyLoop).
const lingerSeconds = 30

// reattachLinger is the `linger` when the Server can re-attach through a node: the hangup's last
// events come within ~30 ms of the linger notice (FAILOPEN.md §2.1), and a connection FreeSWITCH
// closes mid-call (reload mod_event_socket, a drop) is noticed this long after, because eslgo
// closes it then: a recorded leg that outlives the controlled one is followed through the node.
const reattachLinger = 2

// probe checks the legs the Session still waits for: the controlled leg while it is up, and
// after its hangup the legs whose recordings have not stopped.
func (s *Session) probe(ctx context.Context) {
	if !s.hungUp {
		if out, err := s.cmd.api(ctx, "uuid_exists", s.info.UUID); err == nil && out == "false" {
			s.onLegGone(ctx, s.info.UUID)
			s.hungUp, s.hangupAt = true, time.Now()
		}
		return
	}
	for _, r := range s.recs {
		if leg, ok := s.legs[r.leg]; ok && !leg.gone {
			if out, err := s.cmd.api(ctx, "uuid_exists", r.leg); err == nil && out == "false" {
				s.onLegGone(ctx, r.leg)
			}
		}
	}
}

// recordedLegsUp counts the recordings whose recorded leg has not hung up.
func (s *Session) recordedLegsUp() int {
	n := 0
	for _, r := range s.recs {
		if leg, ok := s.legs[r.leg]; ok && !leg.gone {
			n++
		}
	}
	return n
}

// handle applies one event. Handlers are idempotent: a duplicated or late event changes nothing.
func (s *Session) handle(ctx context.Context, ev headerReader) {
	uuid := header(ev, "Unique-ID")
	s.rearmResume(ctx, ev) // after a loop's release (handover.go)
	switch header(ev, "Event-Name") {
	case "CHANNEL_ANSWER":
		s.onAnswer(ctx, uuid)
	case "CHANNEL_BRIDGE":
		s.onBridge(ctx, ev)
	case "CHANNEL_HANGUP": // not subscribed (subscribedEvents); handled alike should it come
		s.onLegGone(ctx, uuid)
	case "CHANNEL_HANGUP_COMPLETE":
		s.onLegGone(ctx, uuid)
		if uuid == s.info.UUID && !s.hungUp {
			s.hungUp, s.hangupAt = true, time.Now()
			s.log.Info().Str("decision", "call_ended").Str("cause", header(ev, "Hangup-Cause")).Msg("controlled leg hung up")
		}
	case "CHANNEL_EXECUTE_COMPLETE":
		if done, ok := s.pendingApps[header(ev, "Application-UUID")]; ok {
			s.consentKey = header(ev, "variable_"+VarConsent)
			close(done)
			delete(s.pendingApps, header(ev, "Application-UUID"))
		}
	case "RECORD_START":
		s.onRecordStart(ctx, ev)
	case "RECORD_STOP":
		s.onRecordStop(ctx, ev)
	case "DTMF":
		s.onDTMF(ctx, ev)
	}
}

func (s *Session) onAnswer(ctx context.Context, uuid string) {
	leg, ok := s.legs[uuid]
	if !ok {
		return
	}
	leg.answered = true
	if uuid == s.info.UUID && s.plan.Record.Leg == dialplan.LegControlled && !s.ddiStarted && !s.announcing {
		s.startDDIRecording(ctx, uuid)
	}
}

// onBridge learns the peer of the controlled leg, watches it, gives it the on-demand gate's
// variables and, on an outbound call, records the external party from now (it has answered).
func (s *Session) onBridge(ctx context.Context, ev headerReader) {
	a, b := header(ev, "Bridge-A-Unique-ID"), header(ev, "Bridge-B-Unique-ID")
	peer := b
	if b == s.info.UUID {
		peer = a
	}
	if peer == "" || peer == s.info.UUID {
		return
	}
	s.addPeer(ctx, peer, ev)
}

// addPeer follows a leg newly bridged to the controlled leg (ev: its CHANNEL_BRIDGE, or the
// controlled leg's channel data when the bridge was learnt otherwise).
func (s *Session) addPeer(ctx context.Context, peer string, ev headerReader) {
	if leg, ok := s.legs[peer]; ok && !leg.gone {
		return
	}
	leg := &legInfo{uuid: peer, answered: true}
	s.legs[peer] = leg
	s.srv.register(peer, s)
	if err := s.filter(ctx, "Unique-ID", peer); err != nil {
		s.log.Warn().Err(err).Str("peer", peer).Msg("cannot follow the bridged leg")
	}
	s.classifyPeer(ctx, leg, ev)
	s.learnUserContext(ctx, leg)
	s.applyGateVars(ctx, leg)
	if leg.external && s.plan.Record.Leg == dialplan.LegExternalPeer && !s.ddiStarted {
		s.startDDIRecording(ctx, peer)
	}
}

// classifyPeer decides whether the bridged leg is a platform user (and which) or an external
// party. A leg created by `user/<id>` carries dialed_user/dialed_domain; otherwise the
// originatee's destination number is taken as an extension of the company.
func (s *Session) classifyPeer(ctx context.Context, leg *legInfo, ev headerReader) {
	if s.info.Direction == dialplan.DirectionOutbound && s.plan.Record.Leg == dialplan.LegExternalPeer {
		leg.external, leg.role = true, dialplan.LegExternalPeer
		return
	}
	if u, err := s.cmd.api(ctx, "uuid_getvar", leg.uuid, "dialed_user"); err == nil && u != "" && u != "_undef_" {
		domain, _ := s.cmd.api(ctx, "uuid_getvar", leg.uuid, "dialed_domain")
		if domain == "_undef_" {
			domain = ""
		}
		if user, _, ok := s.rules.UserBySIP(domain, u); ok && s.company != nil && user.CompanyID == s.company.ID {
			leg.user, leg.role = &user, dialplan.LegUserPeer
			return
		}
	}
	if s.company != nil && header(ev, "Other-Leg-Unique-ID") == leg.uuid {
		if user, ok := s.rules.UserByExtension(s.company.ID, header(ev, "Other-Leg-Destination-Number")); ok {
			leg.user, leg.role = &user, dialplan.LegUserPeer
			return
		}
	}
	// A leg callrec cannot identify as a user (a call forwarded to an outside number, a user
	// missing from the store) gets the external party's variables: sip_disable_recording, so
	// nothing unattributable can be recorded on demand.
	leg.external, leg.role = true, dialplan.LegExternalPeer
}

// learnUserContext: on an inbound call, the bridged user's leg tells the users' context, its
// user_context variable (the directory's, set on legs created by user/<ext>@<domain>:
// mod_dptools.c user_outgoing_channel ~4510; its Caller-Context is still the public one). The
// caller's leg then gets it as dialplan.VarUserContext, so that the transfer catch-all continues
// an ordinary blind transfer of the caller in that user's context.
func (s *Session) learnUserContext(ctx context.Context, leg *legInfo) {
	if s.info.Direction != dialplan.DirectionInbound || leg.user == nil || !s.plan.OnDemand.AllowTransfer {
		return
	}
	uc, err := s.cmd.api(ctx, "uuid_getvar", leg.uuid, "user_context")
	if err != nil || !s.plan.OnDemand.SetUserContext(uc) {
		return
	}
	if err := s.cmd.setVar(ctx, s.info.UUID, dialplan.VarUserContext, uc); err != nil {
		s.log.Warn().Err(err).Str("var", dialplan.VarUserContext).Msg("gate variable not set")
		return
	}
	s.log.Debug().Str("decision", "user_context").Str("context", uc).Msg("users' context learnt from the bridged user")
}

// applyGateVars sets the on-demand gate's variables on a newly bridged leg (legs created before
// the variables could be exported must be set directly, REFERENCE.md §9).
func (s *Session) applyGateVars(ctx context.Context, leg *legInfo) {
	role := dialplan.RoleUser
	if leg.external {
		role = dialplan.RoleExternal
	}
	var user *dialplan.UserRule
	if leg.user != nil {
		user = userRule(leg.user)
	}
	if err := s.cmd.setVars(ctx, leg.uuid, s.plan.OnDemand.VarsFor(role, user)); err != nil {
		s.log.Warn().Err(err).Str("leg", leg.uuid).Msg("gate variables not set")
	}
	if leg.user != nil && s.plan.OnDemand.InspectsDigitsFrom(leg.role) {
		s.newMatcher(leg)
	}
}

func (s *Session) onLegGone(ctx context.Context, uuid string) {
	leg, ok := s.legs[uuid]
	if !ok || leg.gone {
		return
	}
	leg.gone = true // stays registered until the Session ends: a frustrated transfer may still ask about it
	// An on-demand recording ends at the latest when the requesting user leaves (SPEC.md §3.2).
	for _, r := range s.recs {
		if r.requester == uuid && r.leg != uuid && !r.stopping {
			s.stopRecording(ctx, r, "requester_left")
		}
	}
}

// startDDIRecording books the automatic recording of the external party's leg and starts it.
// Recording that leg's own media bug survives every internal transfer (REFERENCE.md §2).
func (s *Session) startDDIRecording(ctx context.Context, leg string) {
	s.ddiStarted = true
	rec := &store.Recording{
		Type: store.TypeDDI, Trigger: store.TriggerDDI, Recorder: s.plan.Recorder, Consent: s.consent,
	}
	if s.ddi != nil {
		rec.DDIID = s.ddi.ID
	}
	s.startRecording(ctx, leg, rec, "")
}

// startRecording books the recording and starts the media bug. The row's intent is written
// first (store.StartRecording: it survives a SIGKILL of callrec), then `uuid_record start` goes
// to FreeSWITCH while the row commits in the store's batch: neither FreeSWITCH nor the Session
// waits for that fsync (issue 13). The Session learns the commit's outcome when it next writes
// the row (rowStored), by when it is long known; a row that could not be stored leaves the
// recording unbooked and its WAV is removed when it stops. A failed start marks the row failed.
func (s *Session) startRecording(ctx context.Context, leg string, rec *store.Recording, requester string) *activeRec {
	if s.company == nil {
		return nil
	}
	rec.CompanyID = s.company.ID
	rec.CallID = s.info.CallUUID
	rec.Direction = string(s.info.Direction)
	rec.Caller, rec.Callee = s.plan.Caller, s.plan.Callee
	rec.StartedAt = time.Now().UTC()
	rec.RecordedLeg, rec.RequesterLeg = leg, requester // a re-adopted call rebuilds the recording from them
	commit, err := s.srv.DB.StartRecording(ctx, rec)
	if err != nil {
		s.log.Error().Err(err).Str("decision", "record_failed").Msg("recording row not created; call proceeds unrecorded")
		s.srv.Metrics.recording("failed", rec.Type)
		return nil
	}
	path := filepath.Join(s.srv.SpoolDir, rec.ID+".wav")
	r := &activeRec{id: rec.ID, leg: leg, path: path, typ: rec.Type, trigger: rec.Trigger, requester: requester, startedAt: rec.StartedAt, stored: commit}
	s.recs[path] = r
	if s.company.Stereo {
		_ = s.cmd.setVar(ctx, leg, "RECORD_STEREO", "true")
	}
	if _, err = s.cmd.api(ctx, "uuid_record", leg, "start", path); err != nil {
		delete(s.recs, path)
		s.log.Error().Err(err).Str("recording", rec.ID).Str("decision", "record_failed").Msg("uuid_record start failed")
		if s.rowStored(r) {
			wctx, cancel := storeContext(ctx, s.srv.StoreTimeout)
			_ = s.srv.DB.FailRecording(wctx, rec.ID, "FreeSWITCH did not start the recording") // err is logged above
			cancel()
			s.srv.Metrics.recording("failed", rec.Type)
		}
		return nil
	}
	s.srv.Metrics.recording("started", rec.Type)
	s.log.Info().Str("recording", rec.ID).Str("type", rec.Type).Str("trigger", rec.Trigger).Str("recorded_leg", leg).
		Str("decision", "record_start").Msg("recording started")
	s.maskNew(ctx, r)
	return r
}

// rowStored reports whether r's row is in the store, waiting for its commit if it is still
// running (only for a recording that stops within the store's batch delay of its start). A row
// that could not be stored is told once, here: the recording is unbooked. A row the store has
// not stored yet but will (store.ErrCommitPending: a shared store's database is down) counts
// as stored: the recording and its WAV are kept, and a write of its row that fails meanwhile is
// settled by the reconcile once the row is in.
func (s *Session) rowStored(r *activeRec) bool {
	if r.stored == nil {
		return true
	}
	err := r.stored()
	r.stored = nil
	if errors.Is(err, store.ErrCommitPending) {
		s.log.Warn().Err(err).Str("recording", r.id).Str("decision", "record_row_pending").
			Msg("recording row not stored yet: the store does not answer; the recording is kept")
		return true
	}
	if err != nil {
		r.unbooked = true
		s.log.Error().Err(err).Str("recording", r.id).Str("decision", "record_failed").Msg("recording row not stored; the recording is not kept")
		s.srv.Metrics.recording("failed", r.typ)
	}
	return !r.unbooked
}

// stopRecording stops one media bug by its exact path (REFERENCE.md §2); RECORD_STOP finishes
// the row.
func (s *Session) stopRecording(ctx context.Context, r *activeRec, why string) {
	r.stopping = true
	if _, err := s.cmd.api(ctx, "uuid_record", r.leg, "stop", r.path); err != nil {
		s.log.Warn().Err(err).Str("recording", r.id).Msg("uuid_record stop failed")
	}
	s.log.Info().Str("recording", r.id).Str("reason", why).Str("decision", "record_stop").Msg("recording stop requested")
}

func (s *Session) onRecordStart(ctx context.Context, ev headerReader) {
	path := header(ev, "Record-File-Path")
	if _, ok := s.recs[path]; ok {
		return
	}
	s.onKeyRecordStart(ctx, ev, path)
}

// onRecordStop finishes a recording: state processing with FreeSWITCH's record_ms and the WAV
// queued for the audio worker, in one store transaction. Record-Completion-Cause is not
// trusted (it says success-silence with audio present, FAILOPEN.md §2.6).
func (s *Session) onRecordStop(ctx context.Context, ev headerReader) {
	path := header(ev, "Record-File-Path")
	if s.duplicates[path] {
		delete(s.duplicates, path)
		_ = os.Remove(path) // the duplicate of a repeated Record key `on`: never booked
		return
	}
	r, ok := s.recs[path]
	if !ok {
		return
	}
	delete(s.recs, path)
	if !s.rowStored(r) {
		_ = os.Remove(path) // a recording without a row: never kept
		return
	}
	if discardedByFreeSWITCH(ev, path) {
		wctx, cancel := storeContext(ctx, s.srv.StoreTimeout)
		_ = s.srv.DB.DiscardRecording(wctx, r.id, discardReason(ev))
		cancel()
		s.srv.Metrics.recording("discarded", r.typ)
		s.log.Info().Str("recording", r.id).Str("decision", "record_discarded").Msg("FreeSWITCH discarded the recording")
		return
	}
	ms, err := strconv.ParseInt(header(ev, "variable_record_ms"), 10, 64)
	if err != nil {
		ms = time.Since(r.startedAt).Milliseconds()
	}
	s.endMask(ctx, r, ms)
	r.waitMasks()
	wctx, cancel := storeContext(ctx, s.srv.StoreTimeout) // after the masks' write: its own bound
	defer cancel()
	if err := s.srv.DB.FinishRecording(wctx, r.id, time.Now().UTC(), ms, path); err != nil {
		s.log.Error().Err(err).Str("recording", r.id).Msg("recording not finished in the store")
		return
	}
	s.srv.Metrics.recording("stopped", r.typ)
	s.log.Info().Str("recording", r.id).Int64("duration_ms", ms).Str("decision", "record_stopped").Msg("recording stopped")
	if s.srv.OnFinished != nil {
		s.srv.OnFinished()
	}
	s.afterStop(ctx, r)
}

// abandonRecordings marks recordings the Session can no longer follow.
func (s *Session) abandonRecordings(ctx context.Context, why string) {
	for path, r := range s.recs {
		if s.rowStored(r) {
			wctx, cancel := storeContext(ctx, s.srv.StoreTimeout)
			_ = s.srv.DB.FailRecording(wctx, r.id, why)
			cancel()
		}
		delete(s.recs, path)
	}
}

// finish ends the Session. A recording whose leg has hung up but sent no RECORD_STOP within the
// drain is finished with the Session's own measure of its length (the audio worker measures the
// WAV exactly). A recording whose leg is still up (shutdown, lost connection, an external party
// that outlived the controlled leg) stays `recording`: FreeSWITCH keeps writing it, and the node
// connection or reconcile finishes it.
func (s *Session) finish(ctx context.Context) {
	for path, r := range s.recs {
		leg, known := s.legs[r.leg]
		if !s.hungUp || (known && !leg.gone) {
			s.log.Warn().Str("recording", r.id).Str("decision", "left_to_node").Msg("session ends while the recorded leg is up: recording left to the node connection and reconcile")
			continue
		}
		if !s.rowStored(r) {
			delete(s.recs, path)
			continue
		}
		end := s.hangupAt
		if end.IsZero() {
			end = time.Now()
		}
		wctx, cancel := storeContext(ctx, s.srv.StoreTimeout)
		if err := s.srv.DB.FinishRecording(wctx, r.id, end.UTC(), end.Sub(r.startedAt).Milliseconds(), path); err != nil {
			s.log.Error().Err(err).Str("recording", r.id).Msg("recording not finished in the store")
		}
		cancel()
		delete(s.recs, path)
	}
	for uuid := range s.legs {
		s.srv.unregister(uuid, s)
	}
}

// companyRule is the part of company c the call's policy needs.
func companyRule(c *store.Company) *dialplan.CompanyRule {
	return &dialplan.CompanyRule{ID: c.ID, OnDemand: dialplan.OnDemandMode(c.OnDemand), Code: c.OnDemandCode,
		MaskCode: c.MaskCode, Stereo: c.Stereo}
}

// lookupDDI finds the DDI a number FreeSWITCH reported stands for. Carriers send DDIs as
// `+34911234567`, `0034911234567`, national `911234567` (with default_country) or bare
// international digits `34911234567`; the last is tried as `+` + digits when the others fail.
func (s *Session) lookupDDI(raw string) (store.DDI, store.Company, bool) {
	if num, err := store.NormalizeNumber(raw, s.srv.DefaultCountry); err == nil {
		if d, c, ok := s.rules.DDIByNumber(num); ok {
			return d, c, true
		}
	}
	if raw != "" && raw[0] >= '1' && raw[0] <= '9' {
		if num, err := store.NormalizeNumber("+"+raw, ""); err == nil {
			return s.rules.DDIByNumber(num)
		}
	}
	return store.DDI{}, store.Company{}, false
}
