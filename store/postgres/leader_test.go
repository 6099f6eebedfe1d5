package postgres

import (
	"context"
	"sync"
	"testing"
	"time"
)

// contender is one instance's Leader, run in the background, with its reported changes.
type contender struct {
	l       *Leader
	mu      sync.Mutex
	changes []bool
	cancel  context.CancelFunc
	done    chan struct{}
}

func startContender(t *testing.T, db *DB, name string) *contender {
	t.Helper()
	c := &contender{done: make(chan struct{})}
	c.l = db.NewLeader(name, LeaderOptions{Retry: 50 * time.Millisecond, Check: 25 * time.Millisecond, OnChange: func(leading bool) {
		c.mu.Lock()
		c.changes = append(c.changes, leading)
		c.mu.Unlock()
	}})
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { defer close(c.done); _ = c.l.Run(ctx) }()
	t.Cleanup(c.stop)
	return c
}

func (c *contender) stop() { c.cancel(); <-c.done }

func (c *contender) reported() []bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bool(nil), c.changes...)
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockHolder returns the backend pid holding the advisory lock of l (0: none), from pg_locks:
// a bigint key is classid (high 32 bits), objid (low 32 bits), objsubid 1.
func lockHolder(t *testing.T, db *DB, l *Leader) uint32 {
	t.Helper()
	var pid uint32
	err := db.pool.QueryRow(context.Background(), `SELECT coalesce(max(pid), 0) FROM pg_locks WHERE locktype = 'advisory'
		AND granted AND objsubid = 1 AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid`, l.key).Scan(&pid)
	must(t, err)
	return pid
}

// TestLeader_OneLeaderAndTakeOverWhenItsConnectionDies: of two instances one leads (the other
// keeps trying and never leads beside it); terminating the leader's connection
// (pg_terminate_backend, as a crash or a partition would end it) makes it report the loss and
// the other take over.
func TestLeader_OneLeaderAndTakeOverWhenItsConnectionDies(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	ca, cb := startContender(t, a, "sweeps"), startContender(t, b, "sweeps")
	waitFor(t, "a leader", func() bool { return ca.l.Leading() || cb.l.Leading() })
	leader, follower := ca, cb
	if cb.l.Leading() {
		leader, follower = cb, ca
	}
	// Over many of the follower's tries (Retry 50ms), never two leaders.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if ca.l.Leading() && cb.l.Leading() {
			t.Fatal("two leaders at once")
		}
	}
	if got := lockHolder(t, a, leader.l); got == 0 || got != leader.l.pid.Load() {
		t.Fatalf("lock held by backend %d, leader's connection is %d", got, leader.l.pid.Load())
	}
	var ok bool
	must(t, a.pool.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", int64(leader.l.pid.Load())).Scan(&ok))
	waitFor(t, "the follower to take over", func() bool { return follower.l.Leading() })
	waitFor(t, "the old leader to report the loss", func() bool { return !leader.l.Leading() })
	if got := leader.reported(); len(got) < 2 || !got[0] || got[1] {
		t.Errorf("old leader reported %v, want won then lost", got)
	}
	if got := follower.reported(); len(got) != 1 || !got[0] {
		t.Errorf("new leader reported %v, want won", got)
	}
	// The old leader reconnects and follows: still one leader.
	waitFor(t, "the old leader to reconnect", func() bool { return leader.l.pid.Load() != 0 })
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if ca.l.Leading() && cb.l.Leading() {
			t.Fatal("two leaders after the take-over")
		}
	}
}

// TestLeader_StoppingHandsOver: a leader whose Run ends releases the lock at once (its session
// closes), so the follower takes over without waiting for a timeout.
func TestLeader_StoppingHandsOver(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	ca := startContender(t, a, "sweeps")
	waitFor(t, "a to lead", ca.l.Leading)
	cb := startContender(t, b, "sweeps")
	other := startContender(t, b, "another duty") // a different duty has its own leader
	waitFor(t, "the other duty's leader", other.l.Leading)
	if cb.l.Leading() {
		t.Fatal("b leads beside a")
	}
	ca.stop()
	if ca.l.Leading() {
		t.Error("a still leading after Run returned")
	}
	waitFor(t, "b to take over", cb.l.Leading)
}

// TestInstanceAlive_WhileItsLeaderRunsAndNotAfter: an instance reads as alive to another while
// its InstanceDuty leader holds the lock, and as gone once that session ends (a stopped Run, as
// a killed process's session ends); an id nobody runs is gone, and asking never takes the lock
// for good (the instance still wins it afterwards).
func TestInstanceAlive_WhileItsLeaderRunsAndNotAfter(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	b := mustOpenDSN(t, dsn, Options{})
	ctx := context.Background()
	if alive, err := b.InstanceAlive(ctx, "never-started"); err != nil || alive {
		t.Fatalf("an id nobody runs: alive %v, %v", alive, err)
	}
	l := a.NewLeader(InstanceDuty("a1"), LeaderOptions{Retry: 50 * time.Millisecond, Check: 20 * time.Millisecond})
	// Asked before it runs: gone, and the lock is not kept by the asker.
	if alive, err := b.InstanceAlive(ctx, "a1"); err != nil || alive {
		t.Fatalf("before its leader runs: alive %v, %v", alive, err)
	}
	lctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { l.Run(lctx); close(done) }()
	waitFor(t, "the instance's own lock", l.Leading)
	if alive, err := b.InstanceAlive(ctx, "a1"); err != nil || !alive {
		t.Fatalf("while its leader runs: alive %v, %v", alive, err)
	}
	stop()
	<-done
	// The client's close returns before the server's backend has ended and let the lock go
	// (CI under -race once asked in between): gone within moments, not at the same instant.
	waitFor(t, "gone after its session ended", func() bool {
		alive, err := b.InstanceAlive(ctx, "a1")
		return err == nil && !alive
	})
}
