package esl

import (
	"context"
	"strconv"
)

// VarHandovers is the channel variable callrec sets with every uuid_transfer it hands a call on
// with: how many times callrec has handed this channel over. It comes back as
// variable_callrec_handovers in the connect reply (CHANNEL_DATA carries every channel variable,
// REFERENCE.md §1.3) when the call arrives at callrec again.
const VarHandovers = "callrec_handovers"

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
	ev := s.log.Warn().Str("decision", "handover_loop").Int("handovers", s.info.Handovers).
		Str("context", s.info.Context).Str("destination", s.info.Destination)
	if err != nil {
		ev = ev.Err(err)
	}
	ev.Msg("call already handed over the maximum number of times: not handed over again, released to the fallback (the dialplan hands it back to callrec: guard its socket entry with callrec_seen, see callrec fsconf)")
}
