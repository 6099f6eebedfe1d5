package web

import (
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// localsQuiet marks a request whose "http request" log line is left out (a refused
// authentication beyond the logged sample).
const localsQuiet = "callrec.quiet"

// maxTrackedAddrs bounds the failure table: past it, new addresses are not tracked until the
// window turns (memory stays bounded whatever the number of source addresses).
const maxTrackedAddrs = 100000

// authFailures counts failed authentications per client address in fixed windows. Safe for
// concurrent use; the zero value is not usable (newAuthFailures).
type authFailures struct {
	max    int
	window time.Duration

	mu     sync.Mutex
	start  time.Time      // start of the current window
	counts map[string]int // address → failures in the window
}

func newAuthFailures(max int, window time.Duration) *authFailures {
	return &authFailures{max: max, window: window, counts: map[string]int{}}
}

// turn starts a new window when the current one is over. Called with mu held.
func (a *authFailures) turn(now time.Time) {
	if now.Sub(a.start) >= a.window {
		a.start = now
		clear(a.counts)
	}
}

// blocked reports whether addr has used up its failures, and the seconds until the window ends.
func (a *authFailures) blocked(addr string, now time.Time) (bool, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.turn(now)
	if a.max <= 0 || a.counts[addr] < a.max { // max 0: no limit
		return false, 0
	}
	return true, int(a.start.Add(a.window).Sub(now).Seconds()) + 1
}

// failed counts one failure of addr and returns its failures in the window.
func (a *authFailures) failed(addr string, now time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.turn(now)
	if _, ok := a.counts[addr]; !ok && len(a.counts) >= maxTrackedAddrs {
		return 1
	}
	a.counts[addr]++
	return a.counts[addr]
}

// limitAuthFailures runs before authenticate: an address over its failures gets 429 without a
// token lookup; a request that leaves authentication without a caller counts as a failure.
// Only the first failure and the first refusal of an address per window are logged.
func (s *Server) limitAuthFailures(c *fiber.Ctx) error {
	addr, now := c.IP(), time.Now()
	if blocked, retry := s.authFail.blocked(addr, now); blocked {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(retry))
		// The request that reached the limit is logged (failed below); the refusals after it are not.
		c.Locals(localsQuiet, true)
		return &httpError{status: fiber.StatusTooManyRequests, code: codeRateLimited,
			message: "Too many failed authentications from your address; try again later."}
	}
	err := c.Next()
	if err == nil || caller(c) != nil {
		return err
	}
	switch n := s.authFail.failed(addr, now); {
	case n == s.authFail.max:
		s.Logger.Warn().Str("ip", addr).Int("failures", n).Dur("window", s.authFail.window).
			Str("decision", "blocked").Msg("too many failed authentications: address refused until the window ends")
	case n > 1:
		c.Locals(localsQuiet, true)
	}
	return err
}
