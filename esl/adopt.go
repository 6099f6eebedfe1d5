package esl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/callrec/callrec/audio"
	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/store"
)

// Keeping control of a live call when its connection goes.
//
// A call's outbound connection can be lost while the call goes on: `reload mod_event_socket`
// closes every event socket connection and leaves the channels running when socket_resume is
// false (mod_event_socket.c mod_event_socket_shutdown ~577 → kill_all_listeners; listener_run
// `done:` ~2817 resets the channel only with socket_resume true), a connection drops, or callrec
// restarts. The call is then followed through the node it lives on: a Session that lost its
// connection re-attaches with one new inbound connection of its own (the outbound design: one
// connection per call; events of one call never wait behind another's), and after a restart the
// Node finds the calls callrec controlled and rebuilds their Sessions from the channel and the
// store (Server.adopt).

// attachment is the event socket connection a Session follows its call on: the outbound
// connection FreeSWITCH opened for the call, or, once that is lost, an inbound connection to the
// call's node. Only the Session's goroutine uses it.
type attachment struct {
	conn     *eslgo.Conn
	guard    *guardConn // the connection's guard: its events come from there, in wire order
	cmd      *commander
	lost     <-chan struct{} // closed once the connection is gone
	inbound  bool
	listener string
	diverted bool // the guard hands this attachment's events to the Session
}

// listen hands every event of the connection to fn: from the guard, in wire order, when there is
// one; else from eslgo's listeners (one goroutine per event: they race, ESLGO.md "event order").
func (a *attachment) listen(fn func(headerReader)) {
	if a.guard != nil {
		a.guard.divert(func(ev *plainEvent) { fn(ev) })
		a.diverted = true
		return
	}
	a.listener = a.conn.RegisterEventListener(eslgo.EventListenAll, func(ev *eslgo.Event) { fn(ev) })
}

// release stops listening; an inbound attachment is also closed (`exit`, or at once when the
// connection is already dead). The outbound connection is eslgo's to close when the handler
// returns. Safe to call twice.
func (a *attachment) release() {
	if a == nil {
		return
	}
	if a.listener != "" {
		a.conn.RemoveEventListener(eslgo.EventListenAll, a.listener)
		a.listener = ""
	}
	if a.diverted {
		a.guard.divert(nil)
		a.diverted = false
	}
	if a.inbound {
		if a.cmd.isDead() {
			a.conn.Close()
		} else {
			a.conn.ExitAndClose()
		}
	}
}

// dialAttachment opens an inbound connection to node n for one Session. ctx bounds the
// connection's life (the Server's lifetime).
func dialAttachment(ctx context.Context, srv *Server, n *Node, log zerolog.Logger) (*attachment, error) {
	lost := make(chan struct{})
	var once sync.Once
	gone := func() { once.Do(func() { close(lost) }) }
	opts := eslgo.InboundOptions{
		Options:      eslgo.Options{Context: ctx, Logger: eslLogger{log}, ExitTimeout: srv.CommandTimeout},
		Network:      "tcp",
		Password:     n.Password,
		AuthTimeout:  srv.CommandTimeout,
		OnDisconnect: gone,
	}
	conn, g, err := dialInbound(ctx, opts, n.Addr, srv.Guard, func(err error) {
		log.Warn().Err(err).Str("decision", "frame_refused").Msg("esl: node sent a frame out of bounds, connection closed")
	})
	if err != nil {
		return nil, fmt.Errorf("dial node %s: %w", n.Addr, err)
	}
	cmd := &commander{conn: conn, timeout: srv.CommandTimeout, onDead: gone}
	if srv.Metrics != nil {
		cmd.observe = srv.Metrics.observeCommand
	}
	return &attachment{conn: conn, guard: g, cmd: cmd, lost: lost, inbound: true}, nil
}

// reattach replaces the Session's lost connection by an inbound connection to the call's node,
// retrying with back-off while the node's listener is down (a reload drops inbound connections
// too; an `api reload` keeps the module unloaded for 20 s, mod_event_socket.c ~589), for at most
// Server.ReattachTimeout. The Session's state is kept; what happened in the gap is settled by
// resync. It reports false when the call cannot be followed any more: no node, the Server
// closes, or the timeout.
func (s *Session) reattach(ctx context.Context) bool {
	s.att.release()
	if !s.srv.canReattach() {
		return false
	}
	deadline := time.Now().Add(s.srv.ReattachTimeout)
	backoff := 50 * time.Millisecond
	for {
		err := s.attach(ctx)
		if err == nil {
			s.logAdopted("connection_lost")
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if time.Now().After(deadline) {
			s.log.Warn().Err(err).Str("decision", "readopt_failed").Msg("call no longer followed: its connection was lost and no node took it back")
			return false
		}
		s.log.Debug().Err(err).Dur("retry_in", backoff).Msg("re-attach through the node failed")
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// attach follows the call on a new inbound connection to its node: the events of every known leg
// (the Session's own subscription, REFERENCE.md §1.4), then resync.
func (s *Session) attach(ctx context.Context) error {
	n := s.srv.nodeFor(ctx, s.home, s.info.CoreUUID, s.info.UUID)
	if n == nil {
		return errors.New("no node knows the call")
	}
	att, err := dialAttachment(ctx, s.srv, n, s.log)
	if err != nil {
		return err
	}
	att.listen(s.queue.push)
	s.att, s.cmd, s.home = att, att.cmd, n
	if err := s.followLegs(ctx); err != nil {
		att.release()
		return err
	}
	s.resync(ctx)
	return nil
}

// followLegs subscribes the inbound attachment to the call's events: filters first (without
// them an inbound connection receives every channel's events), on every leg still up and on the
// bridge headers of the controlled leg, then the Session's event list. No linger: an inbound
// connection is not tied to a channel and stays until the Session closes it.
func (s *Session) followLegs(ctx context.Context) error {
	for uuid, leg := range s.legs {
		if !leg.gone {
			if err := s.filter(ctx, "Unique-ID", uuid); err != nil {
				return err
			}
		}
	}
	if !s.hungUp {
		for _, h := range []string{"Bridge-A-Unique-ID", "Bridge-B-Unique-ID"} {
			if err := s.filter(ctx, h, s.info.UUID); err != nil {
				return err
			}
		}
	}
	_, err := s.cmd.send(ctx, "event", command.Event{Format: "plain", Listen: s.events()})
	return err
}

// resync settles what happened while no connection delivered the call's events: legs that ended
// (their requester-left stops, the controlled leg's hangup), a bridge made meanwhile, stops that
// were asked for but may not have reached FreeSWITCH, and recordings whose RECORD_STOP went out
// on no connection (the node may have booked it: FinishRecording is idempotent).
func (s *Session) resync(ctx context.Context) {
	for uuid, leg := range s.legs {
		if !leg.gone {
			if out, err := s.cmd.api(ctx, "uuid_exists", uuid); err != nil || out != "false" {
				continue
			}
			s.onLegGone(ctx, uuid)
		}
		// A controlled leg already gone (its CHANNEL_HANGUP came, the connection went before
		// CHANNEL_HANGUP_COMPLETE: a FreeSWITCH shutting down) has ended the call too.
		if uuid == s.info.UUID && !s.hungUp {
			s.hungUp, s.hangupAt = true, time.Now()
		}
	}
	if !s.hungUp {
		// signal_bond is the current bridge partner (cleared at unbridge).
		if peer, err := s.cmd.api(ctx, "uuid_getvar", s.info.UUID, "signal_bond"); err == nil && peer != "" && peer != "_undef_" {
			if checkArg(peer) == nil {
				s.addPeer(ctx, peer, &eslgo.Event{Headers: textproto.MIMEHeader{}})
			}
		}
	}
	for _, r := range s.recs {
		leg, ok := s.legs[r.leg]
		switch {
		case !ok || leg.gone:
			s.settleMissed(ctx, r)
		case r.stopping:
			if _, err := s.cmd.api(ctx, "uuid_record", r.leg, "stop", r.path); err != nil {
				s.settleMissed(ctx, r) // no such media bug any more: it stopped in the gap
			}
		}
	}
}

// settleMissed finishes a recording whose RECORD_STOP no connection delivered, as the start-up
// reconcile does: the duration from the WAV FreeSWITCH closed, else the Session's own measure; a
// recording without a WAV is discarded with where it was expected. A row the node already
// finished is left as it is.
func (s *Session) settleMissed(ctx context.Context, r *activeRec) {
	delete(s.recs, r.path)
	if !s.rowStored(r) {
		return
	}
	wctx, cancel := storeContext(ctx, s.srv.StoreTimeout)
	defer cancel()
	if row, err := s.srv.DB.Recording(wctx, r.id); err != nil || row.State != store.StateRecording {
		return
	}
	st, err := os.Stat(r.path)
	if err != nil {
		_ = s.srv.DB.DiscardRecording(wctx, r.id, "RECORD_STOP missed while callrec's connection was lost, and no recording file was found") // the path is logged below
		s.srv.Metrics.recording("discarded", r.typ)
		s.log.Warn().Str("recording", r.id).Str("decision", "record_discarded").Str("path", r.path).Msg("recording stopped while no connection followed the call, and its WAV is missing")
		return
	}
	end := st.ModTime()
	if end.Before(r.startedAt) {
		end = time.Now()
	}
	ms := end.Sub(r.startedAt).Milliseconds()
	if f, err := openRegular(r.path, st); err == nil {
		if info, err := audio.ReadWAVInfo(f); err == nil {
			ms = info.Duration.Milliseconds()
		}
		f.Close()
	}
	if err := s.srv.DB.FinishRecording(wctx, r.id, end.UTC(), ms, r.path); err != nil {
		s.log.Error().Err(err).Str("recording", r.id).Msg("recording not finished in the store")
		return
	}
	s.srv.Metrics.recording("stopped", r.typ)
	s.log.Info().Str("recording", r.id).Int64("duration_ms", ms).Str("decision", "record_stopped").Msg("recording settled from its WAV: it stopped while no connection followed the call")
	if s.srv.OnFinished != nil {
		s.srv.OnFinished()
	}
}

// logAdopted is the one decision event of a re-adoption.
func (s *Session) logAdopted(after string) {
	// call_id and company are on s.log (decide).
	ev := s.log.Info().Str("decision", "readopted").Str("after", after).Int("legs", len(s.legs)).Int("recordings", len(s.recs))
	if s.home != nil {
		ev = ev.Str("node", s.home.Addr)
	}
	ev.Msg("call followed again through its node")
}

// runAdopted is the life of a Session rebuilt after a restart: the decision on today's rules
// without applying the plan again (no uuid_transfer, no second DDI recording; the gate's
// variables are already on the legs), the recordings still running from the store, the bridged
// peer from the channel, then the same following as any Session. ctx is the Server's lifetime.
func (s *Session) runAdopted(ctx context.Context, dump *eslgo.Event, rows []*store.Recording) {
	defer s.srv.unregister(s.info.UUID, s)
	s.legs[s.info.UUID] = &legInfo{uuid: s.info.UUID, role: dialplan.LegControlled, answered: s.info.Answered}
	s.decide()
	s.ddiStarted = s.plan.Record.Leg != "" // recorded since the call came in, or deliberately not
	s.rebuildRecordings(rows)
	peer := bridgedPeer(dump)
	if peer != "" && s.legs[peer] == nil {
		s.legs[peer] = &legInfo{uuid: peer, answered: true}
	}
	for uuid := range s.legs {
		s.srv.register(uuid, s)
	}
	if !s.reattachAdopted(ctx) {
		s.finish(ctx)
		return
	}
	defer func() { s.att.release() }()
	if leg := s.legs[peer]; leg != nil && !leg.gone {
		s.classifyPeer(ctx, leg, dump)
		if leg.user != nil && s.plan.OnDemand.InspectsDigitsFrom(leg.role) {
			s.newMatcher(leg)
		}
	}
	s.logAdopted("restart")
	s.publish()
	s.follow(ctx)
	s.finish(ctx)
}

// reattachAdopted attaches an adopted Session for the first time (the same retries as reattach).
func (s *Session) reattachAdopted(ctx context.Context) bool {
	deadline := time.Now().Add(s.srv.ReattachTimeout)
	backoff := 50 * time.Millisecond
	for {
		err := s.attach(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			s.log.Warn().Err(err).Str("decision", "readopt_failed").Msg("call found on the node but not followed")
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// rebuildRecordings turns the call's rows still `recording` into the Session's active
// recordings: the file path FreeSWITCH writes (the stored WAV path of a Record key recording,
// else <spool>/<id>.wav) and the legs stored at creation. Rows written before the legs were
// stored get the controlled leg for an automatic recording of it, and no leg otherwise (then
// the hangup finishes them).
func (s *Session) rebuildRecordings(rows []*store.Recording) {
	for _, row := range rows {
		path := row.WAVPath
		if path == "" {
			path = filepath.Join(s.srv.SpoolDir, row.ID+".wav")
		}
		leg := row.RecordedLeg
		if leg == "" && row.Type == store.TypeDDI && s.plan.Record.Leg == dialplan.LegControlled {
			leg = s.info.UUID
		}
		s.recs[path] = &activeRec{id: row.ID, leg: leg, path: path, typ: row.Type, trigger: row.Trigger,
			requester: row.RequesterLeg, startedAt: row.StartedAt, masks: row.Masks}
		if n := len(row.Masks); n > 0 && row.Masks[n-1].Open {
			s.masked, s.maskedBy = true, row.Masks[n-1].By // FreeSWITCH kept the bug's mask
		}
		if leg != "" && s.legs[leg] == nil {
			s.legs[leg] = &legInfo{uuid: leg, answered: true}
		}
		if row.Type == store.TypeDDI {
			s.ddiStarted = true
		}
	}
}

// bridgedPeer is the leg the controlled leg is bridged to, from its channel data.
func bridgedPeer(dump *eslgo.Event) string {
	for _, h := range []string{"variable_signal_bond", "variable_bridge_uuid", "Other-Leg-Unique-ID"} {
		if v := header(dump, h); v != "" && checkArg(v) == nil && v != header(dump, "Unique-ID") {
			return v
		}
	}
	return ""
}

// adopt starts a Session for a call callrec controlled that no Session follows (found by a Node
// after callrec restarted, or after a Session gave up). dump is the controlled leg's uuid_dump,
// rows the call's recordings still `recording`. It reports false when the Server is closing or
// another Session already follows the leg.
func (s *Server) adopt(n *Node, dump *eslgo.Event, rows []*store.Recording) bool {
	s.mu.Lock()
	if s.draining.Load() || s.ctx == nil {
		s.mu.Unlock()
		return false
	}
	sess := newSession(s, nil, nil, &eslgo.RawResponse{Headers: dump.Headers})
	sess.adopted, sess.home = true, n
	if len(rows) > 0 {
		sess.info.CallUUID = rows[0].CallID // the call keeps the id its recordings carry
	} else {
		sess.info.CallUUID = sess.info.UUID // Channel-Call-UUID at connect: the controlled leg's own
	}
	sess.log = s.Logger.With().Str("call_id", sess.info.CallUUID).Str("leg", sess.info.UUID).Logger()
	if _, loaded := s.live.LoadOrStore(sess.info.UUID, sess); loaded {
		s.mu.Unlock()
		return false
	}
	s.sessions.Add(1)
	s.mu.Unlock()
	s.liveN.Add(1)
	if s.Metrics != nil {
		s.Metrics.LiveSessions.Inc()
	}
	go func() {
		defer s.sessions.Done()
		defer s.liveN.Add(-1)
		if s.Metrics != nil {
			defer s.Metrics.LiveSessions.Dec()
		}
		sess.runAdopted(s.ctx, dump, rows)
	}()
	return true
}

// channelRow is a row of `show channels as json` (mod_commands show_function, the core db's
// channels table): every value is a string.
type channelRow map[string]string

// readopt finds, on a (re)connected node, the calls callrec controlled that no Session follows
// and hands them to Calls.adopt. A controlled leg is a channel FreeSWITCH received (direction
// inbound) that the rendered hand-over marked with callrec_direction (`set`, so only that leg
// carries it) and on which callrec set socket_resume=false as its first command (a call that
// failed open still has socket_resume=true). One `show channels` per connect, one uuid_dump per
// received channel no Session follows, nothing per call while callrec runs.
func (n *Node) readopt(ctx context.Context, log zerolog.Logger) {
	out, err := n.api(ctx, "show", "channels", "as", "json")
	if err != nil {
		log.Warn().Err(err).Msg("cannot list the node's channels: calls not re-adopted")
		return
	}
	var list struct {
		Rows []channelRow `json:"rows"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		log.Warn().Err(err).Msg("channel list not understood: calls not re-adopted")
		return
	}
	sctx, cancel := storeContext(ctx, n.StoreTimeout)
	live, err := n.DB.RecordingsInState(sctx, store.StateRecording, 0)
	cancel()
	if err != nil {
		log.Warn().Err(err).Msg("store: calls not re-adopted")
		return
	}
	for _, ch := range list.Rows {
		uuid := ch["uuid"]
		if !ch.controlCandidate() || checkArg(uuid) != nil || n.Calls.sessionOf(uuid) != nil {
			continue
		}
		text, err := n.api(ctx, "uuid_dump", uuid)
		if err != nil {
			continue // gone meanwhile
		}
		dump, err := parseDump(text)
		if err != nil || header(dump, "variable_"+dialplan.VarDirection) == "" || header(dump, "variable_socket_resume") != "false" {
			continue
		}
		if !n.mayAdopt(ctx, log, uuid, header(dump, "variable_"+dialplan.VarOwner)) {
			continue
		}
		ch.restoreConnectProfile(dump)
		n.Calls.adopt(n, dump, recordingsOfCall(live, uuid, header(dump, "Channel-Call-UUID"), bridgedPeer(dump)))
	}
}

// mayAdopt decides whether this instance takes over the call on leg uuid marked with owner
// (dialplan.VarOwner): an unmarked call (one instance) or one of this instance's, yes; one of
// another instance, only while this instance is the one adopting (Peers.Adopting) and once the
// owner has been found gone at two looks ReadoptEvery apart, and then the mark is moved to this instance first, so the other
// instances' nodes leave the call alone from then on.
func (n *Node) mayAdopt(ctx context.Context, log zerolog.Logger, uuid, owner string) bool {
	self := n.Calls.Instance
	if owner == "" || owner == self {
		return true
	}
	peers := n.Calls.Peers
	if peers == nil || self == "" || checkArg(owner) != nil || !peers.Adopting() {
		return false
	}
	actx, cancel := context.WithTimeout(ctx, n.CommandTimeout)
	alive, err := peers.Alive(actx, owner)
	cancel()
	if err != nil || alive {
		n.goneSince.Delete(owner)
		return false
	}
	// Gone at two looks at least ReadoptEvery apart: an instance whose database session only
	// blinked (its liveness lock comes back within a second) keeps its calls.
	first, _ := n.goneSince.LoadOrStore(owner, time.Now())
	if time.Since(first.(time.Time)) < n.Calls.ReadoptEvery {
		return false
	}
	if _, err := n.api(ctx, "uuid_setvar", uuid, dialplan.VarOwner, self); err != nil {
		return false
	}
	log.Info().Str("leg", uuid).Str("dead_instance", owner).Str("decision", "readopt_from_dead_instance").
		Msg("call of an instance that is gone taken over")
	return true
}

// restoreConnectProfile puts back into the dump the destination and context the call had when
// it was handed to callrec: the operator's routing has transferred it since (a DDI's extension
// transfers to a user's), and the decision is made on what the caller dialled. The channels
// table keeps them from CHANNEL_CREATE (initial_dest, initial_context: switch_core_sqldb.c ~2477).
func (ch channelRow) restoreConnectProfile(dump *eslgo.Event) {
	for col, hdr := range map[string]string{"initial_dest": "Caller-Destination-Number", "initial_context": "Caller-Context"} {
		if v := ch[col]; v != "" {
			dump.Headers.Set(hdr, url.PathEscape(v))
		}
	}
}

// controlCandidate: a channel FreeSWITCH received that is not hanging up.
func (ch channelRow) controlCandidate() bool {
	if ch["direction"] != "inbound" || ch["callstate"] == "HANGUP" {
		return false
	}
	switch ch["state"] {
	case "CS_HANGUP", "CS_REPORTING", "CS_DESTROY":
		return false
	}
	return true
}

// recordingsOfCall picks the rows of one call: by its call id (the controlled leg's own uuid at
// connect, or its Channel-Call-UUID now) or by a leg they record or were requested from.
func recordingsOfCall(rows []*store.Recording, ctl, callUUID, peer string) []*store.Recording {
	var out []*store.Recording
	for _, r := range rows {
		switch {
		case r.CallID == ctl, r.CallID == callUUID && callUUID != "",
			r.RecordedLeg == ctl, r.RequesterLeg == ctl,
			peer != "" && (r.RecordedLeg == peer || r.RequesterLeg == peer):
			out = append(out, r)
		}
	}
	return out
}

// parseDump reads uuid_dump's text form ("Name: url-encoded value" lines, switch_event_serialize)
// into event headers that header() decodes like an event's.
func parseDump(text string) (*eslgo.Event, error) {
	r := textproto.NewReader(bufio.NewReader(strings.NewReader(strings.TrimRight(text, "\n") + "\n\n")))
	h, err := r.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("uuid_dump: %w", err)
	}
	if h.Get("Unique-ID") == "" {
		return nil, errors.New("uuid_dump: no Unique-ID")
	}
	return &eslgo.Event{Headers: h}, nil
}
