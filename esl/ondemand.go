package esl

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/percipia/eslgo"

	"github.com/callrec/callrec/dialplan"
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
func (s *Session) onDTMF(ctx context.Context, ev *eslgo.Event) {
	leg, ok := s.legs[header(ev, "Unique-ID")]
	if !ok || leg.matcher == nil || leg.user == nil || !s.plan.OnDemand.InspectsDigitsFrom(leg.role) {
		return
	}
	digit := header(ev, "DTMF-Digit")
	if len(digit) != 1 {
		return
	}
	now := time.Now()
	if _, ok := leg.matcher.Feed(rune(digit[0]), now); ok {
		s.toggle(ctx, leg, store.TriggerDTMF)
		return
	}
	if at, ok := leg.matcher.Deadline(); ok {
		time.AfterFunc(time.Until(at), func() {
			select {
			case s.requests <- func(ctx context.Context) {
				if _, ok := leg.matcher.Flush(time.Now()); ok {
					s.toggle(ctx, leg, store.TriggerDTMF)
				}
			}:
			default:
			}
		})
	}
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
func (s *Session) onKeyRecordStart(ctx context.Context, ev *eslgo.Event, path string) {
	if !underDir(path, s.srv.OnDemandPath) { // both absolute; FreeSWITCH's path compared cleaned
		return
	}
	legUUID := header(ev, "Unique-ID")
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
		StartedAt: time.Now().UTC(), WAVPath: path} // the node and reconcile find it by this path
	if user != nil {
		rec.UserID, rec.Recorder = user.ID, user.Extension
	}
	if err := s.srv.DB.CreateRecording(ctx, rec); err != nil {
		s.log.Error().Err(err).Str("decision", "record_failed").Msg("Record key recording not booked")
		return
	}
	s.recs[path] = &activeRec{id: rec.ID, leg: legUUID, path: path, typ: rec.Type, trigger: rec.Trigger, requester: legUUID, startedAt: rec.StartedAt}
	s.srv.Metrics.recording("started", rec.Type)
	s.log.Info().Str("recording", rec.ID).Str("trigger", "key").Str("decision", "record_start").Msg("Record key recording booked")
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
// arriving at an on-demand code extension (a frustrated blind transfer, REFERENCE.md §5). Every
// such connection is answered as one — refused when it is not a valid request — and never handed
// back with uuid_transfer: that would run the code extension, and this connection, again.
func (s *Session) isTransferCode() bool {
	if s.srv.TransferContext != "" {
		return s.info.Context == s.srv.TransferContext
	}
	return s.info.TransferFrom != "" && strings.HasPrefix(s.info.Destination, "*")
}

// frustratedTransfer handles a blind transfer to `*`+code: it asks the transferor's Session to
// toggle that user's recording, refuses the transfer with `blind_transfer_ack false` and exits,
// so FreeSWITCH sends NOTIFY 403 and re-joins the two parties (traces/refer-bridged-confirm-nack-*).
// If the phone already hung up after the 202, the transferee is bridged back to the user instead
// of being dropped.
func (s *Session) frustratedTransfer(ctx, setup context.Context) {
	transferor := s.info.TransferFrom
	code := strings.TrimPrefix(s.info.Destination, "*")
	log := s.log.With().Str("transferor", transferor).Str("code", code).Logger()
	owner := s.srv.sessionOf(transferor)
	exists := false
	if checkArg(transferor) == nil {
		out, err := s.cmd.api(setup, "uuid_exists", transferor)
		exists = err == nil && out == "true"
	}
	s.rules = s.srv.DB.Rules()
	var user *store.User
	if owner != nil {
		user, _ = owner.ask(ctx, func(ctx context.Context) any {
			leg, ok := owner.legs[transferor]
			if !ok || leg.user == nil {
				return (*store.User)(nil)
			}
			gate := owner.plan.OnDemand
			if !gate.AllowTransfer || gate.Code != code {
				log.Info().Str("decision", "ondemand_refused").Str("company", gate.CompanyID).Msg("transfer to a code this company does not allow")
				return (*store.User)(nil)
			}
			if exists {
				owner.toggle(ctx, leg, store.TriggerTransfer)
			}
			return leg.user
		}).(*store.User)
	} else {
		log.Info().Str("decision", "ondemand_refused").Msg("no live session knows the transferor")
	}
	if !exists && user != nil {
		// The phone hung up right after the 202: reconnect the external party to the user.
		target := "user/" + user.SIPUser
		if c, ok := s.rules.Company(user.CompanyID); ok {
			if b, ok := s.rules.Brand(c.BrandID); ok && b.SIPDomain != "" {
				target += "@" + b.SIPDomain
			}
		}
		if err := s.cmd.execute(setup, s.info.UUID, "bridge", target, ""); err != nil {
			log.Warn().Err(err).Msg("could not reconnect the transferee to the user")
		}
		log.Info().Str("decision", "transfer_reconnect").Str("target", target).Msg("transferor gone: transferee bridged back to the user")
		return
	}
	if err := s.cmd.execute(setup, s.info.UUID, "blind_transfer_ack", "false", ""); err != nil {
		log.Warn().Err(err).Msg("blind_transfer_ack false not queued")
	}
	log.Info().Str("decision", "transfer_rejected").Bool("toggled", user != nil).Msg("frustrated transfer handled")
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
