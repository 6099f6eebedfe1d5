package main

import (
	"bytes"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// TestRaiseFileLimit_SoftUpToHard: serve raises RLIMIT_NOFILE's soft limit (often 1024) to the
// hard limit and logs the value; every call holds descriptors.
func TestRaiseFileLimit_SoftUpToHard(t *testing.T) {
	var lim syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Max < 256 {
		t.Skipf("hard limit %d too low to lower the soft one", lim.Max)
	}
	low := lim
	low.Cur = 200
	must(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	var buf bytes.Buffer
	raiseFileLimit(zerolog.New(&buf))
	var now syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now))
	if now.Cur != lim.Max {
		t.Fatalf("soft limit %d, want the hard limit %d", now.Cur, lim.Max)
	}
	if !strings.Contains(buf.String(), `"nofile":`) {
		t.Fatalf("limit not logged: %s", buf.String())
	}
}
