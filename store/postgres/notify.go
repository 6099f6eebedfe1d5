package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Rule changes across instances. Every committed change of brands, companies, DDIs or users
// notifies channel rulesChannel (the trigger of migration 0001, so no write path can forget
// it); each instance LISTENs on a connection of its own and wakes its subscribers, which
// rebuild their snapshot. A notification sent while an instance's listener was disconnected
// is lost to it, so every (re)connection also wakes the subscribers: they rebuild once and
// miss nothing.

const rulesChannel = "callrec_rules"

// Subscribe returns a channel that receives a value (coalesced, never blocking the listener)
// after each committed rule change by any instance, and after the listener (re)connects; and
// a function that ends the subscription. Mirrors store.DB.Subscribe; safe for concurrent use.
func (db *DB) Subscribe() (<-chan struct{}, func()) { return db.changes.Subscribe() }

func (db *DB) notify() { db.changes.Notify() }

// RulesListening reports whether the rule-change listener is connected and listening (for
// /readyz: while it is not, this instance may act on stale rules).
func (db *DB) RulesListening() bool { return db.listening.Load() }

// listen runs the rule-change listener until ctx ends, reconnecting with a back-off (100 ms
// doubling to 5 s) after each failure. Started by Open, stopped by Close.
func (db *DB) listen(ctx context.Context) {
	cfg := db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "callrec rules listener"
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, cfg, func() { backoff = 100 * time.Millisecond })
		db.listening.Store(false)
		if ctx.Err() != nil {
			return
		}
		db.log.Warn().Err(err).Dur("retry_in", backoff).Str("decision", "reconnect").Msg("rule-change listener lost its connection")
		if sleep(ctx, backoff) != nil {
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// listenOnce connects, LISTENs, wakes the subscribers (changes may have been missed) and
// delivers notifications until the connection fails or ctx ends.
func (db *DB) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("rules listener: connect: %w", err)
	}
	defer func() {
		db.listenPID.Store(0)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+rulesChannel); err != nil {
		return fmt.Errorf("rules listener: %w", err)
	}
	db.listenPID.Store(conn.PgConn().PID())
	connected()
	// Resync: whatever changed while no listener was up.
	if err := db.reloadRules(ctx); err != nil {
		return fmt.Errorf("rules listener: %w", err)
	}
	db.notify()
	db.listening.Store(true)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("rules listener: %w", err)
		}
		// A failed reload ends this connection: the reconnection reloads again, so no change
		// is left unseen while the database answers at all.
		if err := db.reloadRules(ctx); err != nil {
			return fmt.Errorf("rules listener: %w", err)
		}
		db.notify()
	}
}
