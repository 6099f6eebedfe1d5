package fstest

import (
	"sort"
	"time"
)

// Stats are wall-clock latencies of the controller, measured on the stand-in's side of
// each outbound connection (FS.Stats). Collected only with Options.CollectStats.
type Stats struct {
	// ConnectToFirst is, per connection, the time from writing the connect reply to reading
	// the controller's next command.
	ConnectToFirst []time.Duration
	// EventToReaction is the time from writing an event to reading the next command on
	// the same connection (only for events followed by a command).
	EventToReaction []time.Duration
	// Refused counts socket apps whose dial failed; NoConnect counts connections closed or
	// timed out before `connect`; Dropped counts connections the controller closed while
	// its channel was still up.
	Refused, NoConnect, Dropped int
}

// Percentile returns the p-th percentile (0..100) of ds, or 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}

// Stats returns a copy of the collected latencies and failure counts.
func (fs *FS) Stats() Stats {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := fs.stats
	s.ConnectToFirst = append([]time.Duration(nil), s.ConnectToFirst...)
	s.EventToReaction = append([]time.Duration(nil), s.EventToReaction...)
	return s
}

// observeCommandLocked records latencies when a command arrives on c.
func (c *conn) observeCommandLocked(now time.Time) {
	if !c.fs.opts.CollectStats || !c.outbound {
		return
	}
	switch {
	case !c.connectAt.IsZero():
		c.fs.stats.ConnectToFirst = append(c.fs.stats.ConnectToFirst, now.Sub(c.connectAt))
		c.connectAt = time.Time{}
	case !c.lastEventAt.IsZero():
		c.fs.stats.EventToReaction = append(c.fs.stats.EventToReaction, now.Sub(c.lastEventAt))
	}
	c.lastEventAt = time.Time{}
}
