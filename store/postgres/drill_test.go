package postgres

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// The drills run a second instance as a child process (this test binary, re-executed into
// TestDrillChild) and SIGKILL it holding a job or the leadership: what the server does with a
// dead instance's session, not what a polite Close does.

const (
	envChildDSN  = "CALLREC_PG_DRILL_DSN"
	envChildMode = "CALLREC_PG_DRILL_MODE"
)

// TestDrillChild is the child instance; it does nothing in a normal run.
func TestDrillChild(t *testing.T) {
	dsn := os.Getenv(envChildDSN)
	if dsn == "" {
		t.Skip("the drills' child instance: run by the drills")
	}
	ctx := context.Background()
	db, err := Open(ctx, dsn, Options{})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	switch os.Getenv(envChildMode) {
	case "claim":
		j, err := db.ClaimJob(ctx, 2*time.Second)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("claimed", j.ID)
	case "lead":
		l := db.NewLeader("sweeps", LeaderOptions{Retry: 50 * time.Millisecond, Check: 25 * time.Millisecond,
			OnChange: func(leading bool) {
				if leading {
					fmt.Println("leading")
				}
			}})
		go l.Run(ctx)
	}
	select {} // hold on until SIGKILLed
}

// startChild runs the child instance in mode and returns once it printed want (its first line).
func startChild(t *testing.T, dsn, mode, want string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestDrillChild$", "-test.v")
	cmd.Env = append(os.Environ(), envChildDSN+"="+dsn, envChildMode+"="+mode)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, want) || strings.HasPrefix(l, "error") {
				lines <- l
				return
			}
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		if !ok || !strings.HasPrefix(l, want) {
			t.Fatalf("child instance: %q, want %q", l, want)
		}
		return cmd, strings.TrimSpace(strings.TrimPrefix(l, want))
	case <-time.After(60 * time.Second):
		t.Fatalf("child instance never printed %q", want)
	}
	return nil, ""
}

// TestDrill_SIGKILLedInstanceJobIsClaimedByAnother: an instance killed holding a job's lease
// never completes it; another instance claims it once the lease has passed (attempt 2) and
// completes it: the recording is ready once.
func TestDrill_SIGKILLedInstanceJobIsClaimedByAnother(t *testing.T) {
	db, dsn := mustOpen(t, Options{})
	rec := mustProcessing(t, db, mustTenant(t, db, "1"), 1)[0]
	child, jobID := startChild(t, dsn, "claim", "claimed ")
	must(t, child.Process.Kill()) // SIGKILL
	_ = child.Wait()
	ctx := context.Background()
	var j *store.Job
	waitFor(t, "the lease to pass", func() bool {
		var err error
		j, err = db.ClaimJob(ctx, time.Minute)
		return err == nil
	})
	if j.ID != jobID || j.Attempts != 2 {
		t.Fatalf("claimed %+v, want the dead instance's job %s at attempt 2", j, jobID)
	}
	must(t, db.CompleteRecording(ctx, j.ID, store.RecordingResult{MP3Path: "/lib/a.mp3"}))
	r, err := db.Recording(ctx, rec.ID)
	must(t, err)
	if r.State != store.StateReady {
		t.Errorf("recording %s", r.State)
	}
}

// TestDrill_SIGKILLedLeaderIsReplaced: the leader instance killed, the server ends its session
// and its advisory lock with it, and the surviving instance leads.
func TestDrill_SIGKILLedLeaderIsReplaced(t *testing.T) {
	db, dsn := mustOpen(t, Options{})
	child, _ := startChild(t, dsn, "lead", "leading")
	survivor := startContender(t, db, "sweeps")
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if survivor.l.Leading() {
			t.Fatal("the survivor leads beside the child")
		}
	}
	must(t, child.Process.Kill())
	_ = child.Wait()
	waitFor(t, "the survivor to lead", survivor.l.Leading)
}
