package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
)

// LeaderOptions configures a Leader. The zero value is usable.
type LeaderOptions struct {
	// Retry is how often a follower tries the lock, and how long a lost connection waits
	// before reconnecting (default 2s).
	Retry time.Duration
	// Check is how often the leader proves its connection (and so its lock) is alive; a
	// leader learns it lost the lock at most Check (+ the check's own timeout, Check) late,
	// so keep it below Retry (default 500ms).
	Check time.Duration
	// OnChange is called, from Run's goroutine, each time leadership is won (true) or lost
	// (false). It must not block for long.
	OnChange func(leading bool)
}

// Leader elects one instance at a time for a named duty (the retention and quota sweeps):
// the leader is whoever holds the session-level advisory lock of the name, on a connection of
// its own (never a pooled one, which another caller would use and the pool could recycle).
// The server releases the lock when that session ends, so a crashed or partitioned leader's
// instance loses it and a follower takes it at its next try. Create one with DB.NewLeader and
// Run it; Leading answers at any time.
type Leader struct {
	cfg     *pgx.ConnConfig
	name    string
	key     int64
	opts    LeaderOptions
	log     zerolog.Logger
	leading atomic.Bool
	pid     atomic.Uint32 // backend of the current connection, 0 when none (tests)
}

// NewLeader returns a Leader for duty name on db's database (it opens its own connection from
// db's configuration when Run). Any instance may create one per duty.
func (db *DB) NewLeader(name string, opts LeaderOptions) *Leader {
	if opts.Retry <= 0 {
		opts.Retry = 2 * time.Second
	}
	if opts.Check <= 0 {
		opts.Check = 500 * time.Millisecond
	}
	cfg := db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "callrec leader " + name
	return &Leader{cfg: cfg, name: name, key: lockKey("leader:" + name), opts: opts,
		log: db.log.With().Str("duty", name).Logger()}
}

// Leading reports whether this instance holds the duty now. A sweep checks it before each
// step: between a lost connection and the next Check the answer can still be a stale true.
func (l *Leader) Leading() bool { return l.leading.Load() }

// Run campaigns until ctx ends: connect, try the lock every Retry, and while leading prove the
// connection every Check; a failed connection or check means leadership lost, then it
// reconnects after Retry. When ctx ends it closes its connection (releasing the lock for the
// others at once) and returns ctx's error. Call it once, in its own goroutine.
func (l *Leader) Run(ctx context.Context) error {
	defer l.set(false, "stopped")
	for {
		if err := l.session(ctx); ctx.Err() == nil {
			l.set(false, "connection lost")
			l.log.Warn().Err(err).Str("decision", "reconnect").Msg("leader election connection lost")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.opts.Retry):
		}
	}
}

// session runs one connection's campaign; it returns when the connection fails or ctx ends.
func (l *Leader) session(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return fmt.Errorf("leader %s: connect: %w", l.name, err)
	}
	defer func() {
		l.pid.Store(0)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx) // the session ends: the server releases its lock
	}()
	l.pid.Store(conn.PgConn().PID())
	for !l.Leading() {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", l.key).Scan(&got); err != nil {
			return fmt.Errorf("leader %s: try lock: %w", l.name, err)
		}
		if got {
			l.set(true, "won")
			break
		}
		if err := sleep(ctx, l.opts.Retry); err != nil {
			return err
		}
	}
	for {
		if err := sleep(ctx, l.opts.Check); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, l.opts.Check)
		err := conn.Ping(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("leader %s: check: %w", l.name, err)
		}
	}
}

// set records leadership and reports a change.
func (l *Leader) set(leading bool, why string) {
	if l.leading.Swap(leading) == leading {
		return
	}
	l.log.Info().Bool("leading", leading).Str("decision", why).Msg("leadership changed")
	if l.opts.OnChange != nil {
		l.opts.OnChange(leading)
	}
}

// sleep waits d or until ctx ends (then its error).
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Exclusive runs fn while holding the session advisory lock of name on a connection of its own,
// so that of instances starting together one at a time does what fn does (cmd/callrec: the
// bootstrap token, checked and created once). It waits for the lock while ctx allows. Errors:
// ctx's, the database's, fn's (returned as is).
func (db *DB) Exclusive(ctx context.Context, name string, fn func() error) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("exclusive %s: %w", name, err)
	}
	defer conn.Release()
	key := lockKey("exclusive:" + name)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		conn.Conn().Close(context.WithoutCancel(ctx)) // the lock may be held or pending: drop the session
		return fmt.Errorf("exclusive %s: %w", name, err)
	}
	ferr := fn()
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		conn.Conn().Close(uctx) // ending the session releases the lock
	}
	return ferr
}

// InstanceDuty is the name of the Leader an instance runs for as long as it lives, so that the
// others can tell it is alive (InstanceAlive): it is always won, as no other process has id.
func InstanceDuty(id string) string { return "instance:" + id }

// InstanceAlive reports whether the instance with id holds its InstanceDuty lock, i.e. its
// process runs and its session is up: the server frees a session's locks when it ends, so a
// SIGKILLed or partitioned instance reads as gone within its connection's timeout. It tries the
// lock on a pooled connection and, getting it, releases it at once. Callers: the node
// connections of the adopting instance, before taking over a call marked with id. Errors: the
// database's (then the caller must assume alive).
func (db *DB) InstanceAlive(ctx context.Context, id string) (bool, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return true, fmt.Errorf("instance %s alive: %w", id, err)
	}
	defer conn.Release()
	key := lockKey("leader:" + InstanceDuty(id))
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		return true, fmt.Errorf("instance %s alive: %w", id, err)
	}
	if !got {
		return true, nil
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		conn.Conn().Close(context.WithoutCancel(ctx)) // ending the session releases it
	}
	return false, nil
}
