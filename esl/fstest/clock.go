package fstest

import (
	"context"
	"sync"
	"time"
)

// clock is the stand-in's notion of time. Every timestamp the stand-in reports and every
// sample of audio it writes comes from it, so a test can make a "10 s call" in
// milliseconds: virtual = base + offset + realElapsed*scale. Advance adds to offset.
type clock struct {
	mu     sync.Mutex
	base   time.Time
	real0  time.Time
	scale  float64
	offset time.Duration
}

func newClock(base time.Time, scale float64) *clock {
	if scale <= 0 {
		scale = 1
	}
	if base.IsZero() {
		base = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	}
	return &clock{base: base, real0: time.Now(), scale: scale}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := time.Duration(float64(time.Since(c.real0)) * c.scale)
	return c.base.Add(c.offset + el)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// sleep waits for virtual duration d (d/scale of wall time) or until ctx ends.
func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(time.Duration(float64(d) / c.scale))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sleepOr is sleep that also ends (with false) when done is closed, so a timer tied to a
// connection does not outlive it.
func (c *clock) sleepOr(ctx context.Context, d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(time.Duration(float64(max(d, 0)) / c.scale))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-done:
		return false
	}
}
