package postgres

import (
	"context"
	"testing"
	"time"
)

// drain empties a subscription channel.
func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// settle waits until ch has been quiet for half a second, taking what arrives: the wake-ups of
// earlier writes, whose notifications may still be on their way when drain runs, must not be
// taken for the next write's.
func settle(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-time.After(500 * time.Millisecond):
			return
		}
	}
}

// waitSignal waits for a value on ch with a generous deadline and returns how long after
// start it came.
func waitSignal(t *testing.T, start time.Time, ch <-chan struct{}, what string) time.Duration {
	t.Helper()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(30 * time.Second):
		t.Fatalf("no notification for %s", what)
		return 0
	}
}

// TestSubscribe_RuleChangeOnOneInstanceReachesAnother: a committed change of a company, DDI,
// user or brand written through one instance's pool wakes the subscribers of another
// instance (its own pool and listener); the latency is logged (the target is under a
// second; the test only waits with a generous deadline).
func TestSubscribe_RuleChangeOnOneInstanceReachesAnother(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	tn := mustTenant(t, a, "1") // before b listens: no notification of it reaches b's subscribers
	b := mustOpenDSN(t, dsn, Options{})
	waitFor(t, "b's listener", b.RulesListening)
	ch, unsubscribe := b.Subscribe()
	defer unsubscribe()
	ddiID, userID := a.newID(a.now()), a.newID(a.now())
	ctx := context.Background()
	for _, c := range []struct {
		name string
		sql  string
		args []any
	}{
		{"company update", "UPDATE companies SET on_demand = 'key', on_demand_code = '7' WHERE id = $1", []any{tn.companyID}},
		{"ddi insert", "INSERT INTO ddis (id, company_id, number, record_calls) VALUES ($1, $2, '+34911234567', 'inbound')", []any{ddiID, tn.companyID}},
		{"ddi update", "UPDATE ddis SET record_calls = 'all' WHERE id = $1", []any{ddiID}},
		{"user insert", "INSERT INTO users (id, company_id, brand_id, extension, sip_user) VALUES ($1, $2, $3, '1001', '1001')", []any{userID, tn.companyID, tn.brandID}},
		{"ddi delete", "DELETE FROM ddis WHERE id = $1", []any{ddiID}},
		{"brand update", "UPDATE brands SET sip_domain = 'pbx.example.com' WHERE id = $1", []any{tn.brandID}},
	} {
		drain(ch)
		start := time.Now()
		if _, err := a.pool.Exec(ctx, c.sql, c.args...); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Logf("%s: seen by the other instance %s after the write began", c.name, waitSignal(t, start, ch, c.name).Round(time.Microsecond))
	}
}

// TestSubscribe_RecordingWritesDoNotWakeRuleSubscribers: the call path's writes are not rule
// changes (every instance would rebuild its snapshot per call otherwise).
func TestSubscribe_RecordingWritesDoNotWakeRuleSubscribers(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	tn := mustTenant(t, a, "1") // before b listens: no notification of it reaches b's subscribers
	b := mustOpenDSN(t, dsn, Options{})
	waitFor(t, "b's listener", b.RulesListening)
	ch, unsubscribe := b.Subscribe()
	defer unsubscribe()
	drain(ch)
	mustProcessing(t, a, tn, 3)
	select {
	case <-ch:
		t.Fatal("a recording write woke the rule subscribers")
	case <-time.After(500 * time.Millisecond):
	}
}

// TestSubscribe_ListenerReconnectsAndResyncs: when the listener's connection dies, it
// reconnects, wakes the subscribers at once (a change made while it was away would otherwise
// be missed) and delivers later changes.
func TestSubscribe_ListenerReconnectsAndResyncs(t *testing.T) {
	a, dsn := mustOpen(t, Options{})
	tn := mustTenant(t, a, "1") // before b listens: no notification of it reaches b's subscribers
	b := mustOpenDSN(t, dsn, Options{})
	waitFor(t, "b's listener", b.RulesListening)
	ch, unsubscribe := b.Subscribe()
	defer unsubscribe()
	ctx := context.Background()
	old := b.listenPID.Load()
	drain(ch)
	var ok bool
	must(t, a.pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", int64(old)).Scan(&ok))
	waitSignal(t, time.Now(), ch, "the resync after reconnecting")
	waitFor(t, "b's listener on a new connection", func() bool { return b.RulesListening() && b.listenPID.Load() != old })
	drain(ch)
	if _, err := a.pool.Exec(ctx, "UPDATE companies SET stereo = true WHERE id = $1", tn.companyID); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, time.Now(), ch, "a change after reconnecting")
}
