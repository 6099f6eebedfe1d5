package fstest

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// play_and_get_digits <min> <max> <tries> <timeout ms> <terminators> <file> <invalid file>
// <var name> [<regex>] [<digit timeout ms>] [<transfer on failure>], as mod_dptools.c
// play_and_get_digits_function (~2822) parses it (split on spaces) and switch_ivr_play_say.c
// switch_play_and_get_digits (~2630) / switch_ivr_read (~2505) run it:
//   - var name and read_result are cleared first, and <var>_invalid when a regex is given;
//   - each try plays the prompt (instant here: digits already queued count, as a barge-in would),
//     then waits up to <timeout> (virtual time) for digits until <max> or a terminator;
//   - fewer than <min> digits: read_result "failure", the invalid file plays, the next try;
//   - enough digits not matching the regex: the var stays unset, <var>_invalid holds them, the
//     next try; a match: the var holds the digits, read_result "success", the app returns.
//
// Digits typed while the app collects are its own: they fire DTMF (switch_channel_dequeue_dtmf)
// but reach no partner. The app ends early when the leg hangs up.
func (l *Leg) playAndGetDigitsLocked(data string) {
	f := strings.Split(strings.TrimSpace(data), " ")
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	atoi := func(i, def int) int {
		if n, err := strconv.Atoi(arg(i)); err == nil {
			return n
		}
		return def
	}
	minDigits, maxDigits, tries := atoi(0, 0), atoi(1, 0), atoi(2, 0)
	timeout := time.Duration(atoi(3, 1000)) * time.Millisecond
	terminators, varName, rx := arg(4), arg(7), arg(8)
	if maxDigits < minDigits {
		maxDigits = minDigits
	}
	var re *regexp.Regexp
	if rx != "" {
		re, _ = regexp.Compile(rx)
	}
	if varName != "" {
		l.vars.set(varName, "")
		if rx != "" {
			l.vars.set(varName+"_invalid", "")
		}
	}
	l.preAnswerLocked() // switch_ivr_read: switch_channel_pre_answer
	for ; tries > 0 && !l.hungup; tries-- {
		l.vars.set("read_result", "")
		digits := l.collectDigitsLocked(maxDigits, terminators, timeout)
		if len(digits) < minDigits {
			l.vars.set("read_result", "failure")
			continue
		}
		l.vars.set("read_result", "success")
		if re == nil || re.MatchString(digits) {
			if varName != "" {
				l.vars.set(varName, digits)
			}
			return
		}
		if varName != "" {
			l.vars.set(varName+"_invalid", digits)
		}
	}
}

// collectDigitsLocked takes the leg's digits until max of them, a terminator (not kept) or
// timeout of virtual time without one.
func (l *Leg) collectDigitsLocked(max int, terminators string, timeout time.Duration) string {
	l.collecting = true
	defer func() { l.collecting = false }()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // wakes the wait below so the virtual clock (Advance) is seen
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.fs.mu.Lock()
				l.cond.Broadcast()
				l.fs.mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
	var got strings.Builder
	deadline := l.fs.clock.Now().Add(timeout)
	for !l.hungup && got.Len() < max {
		if len(l.dtmfQ) > 0 {
			d := l.dtmfQ[0]
			l.dtmfQ = l.dtmfQ[1:]
			l.fireLocked(l.dtmfEvent(d, "RTP"))
			if strings.Contains(terminators, d) {
				break
			}
			got.WriteString(d)
			deadline = l.fs.clock.Now().Add(timeout)
			continue
		}
		if !l.fs.clock.Now().Before(deadline) {
			break
		}
		l.cond.Wait()
	}
	return got.String()
}
