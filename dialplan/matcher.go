package dialplan

import (
	"errors"
	"fmt"
	"time"
)

// DefaultInterDigit is the pause after which a partly typed code is abandoned: FreeSWITCH's own
// bind_digit_digit_timeout default (REFERENCE.md §3).
const DefaultInterDigit = 1500 * time.Millisecond

// Errors of NewCodeMatcher and Gate.NewMatcher.
var (
	ErrInvalidCode    = errors.New("invalid on-demand code")
	ErrInvalidTimeout = errors.New("invalid inter-digit timeout")
	ErrNoDTMF         = errors.New("the gate does not inspect DTMF")
)

// CodeMatcher recognises "*"+code in the digits typed on one user leg (SPEC.md §3.2, DTMF code).
//
// It collects digits after a '*'. A code is reported as soon as no longer code can still follow;
// when one can (codes "1" and "12" after "*1"), the shorter code is reported by '#', by a new '*',
// or once the inter-digit timeout passes (Flush, or the next Feed). Any digit that fits no code
// abandons the attempt, as does a pause longer than the inter-digit timeout; digits before the '*'
// are ignored, and a repeated '*' starts over.
//
// Use one CodeMatcher per inspected leg (Gate.InspectsDigitsFrom), owned by the goroutine that
// owns the call: it is not safe for concurrent use. Feed does not allocate.
type CodeMatcher struct {
	codes      []string
	interDigit time.Duration

	collecting bool
	buf        [3]byte
	n          int
	last       time.Time
}

// NewCodeMatcher returns a matcher for codes (each ValidCode: 1–3 digits, no '*'; duplicates are
// merged) with the given inter-digit timeout (> 0; DefaultInterDigit is FreeSWITCH's). The error
// wraps ErrInvalidCode when there is no code or one is invalid, ErrInvalidTimeout for the timeout.
func NewCodeMatcher(codes []string, interDigit time.Duration) (*CodeMatcher, error) {
	if interDigit <= 0 {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTimeout, interDigit)
	}
	if len(codes) == 0 {
		return nil, fmt.Errorf("%w: no code", ErrInvalidCode)
	}
	m := &CodeMatcher{interDigit: interDigit}
	for _, c := range codes {
		if !ValidCode(c) {
			return nil, fmt.Errorf("%w: %q is not 1-3 digits", ErrInvalidCode, c)
		}
		if m.index(c) < 0 {
			m.codes = append(m.codes, c)
		}
	}
	return m, nil
}

// NewMatcher returns a CodeMatcher for the gate's code and its MaskCode, if any. The error wraps ErrNoDTMF when the gate
// does not inspect DTMF (the call must not pay for digit inspection), ErrInvalidTimeout otherwise.
func (g Gate) NewMatcher(interDigit time.Duration) (*CodeMatcher, error) {
	if !g.InspectDTMF || !ValidCode(g.Code) {
		return nil, ErrNoDTMF
	}
	codes := []string{g.Code}
	if g.MaskCode != "" {
		codes = append(codes, g.MaskCode)
	}
	return NewCodeMatcher(codes, interDigit)
}

// Feed hands the matcher one digit typed at time at ('0'–'9', '*', '#', 'A'–'D'; anything else is
// ignored) and returns the code it completes, if any. When a pending shorter code expired before
// this digit (no Flush in time), that code is returned and the digit still counts (a '*' starts a
// new attempt).
func (m *CodeMatcher) Feed(digit rune, at time.Time) (matched string, ok bool) {
	if m.collecting && m.expired(at) {
		matched, ok = m.resolve()
	}
	switch {
	case digit == '*':
		if m.collecting {
			matched, ok = m.resolve()
		}
		m.collecting, m.n, m.last = true, 0, at
	case digit == '#':
		if m.collecting {
			return m.resolve()
		}
	case digit >= '0' && digit <= '9':
		if !m.collecting {
			break
		}
		m.buf[m.n] = byte(digit)
		m.n++
		m.last = at
		i, longer := m.index(string(m.buf[:m.n])), m.longerPossible()
		switch {
		case i >= 0 && !longer:
			m.reset()
			return m.codes[i], true
		case !longer:
			m.reset()
		}
	case digit >= 'A' && digit <= 'D' || digit >= 'a' && digit <= 'd':
		m.reset()
	}
	return matched, ok
}

// Flush is called when the Deadline passes: it reports the pending shorter code, if the typed
// digits are exactly one ("*1" then silence with codes "1" and "12" gives "1"), and abandons the
// attempt. Before the deadline it does nothing.
func (m *CodeMatcher) Flush(at time.Time) (matched string, ok bool) {
	if !m.collecting || !m.expired(at) {
		return "", false
	}
	return m.resolve()
}

// Deadline returns when the caller should call Flush, and false when nothing is pending.
func (m *CodeMatcher) Deadline() (time.Time, bool) {
	if !m.collecting {
		return time.Time{}, false
	}
	return m.last.Add(m.interDigit), true
}

// Reset abandons any attempt in progress (e.g. when the leg's user changes).
func (m *CodeMatcher) Reset() { m.reset() }

func (m *CodeMatcher) expired(at time.Time) bool {
	return !at.Before(m.last.Add(m.interDigit))
}

// resolve ends the attempt and reports the typed digits if they are exactly a code.
func (m *CodeMatcher) resolve() (string, bool) {
	n := m.n
	m.reset()
	if n == 0 {
		return "", false
	}
	if i := m.index(string(m.buf[:n])); i >= 0 {
		return m.codes[i], true
	}
	return "", false
}

func (m *CodeMatcher) reset() { m.collecting, m.n = false, 0 }

func (m *CodeMatcher) index(s string) int {
	for i, c := range m.codes {
		if c == s {
			return i
		}
	}
	return -1
}

// longerPossible reports whether some code is longer than, and starts with, the typed digits.
func (m *CodeMatcher) longerPossible() bool {
	for _, c := range m.codes {
		if len(c) > m.n && c[:m.n] == string(m.buf[:m.n]) {
			return true
		}
	}
	return false
}
