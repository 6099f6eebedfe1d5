package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/callrec/callrec/store"
)

// outage is a TCP forwarder on loopback between a DB and its server that a test can cut (every
// connection closed, new ones refused: the database down) and restore on the same address.
type outage struct {
	t      *testing.T
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newOutage(t *testing.T, target string) *outage {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	o := &outage{t: t, addr: ln.Addr().String(), target: target}
	o.serve(ln)
	t.Cleanup(o.cut)
	return o
}

// dsn is the DSN of database dsn through the forwarder.
func (o *outage) dsn(dsn string) string {
	_, port, _ := net.SplitHostPort(o.addr)
	return regexp.MustCompile(`port=\d+`).ReplaceAllString(dsn, "port="+port)
}

func (o *outage) serve(ln net.Listener) {
	o.mu.Lock()
	o.ln = ln
	o.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", o.target)
			if err != nil {
				c.Close()
				continue
			}
			o.mu.Lock()
			o.conns = append(o.conns, c, s)
			o.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

// cut closes the listener and every forwarded connection.
func (o *outage) cut() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ln != nil {
		o.ln.Close()
		o.ln = nil
	}
	for _, c := range o.conns {
		c.Close()
	}
	o.conns = nil
}

// restore listens again on the same address.
func (o *outage) restore() {
	o.t.Helper()
	ln, err := net.Listen("tcp", o.addr)
	must(o.t, err)
	o.serve(ln)
}

// TestStartRecording_PendingWhileTheDatabaseIsDownAndStoredWhenItIsBack: with the database
// unreachable, StartRecording still returns at once (the intent is written), its commit says
// store.ErrCommitPending (not a refusal: the call path keeps the recording), the intent stays,
// and the row is inserted by the background retries soon after the database is back, then the
// intent is removed; a row the database refuses once it is back (its company deleted meanwhile)
// is settled too, leaving no intent. Close stops the retries of a row still pending and keeps
// its intent for the next Open.
func TestStartRecording_PendingWhileTheDatabaseIsDownAndStoredWhenItIsBack(t *testing.T) {
	ctx := context.Background()
	direct, base := mustOpen(t, Options{})
	tn, gone := mustTenant(t, direct, "1"), mustTenant(t, direct, "2")
	host := regexp.MustCompile(`port=(\d+)`).FindStringSubmatch(base)[1]
	o := newOutage(t, "127.0.0.1:"+host)
	dir := t.TempDir()
	db := mustOpenDSN(t, o.dsn(base), Options{IntentsDir: dir})

	o.cut()
	kept, refused := newLive(tn.companyID, time.Time{}), newLive(gone.companyID, time.Time{})
	var commits []func() error
	for _, r := range []*store.Recording{kept, refused} {
		t0 := time.Now()
		commit, err := db.StartRecording(ctx, r)
		must(t, err)
		if d := time.Since(t0); d > time.Second {
			t.Fatalf("StartRecording took %v with the database down", d)
		}
		commits = append(commits, commit)
	}
	for _, commit := range commits {
		err := commit()
		if !errors.Is(err, store.ErrCommitPending) {
			t.Fatalf("commit with the database down: %v, want ErrCommitPending", err)
		}
		var refusal *store.Error
		if errors.As(err, &refusal) {
			t.Fatalf("commit with the database down is a refusal: %v", err)
		}
	}
	if left := intentsLeft(t, dir); len(left) != 2 {
		t.Fatalf("intents while the database is down: %v, want both", left)
	}
	// The company of the second row goes while the database is away from this instance.
	if _, err := direct.pool.Exec(ctx, "DELETE FROM companies WHERE id = $1", gone.companyID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a few retries fail meanwhile
	o.restore()
	waitFor(t, "the pending row stored and both intents settled", func() bool {
		got, err := direct.Recording(ctx, kept.ID)
		return err == nil && got.State == store.StateRecording && len(intentsLeft(t, dir)) == 0
	})
	if _, err := direct.Recording(ctx, refused.ID); store.ErrorCode(err) != store.ENOTFOUND {
		t.Fatalf("the refused row: %v, want ENOTFOUND", err)
	}

	// Still pending at Close: the intent stays, and the next Open stores it.
	o.cut()
	late := newLive(tn.companyID, time.Time{})
	commit, err := db.StartRecording(ctx, late)
	must(t, err)
	if err := commit(); !errors.Is(err, store.ErrCommitPending) {
		t.Fatalf("commit with the database down: %v", err)
	}
	closed := make(chan struct{})
	go func() { db.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for the pending row's retries")
	}
	if left := intentsLeft(t, dir); len(left) != 1 {
		t.Fatalf("intents after Close: %v, want the pending one", left)
	}
	mustOpenDSN(t, base, Options{IntentsDir: dir})
	if got, err := direct.Recording(ctx, late.ID); err != nil || got.State != store.StateRecording {
		t.Fatalf("the pending row after the next Open: %+v, %v", got, err)
	}
}
