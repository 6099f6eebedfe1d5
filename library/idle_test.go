//go:build unix

package library

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// TestWorker_IdleAfterAJobUsesNoCPU: once the queue is empty, the worker's goroutines sleep
// until the next poll or Notify (issue 12 point 3: the woken goroutine used to hand the wake-up
// token back to itself for ever, ~150 % CPU with no calls).
func TestWorker_IdleAfterAJobUsesNoCPU(t *testing.T) {
	e := mustOpenEnv(t)
	w := e.worker()
	w.Concurrency = 2
	w.Poll = 500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, func() bool { return exists(filepath.Join(e.lib, inflightDirName)) })
	rec, _ := e.queueWAV(t, 8000, 1, 4000)
	w.Notify()
	waitFor(t, func() bool { return e.recording(t, rec.ID).State == store.StateReady })
	w.Notify() // a wake-up with nothing queued must not start a spin either
	time.Sleep(200 * time.Millisecond)

	before := processCPU()
	time.Sleep(2 * time.Second)
	if used := processCPU() - before; used > 50*time.Millisecond {
		t.Fatalf("idle worker used %v of CPU in 2 s (want < 50 ms)", used)
	}
}
