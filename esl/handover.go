package esl

import (
	"context"
	"strconv"
	"time"
)

// VarHandovers is the channel variable callrec sets with every uuid_transfer it hands a call on
// with: how many times callrec has handed this channel over. It comes back as
// variable_callrec_handovers in the connect reply (CHANNEL_DATA carries every channel variable,
// REFERENCE.md §1.3) when the call arrives at callrec again.
const VarHandovers = "callrec_handovers"

// VarConsent is the channel variable play_and_get_digits leaves the caller's opt-in digit in
// (Session.announce).
const VarConsent = "callrec_consent"

// OptInTimeout is how long the caller of an opt-in DDI has, after the announcement, to press 1.
const OptInTimeout = 5 * time.Second

// maxHandovers is how many times callrec hands one channel over before it refuses it as a loop.
// The dialplan fsconf renders hands a channel over once (its callrec_seen guard skips the entry on
// the way back), and a frustrated transfer or a re-adopted call is never handed over again; a
// channel that comes back is either a dialplan whose context callrec returns into starts with the
// hand-over again (a loop: it would bounce until FreeSWITCH's max_forwards runs out and hang the
// call up) or an operator's routing that sends the call to another hand-over (a DDI routed to
// another DDI). 3 leaves room for two such re-routings and ends a loop after three round trips of
// a few milliseconds each.
const maxHandovers = 3

// handoversOf reads how many times callrec has handed the channel over: the value callrec wrote
// itself, so anything but a plain small count (absent, malformed, negative) counts as none.
func handoversOf(v string) int {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 1000 {
		return 0
	}
	return n
}

// releaseLoop refuses a call callrec has already handed over maxHandovers times: it sets
// socket_resume true (an earlier hand-over left it false, and a close without it would park the
// caller forever, FAILOPEN.md exp 2b), logs why once, and returns; eslgo then closes the
// connection and FreeSWITCH runs the actions after the socket application, the fallback
// (FAILOPEN.md exp 3; mod_event_socket.c socket_function and listener_run, ~2812: CS_RESET on the
// listener's exit when socket_resume is true).
func (s *Session) releaseLoop(ctx context.Context) {
	err := s.cmd.setVar(ctx, s.info.UUID, "socket_resume", "true")
	if prev := s.followedElsewhere(); prev != nil {
		prev.rearmResumeLater()
	}
	ev := s.log.Warn().Str("decision", "handover_loop").Int("handovers", s.info.Handovers).
		Str("context", s.info.Context).Str("destination", s.info.Destination)
	if err != nil {
		ev = ev.Err(err)
	}
	ev.Msg("call already handed over the maximum number of times: not handed over again, released to the fallback (the dialplan hands it back to callrec: guard its socket entry with callrec_seen, see callrec fsconf)")
}

// followedElsewhere returns the live Session that already follows this channel as its
// controlled leg: the call came back after that Session handed it over (a loop, or the
// operator's routing reaching another hand-over). One Session follows a channel, else each
// would record it again.
func (s *Session) followedElsewhere() *Session {
	if s.info.Handovers == 0 {
		return nil
	}
	if prev := s.srv.sessionOf(s.info.UUID); prev != nil && prev != s && prev.info.UUID == s.info.UUID {
		return prev
	}
	return nil
}

// handOnAgain hands a call that an earlier Session still follows straight back on, counting the
// hand-over; the earlier Session keeps the call (its recordings, its gate), so nothing is
// recorded twice. The connection then stays attached, silent, until FreeSWITCH closes it at the
// hangup (or the Server closes): every listener that exits while socket_resume is true resets the
// channel (mod_event_socket.c listener_run ~2800: CS_RESET when socket_resume is true at its
// exit), and the looping dialplan sets it true again before each socket application, so an early
// close would tear down the call's routing or bridge (FAILOPEN.md exp 5b). ctx is the connection's
// (eslgo's), setup the watchdog's.
func (s *Session) handOnAgain(ctx, setup context.Context) {
	if !s.handOn(setup) {
		return // as when a plan is not applied: the connection closes, FreeSWITCH goes on
	}
	select {
	case <-ctx.Done():
	case <-s.srv.lifetime().Done():
	}
}

// handOn counts the hand-over and transfers the call into its route; false when FreeSWITCH
// refused either command (logged).
func (s *Session) handOn(ctx context.Context) bool {
	route := s.routeContext()
	err := s.cmd.setVar(ctx, s.info.UUID, VarHandovers, strconv.Itoa(s.info.Handovers+1))
	if err == nil {
		_, err = s.cmd.api(ctx, "uuid_transfer", s.info.UUID, s.info.Destination, "XML", route)
	}
	if err != nil {
		s.log.Warn().Err(err).Str("decision", "released_to_fallback").Int("handovers", s.info.Handovers).
			Msg("call back at callrec, followed by an earlier session, not handed on again")
		return false
	}
	s.log.Debug().Str("decision", "handed_on_again").Int("handovers", s.info.Handovers+1).Str("context", route).
		Msg("call back at callrec, still followed by an earlier session: handed on again")
	return true
}

// rearmResumeLater asks the Session that follows a released call to set socket_resume false
// again once the fallback has moved the call on (its next CHANNEL_ANSWER or CHANNEL_BRIDGE of the
// controlled leg, rearmResume): the release left it true, and this Session's own connection
// closing mid-call with it true would tear the bridge down (FAILOPEN.md exp 5b).
func (s *Session) rearmResumeLater() {
	select {
	case s.requests <- func(context.Context) { s.resumeRearm = true }:
	case <-time.After(time.Second): // the Session is busy or ending: nothing to protect
	}
}

// rearmResume is rearmResumeLater's second half, run on an event of the controlled leg.
func (s *Session) rearmResume(ctx context.Context, ev headerReader) {
	if !s.resumeRearm || header(ev, "Unique-ID") != s.info.UUID {
		return
	}
	switch header(ev, "Event-Name") {
	case "CHANNEL_ANSWER", "CHANNEL_BRIDGE":
	default:
		return
	}
	s.resumeRearm = false
	if err := s.cmd.setVar(ctx, s.info.UUID, "socket_resume", "false"); err != nil {
		s.log.Warn().Err(err).Msg("socket_resume false not set again after the loop's release")
	}
}

// routeContext is the context a call is handed on to: Server.RouteContext, else the one it came in.
func (s *Session) routeContext() string {
	if s.srv.RouteContext != "" {
		return s.srv.RouteContext
	}
	return s.info.Context
}
