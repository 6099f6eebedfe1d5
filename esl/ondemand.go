package esl

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/callrec/callrec/dialplan"
	"github.com/callrec/callrec/fsconf"
	"github.com/callrec/callrec/store"
)

// interDigit is how long the DTMF code matcher waits for the next digit (FreeSWITCH's own
// bind_digit_digit_timeout default).
const interDigit = dialplan.DefaultInterDigit

// newMatcher gives a user leg of a key_dtmf company its own code matcher. Calls of other
// companies never get one, and never subscribe to DTMF (SPEC.md §3.2: they must not pay for it).
func (s *Session) newMatcher(leg *legInfo) {
	m, err := s.plan.OnDemand.NewMatcher(interDigit)
	if err != nil {
		return
	}
	leg.matcher = m
}

// onDTMF feeds a digit of a watched user leg to its matcher; digits of any other leg (the
// external party) are never inspected.
func (s *Session) onDTMF(ctx context.Context, ev headerReader) {
	leg, ok := s.legs[header(ev, "Unique-ID")]
	if !ok || leg.matcher == nil || leg.user == nil || !s.plan.OnDemand.InspectsDigitsFrom(leg.role) {
		return
	}
	digit := header(ev, "DTMF-Digit")
	if len(digit) != 1 {
		return
	}
	now := time.Now()
	if code, ok := leg.matcher.Feed(rune(digit[0]), now); ok {
		s.onCode(ctx, leg, code)
		return
	}
	if at, ok := leg.matcher.Deadline(); ok {
		time.AfterFunc(time.Until(at), func() {
			select {
			case s.requests <- func(ctx context.Context) {
				if code, ok := leg.matcher.Flush(time.Now()); ok {
					s.onCode(ctx, leg, code)
				}
			}:
			default:
			}
		})
	}
}

// onCode acts on a code the user of leg typed: the mask code masks or unmasks the call's
// recordings, the on-demand code toggles the user's recording.
func (s *Session) onCode(ctx context.Context, leg *legInfo, code string) {
	if code == s.plan.OnDemand.MaskCode {
		s.toggleMask(ctx, leg)
		return
	}
	s.toggle(ctx, leg, store.TriggerDTMF)
}

// toggle starts or stops the on-demand recording the user of leg started with trigger: the same
// method stops what it started, and never a DDI recording or another method's recording
// (SPEC.md §3.2). The user's own leg is recorded: it hears the other party, and the recording
// ends at the latest when that leg leaves.
func (s *Session) toggle(ctx context.Context, leg *legInfo, trigger string) (started bool) {
	for _, r := range s.recs {
		if r.requester == leg.uuid && r.trigger == trigger && !r.stopping {
			s.stopRecording(ctx, r, "toggled_off_by_"+trigger)
			s.tone(ctx, leg.uuid)
			return false
		}
	}
	if leg.user == nil || leg.gone {
		s.log.Info().Str("decision", "ondemand_refused").Str("trigger", trigger).Msg("on-demand request from an unidentified or departed leg")
		return false
	}
	rec := &store.Recording{Type: store.TypeOnDemand, Trigger: trigger, UserID: leg.user.ID, Recorder: leg.user.Extension}
	if s.startRecording(ctx, leg.uuid, rec, leg.uuid) == nil {
		return false
	}
	s.tone(ctx, leg.uuid)
	return true
}

// tone plays a short tone that both parties hear, without muting the call:
// `uuid_displace <leg> start <tone> 0 mux` on each leg (REFERENCE.md §6). It marks the call,
// not the file: on a real FreeSWITCH 1.10.12 the tone is heard on both phones but is not in the
// recording (issue 11), so an auditor cannot hear from the MP3 where the user pressed the key.
func (s *Session) tone(ctx context.Context, leg string) {
	if s.srv.Tone == "" {
		return
	}
	for _, l := range append([]string{leg}, s.partners(leg)...) {
		if _, err := s.cmd.api(ctx, "uuid_displace", l, "start", s.srv.Tone, "0", "mux"); err != nil {
			s.log.Debug().Err(err).Str("leg", l).Msg("tone not played")
		}
	}
}

// partners are the other live legs of the call.
func (s *Session) partners(leg string) []string {
	var out []string
	for uuid, l := range s.legs {
		if uuid != leg && !l.gone {
			out = append(out, uuid)
		}
	}
	return out
}

// onKeyRecordStart books a recording mod_sofia started for a Record key INFO: its file is under
// the profile's record-path and named with the leg's callrec_rec_prefix (REFERENCE.md §4: match
// the path, RECORD_START comes before sofia_record_file is set).
func (s *Session) onKeyRecordStart(ctx context.Context, ev headerReader, path string) {
	legUUID := header(ev, "Unique-ID")
	if !underDir(path, s.srv.OnDemandPath) { // both absolute; FreeSWITCH's path compared cleaned
		if cleansUnder(path, s.srv.OnDemandPath) {
			// Named like one of ours but climbing out through "..": the file is elsewhere.
			s.log.Warn().Str("path", path).Str("decision", "ondemand_refused").Msg("Record key recording outside the record path stopped")
			_, _ = s.cmd.api(ctx, "uuid_record", legUUID, "stop", path)
		}
		return
	}
	leg, ok := s.legs[legUUID]
	companyID, userID, parsed := dialplan.ParseRecPrefix(filepath.Base(path))
	if !ok || !parsed || !s.plan.OnDemand.AllowInfo || s.company == nil || companyID != s.company.ID {
		// Not ours to book (or the gate was bypassed): stop it so nothing unpermitted is kept.
		s.log.Warn().Str("path", path).Str("decision", "ondemand_refused").Msg("unexpected Record key recording stopped")
		_, _ = s.cmd.api(ctx, "uuid_record", legUUID, "stop", path)
		return
	}
	for _, r := range s.recs {
		if r.requester == legUUID && r.trigger == store.TriggerKey && !r.stopping {
			// `on` while recording changes nothing (SPEC.md §3.2). mod_sofia has started a second
			// file (the template has a timestamp) and points sofia_record_file at it, so the next
			// `off` would stop only that one (REFERENCE.md §4): stop it, and point the variable
			// back at the recording the user started.
			s.duplicates[path] = true
			_, _ = s.cmd.api(ctx, "uuid_record", legUUID, "stop", path)
			if err := s.cmd.setVar(ctx, legUUID, "sofia_record_file", r.path); err != nil {
				s.log.Warn().Err(err).Msg("sofia_record_file not restored")
			}
			s.log.Info().Str("recording", r.id).Str("decision", "ondemand_noop").Msg("Record key on while recording: nothing changes")
			return
		}
	}
	user := leg.user
	if user == nil && userID != "" {
		if u, _, ok := s.rules.User(userID); ok {
			user = &u
		}
	}
	rec := &store.Recording{Type: store.TypeOnDemand, Trigger: store.TriggerKey, CompanyID: s.company.ID,
		CallID: s.info.CallUUID, Direction: string(s.plan.Direction), Caller: s.plan.Caller, Callee: s.plan.Callee,
		StartedAt: time.Now().UTC(), WAVPath: path, // the node and reconcile find it by this path
		RecordedLeg: legUUID, RequesterLeg: legUUID}
	if user != nil {
		rec.UserID, rec.Recorder = user.ID, user.Extension
	}
	wctx, cancel := storeContext(ctx, s.srv.StoreTimeout)
	err := s.srv.DB.CreateRecording(wctx, rec)
	cancel()
	if err != nil {
		s.log.Error().Err(err).Str("decision", "record_failed").Msg("Record key recording not booked")
		return
	}
	s.recs[path] = &activeRec{id: rec.ID, leg: legUUID, path: path, typ: rec.Type, trigger: rec.Trigger, requester: legUUID, startedAt: rec.StartedAt}
	s.srv.Metrics.recording("started", rec.Type)
	s.log.Info().Str("recording", rec.ID).Str("trigger", "key").Str("decision", "record_start").Msg("Record key recording booked")
	s.maskNew(ctx, s.recs[path])
	s.tone(ctx, legUUID)
}

// afterStop plays the stop tone of an on-demand recording that its user stopped with the key.
func (s *Session) afterStop(ctx context.Context, r *activeRec) {
	if r.trigger == store.TriggerKey {
		if leg, ok := s.legs[r.leg]; ok && !leg.gone {
			s.tone(ctx, r.leg)
		}
	}
}

// isTransferCode reports whether this connection comes from the transfer context: a transferee
// arriving at the generic `*`+digits extension (fsconf renders one for every `*` and 1–3 digits,
// REFERENCE.md §5). Every such connection is decided here — refused as a frustrated transfer, or
// continued as the ordinary transfer it is — and never handed back with uuid_transfer: that would
// run the code extension, and this connection, again.
func (s *Session) isTransferCode() bool {
	if s.srv.TransferContext != "" {
		return s.info.Context == s.srv.TransferContext
	}
	return s.info.TransferFrom != "" && strings.HasPrefix(s.info.Destination, "*")
}

// transferVerdict is what the transferor's Session answers about a blind transfer to `*`digits.
type transferVerdict struct {
	company string      // the transferor's company, "" when not a known user
	code    bool        // the company's current code, on-demand allowed: a record request
	toggled bool        // the request toggled the user's recording
	user    *store.User // the transferor's user
}

// frustratedTransfer decides a blind transfer to `*`digits from the store as it is now (a code
// or mode changed mid-call applies to the next REFER): when the digits are the transferor's
// company's current code and its on-demand mode allows it, it asks the transferor's Session to
// toggle the recording and refuses the transfer by just returning. eslgo then exits, the socket
// app returns, the code extension ends with the transferee's confirm flag still set, and
// FreeSWITCH's own failure path sends NOTIFY 403, parks the transferee and intercepts it back to
// the user (switch_core_state_machine.c switch_core_standard_on_execute ~362-378). It never
// answers `blind_transfer_ack false`: that clears the flag without parking, and the transferee is
// hung up if the extension ends before the transferor's asynchronous intercept (switch_ivr.c
// switch_ivr_blind_transfer_ack ~4418, mod_sofia.c ~1500). If the phone already hung up after
// the 202, the transferee is bridged back to the user instead. Any other destination is an
// ordinary transfer and continues as one (continueTransfer).
func (s *Session) frustratedTransfer(ctx, setup context.Context) {
	transferor := s.info.TransferFrom
	dest := s.info.Destination
	log := s.log.With().Str("transferor", transferor).Str("destination", dest).Logger()
	if transferor == "" {
		// The transferor was not in confirm mode (the phone already got NOTIFY 200): nothing to
		// refuse, so this is an ordinary transfer whatever the digits.
		s.continueTransfer(setup, log, "", "no confirmed blind transfer")
		return
	}
	exists := false
	if checkArg(transferor) == nil {
		out, err := s.cmd.api(setup, "uuid_exists", transferor)
		exists = err == nil && out == "true"
	}
	s.rules = s.srv.DB.Rules()
	owner := s.srv.sessionOf(transferor)
	if owner == nil {
		// Without the transferor's Session callrec cannot tell a record request from a transfer:
		// refusing keeps both parties on the call (the failure path re-joins them). With
		// several instances the next one in the entry is reached now, and takes it if its
		// session follows the transferor.
		log.Info().Str("decision", "transfer_rejected").Bool("toggled", false).Str("reason", "no live session of this instance knows the transferor").
			Msg("blind transfer to a code refused")
		return
	}
	if s.srv.MarkTaken {
		if err := s.cmd.setVar(setup, s.info.UUID, dialplan.VarTaken, "true"); err != nil {
			log.Warn().Err(err).Msg("hand-over not marked taken: the next instances refuse it too, as they know no session of the transferor")
		}
	}
	v, answered := owner.ask(ctx, func(ctx context.Context) any {
		return owner.transferRequest(ctx, transferor, dest, exists)
	}).(transferVerdict)
	if !answered {
		log.Warn().Str("decision", "transfer_rejected").Bool("toggled", false).Str("reason", "the transferor's session did not answer").
			Msg("blind transfer to a code refused")
		return
	}
	log = log.With().Str("company", v.company).Logger()
	switch {
	case !v.code:
		s.continueTransfer(setup, log, v.company, "not the company's current code, or on-demand not allowed")
	case !exists && v.user != nil:
		s.reconnect(setup, log, v.user)
	default:
		log.Info().Str("decision", "transfer_rejected").Bool("toggled", v.toggled).Msg("frustrated transfer refused")
	}
}

// transferRequest runs on the transferor's Session: it decides whether dest is a record request
// of the user on leg transferor, from the company's current settings in the store, and toggles
// that user's recording when it is and the leg is still up.
func (s *Session) transferRequest(ctx context.Context, transferor, dest string, exists bool) transferVerdict {
	leg, ok := s.legs[transferor]
	if !ok || leg.user == nil {
		return transferVerdict{}
	}
	v := transferVerdict{company: leg.user.CompanyID, user: leg.user}
	c, ok := s.srv.DB.Rules().Company(leg.user.CompanyID)
	var rule *dialplan.CompanyRule
	if ok {
		rule = companyRule(&c)
	}
	if !dialplan.CompanyGate(rule, s.srv.TransferContext).IsTransferCode(dest) {
		return v
	}
	v.code = true
	if exists && !leg.gone {
		s.toggle(ctx, leg, store.TriggerTransfer)
		v.toggled = true
	}
	return v
}

// continueTransfer lets an ordinary blind transfer go where the rendered catch-all of the
// transfer context sends every other destination: the transferee is marked (so the user
// context's hand-over entries do not take it for a new call), `blind_transfer_ack true` releases
// the transferring phone (NOTIFY 200; without it a destination that never bridges would fail
// back to the user, REFERENCE.md §5), then `transfer <dest> XML <user context>`. The two
// sendmsgs run in order on the transferee (event-lock). The user context is the transferee's
// callrec_user_context (set by callrec on external legs) or Server.UserContext.
func (s *Session) continueTransfer(ctx context.Context, log zerolog.Logger, company, why string) {
	userCtx := s.info.UserContext
	if userCtx == "" {
		userCtx = s.srv.UserContext
	}
	if checkArg(s.info.Destination) != nil || !dialplan.ValidContext(userCtx) {
		log.Warn().Str("decision", "transfer_rejected").Str("context", userCtx).Str("reason", "destination or user context unusable").
			Msg("ordinary blind transfer refused")
		return
	}
	err := s.cmd.setVar(ctx, s.info.UUID, fsconf.VarSeen, "true")
	if err == nil {
		err = s.cmd.execute(ctx, s.info.UUID, "blind_transfer_ack", "true", "")
	}
	if err == nil {
		err = s.cmd.execute(ctx, s.info.UUID, "transfer", s.info.Destination+" XML "+userCtx, "")
	}
	if err != nil {
		// Before the ack the transfer fails back to the user (the extension ends in confirm mode);
		// after it, the transferee is hung up when the extension ends (the connection is gone).
		log.Warn().Err(err).Str("decision", "transfer_rejected").Msg("ordinary blind transfer not continued")
		return
	}
	log.Info().Str("decision", "transfer_continued").Str("company", company).Str("context", userCtx).Str("reason", why).
		Msg("ordinary blind transfer continued")
}

// reconnect bridges the transferee back to the user whose phone hung up right after the 202.
func (s *Session) reconnect(ctx context.Context, log zerolog.Logger, user *store.User) {
	target := "user/" + user.SIPUser
	if c, ok := s.rules.Company(user.CompanyID); ok {
		if b, ok := s.rules.Brand(c.BrandID); ok && b.SIPDomain != "" {
			target += "@" + b.SIPDomain
		}
	}
	if err := s.cmd.execute(ctx, s.info.UUID, "bridge", target, ""); err != nil {
		log.Warn().Err(err).Msg("could not reconnect the transferee to the user")
	}
	log.Info().Str("decision", "transfer_reconnect").Str("target", target).Msg("transferor gone: transferee bridged back to the user")
}

// ask runs fn on the Session's own goroutine and returns its result (nil when the Session has
// ended or does not answer within a second).
func (s *Session) ask(ctx context.Context, fn func(context.Context) any) any {
	res := make(chan any, 1)
	select {
	case s.requests <- func(ctx context.Context) { res <- fn(ctx) }:
	case <-time.After(time.Second):
		return nil
	}
	select {
	case v := <-res:
		return v
	case <-time.After(2 * time.Second):
		return nil
	}
}
