package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServe_PartThatCannotBeRestoredEndsWithCode4: the audio worker cannot start (its library's
// .inflight is a file, not a directory): serve does not go on without it while /healthz says ok,
// it ends with exit code 4 naming the part, so systemd or Kubernetes restart it.
func TestServe_PartThatCannotBeRestoredEndsWithCode4(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "library")
	must(t, os.MkdirAll(lib, 0o750))
	must(t, os.WriteFile(filepath.Join(lib, ".inflight"), []byte("not a directory"), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data_dir", dir, "--http.listen", "127.0.0.1:0", "--esl.listen", "127.0.0.1:0", "--log.format", "json"},
			[]string{"CALLREC_FREESWITCH__NODES="}, &syncBuffer{}, &syncBuffer{})
	}()
	select {
	case err := <-done:
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != exitPartFailed || !strings.Contains(err.Error(), "audio_worker") {
			t.Fatalf("serve returned %v, want exit code %d naming audio_worker", err, exitPartFailed)
		}
		t.Logf("serve: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve kept running without its audio worker")
	}
}
